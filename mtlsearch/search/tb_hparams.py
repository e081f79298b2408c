"""A trial's configuration and final metrics as TensorBoard HParams summaries (TensorBoard's own hparams API).

Each trial's TensorBoard run (``experiments/<name>/tensorboard/<trial>/``) gets a
session start summary holding its sampled config (:func:`session_start`) and, when
the trial ends, a session end summary with its status (:func:`session_end`). The
metrics of the HParams tab are the run's scalars: :data:`HPARAM_METRICS` (Δm(val)
and Δm(test) of the selection, and the cost so far) are written every epoch, and
TensorBoard shows each one's last value: the trial's final one.

At the end of a search (after its confirmation) the launcher writes the
experiment summary (:func:`experiment_event_file`) to
``experiments/<name>/tensorboard/`` + :data:`EXPERIMENT_FILE`: the union of every
stored trial's config keys (trials of one search differ: ``grouping`` only for
grouped architectures) and :data:`HPARAM_METRICS` as the metrics. From then on the
HParams tab shows those three metric columns; while the search runs there is no
experiment summary yet, and TensorBoard builds one from the session start
summaries with every scalar as a metric. The file has a fixed name, so a resumed
search replaces it.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL


def scalar_tag(key: str) -> str:
    """The TensorBoard scalar tag of a reported key: ``dm_val`` -> ``dm/val``; other keys as they are."""
    return key.replace("_", "/", 1) if key.startswith("dm_") else key


HPARAM_METRICS = tuple(scalar_tag(k) for k in (DM_VAL, DM_TEST, COST))
"""The scalar tags the HParams tab compares (the metrics of the experiment summary)."""

EXPERIMENT_FILE = "events.out.tfevents.0.mtlsearch-experiment"
"""The experiment summary's event file, in the TensorBoard root of an experiment (the run ``.``)."""


def hparam_value(value: Any) -> bool | int | float | str:
    """A config value as an HParams value: booleans, numbers and strings as they are (a numpy scalar as its
    Python value), anything else (lists, dicts, None) as JSON."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):  # numpy scalars from a sampler
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if not (isinstance(value, float) and math.isinf(value)) else str(value)
    return json.dumps(value, sort_keys=True, default=str)


def hparams(config: dict) -> dict[str, bool | int | float | str]:
    """A trial config as HParams values (:func:`hparam_value`), keyed by config key."""
    return {str(k): hparam_value(v) for k, v in config.items()}


def session_start(trial_id: str, config: dict, start_time_secs: float | None = None):
    """The ``_hparams_/session_start_info`` summary of one trial: its config, grouped under its trial id."""
    from tensorboard.plugins.hparams import summary_v2

    return summary_v2.hparams_pb(hparams(config), trial_id=trial_id, start_time_secs=start_time_secs)


def session_end(ok: bool, end_time_secs: float | None = None):
    """The ``_hparams_/session_end_info`` summary: the trial ended (``ok``: finished or stopped by ASHA) or failed."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.STATUS_SUCCESS if ok else api_pb2.STATUS_FAILURE,
        end_time_secs=time.time() if end_time_secs is None else end_time_secs,
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=info)),
        tensor=metadata.NULL_TENSOR,
    )
    return summary


def _domain(values: set):
    """The HParams domain of one config key's values: the set of strings or of booleans; none for numbers or mixed
    types (TensorBoard then filters them as free values)."""
    from tensorboard.plugins.hparams import summary_v2

    kinds = {type(v) for v in values}
    if kinds == {str} or kinds == {bool}:
        return summary_v2.Discrete(sorted(values))
    return None


def experiment_summary(configs: Iterable[dict]):
    """The ``_hparams_/experiment`` summary of a search: every key of ``configs`` (the trials' sampled configs) as an
    hparam, :data:`HPARAM_METRICS` as the metrics."""
    from tensorboard.plugins.hparams import summary_v2

    values: dict[str, set] = {}
    for config in configs:
        for key, value in hparams(config).items():
            values.setdefault(key, set()).add(value)
    return summary_v2.hparams_config_pb(
        hparams=[summary_v2.HParam(key, _domain(v)) for key, v in sorted(values.items())],
        metrics=[summary_v2.Metric(tag) for tag in HPARAM_METRICS],
    )


def experiment_event_file(configs: Iterable[dict]) -> bytes:
    """The bytes of an event file holding :func:`experiment_summary` (written as :data:`EXPERIMENT_FILE`)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = EventFileWriter(tmp)
        writer.add_event(event_pb2.Event(wall_time=time.time(), summary=experiment_summary(configs)))
        writer.close()
        [path] = Path(tmp).iterdir()
        return path.read_bytes()
