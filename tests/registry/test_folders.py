"""Publishing and verifying a folder: relative POSIX paths, Hugging Face roles, links refused or not followed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry import fetch as fetch_flow
from registry import layout
from registry import publish as publish_flow
from registry.backends import Backends
from registry.cli import app
from registry.errors import LedgermarkError
from tests.registry.conftest import files_under
from verifier.integrity import manifest as manifestlib

runner = CliRunner()

TREE = {
    "README.md": b"# tiny\n",
    "config.json": b'{"hidden_size": 8}',
    "model.safetensors": os.urandom(300_000),  # two IPFS chunks
    "sub/dir/extra.bin": b"\x00\x01\x02",
    "tokenizer/vocab.json": b'{"a": 0}',
    "tokenizer_config.json": b"{}",
}
ROLES = {
    "README.md": "card",
    "config.json": "config",
    "model.safetensors": "model",
    "sub/dir/extra.bin": "model",
    "tokenizer/vocab.json": "tokenizer",
    "tokenizer_config.json": "tokenizer",
}


def _write_tree(folder: Path) -> Path:
    for relative, content in TREE.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    return folder


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return _write_tree(tmp_path / "hf-model")


@pytest.fixture
def folder_record(backends: Backends, model_dir: Path) -> publish_flow.Publication:
    return publish_flow.publish(backends, layout.artifacts([layout.Source(model_dir)]), name="hf")


def _invoke_offline(tmp_path: Path, *args: str):
    """A command on the in-process chain: enough for what must fail before anything is stored."""
    return runner.invoke(app, ["--data-dir", str(tmp_path / "state"), "--chain", "embedded", *args])


# --------------------------------------------------------------------------- layout


def test_a_folder_keeps_its_relative_paths_and_gets_hugging_face_roles(model_dir: Path) -> None:
    artifacts = layout.artifacts([layout.Source(model_dir)])

    assert {a.manifest_path: a.role for a in artifacts} == ROLES
    assert [a.manifest_path for a in artifacts] == sorted(TREE)
    assert all(a.path == model_dir / a.manifest_path for a in artifacts)


def test_role_overrides_name_a_path_or_a_folder_and_the_argument_role_applies_to_its_files(
    model_dir: Path, tmp_path: Path
) -> None:
    triggers = tmp_path / "triggers"
    (triggers / "set").mkdir(parents=True)
    (triggers / "set" / "t0.npz").write_bytes(b"t0")

    artifacts = layout.artifacts(
        [layout.Source(model_dir), layout.Source(triggers, "trigger")],
        ["sub/dir/extra.bin=artifact", "tokenizer/=vocabulary", "set=held-out"],
    )

    roles = {a.manifest_path: a.role for a in artifacts}
    assert roles["sub/dir/extra.bin"] == "artifact"
    assert roles["tokenizer/vocab.json"] == "vocabulary"
    assert roles["tokenizer_config.json"] == "tokenizer"  # a sibling whose name only starts the same
    assert roles["set/t0.npz"] == "held-out"  # the override beats the argument's role


def test_walk_lists_links_and_special_files_without_entering_them(model_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"not yours")
    (model_dir / "linked").symlink_to(outside)
    os.mkfifo(model_dir / "pipe")

    tree = layout.walk(model_dir)

    assert [name for _, name in tree.files] == sorted(TREE)
    assert tree.skipped == ("linked", "pipe")


def test_a_path_that_is_both_a_file_and_a_folder_is_not_a_manifest() -> None:
    entry = manifestlib.ManifestEntry(
        role="model", path="a", size=0, sha256="0" * 64, cid="QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )

    with pytest.raises(manifestlib.ManifestError, match="'a' is both a file and a folder"):
        manifestlib.Manifest.create("x", [entry, dataclasses.replace(entry, path="a/b")])


# --------------------------------------------------------------------------- publish refuses, exit 2


def test_a_link_inside_the_folder_stops_publish_with_its_name(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.bin").write_bytes(b"outside the folder")
    (model_dir / "tokenizer" / "merges.txt").symlink_to(tmp_path / "elsewhere.bin")

    result = _invoke_offline(tmp_path, "publish", str(model_dir))

    assert result.exit_code == 2, result.output
    assert f"{model_dir / 'tokenizer' / 'merges.txt'} is a symbolic link or special file" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "state").exists() or not list((tmp_path / "state").rglob("*.pack"))


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("nothing/here.bin=model", "'nothing/here.bin' matches no file being published"),
        ("tok=tokenizer", "'tok' matches no file being published"),  # a prefix of a name, not a folder
        ("config.json", "write PATH=ROLE"),
        ("=model", "write PATH=ROLE"),
        ("config.json=", "must be a non-empty word"),
        ("config.json=two words", "must be a non-empty word"),
    ],
)
def test_a_bad_role_override_exits_2(model_dir: Path, tmp_path: Path, role: str, expected: str) -> None:
    result = _invoke_offline(tmp_path, "publish", str(model_dir), "--role", role)

    assert result.exit_code == 2, result.output
    assert f"--role {role!r}" in result.stderr
    assert expected in result.stderr


def test_two_arguments_giving_one_path_exit_2(model_dir: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose" / "config.json"
    loose.parent.mkdir()
    loose.write_bytes(b"{}")

    result = _invoke_offline(tmp_path, "publish", str(model_dir), str(loose))

    assert result.exit_code == 2, result.output
    assert "two arguments give the manifest path 'config.json'" in result.stderr


def test_a_file_name_the_manifest_refuses_exits_2_before_storing(model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "weights\\shard.bin").write_bytes(b"windows separator")

    result = _invoke_offline(tmp_path, "publish", str(model_dir))

    assert result.exit_code == 2, result.output
    assert "must be a relative POSIX path" in result.stderr


def test_publish_refuses_two_artifacts_with_one_manifest_path(backends: Backends, tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    clash = [publish_flow.Artifact(a, "model", "w.bin"), publish_flow.Artifact(b, "model", "w.bin")]

    with pytest.raises(LedgermarkError, match="would both be published as 'w.bin'"):
        publish_flow.publish(backends, clash, name="clash")


# --------------------------------------------------------------------------- fetch and verify a tree


def test_fetch_recreates_the_nested_tree_byte_for_byte(
    backends: Backends, folder_record: publish_flow.Publication, tmp_path: Path
) -> None:
    dest = tmp_path / "buyer"

    fetch_flow.fetch(backends, str(folder_record.record_id), dest)

    assert _tree_bytes(dest) == TREE
    assert files_under(dest) == ["README.md", "config.json", "model.safetensors", "sub", "sub/dir"] + [
        "sub/dir/extra.bin",
        "tokenizer",
        "tokenizer/vocab.json",
        "tokenizer_config.json",
    ]


def test_verify_a_tree_itemises_changed_missing_and_unlisted_files(
    backends: Backends, folder_record: publish_flow.Publication, model_dir: Path
) -> None:
    record = str(folder_record.record_id)
    (model_dir / "tokenizer" / "vocab.json").write_bytes(b'{"a": 1}')
    (model_dir / "sub" / "dir" / "extra.bin").unlink()
    (model_dir / "sub" / "notes.txt").write_bytes(b"unlisted")

    _, strict = fetch_flow.verify_files(backends, record, [model_dir])
    _, tolerant = fetch_flow.verify_files(backends, record, [model_dir], allow_extra=True)

    assert not strict.ok
    assert [m.path for m in strict.mismatched] == ["tokenizer/vocab.json"]
    assert [e.path for e in strict.missing] == ["sub/dir/extra.bin"]
    assert strict.extra == ("sub/notes.txt",)
    assert tolerant.extra == () and tolerant.ignored == ("sub/notes.txt",)
    assert not tolerant.ok  # still changed and missing


def test_verify_does_not_follow_a_link_in_the_tree(
    backends: Backends, folder_record: publish_flow.Publication, model_dir: Path, tmp_path: Path
) -> None:
    """A listed file replaced by a link to identical bytes is missing; the link itself is reported, not read."""
    record = str(folder_record.record_id)
    honest = tmp_path / "honest.json"
    honest.write_bytes(TREE["config.json"])
    (model_dir / "config.json").unlink()
    (model_dir / "config.json").symlink_to(honest)

    _, comparison = fetch_flow.verify_files(backends, record, [model_dir], allow_extra=True)

    assert [e.path for e in comparison.missing] == ["config.json"]
    assert comparison.skipped == ("config.json",)
    assert "config.json" not in comparison.intact


def test_verify_refuses_one_name_given_twice(
    backends: Backends, folder_record: publish_flow.Publication, model_dir: Path
) -> None:
    with pytest.raises(LedgermarkError, match="'config.json' is given by two arguments"):
        fetch_flow.verify_files(
            backends, str(folder_record.record_id), [model_dir, model_dir / "config.json"]
        )


# --------------------------------------------------------------------------- the command line on Anvil


@pytest.mark.daemon
def test_publish_fetch_and_verify_a_folder_on_anvil(
    tmp_path: Path, model_dir: Path, anvil_node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERMARK_PRIVATE_KEY", anvil_node.first_key)
    base = ["--data-dir", str(tmp_path / "home"), "--chain", anvil_node.url]
    assert runner.invoke(app, [*base, "chain", "deploy"]).exit_code == 0

    published = runner.invoke(
        app, [*base, "publish", "--json", str(model_dir), "--role", "sub/dir/extra.bin=artifact"]
    )
    assert published.exit_code == 0, published.output
    document = json.loads(published.stdout)
    assert {a["path"]: a["role"] for a in document["artifacts"]} == {
        **ROLES,
        "sub/dir/extra.bin": "artifact",
    }
    record = str(document["record_id"])

    buyer = tmp_path / "buyer"
    fetched = runner.invoke(app, [*base, "fetch", record, "--out", str(buyer)])
    assert fetched.exit_code == 0, fetched.output
    assert _tree_bytes(buyer) == TREE

    intact = runner.invoke(app, [*base, "verify", record, str(buyer)])
    assert intact.exit_code == 0, intact.output
    assert f"record {record}: intact (6 artifacts)" in intact.stdout

    (buyer / "tokenizer" / "extra-merges.txt").write_bytes(b"unlisted")
    extra = runner.invoke(app, [*base, "verify", record, str(buyer)])
    allowed = runner.invoke(app, [*base, "verify", record, str(buyer), "--allow-extra"])
    assert extra.exit_code == 1
    assert "extra: tokenizer/extra-merges.txt (not in the manifest)" in extra.stdout
    assert allowed.exit_code == 0, allowed.output
    assert "ignored: tokenizer/extra-merges.txt" in allowed.stdout

    changed = tmp_path / "changed"
    shutil.copytree(buyer, changed)
    (changed / "sub" / "dir" / "extra.bin").write_bytes(b"\x00\x01\x03")
    (changed / "README.md").unlink()
    report = runner.invoke(app, [*base, "verify", record, str(changed), "--allow-extra", "--json"])
    assert report.exit_code == 1
    verdict = json.loads(report.stdout)
    assert [m["path"] for m in verdict["mismatched"]] == ["sub/dir/extra.bin"]
    assert [m["path"] for m in verdict["missing"]] == ["README.md"]
    assert verdict["ignored"] == ["tokenizer/extra-merges.txt"]

    files = runner.invoke(
        app, [*base, "verify", record, str(buyer / "config.json"), str(buyer / "model.safetensors")]
    )
    assert files.exit_code == 1  # files by name still work: these two intact, the other four missing
    assert files.stdout.count("missing: ") == 4
