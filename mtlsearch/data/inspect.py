"""``mtlsearch data inspect``: what a spec's dataset holds, per split and per task."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from mtlsearch.data.canonical import SPLITS, read_info


def inspect_table(path: str) -> dict:
    """Sizes per split, each task's classes and per-split class counts, label cardinality, planted groups."""
    info = read_info(path)
    schema = pq.read_schema(path)
    table = pq.read_table(path, memory_map=True, columns=["split", *info.task_names])  # not the inputs: they can be large
    split = np.asarray(table.column("split").to_pylist())
    tasks = []
    binary_positive = np.zeros(len(table))
    for t in info.tasks:
        y = table.column(t.name).to_numpy()
        counts = {
            s: {c: int(((split == s) & (y == i)).sum()) for i, c in enumerate(t.classes)}
            | {"missing": int(((split == s) & (y < 0)).sum())}
            for s in SPLITS
        }
        if t.kind == "binary":
            binary_positive += y == 1
        tasks.append(
            {
                "name": t.name,
                "title": t.title,
                "kind": t.kind,
                "role": t.role,
                "metric": t.metric,
                "classes": list(t.classes),
                "description": t.description,
                "counts": counts,
            }
        )
    shape = info.extra.get("feature_shape")
    inputs = {info.input_column: f"float32[{info.input_dim}]" + (f" = {'x'.join(map(str, shape))}" if shape else "")}
    labels = {"id", "split", info.input_column, *info.task_names}
    inputs.update({f.name: str(f.type) for f in schema if f.name not in labels})
    declared = [
        {"name": i.name, "kind": i.kind, "shape": list(i.shape), "column": i.column, "attributes": list(i.attributes)}
        for i in info.inputs
    ]
    return {
        "dataset": info.name,
        "path": path,
        "fingerprint": info.fingerprint,
        "size": {s: int((split == s).sum()) for s in SPLITS},
        "input_columns": inputs,
        "inputs": declared,
        "num_tasks": len(info.tasks),
        "label_cardinality_binary": float(binary_positive.mean()) if len(table) else 0.0,
        "tasks": tasks,
        "planted_groups": [list(g) for g in info.planted_groups] if info.planted_groups else None,
    }


def format_inspection(report: dict) -> str:
    lines = [
        f"dataset {report['dataset']}  ({report['path']})",
        "size: " + ", ".join(f"{s} {n}" for s, n in report["size"].items()),
        "columns: " + ", ".join(f"{k} {v}" for k, v in report["input_columns"].items()),
        "inputs (model.inputs): "
        + ", ".join(
            f"{i['name']} {i['kind']}{i['shape']} (column {i['column']}"
            + (f"; gives away {', '.join(i['attributes'])}" if i["attributes"] else "")
            + ")"
            for i in report.get("inputs", [])
        ),
        f"tasks: {report['num_tasks']}   label cardinality (positive binary labels per example): {report['label_cardinality_binary']:.3f}",
    ]
    for t in report["tasks"]:
        train = t["counts"]["train"]
        counts = ", ".join(f"{c} {train[c]}" for c in t["classes"])
        title = f" ({t['title']})" if t.get("title") else ""
        lines.append(f"  {t['name']:<12} {t['kind']:<10} {t['role']:<9} {t['metric']:<11} train: {counts}{title}")
    if report["planted_groups"]:
        lines.append("planted groups:")
        for i, g in enumerate(report["planted_groups"]):
            lines.append(f"  group {i}: {', '.join(g)}")
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)
