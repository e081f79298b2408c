"""Log lines go through ``logging``: the CLI shows them on stderr as ``mtlsearch: …``, ``--verbose``/``--quiet`` set the
level, and :func:`mtlsearch.logs.capture` gives one search (one thread) its own lines. Fast: no Ray, no training."""

from __future__ import annotations

import contextvars
import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import write_spec

from mtlsearch import cli, logs
from mtlsearch.cli import main

log = logging.getLogger("mtlsearch.spec.loaded")  # a module logger of the package, as a command's code logs


@pytest.fixture
def spec(tmp_path, monkeypatch) -> str:
    """A valid spec whose ``validate`` also logs one line at each level (DEBUG, INFO, WARNING)."""
    validate = cli._validate

    def logging_validate(args):
        log.debug("a debug line")
        log.info("an info line")
        log.warning("the splits are small")
        return validate(args)

    monkeypatch.setattr(cli, "_validate", logging_validate)
    return str(write_spec(tmp_path / "s.yaml", tmp_path / "store"))


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_default_shows_info_and_warnings_with_the_prefix(spec, capsys):
    assert main(["validate", spec]) == 0
    out, err = capsys.readouterr()
    assert "valid (experiment 't'" in out and "mtlsearch" not in out  # the answer on stdout, no log line there
    assert _lines(err) == ["mtlsearch: an info line", "mtlsearch: WARNING: the splits are small"]


def test_quiet_shows_warnings_only(spec, capsys):
    assert main(["--quiet", "validate", spec]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out
    assert _lines(err) == ["mtlsearch: WARNING: the splits are small"]
    assert main(["-q", "validate", spec]) == 0
    assert _lines(capsys.readouterr().err) == ["mtlsearch: WARNING: the splits are small"]


def test_verbose_shows_debug(spec, capsys):
    assert main(["--verbose", "validate", spec]) == 0
    err = _lines(capsys.readouterr().err)
    assert "mtlsearch: DEBUG: a debug line" in err and "mtlsearch: an info line" in err
    assert any(line.startswith("mtlsearch: DEBUG: mtlsearch ") and "command validate" in line for line in err), err
    assert main(["-v", "validate", spec]) == 0
    assert "mtlsearch: DEBUG: a debug line" in _lines(capsys.readouterr().err)


def test_errors_keep_their_form_and_quiet_keeps_them(tmp_path, capsys):
    bad = write_spec(tmp_path / "bad.yaml", tmp_path)
    bad.write_text(bad.read_text().replace("epochs: 4", "epochs: -1"))
    assert main(["--quiet", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtlsearch: error: ") and "train.epochs" in err


def test_verbose_and_quiet_exclude_each_other(spec, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--verbose", "--quiet", "validate", spec])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "launch", spec, "--verbose"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["launch", "SPEC", "--verbose"], ["--verbose", "launch", "SPEC"], ["-v", "launch", "SPEC"], ["launch", "SPEC"]]
)
def test_launch_verbose_still_forwards_ray_logs(argv, spec, monkeypatch, capsys):
    """``mtlsearch launch --verbose`` (as before) and the global flag both pass ``verbose`` on to Ray (and log DEBUG)."""
    from mtlsearch.search import launcher

    seen = {}

    def fake_launch(loaded, resume=False, address=None, verbose=False, **kw):
        seen["verbose"] = verbose
        seen["debug"] = logging.getLogger("mtlsearch.search.launcher").isEnabledFor(logging.DEBUG)
        return loaded.spec.experiment, []

    monkeypatch.setattr(launcher, "launch", fake_launch)
    assert main([spec if a == "SPEC" else a for a in argv]) == 0
    wanted = "--verbose" in argv or "-v" in argv
    assert seen == {"verbose": wanted, "debug": wanted}


def test_main_twice_adds_no_second_handler_and_leaves_logging_as_it_was(spec, capsys):
    root = logging.getLogger("mtlsearch")
    before = (root.level, root.propagate, list(root.handlers))
    assert main(["validate", spec]) == 0
    assert main(["validate", spec]) == 0
    err = _lines(capsys.readouterr().err)
    assert err.count("mtlsearch: an info line") == 2  # once per call, not twice in the second
    assert (root.level, root.propagate, list(root.handlers)) == before
    with logs.cli_logging() as outer:
        with logs.cli_logging(logs.QUIET):
            assert outer not in root.handlers and len(root.handlers) == len(before[2]) + 1
            assert not root.propagate
        assert outer in root.handlers and root.level == logs.NORMAL


def test_the_cli_handler_writes_to_the_current_stderr(capsys):
    with logs.cli_logging():
        log.info("first")
        first = capsys.readouterr().err
        log.info("second")
    assert first == "mtlsearch: first\n" and capsys.readouterr().err == "mtlsearch: second\n"


def test_capture_keeps_each_threads_lines_apart():
    """Two searches in two threads of one process: each stream gets its own search's lines, and those of the
    threads a search hands its context to (the confirmation's seeds), none of the other's."""
    level = logging.getLogger("mtlsearch").level
    streams = {"a": io.StringIO(), "c": io.StringIO()}
    barrier = threading.Barrier(2)

    def search(name: str) -> None:
        with logs.capture(streams[name]):
            barrier.wait()
            for i in range(3):
                log.info(f"{name} line {i}")
                barrier.wait()
            log.warning(f"{name} warns")
            with ThreadPoolExecutor(2) as pool:
                runs = [pool.submit(contextvars.copy_context().run, log.info, f"{name} seed {s}") for s in (1, 2)]
                [r.result() for r in runs]
        log.info(f"{name} after the capture")

    threads = [threading.Thread(target=search, args=(n,)) for n in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, stream in streams.items():
        lines = _lines(stream.getvalue())
        assert lines[:4] == [f"mtlsearch: {name} line {i}" for i in range(3)] + [f"mtlsearch: WARNING: {name} warns"]
        assert sorted(lines[4:]) == [f"mtlsearch: {name} seed 1", f"mtlsearch: {name} seed 2"]
    assert logging.getLogger("mtlsearch").level == level  # the level a capture lowers to INFO is restored
