"""Plugins from outside the package: a loader, an encoder and a weighting registered by one user file.

``tests/plugin_example/lab_plugins.py`` is written as a user would write it; a
spec lists it under ``plugins:``. ``validate`` (in a fresh process) imports it
and accepts the plugins' names and options, rejects a bad option with its field
path, and a real search trains a trial with them on the local Ray cluster.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, tune_results

from mtlsearch.errors import SpecError
from mtlsearch.plugins import PluginOptions, Registry
from mtlsearch.spec import load_spec

PLUGIN_FILE = Path(__file__).parent / "plugin_example" / "lab_plugins.py"


def lab_spec(tmp: Path, encoder: str = "{type: gated, width: 12}", plugins: str | None = None) -> Path:
    """A spec on the plugin loader, encoder and weighting; the plugin file is given relative to the spec."""
    plugins = plugins or f"[{Path(PLUGIN_FILE).resolve()}]"
    spec = tmp / "lab.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
        experiment: lab
        plugins: {plugins}
        storage: {tmp / "store"}
        dataset:
          loader: lab_table
          options: {{num_samples: 300, seed: 1}}
        model:
          encoder: {encoder}
        train:
          epochs: 2
          batch_size: 32
          lr: 0.01
          weighting: {{name: first_task_first, factor: 3.0}}
        search:
          num_samples: 1
          scheduler: {{enabled: false}}
          space:
            architecture: {{choice: [MTL]}}
            lr: {{choice: [0.01]}}
        """)
    )
    return spec


def test_validate_imports_the_spec_plugins_in_a_fresh_process(tmp_path):
    spec = lab_spec(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mtlsearch.cli", "validate", str(spec)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "dataset loader 'lab_table'" in done.stdout


def test_plugin_options_are_checked_with_their_field_path(tmp_path):
    loaded = load_spec(lab_spec(tmp_path))
    assert loaded.spec.model.encoder.width == 12 and loaded.spec.train.weighting.factor == 3.0
    assert type(loaded.spec.model.encoder).__name__ == "GatedOptions"
    with pytest.raises(SpecError) as e:
        load_spec(lab_spec(tmp_path, encoder="{type: gated, widht: 12}"))
    assert "field 'model.encoder.widht': unknown key (expected one of: type, width)" in str(e.value)
    with pytest.raises(SpecError) as e:
        load_spec(lab_spec(tmp_path, encoder="{type: gatd}"))
    assert "field 'model.encoder.type': unknown encoder type 'gatd'; expected one of" in str(e.value)
    assert "'gated'" in str(e.value)
    with pytest.raises(SpecError, match=r"lab.yaml:2: field 'plugins.0': cannot import 'nope.py'"):
        load_spec(lab_spec(tmp_path, plugins="[nope.py]"))


def test_a_registry_refuses_a_plugin_without_name_or_options():
    registry = Registry("widget", {})

    class NoOptions:
        name = "x"

    class NoName:
        Options = PluginOptions

    for cls in (NoOptions, NoName):
        with pytest.raises(TypeError, match="a widget plugin needs"):
            registry.register(cls)
    with pytest.raises(KeyError, match=r"unknown widget 'x'; expected one of \[\]"):
        registry.get("x")


@pytest.mark.ray
def test_a_search_trains_a_trial_with_the_plugins(ray_cluster, tmp_path):
    from mtlsearch.metrics.result_keys import DM_VAL, WEIGHT, task_key
    from mtlsearch.search.launcher import launch

    with (tmp_path / "launch.log").open("w") as out:
        name, rows = launch(load_spec(lab_spec(tmp_path)), out=out)
    trial = [r for r in rows if r["architecture"] == "MTL"]
    assert len(trial) == 1 and math.isfinite(trial[0][DM_VAL])  # Δm against STL baselines trained with the plugins
    epochs = next(iter(tune_results(tmp_path / "store", name).values()))
    assert len(epochs) == 2
    # the plugin weighting ran in the trial's process: it reports its weights, factor 3 on the first task
    assert [epochs[-1][task_key(WEIGHT, t)] for t in ("finding_a", "finding_b", "finding_c")] == [3.0, 1.0, 1.0]
