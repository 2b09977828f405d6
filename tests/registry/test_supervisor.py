"""The one supervisor for local chains and IPFS daemons: start, readiness, pidfile, find, stop by pid.

A tiny Python script stands in for a daemon: it writes a ready file and sleeps, optionally ignoring SIGTERM.
Every process started here is stopped by pid before the test ends.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from registry import supervisor

DAEMON = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("starting", flush=True)
    pathlib.Path(sys.argv[1]).write_text("ready")
    time.sleep(600)
    """
)


def _start(tmp_path: Path, mode: str = "normal", **kwargs: object) -> supervisor.Daemon:
    ready = tmp_path / "ready"
    return supervisor.start(
        [sys.executable, "-c", DAEMON, str(ready), mode],
        log_path=tmp_path / "daemon.log",
        ready=ready.exists,
        name="fake",
        pidfile=tmp_path / "daemon.json",
        facts={"port": 1234},
        timeout_s=20,
        **kwargs,  # type: ignore[arg-type]
    )


def test_start_writes_pidfile_and_log_and_find_running_returns_it(tmp_path: Path) -> None:
    daemon = _start(tmp_path)
    try:
        found = supervisor.find_running(tmp_path / "daemon.json", "fake")
        assert found is not None and found.pid == daemon.pid and found.facts["port"] == 1234
        assert supervisor.find_running(tmp_path / "daemon.json", "other") is None, "another kind's pidfile"
        assert "starting" in daemon.log_tail()
    finally:
        daemon.stop()
    assert not supervisor.alive(daemon.pid)
    assert not (tmp_path / "daemon.json").exists()


def test_a_recycled_pid_is_not_taken_for_the_daemon(tmp_path: Path) -> None:
    daemon = _start(tmp_path)
    try:
        info = supervisor.read_json(tmp_path / "daemon.json")
        assert info is not None
        supervisor.write_json(tmp_path / "daemon.json", {**info, "start_time": info["start_time"] - 1})
        assert supervisor.find_running(tmp_path / "daemon.json", "fake") is None
        assert not (tmp_path / "daemon.json").exists(), "the stale pidfile is removed"
        assert supervisor.alive(daemon.pid), "and the live process with that pid is left alone"
    finally:
        daemon.stop()


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    daemon = _start(tmp_path, "ignore-term")
    started = time.monotonic()
    daemon.stop(timeout_s=0.5)
    assert not supervisor.alive(daemon.pid)
    assert time.monotonic() - started >= 0.5, "SIGTERM was ignored, so SIGKILL had to follow"


def test_a_daemon_that_exits_during_start_up_is_an_error_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(supervisor.SupervisorError, match=r"exited with code 3.*\n.*boom"):
        supervisor.start(
            [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
            log_path=tmp_path / "log",
            ready=lambda: False,
            name="fake",
            timeout_s=20,
        )


def test_a_missing_binary_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(supervisor.SupervisorError, match="no-such-binary"):
        supervisor.start(["/no-such-binary"], log_path=tmp_path / "log", ready=lambda: True, name="fake")


def test_die_with_parent_ends_the_daemon_when_its_starter_is_killed(tmp_path: Path) -> None:
    """The per-command chain must not outlive a SIGKILLed command."""
    starter = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from registry import supervisor
        d = supervisor.start([sys.executable, "-c", {DAEMON!r}, {str(tmp_path / "ready")!r}, "normal"],
                             log_path=Path({str(tmp_path / "log")!r}), ready=Path({str(tmp_path / "ready")!r}).exists,
                             name="fake", pidfile=Path({str(tmp_path / "pid.json")!r}), die_with_parent=True)
        print(d.pid, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        assert supervisor.alive(pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while supervisor.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if supervisor.alive(pid):  # never leave it running, even when the assertion fails
        supervisor.Daemon(pid, tmp_path / "log").stop()
        pytest.fail(f"daemon {pid} outlived its SIGKILLed starter")


def test_a_large_log_is_rotated_at_start(tmp_path: Path) -> None:
    (tmp_path / "daemon.log").write_bytes(b"x" * (supervisor.LOG_LIMIT_BYTES + 1))
    daemon = _start(tmp_path)
    daemon.stop()
    assert (tmp_path / "daemon.log.1").stat().st_size == supervisor.LOG_LIMIT_BYTES + 1
    assert (tmp_path / "daemon.log").stat().st_size < supervisor.LOG_LIMIT_BYTES
