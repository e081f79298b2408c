"""Spot first, on-demand when spot capacity is missing: a node-type scorer for Ray's autoscaler.

``cluster/aws-gpu.yaml`` offers two GPU worker types with the same resources,
``ray.worker.gpu-spot`` and ``ray.worker.gpu-ondemand``. Ray 2.60's autoscalers do
not fall back between them on their own when EC2 answers a spot request with a
capacity error (``InsufficientInstanceCapacity``, ``MaxSpotInstanceCountExceeded``):

* autoscaler v2 (the ``ray up`` default since Ray 2.50) lowers a node type's
  availability only when an instance it got never comes up
  (``ALLOCATION_TIMEOUT``); a launch that EC2 refuses becomes
  ``ALLOCATION_FAILED`` and the next round asks for the same spot type again;
* autoscaler v1 records every refused launch per node type (the "Failed
  launches" of ``ray status``), but its default scorer ranks node types by
  resource fit alone, and two types with the same resources tie.

v1 takes its scorer from ``RAY_AUTOSCALER_UTILIZATION_SCORER`` (a
``module.function`` path). This one ranks a node type whose last launch failed
(within ``AUTOSCALER_NODE_AVAILABILITY_MAX_STALENESS_S``, 30 minutes by default)
below every type that can launch, and otherwise prefers a type whose name
contains ``spot``. So a GPU demand gets a spot node; while spot launches fail,
it gets an on-demand node of the same shape; half an hour after the last spot
failure (or as soon as a spot launch succeeds) spot is preferred again.

How ``aws-gpu.yaml`` installs it: ``file_mounts`` copies ``cluster/`` to
``~/mtlsearch-cluster/`` on the head, and the head's start command runs
``ray start --head`` with autoscaler v1 selected (``RAY_enable_autoscaler_v2=0``),
that folder on ``PYTHONPATH`` and
``RAY_AUTOSCALER_UTILIZATION_SCORER=spot_fallback.spot_then_on_demand``. It needs
only Ray, not the project.
"""

from __future__ import annotations

from ray.autoscaler._private.resource_demand_scheduler import _resource_based_utilization_scorer

SPOT_MARK = "spot"


def spot_then_on_demand(node_resources, resources, node_type, *, node_availability_summary=None):
    """Ray's resource-fit score with two keys added (tuples compare left to right, higher wins).

    ``(gpu_ok, launchable, *fit, is_spot)``: Ray's own first key (do not start a
    GPU node for CPU-only demands), then whether the type's last launch
    succeeded (or was not tried), then Ray's resource-fit keys, and only then
    the spot preference, so it decides between types that fit equally well.
    ``None`` (the type cannot hold any of the demands) is passed through.
    """
    score = _resource_based_utilization_scorer(node_resources, resources, node_availability_summary=node_availability_summary)
    if score is None:
        return None
    gpu_ok, *fit = score
    record = node_availability_summary.node_availabilities.get(node_type) if node_availability_summary else None
    launchable = record is None or record.is_available
    return (gpu_ok, launchable, *fit, SPOT_MARK in node_type)
