"""Task grouping: which tasks to train together.

* :mod:`.embedding` — MTLV label-embedding clustering (k-medoids, elbow curve).
* :mod:`.affinity` — TAG inter-task affinity (lookahead) and gradient-cosine affinity.
* :mod:`.selection` — choosing k groups from an affinity matrix.
* :mod:`.methods` — the registry of grouping methods the search and ``mtlsearch groups`` use.
"""
