"""Atomic file writes on a local disk or an object store, through ``pyarrow.fs``.

On a local disk a file is written under a hidden temporary name in the same
folder and renamed into place (``rename`` is atomic on POSIX), so readers never
see a half-written file. On S3 a single PUT is already atomic: the object
appears whole or not at all. Temporary names start with ``.`` so that
``pyarrow.dataset`` discovery skips them.

S3 (``s3://bucket/prefix``) goes through :class:`pyarrow.fs.S3FileSystem`, built
here rather than by ``FileSystem.from_uri`` so that

* the endpoint comes from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (an
  S3-compatible store such as MinIO; pyarrow itself ignores these variables),
* credentials come only from the standard AWS chain (environment, profile,
  instance role): a URI carrying credentials (``s3://KEY:SECRET@bucket``) is
  refused, since the store's location is written into experiment.json, Tune's
  experiment state and the launch log,
* the AWS SDK retries throttling and 5xx answers with backoff
  (``AwsStandardS3RetryStrategy``), and the filesystem keeps that setting when
  it is pickled to Ray workers (a plain ``S3FileSystem`` loses it).

On top of the SDK's retries, every store read and write on a remote filesystem
is retried by :func:`with_retries` when it fails with a transient error (a
whole-file write is idempotent, so retrying it is safe).
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import random
import re
import threading
import time
import uuid
from typing import Callable, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mtlsearch.errors import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
S3_SDK_ATTEMPTS = 6
"""Attempts of each S3 request inside the AWS SDK (pyarrow and boto3): throttling, 5xx, network errors."""
STORE_ATTEMPTS = 5
"""Attempts of each whole store read or write (on top of the SDK's own retries)."""
RETRY_BASE_S = 0.5
RETRY_MAX_S = 8.0


# -- URIs -----------------------------------------------------------------------------

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")
_SECRET_QUERY = re.compile(r"((?:access_key|secret_key|session_token|password|token)=)[^&]*", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` with any credentials (``scheme://user:secret@…``, ``?secret_key=…``) replaced by ``***``."""
    uri = _USERINFO.sub(r"\1***@", str(uri))
    return _SECRET_QUERY.sub(r"\1***", uri)


def is_remote_uri(uri: str) -> bool:
    return "://" in str(uri) and not str(uri).startswith("file://")


def _split_s3(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` URI; refuses credentials and options in the URI."""
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        raise StoreError(
            f"storage {redact_uri(uri)}: credentials in the URI are not accepted (they would be written with the "
            "experiment); use the standard AWS credential chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or an instance role"
        )
    if parts.query or parts.fragment:
        raise StoreError(
            f"storage {redact_uri(uri)}: options in the URI are not supported; set AWS_ENDPOINT_URL "
            "(S3-compatible stores such as MinIO) and AWS_REGION in the environment instead"
        )
    if not parts.netloc:
        raise StoreError(f"storage {uri}: no bucket (expected s3://BUCKET/PREFIX)")
    return parts.netloc, parts.path.strip("/")


# -- S3 ----------------------------------------------------------------------------------


def s3_endpoint() -> str | None:
    """The S3 endpoint from the environment (``None``: AWS itself)."""
    for name in ENDPOINT_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _make_s3(options: dict) -> "S3FileSystem":
    return S3FileSystem(**options)


class S3FileSystem(pafs.S3FileSystem):
    """``pyarrow.fs.S3FileSystem`` that pickles with its region, endpoint and retry strategy (never credentials)."""

    def __init__(self, region: str = "", endpoint_override: str | None = None, max_attempts: int = S3_SDK_ATTEMPTS):
        super().__init__(
            region=region or None,
            endpoint_override=endpoint_override,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=max_attempts),
            connect_timeout=10.0,  # seconds; a request that hangs fails (and is retried) instead of blocking the search
            request_timeout=120.0,
            # a small file is then one PutObject, not CreateMultipartUpload + UploadPart + Complete
            allow_delayed_open=True,
        )
        self._mtl_options = {"region": region, "endpoint_override": endpoint_override, "max_attempts": max_attempts}

    def __reduce__(self):
        return _make_s3, (self._mtl_options,)


_s3_cache: dict[tuple, S3FileSystem] = {}
_s3_lock = threading.Lock()


def s3_region(bucket: str, endpoint: str | None) -> str:
    """``AWS_REGION`` / ``AWS_DEFAULT_REGION``; else, on AWS, the bucket's own region; else ``us-east-1``."""
    for name in REGION_ENV:
        if os.environ.get(name):
            return os.environ[name]
    if endpoint is None:
        try:
            return pafs.resolve_s3_region(bucket)
        except OSError:
            pass
    return "us-east-1"


def s3_filesystem(bucket: str) -> S3FileSystem:
    """One filesystem per (bucket, endpoint, region), reused by every store call of this process."""
    endpoint = s3_endpoint()
    key = (bucket, endpoint, tuple(os.environ.get(n) for n in REGION_ENV), S3_SDK_ATTEMPTS)
    with _s3_lock:
        fs = _s3_cache.get(key)
        if fs is None:
            fs = _s3_cache[key] = S3FileSystem(
                region=s3_region(bucket, endpoint), endpoint_override=endpoint, max_attempts=S3_SDK_ATTEMPTS
            )
        return fs


def s3_client(bucket: str):
    """A boto3 S3 client for what pyarrow cannot do (conditional writes), configured like :func:`s3_filesystem`."""
    import boto3
    from botocore.config import Config

    fs = s3_filesystem(bucket)
    return boto3.client(
        "s3",
        endpoint_url=fs._mtl_options["endpoint_override"],
        region_name=fs._mtl_options["region"],
        config=Config(retries={"mode": "standard", "max_attempts": S3_SDK_ATTEMPTS}, connect_timeout=10, read_timeout=60),
    )


# -- resolving ---------------------------------------------------------------------------


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return the filesystem and the path inside it for a local path or a ``scheme://`` URI."""
    uri = str(uri)
    if "://" in uri:
        if uri.split("://", 1)[0].lower() == "s3":
            bucket, key = _split_s3(uri)
            return s3_filesystem(bucket), f"{bucket}/{key}" if key else bucket
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, OSError) as e:
            raise StoreError(f"storage {redact_uri(uri)}: {redact_uri(str(e))}") from None
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def ray_storage(uri: str) -> tuple[pafs.FileSystem | None, str]:
    """``(storage_filesystem, storage_path)`` for Ray Tune / Ray Train: ``(None, path)`` on a local disk."""
    fs, path = resolve(uri)
    return (None, path) if is_local(fs) else (fs, path)


def is_local(fs: pafs.FileSystem) -> bool:
    return fs.type_name == "local"


# -- retries -----------------------------------------------------------------------------

_TRANSIENT = re.compile(
    r"SLOW_?DOWN|SERVICE_UNAVAILABLE|ServiceUnavailable|INTERNAL_FAILURE|InternalError|REQUEST_TIMEOUT|RequestTimeout|"
    r"THROTTL|Throttl|TooManyRequests|NETWORK_CONNECTION|curlCode|Connection (reset|refused|aborted)|timed out|"
    r"HTTP status 5\d\d|\b50[0234]\b|Please reduce your request rate",
)


_TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequests",
    "RequestTimeTooSkewed",
}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: throttling, 5xx, timeouts, dropped connections; not a missing file or a denial.

    Covers pyarrow's ``OSError`` (the AWS SDK's error text) and botocore's errors (error codes, HTTP status,
    connection errors).
    """
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, StoreError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _TRANSIENT_CODES or int(status) >= 500
    if type(exc).__module__.startswith("botocore") and any(
        c.__name__ in ("ConnectionError", "HTTPClientError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError")
        for c in type(exc).__mro__
    ):
        return True
    if isinstance(exc, OSError):
        return bool(_TRANSIENT.search(str(exc)))
    return False


def with_retries(fn: Callable[[], T], what: str, attempts: int | None = None, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn``; on a transient error, retry with exponential backoff (full jitter) up to ``attempts`` times."""
    attempts = attempts or STORE_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 (classified below)
            if attempt == attempts or not is_transient(e):
                raise
            delay = random.uniform(0, min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempt - 1)))
            log.warning(
                "%s: transient store error (attempt %d/%d), retrying in %.1fs: %s",
                redact_uri(what),
                attempt,
                attempts,
                delay,
                redact_uri(str(e))[:300],
            )
            sleep(delay)
    raise AssertionError("unreachable")


def retrying(fs: pafs.FileSystem, fn: Callable[[], T], what: str) -> T:
    """``fn()``, retried with backoff on transient errors when ``fs`` is remote (:func:`with_retries`)."""
    return fn() if is_local(fs) else with_retries(fn, what)


# -- reading and writing -----------------------------------------------------------------


def atomic_write_bytes(data: bytes, uri: str) -> None:
    """Write ``data`` to ``uri`` so that the file appears complete or not at all."""
    fs, path = resolve(uri)
    retrying(fs, lambda: _write(fs, path, data), uri)


def atomic_write_table(table: pa.Table, uri: str) -> None:
    """Write a Parquet file atomically."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    atomic_write_bytes(sink.getvalue(), uri)


def _write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    parent = posixpath.dirname(path)
    if not is_local(fs):  # object stores have no folders to create: one PUT
        with fs.open_output_stream(path) as out:
            out.write(data)
        return
    fs.create_dir(parent, recursive=True)
    tmp = posixpath.join(parent, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(path)}")
    try:
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def read_bytes(uri: str) -> bytes | None:
    """Read a whole file, or ``None`` when it does not exist."""
    fs, path = resolve(uri)

    def read() -> bytes | None:
        try:
            with fs.open_input_stream(path) as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError:
            if fs.get_file_info(path).type != pafs.FileType.File:
                return None
            raise

    return retrying(fs, read, uri)
