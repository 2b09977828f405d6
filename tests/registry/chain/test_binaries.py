"""Where the local chain binaries come from: LEDGERMARK_<NODE>_BIN, else the npm folder, else PATH.

A two-line shell script stands in for the binary; the npm folder is pointed at a temp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.chain import localnode


def _fake(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\necho fake\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project npm folder and an empty PATH, with no binary variables set."""
    modules = tmp_path / "node_modules"
    monkeypatch.setattr(localnode, "NODE_MODULES", modules)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.delenv("LEDGERMARK_ANVIL_BIN", raising=False)
    monkeypatch.delenv("LEDGERMARK_GANACHE_BIN", raising=False)
    return modules / ".bin"


@pytest.mark.parametrize("kind", ["anvil", "ganache"])
def test_npm_folder_is_found(npm: Path, kind: str) -> None:
    fake = _fake(npm, kind)
    assert localnode.find_binary(kind) == fake


def test_path_is_the_fallback(npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _fake(tmp_path / "bin", "anvil")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert localnode.find_binary("anvil") == on_path


def test_npm_folder_wins_over_path(npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_fake(tmp_path / "bin", "anvil").parent))
    fake = _fake(npm, "anvil")
    assert localnode.find_binary("anvil") == fake


def test_the_environment_variable_wins(npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(npm, "anvil")
    chosen = _fake(tmp_path / "mine", "my-anvil")
    monkeypatch.setenv("LEDGERMARK_ANVIL_BIN", str(chosen))
    assert localnode.find_binary("anvil") == chosen


def test_a_bad_environment_variable_names_itself(npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERMARK_GANACHE_BIN", "/nowhere/ganache")
    with pytest.raises(
        localnode.DevChainError, match=r"LEDGERMARK_GANACHE_BIN=/nowhere/ganache \(environment\)"
    ):
        localnode.find_binary("ganache")


@pytest.mark.parametrize(
    ("kind", "install"), [("anvil", "@foundry-rs/anvil-linux-amd64"), ("ganache", "npm install -g ganache")]
)
def test_not_found_names_all_three_places_and_how_to_install(npm: Path, kind: str, install: str) -> None:
    with pytest.raises(localnode.DevChainError) as caught:
        localnode.find_binary(kind)
    message = str(caught.value)
    for part in (f"LEDGERMARK_{kind.upper()}_BIN", str(npm), "PATH", "make setup", install):
        assert part in message


def test_the_node_runs_the_binary_that_was_found(npm: Path) -> None:
    fake = _fake(npm, "anvil")
    assert localnode.AnvilNode(port=1).command()[0] == str(fake)
