"""A trial's configuration and final metrics as TensorBoard HParams summaries (TensorBoard's own hparams API).

Each trial's TensorBoard run (``experiments/<name>/tensorboard/<trial>/``) gets a
session start summary holding its sampled config (:func:`session_start`) and, when
the trial ends, a session end summary with its status (:func:`session_end`). The
metrics of the HParams tab are the run's scalars: :data:`HPARAM_METRICS` (Δm(val)
and Δm(test) of the selection, and the cost so far) are written every epoch, and
TensorBoard shows each one's last value: the trial's final one.

No experiment summary is written: trials of one search have different keys
(``grouping`` only for grouped architectures), so TensorBoard builds the
experiment from the union of all trials' session start summaries.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL


def scalar_tag(key: str) -> str:
    """The TensorBoard scalar tag of a reported key: ``dm_val`` -> ``dm/val``; other keys as they are."""
    return key.replace("_", "/", 1) if key.startswith("dm_") else key


HPARAM_METRICS = tuple(scalar_tag(k) for k in (DM_VAL, DM_TEST, COST))
"""The scalar tags the HParams tab is meant to compare (the run's other scalars show there too)."""


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
