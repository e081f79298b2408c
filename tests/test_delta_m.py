import math

import pytest

from mtlsearch.metrics.delta_m import delta_m


def test_hand_computed_higher_is_better():
    # task a: (0.9 - 0.8)/0.8 = +0.125 ; task b: (0.5 - 0.6)/0.6 = -0.1666.. ; mean*100 = -2.0833..
    got = delta_m({"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.6})
    assert got == pytest.approx(100 * (0.125 - 1 / 6) / 2)


def test_lower_is_better_flips_the_sign():
    # loss task c: 0.4 vs baseline 0.5 is an improvement of 20%; f1 task a: +12.5% -> mean 16.25
    got = delta_m({"a": 0.9, "c": 0.4}, {"a": 0.8, "c": 0.5}, {"c": True})
    assert got == pytest.approx(16.25)
    # the same numbers read as higher-is-better give (12.5 - 20)/2
    assert delta_m({"a": 0.9, "c": 0.4}, {"a": 0.8, "c": 0.5}) == pytest.approx(-3.75)


def test_only_baseline_tasks_count():
    # an auxiliary task present in the scores but absent from the baselines is ignored
    assert delta_m({"a": 1.0, "aux": 0.0}, {"a": 0.5}) == pytest.approx(100.0)


def test_identical_scores_give_zero():
    assert delta_m({"a": 0.7, "b": 0.3}, {"a": 0.7, "b": 0.3}) == 0.0


def test_undefined_cases_are_nan():
    assert math.isnan(delta_m({"a": 0.5}, {"a": 0.0}))
    assert math.isnan(delta_m({}, {}))


def test_missing_candidate_score_is_an_error():
    with pytest.raises(KeyError):
        delta_m({"a": 0.5}, {"a": 0.4, "b": 0.3})
