"""TensorBoard HParams: each trial's config and final metrics, read back from the real event files (no Ray run).

The callback is driven with fake trials, as Tune would; the event files are read with TensorBoard's
event multiplexer (what its HParams plugin reads) and parsed with the plugin's own metadata parsers.
"""

import json
import math
from types import SimpleNamespace

import pytest

from mtlsearch.search.callbacks import TensorBoardCallback
from mtlsearch.search.tb_hparams import EXPERIMENT_FILE, HPARAM_METRICS, experiment_event_file, hparam_value

GMTL = {"architecture": "GMTL", "grouping": "affinity", "k": 3, "lr": 0.003, "cross_task_attention": True, "groups": [["a", "b"]]}
STL = {"architecture": "STL", "lr": 0.1, "weighting": None}


def _result(epoch: int, dm_val: float) -> dict:
    return {
        "epoch": epoch,
        "dm_val": dm_val,
        "dm_test": dm_val / 2,
        "cost_worker_s": 5.0 * epoch,
        "train_loss": 0.4,
        "val/a": 0.5,
        "test/a": 0.6,
    }


def _multiplexer(logdir):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return mux


def _scalars(logdir, run: str, tag: str):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir / run))
    acc.Reload()
    return acc.Scalars(tag)


def _hparams_backend(logdir):
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    mux = _multiplexer(logdir)
    provider = MultiplexerDataProvider(mux, str(logdir))
    return backend_context.Context(base_plugin.TBContext(data_provider=provider, logdir=str(logdir), multiplexer=mux))


@pytest.fixture
def logged(tmp_path):
    logdir = tmp_path / "experiments" / "exp" / "tensorboard"
    cb = TensorBoardCallback(str(logdir))
    gmtl, stl = SimpleNamespace(trial_id="t_gmtl", config=GMTL), SimpleNamespace(trial_id="t_stl", config=STL)
    for epoch, dm in enumerate([1.0, 3.5, 4.25], start=1):
        cb.on_trial_result(0, [gmtl, stl], gmtl, _result(epoch, dm))
    cb.on_trial_result(0, [gmtl, stl], stl, _result(1, -2.0))
    cb.on_trial_complete(0, [gmtl, stl], gmtl)
    cb.on_trial_error(0, [gmtl, stl], stl)
    return SimpleNamespace(logdir=logdir, mux=_multiplexer(logdir))


def test_each_trial_run_holds_its_config_as_hparams(logged):
    from tensorboard.plugins.hparams import metadata

    content = logged.mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    assert set(content) == {"t_gmtl", "t_stl"}  # one HParams session per trial run
    start = metadata.parse_session_start_info_plugin_data(content["t_gmtl"][metadata.SESSION_START_INFO_TAG])
    assert start.group_name == "t_gmtl"
    hp = start.hparams
    assert set(hp) == set(GMTL)
    assert hp["architecture"].string_value == "GMTL" and hp["grouping"].string_value == "affinity"
    assert hp["k"].number_value == 3 and hp["lr"].number_value == pytest.approx(0.003)
    assert hp["cross_task_attention"].bool_value is True
    assert json.loads(hp["groups"].string_value) == [["a", "b"]]  # a list: JSON
    stl = metadata.parse_session_start_info_plugin_data(content["t_stl"][metadata.SESSION_START_INFO_TAG]).hparams
    assert stl["weighting"].string_value == "null" and "grouping" not in stl


def test_the_final_metrics_and_how_each_trial_ended(logged):
    from tensorboard.plugins.hparams import api_pb2, metadata

    assert HPARAM_METRICS == ("dm/val", "dm/test", "cost_worker_s")
    final = {tag: _scalars(logged.logdir, "t_gmtl", tag)[-1] for tag in HPARAM_METRICS}
    assert final["dm/val"].value == 4.25 and final["dm/val"].step == 3
    assert final["dm/test"].value == pytest.approx(2.125) and final["cost_worker_s"].value == 15.0
    assert _scalars(logged.logdir, "t_stl", "dm/val")[-1].value == -2.0
    content = logged.mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    ends = {
        run: metadata.parse_session_end_info_plugin_data(tags[metadata.SESSION_END_INFO_TAG]) for run, tags in content.items()
    }
    assert ends["t_gmtl"].status == api_pb2.STATUS_SUCCESS and ends["t_stl"].status == api_pb2.STATUS_FAILURE


def test_the_hparams_tab_compares_the_trials(logged):
    """What TensorBoard's HParams tab asks its backend (/experiment, /session_groups), answered over these runs."""
    from tensorboard import context
    from tensorboard.plugins.hparams import api_pb2, get_experiment, list_session_groups

    backend = _hparams_backend(logged.logdir)
    ctx = context.RequestContext()
    experiment = get_experiment.Handler(ctx, backend, "", api_pb2.GetExperimentRequest()).run()
    assert {h.name for h in experiment.hparam_infos} == set(GMTL) | set(STL)  # the union over the trials
    assert set(HPARAM_METRICS) <= {m.name.tag for m in experiment.metric_infos}
    statuses = [api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING, api_pb2.STATUS_UNKNOWN]
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=10, allowed_statuses=statuses)
    groups = {g.name: g for g in list_session_groups.Handler(ctx, backend, "", request).run().session_groups}
    assert set(groups) == {"t_gmtl", "t_stl"}
    metrics = {name: {m.name.tag: m.value for m in g.metric_values} for name, g in groups.items()}
    assert metrics["t_gmtl"]["dm/val"] == 4.25 and metrics["t_stl"]["dm/val"] == -2.0  # each trial's last value
    assert groups["t_gmtl"].hparams["architecture"].string_value == "GMTL"


def test_the_experiment_summary_names_the_three_metrics(logged):
    """After the search, the HParams tab compares Δm(val), Δm(test) and cost, not every scalar of the runs."""
    from tensorboard import context
    from tensorboard.plugins.hparams import api_pb2, get_experiment, list_session_groups

    ctx = context.RequestContext()
    before = get_experiment.Handler(ctx, _hparams_backend(logged.logdir), "", api_pb2.GetExperimentRequest()).run()
    assert {"val/a", "train_loss"} <= {m.name.tag for m in before.metric_infos}  # inferred: every scalar
    (logged.logdir / EXPERIMENT_FILE).write_bytes(experiment_event_file([GMTL, STL]))
    backend = _hparams_backend(logged.logdir)
    experiment = get_experiment.Handler(ctx, backend, "", api_pb2.GetExperimentRequest()).run()
    assert [m.name.tag for m in experiment.metric_infos] == list(HPARAM_METRICS)
    infos = {h.name: h for h in experiment.hparam_infos}
    assert set(infos) == set(GMTL) | set(STL)
    assert sorted(v.string_value for v in infos["architecture"].domain_discrete.values) == ["GMTL", "STL"]
    assert not infos["lr"].HasField("domain_discrete")  # numbers: free values
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=10, allowed_statuses=[api_pb2.STATUS_SUCCESS])
    [group] = list_session_groups.Handler(ctx, backend, "", request).run().session_groups
    assert group.name == "t_gmtl" and {m.name.tag: m.value for m in group.metric_values}["dm/val"] == 4.25


def test_hparam_values():
    import numpy as np

    assert hparam_value(np.float64(0.5)) == 0.5 and type(hparam_value(np.int64(2))) is int
    assert hparam_value({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}' and hparam_value(None) == "null"
    assert hparam_value(math.inf) == "inf" and hparam_value("x") == "x" and hparam_value(False) is False
