"""Helpers shared by the loaders of file sources: paths, checksums, archives, bag-of-words features.

* :func:`resolve_path` expands ``~``, ``$VAR`` and ``${VAR}`` in a path option
  (an unset ``$MTLSEARCH_DATA`` stands for the default data root, see
  :mod:`mtlsearch.data.download`), fetches ``http(s)://`` and ``s3://`` paths
  into the download cache, downloads a missing file the catalogue
  (:mod:`mtlsearch.data.catalog`) knows a public source of, checks a
  ``#sha256=<hex>`` suffix, and says which environment variable is unset and
  where to put the data when the path is missing;
* :func:`file_sha256`, :func:`tree_signature` and :func:`source_checksum` key a
  source's content for a loader's fingerprint, and :func:`source_fingerprint`
  builds that fingerprint from the options (less the path options) and the
  checksums, so a table is rebuilt when the data change and shared wherever the
  same data live;
* :func:`iter_files` reads every file of a folder or a ``.tar``/``.tar.gz``
  archive in one pass, and a truncated archive is an error;
* :func:`tokenize`, :func:`build_vocabulary`, :func:`bag_of_words` and
  :func:`bag_of_words_features` turn texts into bag-of-words vectors over a
  vocabulary chosen on the training split only.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from mtlsearch.data.catalog import fetch_catalogued, relative_to_root
from mtlsearch.data.download import DATA_ENV, check_sha256, data_root, fetch_url, is_url, split_sha256, verify_file
from mtlsearch.data.loader import LoaderOptions
from mtlsearch.errors import DataError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_ENV_VAR = re.compile(r"\$(\w+)|\$\{([^}]*)\}")
_TOKEN = re.compile(r"\b\w\w+\b")


# ---------------------------------------------------------------- paths and checksums


def expand_path(path: str) -> str:
    """``path`` with ``~``, ``$VAR`` and ``${VAR}`` expanded; an unset ``$MTLSEARCH_DATA`` becomes the default data root."""
    if not os.environ.get(DATA_ENV) and any(DATA_ENV in (a, b) for a, b in _ENV_VAR.findall(path)):
        root = str(data_root(note=True))
        path = _ENV_VAR.sub(lambda m: root if DATA_ENV in (m.group(1), m.group(2)) else m.group(0), path)
    return os.path.expandvars(os.path.expanduser(path))


def resolve_path(path: str, what: str, sha256: str | None = None) -> Path:
    """The local path of a source option: expanded, downloaded if it is a URL or a catalogued file, checksum-checked.

    ``sha256`` (or a ``#sha256=<hex>`` suffix on ``path``) is the expected
    checksum of the file: a download is kept only if it matches, a local file
    must match. A missing path is a DataError saying why.
    """
    expanded, suffix_sha256 = split_sha256(expand_path(path))
    sha256 = _expected_sha256(sha256, suffix_sha256, path, what)
    if is_url(expanded):
        return fetch_url(expanded, sha256, what)
    resolved = Path(expanded)
    if not resolved.exists():
        if fetch_catalogued(resolved, what) is None:
            raise DataError(_missing_message(path, expanded, what))
    return verify_file(resolved, sha256, what) if sha256 else resolved


def resolve_file(path: str, what: str) -> Path:
    """:func:`resolve_path` for a source that must be one file: a folder there is a DataError naming both paths."""
    resolved = resolve_path(path, what)
    if not resolved.is_file():
        raise DataError(f"{what} {path!r} ({resolved}) is not a file")
    return resolved


def _expected_sha256(given: str | None, suffix: str | None, path: str, what: str) -> str | None:
    if given is None:
        return suffix
    given = check_sha256(given, f"{what} {path!r}: sha256")
    if suffix is not None and suffix != given:
        raise DataError(f"{what} {path!r}: two different sha256 checksums given ({given} and #sha256={suffix})")
    return given


def _missing_message(path: str, expanded: str, what: str) -> str:
    """Why ``path`` is missing: its expansion, unset variables, and where data under the data root go."""
    msg = f"{what} not found: path {path!r}"
    if expanded != path:
        msg += f" (expanded to {expanded!r})"
    unset = [a or b for a, b in _ENV_VAR.findall(path) if (a or b) not in os.environ and (a or b) != DATA_ENV]
    if unset:
        msg += "; environment variable " + ", ".join(f"${v}" for v in unset) + (" is" if len(unset) == 1 else " are") + " not set"
    root = data_root()
    if relative_to_root(Path(expanded), root) is not None:
        where = f"${DATA_ENV}" if os.environ.get(DATA_ENV) else f"the default data folder (${DATA_ENV} is unset)"
        msg += (
            f"; no public source is catalogued for it: put it at {expanded} under {where} {root}, "
            f"or set ${DATA_ENV} to a folder laid out like ohsumed/, openi/, icbhi/ that holds it"
        )
    return msg


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_signature(root: Path) -> str:
    """A checksum of a folder's file list with sizes and modification times (cheap: no file is read)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            st = p.stat()
            h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def source_checksum(path: Path) -> str:
    """The sha256 of a file, or the :func:`tree_signature` of a folder."""
    return tree_signature(path) if path.is_dir() else file_sha256(path)


def source_fingerprint(loader, options, checksum: str | dict, drop: Iterable[str] = ("path",)) -> str:
    """A loader's fingerprint: its name and version, its options less ``drop`` (paths), and the source checksum(s)."""
    opts = options.model_dump(mode="json")
    for key in (*drop, "sha256"):  # the content checksum is in the fingerprint already
        opts.pop(key, None)
    payload = json.dumps(
        {"loader": loader.name, "version": loader.version, "options": opts, "source_sha256": checksum}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- folders and archives


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def strip_archive_suffix(name: str) -> str:
    """``ohsumed-all-docs`` for ``ohsumed-all-docs.tar.gz``; other names unchanged."""
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def iter_files(path: Path, layout: str = "") -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(path parts relative to the source root, content) of every file of a folder or a tar archive.

    Folders are walked in sorted order; an archive is streamed in its own
    order, in one pass. ``layout`` describes the expected content in the error
    raised when ``path`` is neither a folder nor an archive.

    An archive must be whole: a tar cut inside a member, one that stops (or
    turns to garbage) before its end-of-archive block, and a gzip/bzip2/xz
    stream that ends before its end-of-stream marker (e.g. a ``.tar.gz``
    missing its CRC-and-size trailer, even when every tar member read is
    complete) are a DataError "<path>: truncated archive (...)"; an archive
    that cannot be decoded is a DataError "<path>: cannot read the archive
    (...)". Files already yielded are then to be discarded by the caller.
    """
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = Path(dirpath).relative_to(path).parts
            for name in sorted(filenames):
                yield (*rel, name), (Path(dirpath) / name).read_bytes()
    elif is_archive(path):
        yield from _iter_archive(path)
    else:
        raise DataError(f"{path}: expected a folder or a .tar/.tar.gz archive" + (f" {layout}" if layout else ""))


# compression detected from the first bytes (as tarfile's "r|*" does), whatever the suffix says
_COMPRESSIONS = (
    (b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f, mode="rb")),
    (b"BZh", lambda f: bz2.BZ2File(f, "rb")),
    (b"\xfd7zXZ\x00", lambda f: lzma.LZMAFile(f, "rb")),
)
_TAR_BLOCK = 512


class _Truncated(Exception):
    """The archive ends early; the message says where."""


class _CountingReader:
    """A read-only stream over the decompressed tar that counts its bytes and keeps the last ones read."""

    def __init__(self, fileobj, keep: int = 1 << 16):
        self._f, self._keep = fileobj, keep
        self.pos = 0  # bytes read so far
        self.tail = bytearray()  # the last bytes read, ending at pos

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.pos += len(data)
        self.tail += data
        if len(self.tail) > self._keep:
            del self.tail[: len(self.tail) - self._keep]
        return data

    def block_at(self, offset: int) -> bytes | None:
        """The tar block at ``offset`` (read on if needed; shorter at the end of the data), or None if no longer kept."""
        while self.pos < offset + _TAR_BLOCK and self.read(_TAR_BLOCK):
            pass
        start = self.pos - len(self.tail)
        if offset < start:
            return None
        return bytes(self.tail[offset - start : offset - start + _TAR_BLOCK])

    def drain(self) -> None:
        """Read to the end of the stream: a compressed stream checks its end-of-stream marker (and checksum) there."""
        while self._f.read(1 << 20):
            pass


def _iter_archive(path: Path) -> Iterator[tuple[tuple[str, ...], bytes]]:
    members = 0  # read so far: a short header after them is a truncation, a short file is no archive
    try:
        with open(path, "rb") as raw:
            magic = raw.read(6)
            raw.seek(0)
            opener = next((o for m, o in _COMPRESSIONS if magic.startswith(m)), None)
            stream = opener(raw) if opener is not None else raw
            try:
                reader = _CountingReader(stream)
                with tarfile.open(fileobj=reader, mode="r|") as tar:  # streamed: one pass over the archive
                    for member in tar:
                        members += 1
                        if not member.isfile():
                            continue
                        f = tar.extractfile(member)
                        parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
                        yield parts, f.read() if f is not None else b""
                    end = tar.offset  # where tarfile stopped: its end-of-archive block, if the archive is whole
                # tarfile ends its iteration quietly at a missing, short or garbled header after the first member
                block = reader.block_at(end)
                if block is not None and block != bytes(_TAR_BLOCK):
                    raise _Truncated(
                        f"no end-of-archive block after the member ending at byte {end} of the tar data: "
                        + (
                            "the data stop there"
                            if not block
                            else f"{len(block)} bytes of a header"
                            if len(block) < _TAR_BLOCK
                            else "an unreadable header"
                        )
                    )
                reader.drain()
            finally:
                if stream is not raw:
                    stream.close()
    except _Truncated as e:
        raise DataError(f"{path}: truncated archive ({e})") from None
    except EOFError as e:  # a compressed stream that ends before its end-of-stream marker
        raise DataError(f"{path}: truncated archive ({e})") from None
    except tarfile.ReadError as e:
        if str(e) == "unexpected end of data":  # a member cut short
            raise DataError(f"{path}: truncated archive (a member is cut short: {e})") from None
        if members and str(e) in ("empty header", "truncated header"):  # a header after a pax/GNU extension header cut short
            raise DataError(f"{path}: truncated archive (a header is cut short: {e})") from None
        raise DataError(f"{path}: cannot read the archive ({e})") from None
    except (tarfile.TarError, OSError, zlib.error, lzma.LZMAError) as e:
        raise DataError(f"{path}: cannot read the archive ({e})") from None


# ---------------------------------------------------------------- bag of words


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of two or more characters (scikit-learn's default pattern)."""
    return _TOKEN.findall(text.lower())


def build_vocabulary(token_lists: list[list[str]], size: int, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """The ``size`` terms found in the most documents (ties: alphabetical)."""
    df = Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    ranked = sorted((t for t in df if t not in stop_words), key=lambda t: (-df[t], t))
    return ranked[:size]


def bag_of_words(token_lists: list[list[str]], vocabulary: list[str], weighting: str) -> np.ndarray:
    """Documents × vocabulary float32 matrix: ``log1p`` of the counts, the ``count``, or ``binary`` presence."""
    index = {t: i for i, t in enumerate(vocabulary)}
    x = np.zeros((len(token_lists), len(vocabulary)), dtype=np.float32)
    for r, tokens in enumerate(token_lists):
        for t, c in Counter(tokens).items():
            i = index.get(t)
            if i is not None:
                x[r, i] = c
    if weighting == "log1p":
        np.log1p(x, out=x)
    elif weighting == "binary":
        x = (x > 0).astype(np.float32)
    return x


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop-word list."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def bag_of_words_features(
    texts: list[str], train: np.ndarray, *, vocab_size: int, weighting: str, stop_words: bool, where: object
) -> tuple[np.ndarray, list[str]]:
    """Bag-of-words vectors of ``texts`` over the ``vocab_size`` terms found in the most *training* documents.

    ``train`` is a boolean mask (or index array) of the training rows: the
    other splits never shape the vocabulary. Returns the feature matrix and the
    vocabulary; no word token in the training texts is a DataError about ``where``.
    """
    tokens = [tokenize(t) for t in texts]
    train_rows = np.flatnonzero(train) if np.asarray(train).dtype == bool else np.asarray(train)
    vocabulary = build_vocabulary(
        [tokens[i] for i in train_rows], vocab_size, english_stop_words() if stop_words else frozenset()
    )
    if not vocabulary:
        raise DataError(f"{where}: the training documents have no word tokens")
    return bag_of_words(tokens, vocabulary, weighting), vocabulary


class SourceOptions(LoaderOptions):
    """Split seed and source checksum, shared by the loaders of one file or folder at ``path``."""

    stratification_order: Literal[1, 2] = Field(
        1, description="1: iterative stratification on labels; 2: on labels and label pairs"
    )
    seed: int = Field(0, description="seed of the split")
    sha256: str | None = Field(
        None,
        description="expected sha256 of the file at path (a download is kept only if it matches); "
        "the same as a '#sha256=<hex>' suffix on path",
    )

    @model_validator(mode="after")
    def _sha256_on_path(self) -> "SourceOptions":
        """Fold ``sha256`` into ``path`` as a ``#sha256=`` suffix, which :func:`resolve_path` checks."""
        if self.sha256 is None:
            return self
        try:
            sha256 = check_sha256(self.sha256)
        except DataError:
            raise ValueError(f"expected 64 hex digits, got {self.sha256!r}") from None
        path = getattr(self, "path", None)
        if path is None:
            raise ValueError("sha256 needs a path option")
        base, suffix = split_sha256(path)
        if suffix is not None and suffix != sha256:
            raise ValueError(f"path ends in #sha256={suffix}, which differs from sha256 {sha256}")
        self.sha256, self.path = sha256, f"{base}#sha256={sha256}"
        return self


class BagOfWordsOptions(LoaderOptions):
    """How a text becomes a bag-of-words input vector (:func:`bag_of_words_features`)."""

    vocab_size: int = Field(2000, ge=1, description="bag-of-words terms: those found in the most training documents")
    weighting: Literal["log1p", "count", "binary"] = Field(
        "log1p", description="feature value of a term: log(1+count), its count, or 1 if present"
    )
    stop_words: bool = Field(True, description="leave English stop words (scikit-learn's list) out of the vocabulary")


class TextSourceOptions(BagOfWordsOptions, SourceOptions):
    """Bag-of-words and split settings shared by the text loaders (OHSUMED folders, Open-I)."""
