"""One supervisor for the daemons Ledgermark runs itself: local chains (Anvil, Ganache) and js-ipfs.

Every daemon starts in its own session (so stopping it signals exactly its process group), writes its output
to a log file (never to the caller's stdout: a child that holds a pipe open can hang CI), and is ready when a
probe answers. A pidfile records pid, process start time and whatever the caller adds (port, URL), so a later
process can find the daemon (``find_running``) and stop it by pid: SIGTERM, then SIGKILL. The start time in
the pidfile guards against a recycled pid: a different process that happens to get the same pid is never
signalled. Nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from ipfs.errors import LedgermarkError

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


class SupervisorError(LedgermarkError):
    """A daemon could not be started or stopped; the message carries its log tail."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the daemon binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """A running (or just started) daemon: its pid, log and pidfile, plus caller facts such as the port."""

    pid: int
    log_path: Path
    pidfile: Path | None = None
    start_time: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def is_running(self) -> bool:
        """True while this very process lives (a recycled pid does not count)."""
        if self._proc is not None:
            return self._proc.poll() is None
        return alive(self.pid) and (
            self.start_time is None or process_start_time(self.pid) == self.start_time
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:]) or "(empty log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout_s``; remove our pidfile. Idempotent."""
        if self.is_running():
            for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
                _signal_group(self.pid, sig)
                if self._wait_exit(wait_s):
                    break
        if self.pidfile is not None:
            info = read_json(self.pidfile)
            if info is not None and info.get("pid") == self.pid:
                with contextlib.suppress(OSError):
                    self.pidfile.unlink()

    def _wait_exit(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.05)
                    return True
            elif not alive(self.pid):
                return True
            else:
                time.sleep(0.05)
        return False


class Supervised:
    """Base of an object that owns one supervised daemon (a local chain, js-ipfs): pid, log tail, ``with``.

    A subclass sets ``_daemon`` in ``start`` and clears it in ``stop``.
    """

    _daemon: Daemon | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self._daemon.pid if self._daemon is not None else None

    def is_running(self) -> bool:
        return self._daemon is not None and self._daemon.is_running()

    def log_tail(self, lines: int = 20) -> str:
        return self._daemon.log_tail(lines) if self._daemon is not None else "(not started)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(
    argv: Sequence[str],
    *,
    log_path: Path,
    ready: Callable[[], bool],
    name: str,
    pidfile: Path | None = None,
    facts: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 30.0,
    die_with_parent: bool = False,
) -> Daemon:
    """Start ``argv`` in its own session, wait until ``ready()`` is true, then write the pidfile.

    ``die_with_parent`` asks the kernel to SIGKILL the daemon when the calling process dies (even by SIGKILL):
    a daemon that serves one command must not outlive it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _rotate(log_path)
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # only a prctl call, resolved before the fork: safe even with threads
                preexec_fn=_pdeathsig_hook() if die_with_parent else None,  # noqa: PLW1509
            )
        except OSError as err:
            raise SupervisorError(f"cannot start {name} ({argv[0]}): {err}") from err
    daemon = Daemon(proc.pid, log_path, pidfile, process_start_time(proc.pid), dict(facts or {}), proc)
    _wait_ready(daemon, ready, name, timeout_s)
    if pidfile is not None:
        write_json(
            pidfile,
            {
                **daemon.facts,
                "name": name,
                "pid": daemon.pid,
                "start_time": daemon.start_time,
                "log_path": str(log_path),
                "started_at": int(time.time()),
            },
        )
    return daemon


def find_running(pidfile: Path, name: str) -> Daemon | None:
    """The daemon ``pidfile`` records if that very process still runs; else None, and a stale pidfile is removed."""
    info = read_json(pidfile)
    if info is None or info.get("name") != name or not isinstance(info.get("pid"), int):
        return None
    daemon = Daemon(
        info["pid"],
        Path(info.get("log_path") or os.devnull),
        pidfile,
        info.get("start_time"),
        {k: v for k, v in info.items() if k not in ("name", "pid", "start_time", "log_path", "started_at")},
    )
    if daemon.is_running():
        return daemon
    with contextlib.suppress(OSError):
        pidfile.unlink()
    return None


# --------------------------------------------------------------------------- process facts


def alive(pid: int) -> bool:
    """True if ``pid`` names a live process (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _stat_fields(pid)
    return stat is None or stat[0] != "Z"


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None without /proc."""
    stat = _stat_fields(pid)
    return int(stat[19]) if stat is not None else None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (daemons start their own session), else just ``pid``."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A function for the child, before exec, that asks for SIGKILL when the parent dies (Linux prctl)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    kill = int(signal.SIGKILL)
    return lambda: prctl(_PR_SET_PDEATHSIG, kill)


def _wait_ready(daemon: Daemon, ready: Callable[[], bool], name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not daemon.is_running():
            code = daemon._proc.returncode if daemon._proc is not None else "?"
            daemon.stop()
            raise SupervisorError(
                f"{name} exited with code {code} during start-up; log tail:\n{daemon.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.02)
    daemon.stop()
    raise SupervisorError(f"{name} was not ready within {timeout_s:g} s; log tail:\n{daemon.log_tail()}")


# --------------------------------------------------------------------------- small files

LOG_LIMIT_BYTES = 1 << 20


def _rotate(log_path: Path) -> None:
    """Keep one previous log: a daemon started once per command would otherwise grow its log forever."""
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > LOG_LIMIT_BYTES:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(data), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    """Block until ``url`` answers 200 (a service just started: `ledgermark serve`); SupervisorError after
    ``timeout_s``."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SupervisorError(f"{url} did not answer within {timeout_s:g} s")


# --------------------------------------------------------------------------- lock files

LOCK_NOTICE_S = 2.0
"""How long a process waits for a lock file before it says who holds it."""

_log = logging.getLogger(__name__)


def lock_exclusively(handle: IO[str], what: str) -> None:
    """Take an exclusive ``flock`` on an open lock file, waiting as long as it takes.

    A wait never looks like a hang: after ``LOCK_NOTICE_S`` it says once (a warning, shown on stderr) who holds
    the lock, as the holder's first line (``holder_line``) names it.
    """
    deadline = time.monotonic() + LOCK_NOTICE_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
    handle.seek(0)
    holder = handle.readline(300).strip() or "another process"
    _log.warning("waiting for the %s %s, held by %s", what, handle.name, holder)
    fcntl.flock(handle, fcntl.LOCK_EX)


def holder_line() -> str:
    """What a lock holder writes first into its lock file: its pid and command line."""
    return f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}\n"
