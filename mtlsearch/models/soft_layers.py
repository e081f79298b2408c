"""The layer set S of soft parameter sharing, as the spec names it: ``"all"`` or layer indices.

Tri-MTL (Kim et al., "Tri-MTL: A Triple Multitask Learning Approach for
Respiratory Disease Diagnosis", arXiv:2505.06271, 2025), §II-B, Eq. (7): the L2
penalty ties the layers of S. What a layer is per encoder type, and the
penalty itself, are in :mod:`mtlsearch.models.soft_sharing`; this module holds
only the torch-free canonical form that the spec and the sharing plan check.
"""

from __future__ import annotations

ALL = "all"
PAPER_LAMBDA = 0.1  # Tri-MTL §III-A2: "We used 0.1 for λ in Equations (7)"


def canonical_layers(value: object) -> str:
    """The canonical string of a layer set: ``"all"`` or comma-joined indices (``[0, -1]`` → ``"0,-1"``).

    Accepts ``"all"``, an int, a list of ints or a comma-separated string of ints.
    Raises ValueError naming the bad value.
    """
    if isinstance(value, str) and value.strip().lower() == ALL:
        return ALL
    if isinstance(value, bool):
        raise ValueError(f"soft_layers: expected 'all', a layer index or a list of indices, got {value!r}")
    if isinstance(value, int):
        items: list = [value]
    elif isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"soft_layers: expected 'all', a layer index or a list of indices, got {value!r}")
    out: list[int] = []
    for item in items:
        try:
            if isinstance(item, bool) or (
                not isinstance(item, int) and not (isinstance(item, str) and item.lstrip("-").isdigit())
            ):
                raise ValueError
            out.append(int(item))
        except ValueError:
            raise ValueError(f"soft_layers: expected 'all', a layer index or a list of indices, got {value!r}") from None
    if not out:
        raise ValueError(f"soft_layers: expected at least one layer index, got {value!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"soft_layers: a layer is named twice in {value!r}")
    return ",".join(str(i) for i in out)
