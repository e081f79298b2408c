"""Why a driver could not join a Ray cluster that uses token authentication: which variable or file it lacks.

Ray 2.60's token authentication (``RAY_AUTH_MODE=token``) rejects every gRPC call
to the GCS that lacks the cluster's token (status ``UNAUTHENTICATED``, gRPC's 401)
and every HTTP call to the dashboard and job API (401 without a token, 403 with a
wrong one). A driver sends its token only when **its own** ``RAY_AUTH_MODE`` is
``token``; it reads the token from, in this order (checked against Ray 2.60's
token loader):

1. the ``RAY_AUTH_TOKEN`` environment variable;
2. the file named by ``RAY_AUTH_TOKEN_PATH``;
3. ``~/.ray/auth_token`` (what ``ray get-auth-token --generate`` writes).

Without ``RAY_AUTH_MODE=token`` ``ray.init(address=…)`` retries for about 20
seconds and fails with "Failed to connect to Ray cluster", naming neither. When a
connection fails, :func:`auth_problem` asks the GCS itself, once without a token
and once with the one this process would send, and says which of the three is
missing or wrong. It only diagnoses: a connection that works is never probed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

AUTH_MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
PROBE_TIMEOUT_S = 5.0

OPEN, UNAUTHENTICATED, UNREACHABLE = "open", "unauthenticated", "unreachable"
"""What the GCS answers a call: it served it, it rejected its token (or the lack of one), or it could not be reached."""

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-]+:\d+$|^\[[0-9A-Fa-f:]+\]:\d+$")


@dataclass(frozen=True)
class LocalToken:
    """The token this process would send, and where it comes from (``None`` and what was looked at when none)."""

    token: str | None
    source: str


def local_token() -> LocalToken:
    """The token by Ray's precedence: ``RAY_AUTH_TOKEN``, then the ``RAY_AUTH_TOKEN_PATH`` file, then ``~/.ray/auth_token``."""
    if os.environ.get(TOKEN_VAR, "").strip():
        return LocalToken(os.environ[TOKEN_VAR].strip(), f"${TOKEN_VAR}")
    looked = [f"${TOKEN_VAR} is unset"]
    if os.environ.get(TOKEN_PATH_VAR):
        path = Path(os.environ[TOKEN_PATH_VAR]).expanduser()
        if path.is_file() and path.read_text().strip():
            return LocalToken(path.read_text().strip(), f"{path} (${TOKEN_PATH_VAR})")
        looked.append(f"${TOKEN_PATH_VAR}={path} is {'empty' if path.is_file() else 'not a file'}")
    else:
        looked.append(f"${TOKEN_PATH_VAR} is unset")
    default = Path(DEFAULT_TOKEN_FILE).expanduser()
    if default.is_file() and default.read_text().strip():
        return LocalToken(default.read_text().strip(), str(default))
    looked.append(f"{default} does not exist" if not default.exists() else f"{default} is empty")
    return LocalToken(None, ", ".join(looked))


def gcs_answer(address: str, token: str | None, timeout: float = PROBE_TIMEOUT_S) -> str:
    """:data:`OPEN`, :data:`UNAUTHENTICATED` or :data:`UNREACHABLE`: the GCS at ``host:port`` asked for its cluster id,
    with ``authorization: Bearer <token>`` (the header Ray's own clients send) when ``token`` is given."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout, metadata=metadata)
        except grpc.RpcError as e:
            return UNAUTHENTICATED if e.code() == grpc.StatusCode.UNAUTHENTICATED else UNREACHABLE
    return OPEN


def auth_problem(address: str) -> str | None:
    """What this process lacks to join the token-authenticated cluster at ``address``; ``None`` when the cluster does not
    ask for a token, the token this process has is accepted, or ``address`` is not a ``host:port`` GCS address."""
    if not _HOST_PORT.match(address) or gcs_answer(address, None) != UNAUTHENTICATED:
        return None
    mode = os.environ.get(AUTH_MODE_VAR)
    mine = local_token()
    copy = (
        f"copy the head's {DEFAULT_TOKEN_FILE} (`ray get-auth-token` on the head prints it) to {DEFAULT_TOKEN_FILE} here, "
        f"or export {TOKEN_VAR}=<token>"
    )
    needs = f"the Ray cluster at {address} requires token authentication"
    if mine.token is None:
        token_part = f"no token here ({mine.source}): {copy}"
    elif gcs_answer(address, mine.token) == UNAUTHENTICATED:
        token_part = f"the token from {mine.source} is not this cluster's (the cluster rejected it): {copy}"
    else:
        token_part = ""
    if (mode or "").lower() != "token":
        state = f"{AUTH_MODE_VAR} is {'unset' if mode is None else repr(mode)} here, so no token is sent"
        fix = f"export {AUTH_MODE_VAR}=token"
        return f"{needs}; {state}: {fix}" + (
            f"; and {token_part}" if token_part else f" (the token from {mine.source} is accepted)"
        )
    if token_part:
        return f"{needs}; {AUTH_MODE_VAR}=token, but {token_part}"
    return None
