"""The search space is one definition (mtlsearch.search.space.walk): sampling and enumeration pinned (no Ray).

The pins were taken from the code before the space was defined once (sampling
in ``DefineByRun``, enumeration in ``enumerate_candidates``, each with its own
copy of the conditions): a seeded TPE search asks Optuna for the same
parameters, in the same order, over the same distributions, and so proposes
the same configurations; the grid lists the same candidates in the same order.
``python tests/test_search_space.py`` prints the digests of the current code.
"""

from __future__ import annotations

import hashlib
import json
import sys

import optuna
import pytest
import yaml
from conftest import REPO

from mtlsearch.search.space import DefineByRun, discrete_candidates, enumerate_candidates
from mtlsearch.spec import SearchSpace

# Hand-made spaces, together covering every conditional branch: (search.space, primary tasks).
HAND_MADE = {
    "empty": ({}, ()),
    "grouping_without_architecture": (
        {
            "grouping": {
                "method": {"choice": ["embedding", "manual"]},
                "k": {"int": [2, 4]},
                "manual": {"choice": ["planted", "mine"]},
            }
        },
        (),
    ),
    "manual_shorthand": (
        {"architecture": {"choice": ["STL", "MTL", "GMHL", "GMTL"]}, "grouping": {"choice": ["planted", "mine"]}},
        (),
    ),
    "methods_k_choice": (
        {
            "architecture": {"choice": ["GMHL", "MTL"]},
            "grouping": {
                "method": {"choice": ["affinity", "gradient_cosine", "manual"]},
                "k": {"choice": [2, 5]},
                "manual": {"choice": ["planted"]},
            },
            "batch_size": {"choice": [16, 32]},
        },
        (),
    ),
    "tri_mtl": (
        {
            "architecture": {"choice": ["MTL", "GMTL"]},
            "grouping": {"choice": ["planted"]},
            "metadata": {"choice": ["none", "age", ["age", "sex"]]},
            "sharing": {"choice": ["hard", "soft"]},
            "soft_lambda": {"choice": [0.1, 1.0]},
            "soft_layers": {"choice": ["all", 0, [0, -1]]},
        },
        (),
    ),
    "tri_mtl_continuous": (
        {
            "sharing": {"choice": ["soft", "hard"]},
            "soft_lambda": {"loguniform": [0.001, 1.0]},
            "soft_layers": {"choice": ["all", -1]},
            "lr": {"uniform": [0.001, 0.01]},
        },
        (),
    ),
    "soft_without_sharing": (
        {"soft_lambda": {"choice": [0.5, 2.0]}, "soft_layers": {"choice": ["all", 1]}, "dropout": {"choice": [0.0, 0.2]}},
        (),
    ),
    "metadata_only": ({"metadata": {"choice": ["none", "sex"]}, "sharing": {"choice": ["hard"]}}, ()),
    "cotask": (
        {
            "architecture": {"choice": ["STL", "MTL", "GMHL"]},
            "grouping": {"method": {"choice": ["affinity"]}, "k": {"choice": [2]}},
            "aux_tasks": {"choice": [0, 2, 5]},
            "aux_major_prob": {"choice": [0.3, 0.7]},
            "task_sampler": {"choice": [True, False]},
        },
        (),
    ),
    "cotask_int_continuous": (
        {"architecture": {"choice": ["STL", "MTL"]}, "aux_tasks": {"int": [0, 3]}, "aux_major_prob": {"uniform": [0.1, 0.9]}},
        (),
    ),
    "cotask_prob_without_count": (
        {
            "architecture": {"choice": ["STL", "GMTL"]},
            "grouping": {"choice": ["planted"]},
            "aux_major_prob": {"choice": [0.2, 0.8]},
            "task_sampler": {"choice": [False, True]},
        },
        (),
    ),
    "cotask_no_architecture": (
        {"aux_tasks": {"choice": [0, 1]}, "aux_major_prob": {"choice": [0.5]}, "weight_decay": {"choice": [0.0, 0.01]}},
        (),
    ),
    "static_weights": (
        {
            "architecture": {"choice": ["MTL", "STL"]},
            "weighting": {"choice": ["equal", "static", "dwa"]},
            "static_weights": {"choice": [0.5, 1.0, 2.0]},
        },
        ("a", "b"),
    ),
    "static_weights_continuous": (
        {
            "weighting": {"choice": ["static", "uncertainty"]},
            "static_weights": {"uniform": [0.0, 2.0]},
            "lr": {"loguniform": [0.0001, 0.1]},
        },
        ("t1", "t2", "t3"),
    ),
    "static_weights_fixed": ({"static_weights": {"int": [0, 2]}, "optimizer": {"choice": ["adam", "sgd"]}}, ("x", "y")),
    "plain": (
        {
            "encoder": {"choice": ["default", "minilm"]},
            "lr": {"choice": [0.001, 0.01]},
            "batch_size": {"choice": [8, 64]},
            "weight_decay": {"loguniform": [1e-6, 1e-2]},
            "hidden_dim": {"int": [16, 18]},
            "dropout": {"uniform": [0.0, 0.5]},
            "optimizer": {"choice": ["adam", "adamw", "sgd"]},
            "weighting": {"choice": ["equal", "gradnorm", "pcgrad"]},
        },
        (),
    ),
    "plain_discrete": (
        {
            "encoder": {"choice": ["default"]},
            "lr": {"int": [1, 2]},
            "hidden_dim": {"choice": [32, 64]},
            "weight_decay": {"choice": [0.0, 0.1]},
            "dropout": {"choice": [0.1]},
        },
        (),
    ),
    "everything": (
        {
            "architecture": {"choice": ["STL", "MTL", "GMHL", "GMTL"]},
            "grouping": {"method": {"choice": ["embedding", "manual"]}, "k": {"int": [2, 3]}, "manual": {"choice": ["planted"]}},
            "metadata": {"choice": ["none", "age"]},
            "sharing": {"choice": ["hard", "soft"]},
            "soft_lambda": {"choice": [1.0]},
            "soft_layers": {"choice": ["all", 0]},
            "aux_tasks": {"choice": [0, 3]},
            "aux_major_prob": {"choice": [0.5, 0.9]},
            "task_sampler": {"choice": [True, False]},
            "encoder": {"choice": ["default"]},
            "hidden_dim": {"choice": [8, 16]},
            "weighting": {"choice": ["static", "equal"]},
            "static_weights": {"choice": [1.0, 2.0]},
        },
        ("a", "b"),
    ),
}

READY = {p.name: (yaml.safe_load(p.read_text())["search"]["space"], ()) for p in sorted((REPO / "search_spaces").glob("*.yaml"))}
SPACES = {**READY, **HAND_MADE}
TRIALS = 15


class Recorder:
    """An Optuna trial that logs each ``suggest_*`` call: [method, name, arguments, keywords, value]."""

    def __init__(self, trial, log: list):
        self.trial, self.log = trial, log

    def __getattr__(self, method: str):
        def call(name, *args, **kwargs):
            value = getattr(self.trial, method)(name, *args, **kwargs)
            self.log.append([method, name, [list(a) if isinstance(a, (list, tuple)) else a for a in args], kwargs, value])
            return value

        return call


def tpe_calls(name: str) -> list[list]:
    """The suggestion calls of a TPE(seed=0) study over ``name``'s space, TRIALS trials, a deterministic objective."""
    raw, tasks = SPACES[name]
    run = DefineByRun(SearchSpace.model_validate(raw), tasks)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), direction="maximize")
    calls = []
    for i in range(TRIALS):
        trial, log = study.ask(), []
        run(Recorder(trial, log))
        calls.append(log)
        study.tell(trial, sum(len(str(c[-1])) for c in log) % 11 + i / 100)
    return calls


def grid(name: str) -> list[dict] | str:
    raw, tasks = SPACES[name]
    try:
        return enumerate_candidates(SearchSpace.model_validate(raw), tasks)
    except ValueError as e:
        return f"ValueError: {e}"


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


# name -> (digest of tpe_calls, digest of the grid (or its error), grid size (None: not enumerable), discrete_candidates size)
PINS = {
    "icbhi_trimtl.yaml": ("be0a9775603f7914", "3068289fe1d13669", 10, 10),
    "icbhi_multimodal.yaml": ("a3b06f89d3404b00", "e9b5e9bd831dc025", 4, 4),  # pinned when it was added
    "openi_multimodal.yaml": ("102f85f54ca4575d", "acb3b54c0f46a987", 4, 4),  # pinned when it was added
    "ohsumed_cotask.yaml": ("112f56265897d271", "7276d6cad82fe6c5", 24, 24),
    "ohsumed_grouping.yaml": ("81550b0cfa54b394", "6c2282434f974ced", None, None),
    "openi_grouping.yaml": ("da3b5820a4012f3e", "6c2282434f974ced", None, None),
    "quickstart.yaml": ("81b3f439ffde688c", "cbcae478acd65730", None, None),
    "synthetic_grouping.yaml": ("c9df099215b3f59c", "39aad42ad7105235", 16, 16),
    "table_example.yaml": ("7a6e89685c94100c", "cbcae478acd65730", None, None),  # pinned when it was added
    "empty": ("75194d3e2ab088c5", "e10808d43975dc40", 1, 1),
    "grouping_without_architecture": ("16ba42504fdefb6a", "03679c5a8f090119", 5, 5),
    "manual_shorthand": ("5efec822b8fabe34", "b8634243ecd22cf2", 6, 6),
    "methods_k_choice": ("82867b93ba1daad3", "c1ead4fc3baf32b7", 12, 12),
    "tri_mtl": ("0504f69a23ab266c", "e123a13edee28e06", 42, 42),
    "tri_mtl_continuous": ("eba36b415c0f2c8f", "f7b5a9a3e637e538", None, None),
    "soft_without_sharing": ("36c57e4ff5910d7a", "88f9160b3b94ed98", 8, 8),
    "metadata_only": ("ece15b1b5b087528", "9eb962e8e0c6663b", 2, 2),
    "cotask": ("4175a42eae9fdde1", "399cdb506d81b7be", 22, 22),
    "cotask_int_continuous": ("23daf61c9b35591c", "e0620802e5336707", None, None),
    "cotask_prob_without_count": ("b085fc9fc83425e3", "b5615c0801c027ba", 6, 6),
    "cotask_no_architecture": ("9f34df1795bb6335", "150541dd0b116058", 4, 4),
    "static_weights": ("070279e0add007f0", "5d88daea5ff4a6a2", 22, None),
    "static_weights_continuous": ("2655bcfa0961a548", "dcf8c7801e643659", None, None),
    "static_weights_fixed": ("457a1862bac62f81", "8b3dfad356172731", 18, None),
    "plain": ("e4bdc291fad8f5d2", "72a65dd2b4f359e8", None, None),
    "plain_discrete": ("d594c52c9b951a52", "73c137ba58d69287", 8, 8),
    "everything": ("b4afbe6666f51bbc", "53145e6bd7a3249d", 2640, None),
}

# quickstart.yaml under TPE(seed=0): the configurations its search proposes (its leaderboard's candidates);
# re-pinned when its grouping method became head_coupling (the dummy objective reads the values' lengths)
QUICKSTART = [
    {"architecture": "MTL", "lr": 0.0026524963767594755, "hidden_dim": 32},
    {"architecture": "MTL", "lr": 0.0033798304921413393, "hidden_dim": 64},
    {"architecture": "GMTL", "grouping_method": "head_coupling", "k": 3, "lr": 0.007413309777968014, "hidden_dim": 32},
    {"architecture": "MTL", "lr": 0.0013910837820057885, "hidden_dim": 32},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 3, "lr": 0.0010442146944938347, "hidden_dim": 32},
    {"architecture": "MTL", "lr": 0.0027354699847778976, "hidden_dim": 32},
    {"architecture": "MTL", "lr": 0.002067418275056319, "hidden_dim": 64},
    {"architecture": "MTL", "lr": 0.001449804748618048, "hidden_dim": 32},
    {"architecture": "STL", "lr": 0.004532414178590254, "hidden_dim": 64},
    {"architecture": "GMTL", "grouping_method": "head_coupling", "k": 2, "lr": 0.009472387696052414, "hidden_dim": 64},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 3, "lr": 0.004850741079885158, "hidden_dim": 32},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 3, "lr": 0.005632401863952315, "hidden_dim": 32},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 3, "lr": 0.001330854078674029, "hidden_dim": 32},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 3, "lr": 0.0010060614758492061, "hidden_dim": 32},
    {"architecture": "GMHL", "grouping_method": "head_coupling", "k": 2, "lr": 0.0018530243078251107, "hidden_dim": 32},
]


@pytest.mark.parametrize("name", SPACES)
def test_a_seeded_tpe_search_asks_optuna_as_before(name):
    assert digest(tpe_calls(name)) == PINS[name][0]


def test_the_quickstart_search_proposes_the_same_configurations():
    assert [{c[1]: c[4] for c in trial} for trial in tpe_calls("quickstart.yaml")] == QUICKSTART


@pytest.mark.parametrize("name", SPACES)
def test_the_grid_lists_the_same_candidates_in_the_same_order(name):
    raw, tasks = SPACES[name]
    got = grid(name)
    discrete = discrete_candidates(SearchSpace.model_validate(raw), tasks)
    assert (digest(got), len(got) if isinstance(got, list) else None) == PINS[name][1:3]
    assert (None if discrete is None else len(discrete)) == PINS[name][3]
    assert discrete is None or discrete == got


def test_the_grid_expands_each_dimension_only_where_it_applies():
    assert grid("cotask_prob_without_count") == [
        {"architecture": "STL", "task_sampler": False},
        {"architecture": "STL", "task_sampler": True},
        {
            "architecture": "GMTL",
            "grouping_method": "manual",
            "grouping": "planted",
            "aux_major_prob": 0.2,
            "task_sampler": False,
        },
        {"architecture": "GMTL", "grouping_method": "manual", "grouping": "planted", "aux_major_prob": 0.2, "task_sampler": True},
        {
            "architecture": "GMTL",
            "grouping_method": "manual",
            "grouping": "planted",
            "aux_major_prob": 0.8,
            "task_sampler": False,
        },
        {"architecture": "GMTL", "grouping_method": "manual", "grouping": "planted", "aux_major_prob": 0.8, "task_sampler": True},
    ]


if __name__ == "__main__":  # the pins of the code on sys.path
    for name in SPACES:
        got = grid(name)
        raw, tasks = SPACES[name]
        discrete = discrete_candidates(SearchSpace.model_validate(raw), tasks)
        size = len(got) if isinstance(got, list) else None
        print(
            f"    {name!r}: ({digest(tpe_calls(name))!r}, {digest(got)!r}, {size}, {None if discrete is None else len(discrete)}),"
        )
    print([{c[1]: c[4] for c in trial} for trial in tpe_calls("quickstart.yaml")], file=sys.stderr)


def test_attention_is_asked_for_shared_architectures_and_gamma_only_with_attention():
    space = SearchSpace.model_validate(
        {
            "architecture": {"choice": ["STL", "MTL"]},
            "cross_task_attention": {"choice": [False, True]},
            "attention_gamma": {"choice": [0.0, "learned"]},
        }
    )
    assert enumerate_candidates(space) == [
        {"architecture": "STL"},
        {"architecture": "MTL", "cross_task_attention": False},
        {"architecture": "MTL", "cross_task_attention": True, "attention_gamma": 0.0},
        {"architecture": "MTL", "cross_task_attention": True, "attention_gamma": "learned"},
    ]
    with pytest.raises(ValueError, match="cross_task_attention choices must be true/false"):
        SearchSpace.model_validate({"cross_task_attention": {"choice": [0, 1]}})
    with pytest.raises(ValueError, match="attention_gamma must be a finite number or 'learned'"):
        SearchSpace.model_validate({"attention_gamma": {"choice": ["big"]}})
