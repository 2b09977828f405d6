"""A process killed between storing and registering: the next start finishes the publication or rolls it back.

The crash is real: a CLI `publish` process whose registration step is replaced by ``os._exit(137)`` (what a
SIGKILL or a power cut leaves: no cleanup, no finally). It runs on the default local chain, whose state lives in
the data dir, so the commitment it made survives it and the next process can see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CRASH_BEFORE_REGISTER = (
    "import os, sys\n"
    "from registry.chain import registry\n"
    "registry.ModelRegistryClient.register = lambda *a, **k: os._exit(137)\n"
    "sys.argv = ['ledgermark', *sys.argv[1:]]\n"
    "from registry.cli import main\n"
    "main()\n"
)

pytestmark = pytest.mark.daemon  # the default chain is a managed Anvil


def _env(home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    return {**clean, "LEDGERMARK_HOME": str(home)}


def _cli(home: Path, *args: str | Path, crash: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", CRASH_BEFORE_REGISTER] if crash else [sys.executable, "-m", "registry"]
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=ROOT,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _model(folder: Path, name: str, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(np.random.default_rng(seed).bytes(300_000))
    return path


def _crashed_publication(home: Path, model: Path) -> Path:
    """Publish ``model`` in a process that dies right before its registration; returns the entry it left."""
    crashed = _cli(home, "publish", model, crash=True)
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    entries = list((home / "journal").glob("*.json"))
    assert len(entries) == 1
    assert entries[0].stat().st_mode & 0o777 == 0o600  # it holds the commitment's salt
    return entries[0]


def _record_of(home: Path, root: str) -> subprocess.CompletedProcess[str]:
    return _cli(home, "show", root, "--json")


def test_the_next_publish_finishes_a_publication_killed_before_its_registration(tmp_path: Path) -> None:
    home = tmp_path / "owner"
    entry = _crashed_publication(home, _model(tmp_path / "files", "model.bin", seed=1))
    root = "0x" + entry.stem
    assert _record_of(home, root).returncode != 0  # nothing registered by the dead process

    later = _cli(home, "publish", _model(tmp_path / "files", "other.bin", seed=2))

    assert later.returncode == 0, later.stdout + later.stderr
    assert f"finished the interrupted publication of {root}" in later.stderr + later.stdout
    shown = _record_of(home, root)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["root"] == root
    assert not list((home / "journal").glob("*.json"))
    fetched = _cli(home, "fetch", root, "--out", tmp_path / "bought")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr  # the record's content is all there


def test_an_entry_whose_content_the_store_lacks_is_rolled_back_and_never_registered(tmp_path: Path) -> None:
    home = tmp_path / "owner"
    entry = _crashed_publication(home, _model(tmp_path / "files", "model.bin", seed=3))
    root = "0x" + entry.stem
    document = json.loads(entry.read_text())
    document["manifest_cid"] = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"  # a CID nobody stored
    entry.write_text(json.dumps(document))

    later = _cli(home, "publish", _model(tmp_path / "files", "other.bin", seed=4))

    assert later.returncode == 0, later.stdout + later.stderr
    assert (
        f"rolled back the publication of {root}: the store lacks the manifest" in later.stderr + later.stdout
    )
    assert _record_of(home, root).returncode != 0
    assert not list((home / "journal").glob("*.json"))


def test_a_stray_file_in_the_journal_is_removed_with_a_notice(tmp_path: Path) -> None:
    home = tmp_path / "owner"
    assert _cli(home, "publish", _model(tmp_path / "files", "a.bin", seed=5)).returncode == 0
    stray = home / "journal" / ("ab" * 32 + ".json")
    stray.write_text("[[[[ not an entry")

    later = _cli(home, "publish", _model(tmp_path / "files", "b.bin", seed=6))

    assert later.returncode == 0, later.stdout + later.stderr
    assert f"removed {stray.name}, which is not a publication entry" in later.stderr + later.stdout
    assert not stray.exists()


def test_the_service_finishes_it_when_it_starts(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from registry.api.main import create_app
    from registry.config import Settings

    home = tmp_path / "owner"
    root = "0x" + _crashed_publication(home, _model(tmp_path / "files", "model.bin", seed=7)).stem

    with TestClient(create_app(Settings.load(data_dir=home))) as client:
        answer = client.get(f"/records/{root}")

    assert answer.status_code == 200, answer.text
    assert answer.json()["root"] == root
    assert not list((home / "journal").glob("*.json"))
