"""Task grouping: which tasks to train together.

* :mod:`.embedding` — MTLV label-embedding clustering (k-medoids, elbow curve).
* :mod:`.affinity` — TAG inter-task affinity (lookahead) and gradient-cosine affinity.
* :mod:`.selection` — choosing k groups from an affinity matrix.
* :mod:`.methods` — the grouping-method plugins (one module each, with its ``Options``) and their registry.
* :mod:`.artifacts` — their matrices and selections in the results store, for the search and ``mtlsearch groups``.
"""
