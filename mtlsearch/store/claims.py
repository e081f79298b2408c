"""Claims: one search at a time trains a given baseline, even when several share a store.

A claim is a small JSON file (``baselines/<fingerprint>.claim``) created only if
it does not exist yet:

* on S3 with a conditional PUT (``If-None-Match: *``; S3 and MinIO answer 412
  to the second writer), and taken over or renewed with ``If-Match: <ETag>``,
  so exactly one of several racing searches wins either way;
* on a local disk with ``open(O_CREAT | O_EXCL)``;
* on any other filesystem not at all: every claim is granted, so two searches
  may both train a baseline, and the store keeps whichever complete row set
  was written last (one file per fingerprint, each written whole).

A claim is a lease: its holder rewrites it every :data:`HEARTBEAT_S` seconds
while it trains. A search that finds a claim waits for the baseline to appear;
if the claim is released without one (its training failed) or stops changing
for :data:`LEASE_S` seconds of the waiter's own clock (its holder died; no
clocks are compared across machines), the waiter takes it over and trains. A
holder on the waiter's own machine whose process is gone (a launch killed while
training baselines, then relaunched) is taken over at once.
The claim holds only the claiming experiment's name, host, process id and times.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from mtlsearch.store.atomic import _split_s3, atomic_write_bytes, s3_client, with_retries

HEARTBEAT_S = 15.0
LEASE_S = 120.0


@dataclass(frozen=True)
class ClaimInfo:
    """What a claim file holds, and its version (an ETag, or a hash of its bytes)."""

    owner: dict
    version: str


class Claim:
    """A claim this process holds."""

    def __init__(self, backend: "_Backend", name: str, body: dict, version: str):
        self.backend, self.name, self.body, self.version = backend, name, body, version
        self.lost = False

    def renew(self) -> bool:
        """Rewrite the claim (a heartbeat); ``False`` when someone else has taken it over meanwhile."""
        if self.lost:
            return False
        body = {**self.body, "heartbeat_at": time.time(), "beats": self.body.get("beats", 0) + 1}
        version = self.backend.replace(self.name, self.version, body)
        if version is None:
            self.lost = True
            return False
        self.body, self.version = body, version
        return True

    def release(self) -> None:
        if not self.lost:
            self.backend.delete(self.name, self.version)


class Claims:
    """Claims under ``<store root>/<folder>/<name>.claim``."""

    def __init__(self, store_root: str, folder: str = "baselines", owner: str = ""):
        self.folder_uri = (
            posixpath.join(store_root.rstrip("/"), folder) if "://" in store_root else os.path.join(store_root, folder)
        )
        self.owner = owner
        self.backend = _backend(self.folder_uri)

    @property
    def exclusive(self) -> bool:
        """Whether a claim really excludes other searches (not on filesystems without an exclusive create)."""
        return not isinstance(self.backend, _Unsupported)

    def _body(self) -> dict:
        now = time.time()
        return {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": uuid.uuid4().hex,
            "claimed_at": now,
            "heartbeat_at": now,
            "beats": 0,
        }

    def acquire(self, name: str) -> Claim | None:
        """Claim ``name``; ``None`` when another holder has it."""
        body = self._body()
        version = self.backend.create(name, body)
        return Claim(self.backend, name, body, version) if version is not None else None

    def take_over(self, name: str, stale: ClaimInfo) -> Claim | None:
        """Replace a stale claim (still at version ``stale.version``) by ours; ``None`` when someone else was first."""
        body = self._body()
        version = self.backend.replace(name, stale.version, body)
        return Claim(self.backend, name, body, version) if version is not None else None

    def inspect(self, name: str) -> ClaimInfo | None:
        return self.backend.read(name)


def holder_died(info: ClaimInfo) -> bool:
    """Whether the claim's holder is a process of this machine that no longer exists (no need to wait out its lease)."""
    owner = info.owner
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class Heartbeat:
    """Renews claims in a background thread while the ``with`` block runs."""

    def __init__(self, claims: list[Claim], every: float | None = None):
        self.claims, self.every = claims, every if every is not None else HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mtlsearch-claim-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for c in self.claims:
                try:
                    c.renew()
                except Exception:  # noqa: BLE001 (a missed beat is retried next time; the lease is long)
                    pass

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- backends ------------------------------------------------------------------------------


class _Backend:
    def create(self, name: str, body: dict) -> str | None: ...
    def read(self, name: str) -> ClaimInfo | None: ...
    def replace(self, name: str, version: str, body: dict) -> str | None: ...
    def delete(self, name: str, version: str) -> None: ...


def _encode(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True).encode()


class _Local(_Backend):
    """Exclusive create with ``O_EXCL``; replacing checks the version first (a small window, documented)."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.claim")

    def create(self, name, body):
        os.makedirs(self.folder, exist_ok=True)
        data = _encode(body)
        try:
            fd = os.open(self._path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest()

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(data)
        except ValueError:  # being written right now
            owner = {}
        return ClaimInfo(owner, hashlib.sha256(data).hexdigest())

    def replace(self, name, version, body):
        current = self.read(name)
        if current is None or current.version != version:
            return None
        data = _encode(body)
        atomic_write_bytes(data, self._path(name))
        return hashlib.sha256(data).hexdigest()

    def delete(self, name, version):
        current = self.read(name)
        if current is not None and current.version == version:
            try:
                os.unlink(self._path(name))
            except FileNotFoundError:
                pass


class _S3(_Backend):
    """Conditional PUTs through boto3 (pyarrow cannot send ``If-None-Match`` / ``If-Match``)."""

    def __init__(self, folder_uri: str):
        self.bucket, self.prefix = _split_s3(folder_uri)
        self.client = s3_client(self.bucket)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}.claim" if self.prefix else f"{name}.claim"

    def _call(self, method: str, **kwargs):
        """A client call, retried on transient errors beyond botocore's own retries."""
        return with_retries(
            lambda: getattr(self.client, method)(Bucket=self.bucket, **kwargs), f"s3://{self.bucket}/{kwargs['Key']}"
        )

    @staticmethod
    def _code(e) -> str:
        return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))

    def _put(self, name: str, body: dict, **condition) -> str | None:
        from botocore.exceptions import ClientError

        try:
            r = self._call("put_object", Key=self._key(name), Body=_encode(body), ContentType="application/json", **condition)
        except ClientError as e:
            # 412: the condition failed (the claim exists / changed); 409: a concurrent conditional write won
            if self._code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
                return None
            raise
        return r["ETag"]

    def create(self, name, body):
        version = self._put(name, body, IfNoneMatch="*")
        if version is None:
            # a retried PUT whose first attempt did succeed finds "our" claim there: it is ours
            current = self.read(name)
            if current is not None and current.owner.get("token") == body["token"]:
                return current.version
        return version

    def read(self, name):
        from botocore.exceptions import ClientError

        try:
            r = self._call("get_object", Key=self._key(name))
        except ClientError as e:
            if self._code(e) in ("NoSuchKey", "404"):
                return None
            raise
        try:
            owner = json.loads(r["Body"].read())
        except ValueError:
            owner = {}
        return ClaimInfo(owner, r["ETag"])

    def replace(self, name, version, body):
        return self._put(name, body, IfMatch=version)

    def delete(self, name, version):
        """Delete the claim only while it is still at ``version``.

        The delete is itself conditional (``If-Match: <ETag>``, S3's conditional
        delete), so a claim taken over between the read and the delete survives.
        A store that rejects the header (older S3-compatible servers) gets a plain
        delete after the read, which leaves that window open.
        """
        from botocore.exceptions import ClientError

        current = self.read(name)
        if current is None or current.version != version:
            return
        try:
            self._call("delete_object", Key=self._key(name), IfMatch=version)
        except ClientError as e:
            code = self._code(e)
            if code in ("PreconditionFailed", "412", "NoSuchKey", "404", "ConditionalRequestConflict", "409"):
                return  # taken over (or released) meanwhile: not ours to delete
            if code not in ("NotImplemented", "501", "InvalidArgument", "400"):
                raise
            self._call("delete_object", Key=self._key(name))


class _Unsupported(_Backend):
    """No exclusive create on this filesystem: every claim is granted (see the module docstring)."""

    def create(self, name, body):
        return "unsupported"

    def read(self, name):
        return None

    def replace(self, name, version, body):
        return "unsupported"

    def delete(self, name, version):
        pass


def _backend(folder_uri: str) -> _Backend:
    if "://" not in folder_uri:
        return _Local(folder_uri)
    scheme = folder_uri.split("://", 1)[0].lower()
    if scheme == "s3":
        return _S3(folder_uri)
    if scheme == "file":
        return _Local(folder_uri.split("://", 1)[1])
    return _Unsupported()
