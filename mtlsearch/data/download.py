"""Downloads of data sources into a local cache, checked before they are used.

* :func:`data_root` is the folder the ready specs find their data under:
  ``$MTLSEARCH_DATA`` when set (laid out like ``../shared/data``: ``ohsumed/``,
  ``openi/``, ``icbhi/``), else a user cache folder
  (``$XDG_CACHE_HOME/mtlsearch/data``, or platformdirs' user cache folder).
* :func:`fetch` downloads an ``http(s)://`` or ``s3://`` URL into a folder:
  the bytes go to a hidden temporary file in that folder (with a tqdm
  progress bar on stderr when stderr is a terminal), and the file is renamed
  into place only once its size matches the announced length and its sha256
  the expected one. A mismatch or a truncated body is a
  :class:`~mtlsearch.errors.DataError` and leaves nothing behind, so the
  cache never holds a half-written file. A file already in place is reused
  without network (after a checksum check when one is given).
* :func:`fetch_url` keeps a URL's download under
  ``<data root>/downloads/<key>/<file name>`` (``key``: a hash of the URL).

Transient failures (connection errors, timeouts, HTTP 429 and 5xx, a body cut
short) are retried :data:`RETRIES` times with exponential backoff; others
(HTTP 404, S3 access denied) fail at once. S3 goes through boto3 (an optional
dependency: ``pip install 'mtlsearch[s3]'``), so the standard credential chain
and ``AWS_ENDPOINT_URL`` apply.

A path may carry its expected checksum as a URL fragment:
``https://host/data.tar.gz#sha256=<64 hex digits>`` (:func:`split_sha256`).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mtlsearch.cache_dirs import user_cache
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

DATA_ENV = "MTLSEARCH_DATA"
URL_SCHEMES = ("http", "https", "s3")
DEFAULT_TIMEOUT = 60.0  # seconds without data before a connection is given up (then retried)
RETRIES = 3  # further attempts after a transient failure
BACKOFF_SECONDS = 1.0  # wait before the first retry; doubled before each next one
CHUNK = 1 << 20
USER_AGENT = "mtlsearch/0.1 (dataset download)"

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_FRAGMENT = re.compile(r"#sha256=([0-9a-fA-F]{64})$")
_noted_default_root = False
_hash_memo: dict[tuple[str, int, int], str] = {}


class _Transient(Exception):
    """A failure worth retrying (the message says what happened)."""


# ---------------------------------------------------------------- where data lives


def default_data_root() -> Path:
    """The user cache folder for data: ``user_cache("data")`` (:mod:`mtlsearch.cache_dirs`)."""
    return user_cache("data")


def data_root(note: bool = False) -> Path:
    """``$MTLSEARCH_DATA`` when set (and not a URL), else :func:`default_data_root`.

    With ``note``, the first use of the default folder in this process is
    logged, so a user sees where data are looked for and downloaded.
    """
    value = os.environ.get(DATA_ENV, "")
    if value and not is_url(value):
        return Path(value).expanduser()
    root = default_data_root()
    if note and not value:
        _note_default_root(root)
    return root


def _note_default_root(root: Path) -> None:
    global _noted_default_root
    if not _noted_default_root:
        _noted_default_root = True
        log.info(f"${DATA_ENV} is not set; using the data folder {root}")


def downloads_dir() -> Path:
    """Where downloads of URL paths are cached: ``<data root>/downloads``."""
    return data_root(note=True) / "downloads"


# ---------------------------------------------------------------- URLs and checksums


def is_url(path: str) -> bool:
    """Whether ``path`` is an ``http://``, ``https://`` or ``s3://`` URL."""
    scheme = urllib.parse.urlsplit(path).scheme.lower()
    return scheme in URL_SCHEMES and "://" in path


def split_sha256(path: str) -> tuple[str, str | None]:
    """``(path, sha256)`` for ``path#sha256=<hex>``; ``(path, None)`` when there is no such fragment."""
    m = _FRAGMENT.search(path)
    if not m:
        return path, None
    return path[: m.start()], m.group(1).lower()


def check_sha256(value: str, where: str = "sha256") -> str:
    """``value`` lower-cased when it is 64 hex digits; else a DataError naming ``where``."""
    if not isinstance(value, str) or not _SHA256.match(value.strip()):
        raise DataError(f"{where}: expected a sha256 checksum (64 hex digits), got {value!r}")
    return value.strip().lower()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, remembered for this process by path, size and modification time."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _hash_memo.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        digest = _hash_memo[key] = h.hexdigest()
    return digest


def verify_file(path: Path, sha256: str, what: str) -> Path:
    """``path`` when its sha256 is ``sha256``; else a DataError naming the file, expected and actual sums."""
    if not path.is_file():
        raise DataError(f"{what} {path}: a sha256 checksum was given, so a file was expected")
    actual = file_sha256(path)
    if actual != sha256:
        raise DataError(f"{what} {path}: sha256 mismatch: expected {sha256}, got {actual}")
    return path


def url_filename(url: str) -> str:
    """The last path segment of ``url`` (unquoted), ``download`` when it has none."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = name.replace("\\", "_").strip()
    return name if name not in ("", ".", "..") else "download"


def url_cache_dir(url: str) -> Path:
    """``<downloads>/<16 hex digits of the URL's sha256>``: one folder per URL, keeping its file name."""
    return downloads_dir() / hashlib.sha256(url.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- fetching


def fetch_url(url: str, sha256: str | None = None, what: str = "download") -> Path:
    """Download ``url`` (``#sha256=`` fragment allowed) into the downloads cache, or reuse it; see :func:`fetch`."""
    url, from_fragment = split_sha256(url)
    if sha256 and from_fragment and check_sha256(sha256) != from_fragment:
        raise DataError(f"{what} {url}: two different sha256 checksums given ({sha256} and #sha256={from_fragment})")
    return fetch(url, url_cache_dir(url), sha256 or from_fragment, what=what)


def fetch(
    url: str,
    dest_dir: str | os.PathLike,
    sha256: str | None = None,
    what: str = "download",
    filename: str | None = None,
    timeout: float | None = None,
) -> Path:
    """``dest_dir/filename`` holding the content of ``url`` (http, https or s3), downloaded if needed.

    A file already there is reused without network when no ``sha256`` is given
    or when it has that checksum (a file with another checksum is downloaded
    again). A download is written to a hidden temporary file in ``dest_dir``
    and renamed into place only after its size and checksum passed.
    """
    if not is_url(url):
        raise DataError(f"{what}: {url!r} is not an http(s):// or s3:// URL")
    sha256 = check_sha256(sha256, f"{what} {url}: sha256") if sha256 is not None else None
    dest = Path(dest_dir) / (filename or url_filename(url))
    if dest.is_file() and (sha256 is None or file_sha256(dest) == sha256):
        return dest
    _make_dir(dest.parent, what)
    tmp = dest.parent / f".part-{uuid.uuid4().hex[:12]}-{dest.name}"
    try:
        size, actual = _download_with_retries(url, tmp, what, timeout or DEFAULT_TIMEOUT)
        if sha256 is not None and actual != sha256:
            raise DataError(f"{what} {url}: sha256 mismatch: expected {sha256}, got {actual} ({size} bytes); nothing was kept")
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        _remove_empty_dir(dest.parent)
        raise
    return dest


def _make_dir(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"{what}: cannot create the download folder {folder} ({e.strerror or e}); set ${DATA_ENV} to a writable folder"
        ) from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _remove_empty_dir(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds when empty
    except OSError:
        pass


def _download_with_retries(url: str, tmp: Path, what: str, timeout: float) -> tuple[int, str]:
    """Download into ``tmp``, retrying transient failures; returns (size, sha256)."""
    delay = BACKOFF_SECONDS
    for attempt in range(RETRIES + 1):
        try:
            return _download_once(url, tmp, timeout)
        except _Transient as e:
            if attempt == RETRIES:
                raise DataError(f"{what} {url}: download failed after {RETRIES + 1} attempts: {e}") from None
            log.info(f"{url}: {e}; retrying in {delay:g} s")
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


@dataclass
class _Body:
    """An open download: a stream to read, its announced length (if any) and the errors worth a retry."""

    stream: BinaryIO | Any
    length: int | None
    transient: tuple[type[BaseException], ...]


def _download_once(url: str, tmp: Path, timeout: float) -> tuple[int, str]:
    body = _open_s3(url, timeout) if url.lower().startswith("s3://") else _open_http(url, timeout)
    h = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out, _progress(body.length, url_filename(url)) as bar:
            while chunk := _read(body, size):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    finally:
        body.stream.close()
    if body.length is not None and size != body.length:
        raise _Transient(f"truncated: received {size} of {body.length} bytes")
    if size == 0:
        raise DataError(f"{url}: the server sent an empty file")
    return size, h.hexdigest()


def _read(body: _Body, received: int) -> bytes:
    """The next chunk of ``body``; a connection error is transient (the download is retried)."""
    try:
        return body.stream.read(CHUNK)
    except body.transient as e:
        raise _Transient(f"connection lost after {received} bytes ({type(e).__name__}: {e})") from None


def _progress(total: int | None, name: str):
    """A tqdm byte counter on stderr, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None,
        leave=False,
        miniters=1,
    )


_HTTP_TRANSIENT = (OSError, http.client.HTTPException, socket.timeout)


def _open_http(url: str, timeout: float) -> _Body:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only: checked by is_url)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 429 or e.code >= 500:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise _Transient(f"cannot connect ({e.reason})") from None
    except _HTTP_TRANSIENT as e:
        raise _Transient(f"{type(e).__name__}: {e}") from None
    length = response.headers.get("Content-Length")
    return _Body(response, int(length) if length and length.isdigit() else None, _HTTP_TRANSIENT)


def _s3_parts(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        raise DataError(f"{url}: expected s3://<bucket>/<key>")
    return parts.netloc, key


def _s3_client(timeout: float):
    """A boto3 S3 client (standard credential chain; boto3 itself reads ``AWS_ENDPOINT_URL``)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise DataError("s3:// data sources need boto3: pip install 'mtlsearch[s3]' (or boto3)") from None
    return boto3.client("s3", config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}))


def _s3_transient_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        return _HTTP_TRANSIENT
    return (*_HTTP_TRANSIENT, BotoCoreError)


def _open_s3(url: str, timeout: float) -> _Body:
    bucket, key = _s3_parts(url)
    client = _s3_client(timeout)
    try:
        obj = client.get_object(Bucket=bucket, Key=key)
    except Exception as e:  # botocore's ClientError carries the HTTP status in .response
        meta = getattr(e, "response", None) or {}
        status = meta.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = meta.get("Error", {}).get("Code", type(e).__name__)
        if status is not None and status < 500 and status != 429:
            raise DataError(f"{url}: S3 {code} (HTTP {status})") from None
        raise _Transient(f"S3 {code}: {e}") from None
    length = obj.get("ContentLength")
    return _Body(obj["Body"], int(length) if length is not None else None, _s3_transient_errors())
