"""Log lines: each module logs to ``logging.getLogger(__name__)``; the CLI installs the one handler that shows them.

On the command line (:func:`cli_logging`) a record reads ``mtlsearch: <message>``
at INFO and ``mtlsearch: WARNING: <message>`` (its level's name) otherwise, on
stderr; ``--verbose`` shows DEBUG too, ``--quiet`` only warnings and errors.
What a command prints as its product (the progress lines, the leaderboard, a
``--format json`` answer) is not logged: it goes to stdout.

Nothing here is needed in a Ray worker: a module logs the same there, and the
worker's own logging decides what is kept.

:func:`capture` also writes one search's records to a stream of its own
(``launch(out=…)``: tests and benchmarks read a search's whole output from it).
It takes only the records logged in the context that opened it, so two searches
in two threads of one process each get their own lines.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
from typing import Iterator, TextIO

ROOT = "mtlsearch"
"""The package's logger: every module's logger is a child of it."""

QUIET, NORMAL, VERBOSE = logging.WARNING, logging.INFO, logging.DEBUG


class Formatter(logging.Formatter):
    """``mtlsearch: <message>`` at INFO, ``mtlsearch: <LEVEL>: <message>`` at any other level."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        return f"{ROOT}: {level}{record.message}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest's capture replaces it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(Formatter())

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ sets it; the property always reads sys.stderr
        pass


@contextlib.contextmanager
def cli_logging(level: int = NORMAL) -> Iterator[logging.Handler]:
    """Show the package's log records on stderr at ``level`` and above while the block runs (one command).

    The records stop at the ``mtlsearch`` logger (not propagated to the root
    logger, whose handlers would show them a second time). Idempotent: a handler
    installed by an outer call is set aside, not doubled; on exit the logger's
    level, propagation and handlers are as they were.
    """
    logger = logging.getLogger(ROOT)
    saved_level, saved_propagate = logger.level, logger.propagate
    outer = [h for h in logger.handlers if isinstance(h, _StderrHandler)]
    for h in outer:
        logger.removeHandler(h)
    handler = _StderrHandler()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        for h in outer:
            logger.addHandler(h)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


# -- one search's own stream ----------------------------------------------------------------

_scope: contextvars.ContextVar[object | None] = contextvars.ContextVar("mtlsearch_log_scope", default=None)
_lock = threading.Lock()
_open = 0  # captures open in this process
_level_before: int | None = None  # the logger's level before the first of them lowered it to INFO


@contextlib.contextmanager
def capture(stream: TextIO) -> Iterator[None]:
    """Also write the records logged in this context (INFO and up) to ``stream``, rendered as on the CLI.

    "This context": the calling thread, and work it hands its context to
    (``contextvars.copy_context().run``, as the confirmation's thread pool
    does). Records of other threads, such as another search running beside this
    one, are not written here. While a capture is open the ``mtlsearch`` logger
    passes INFO records even when nothing configured it (Python's default:
    warnings only).
    """
    global _open, _level_before
    scope = object()
    token = _scope.set(scope)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Formatter())
    handler.addFilter(lambda record: _scope.get() is scope)
    logger = logging.getLogger(ROOT)
    with _lock:
        if _open == 0 and logger.getEffectiveLevel() > logging.INFO:
            _level_before = logger.level
            logger.setLevel(logging.INFO)
        _open += 1
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        with _lock:
            _open -= 1
            if _open == 0 and _level_before is not None:
                logger.setLevel(_level_before)
                _level_before = None
        _scope.reset(token)
