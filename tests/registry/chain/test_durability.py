"""The default chain keeps every record it reported, whatever is SIGKILLed and whenever (issue 8).

The default `local` chain is a per-command Anvil whose state file is replaced atomically after every block.
These tests kill the node, or the CLI, at moments spread over a publish, then check with a fresh command that
every record reported as published is still there, that the state file is whole JSON, and that no node was
left running. Every process is stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry import chain as chainlib
from registry import supervisor
from registry.chain import deployments, localnode
from tests.fixtures.chain_nodes import require_binary
from tests.registry.conftest import write_artifacts

pytestmark = pytest.mark.daemon


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {**env, "LEDGERMARK_HOME": str(home)}


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _publish(home: Path, artifact_dir: Path, seed: int = 0) -> int:
    """Publish one fresh artifact with the CLI; the record id it reports."""
    done = _run(home, "publish", "--json", f"{write_artifacts(artifact_dir, seed=seed)[0].path}:model")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["record_id"])


def _publish_popen(home: Path, artifact: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "registry", "publish", "--json", f"{artifact}:model"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _node_pid(home: Path, proc: subprocess.Popen[str], timeout_s: float = 60) -> int | None:
    """The pid of the node the running command started, once its pidfile appears (None if it ended first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        info = supervisor.read_json(home / "chain" / localnode.PIDFILE_NAME)
        if info and isinstance(info.get("pid"), int):
            return int(info["pid"])
        time.sleep(0.02)
    return None


def _kill(pid: int) -> None:
    """SIGKILL the node's process group (it leads its own session), as a crash would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _wait_dead(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not supervisor.alive(pid):
            return True
        time.sleep(0.05)
    return False


def _assert_all_shown(home: Path, record_ids: list[int]) -> None:
    for record_id in record_ids:
        shown = _run(home, "show", str(record_id), "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["record_id"] == record_id
    state = home / "chain" / localnode.AnvilNode.data_name
    assert isinstance(json.loads(state.read_text()), dict), "the state file must be whole JSON"


def test_a_returned_publish_is_on_disk_before_the_node_dies(tmp_path: Path) -> None:
    """Deterministic core: SIGKILL the node right after publish returns; a new node from the file has the record."""
    require_binary("anvil")
    node = localnode.AnvilNode.managed(tmp_path).start()
    try:
        chain = chainlib.Chain.connect(node.transport(), node.first_key)
        registry = chainlib.ModelRegistryClient(chain, deployments.deploy_registry(chain))
        root = os.urandom(32)
        record_id, _ = registry.publish(root, 1, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        os.killpg(node.pid, signal.SIGKILL)
        assert _wait_dead(node.pid)
    finally:
        node.stop()
    with localnode.AnvilNode.managed(tmp_path) as again:
        chain = chainlib.Chain.connect(again.url, again.first_key)
        assert chainlib.ModelRegistryClient(chain, registry.address).record(record_id).root == root


def test_sigkill_of_the_node_mid_publish_loses_no_reported_record(tmp_path: Path) -> None:
    require_binary("anvil")
    home = tmp_path / "home"
    reported = [_publish(home, tmp_path / "a0")]
    failed = 0
    for i, delay in enumerate((0.0, 0.3, 0.8, 1.5)):
        proc = _publish_popen(home, write_artifacts(tmp_path / f"a{i + 1}", seed=i + 1)[0].path)
        pid = _node_pid(home, proc)
        if pid is not None:
            time.sleep(delay)
            _kill(pid)
        out, err = proc.communicate(timeout=180)
        if proc.returncode == 0:
            reported.append(json.loads(out)["record_id"])
        else:
            assert proc.returncode == 2 and "Traceback" not in err, err
            failed += 1
    assert failed >= 1, "no kill landed inside a publish: the test proved nothing"
    _assert_all_shown(home, reported)


def test_sigkill_of_the_cli_mid_publish_takes_its_node_and_keeps_the_records(tmp_path: Path) -> None:
    require_binary("anvil")
    home = tmp_path / "home"
    reported = [_publish(home, tmp_path / "a0")]
    killed = 0
    for i, delay in enumerate((0.0, 0.3, 0.8, 1.5)):
        proc = _publish_popen(home, write_artifacts(tmp_path / f"a{i + 1}", seed=i + 1)[0].path)
        pid = _node_pid(home, proc)
        time.sleep(delay)
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        if proc.returncode == 0:
            reported.append(json.loads(out)["record_id"])
        else:
            killed += 1
        if pid is not None:
            assert _wait_dead(pid), f"the per-command node {pid} outlived its SIGKILLed command"
    assert killed >= 1, "every publish finished before its kill: the test proved nothing"
    _assert_all_shown(home, reported)
    _publish(home, tmp_path / "last", seed=99)


def test_a_kept_alive_node_killed_between_commands_is_replaced(tmp_path: Path) -> None:
    require_binary("anvil")
    home = tmp_path / "home"
    started = _run(home, "chain", "start")
    assert started.returncode == 0, started.stderr
    pid = int(json.loads((home / "chain" / localnode.PIDFILE_NAME).read_text())["pid"])
    try:
        record_id = _publish(home, tmp_path / "a")
    finally:
        _kill(pid)
    assert _wait_dead(pid)
    _assert_all_shown(home, [record_id])
    assert not (home / "chain" / localnode.PIDFILE_NAME).exists(), "the stale pidfile must be gone"
