"""The data dir's chain lock: held to start a node or for a per-command node's life, never by a running service.

`ledgermark serve` on the default chain used to hold the lock for its whole life, so every CLI command on the
same data directory hung silently. Now a command shares the service's node, and a command that does wait says
after two seconds who it waits for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from registry import supervisor

CLI = [sys.executable, "-m", "registry"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {**env, "LEDGERMARK_HOME": str(home)}


def test_cli_commands_run_while_serve_runs_on_the_same_data_dir(tmp_path: Path) -> None:
    home, port = tmp_path / "home", supervisor.free_port()
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(10_000))
    service = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        supervisor.wait_http(f"http://127.0.0.1:{port}/health")

        published = subprocess.run(
            [*CLI, "publish", f"{model}:model", "--json"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        shown = subprocess.run(
            [*CLI, "show", "1", "--json"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/records/1", timeout=10) as response:
            served = json.load(response)
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=30)

    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["record_id"] == 1
    assert shown.returncode == 0, shown.stderr
    assert "waiting for the chain lock" not in shown.stderr
    assert served["root"] == json.loads(shown.stdout)["root"]  # one chain, seen by both


def test_a_command_that_waits_for_the_lock_says_who_holds_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path; from registry.backends import _chain_lock\n"
                "with _chain_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(4)"
            ),
            str(home / "chain"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        waited = subprocess.run(
            [*CLI, "show", "1"], env=_env(home), capture_output=True, text=True, timeout=60, check=False
        )
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()

    assert elapsed >= 2.0  # it did wait for the holder
    assert f"waiting for the chain lock {home / 'chain' / 'lock'}, held by pid {holder.pid}" in waited.stderr
    assert waited.returncode == 2 and "record 1 is not registered" in waited.stderr  # then ran normally
