"""This machine's cache folders of mtlsearch, in one place.

``user_cache(*parts)`` is ``$XDG_CACHE_HOME/mtlsearch/<parts>`` when
``XDG_CACHE_HOME`` is set, else platformdirs' user cache folder of
``mtlsearch`` (``~/.cache/mtlsearch`` on Linux). Under it:

* ``data/``: downloaded data files (:mod:`mtlsearch.data.download`);
* ``extracted/``: unpacked archives (:mod:`mtlsearch.data.unpack`);
* ``datasets/``: canonical dataset tables of a remote store, and tables fetched
  from one (:mod:`mtlsearch.data.distribute`);
* ``optuna/<store>/<experiment>/``: the Optuna journal of a search on a remote store
  (:mod:`mtlsearch.search.study`);
* ``reports/<store>/<experiment>/``: the HTML report of a search on a remote store,
  before it is copied there (:func:`mtlsearch.search.launcher.write_final_report`).

``<store>`` is :func:`store_key`: one folder per remote store root.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def user_cache(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/mtlsearch/<parts>``, else the user cache folder of mtlsearch / ``<parts>``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser().joinpath("mtlsearch", *parts)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mtlsearch", appauthor=False)).joinpath(*parts)


def store_key(store_root: str) -> str:
    """A short stable name of a store root (16 hex digits of its SHA-256), for its folders in the cache."""
    return hashlib.sha256(store_root.rstrip("/").encode()).hexdigest()[:16]


def remote_store_file(cache: str, store_root: str, experiment: str, name: str) -> Path:
    """Where this machine keeps its own copy of ``experiments/<experiment>/<name>`` of the remote store ``store_root``:
    ``user_cache(cache, store_key(store_root), experiment, name)``."""
    return user_cache(cache, store_key(store_root), experiment, name)
