"""Text rendering of ``mtlsearch groups``: the groups by task name, and the elbow curve when there is one."""

from __future__ import annotations


def format_groups(report: dict) -> str:
    titles = report.get("titles", {})
    name = lambda t: f"{t} ({titles[t]})" if t in titles else t  # noqa: E731
    lines = [f"{report['method']} grouping, k={report['k']}" + (" (overlapping)" if report["overlapping"] else "")]
    for i, group in enumerate(report["groups"], 1):
        lines.append(f"  group {i}: " + ", ".join(name(t) for t in group))
    sel = report.get("selection") or {}
    if "score" in sel:
        lines.append(f"  affinity score mean_j max_G mean_i Z(i->j): {sel['score']:.4g} ({sel.get('search', '')} search)")
    if "medoids" in sel:
        lines.append("  medoids: " + ", ".join(name(t) for t in sel["medoids"]))
    rel = report.get("reliability")
    if rel:
        from mtlsearch.grouping.methods import get_method

        method = get_method(report["method"])
        lines.append(f"  reliability: {method.describe_reliability(rel)}")
        warning = method.reliability_warning(rel)
        if warning:
            lines.append(f"WARNING: {warning}")
    elbow = report.get("elbow")
    if elbow:
        lines.append("elbow curve (k-medoids loss by k; suggested k marked *):")
        width = max(elbow["losses"]) or 1.0
        for k, loss in zip(elbow["ks"], elbow["losses"]):
            bar = "#" * max(1, round(40 * loss / width)) if loss > 0 else ""
            lines.append(f"  k={k:<3d}{'*' if k == elbow['suggested_k'] else ' '} {loss:10.4f}  {bar}")
    lines.append(f"stored: {report['artifact']}")
    lines.append(f"plot:   {report['plot']}")
    return "\n".join(lines)
