"""CID import profiles (IPIP-499): the fixtures Kubo and js-ipfs-unixfs publish, js-ipfs with the matching
chunker, the tree shape beyond 174 links, settings, the `cid` command, manifests and a publish → verify.

Fixture bytes come from the generator Kubo's test harness uses (``IPFSAddDeterministic``): the ChaCha20
keystream of key sha256(seed), zero nonce, counter 0. Sources: kubo test/cli/cid_profiles_test.go and
add_test.go; js-ipfs-unixfs ipip-499-profiles.spec.ts (as ported by filecoin-pin's conformance test).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from typer.testing import CliRunner

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.embedded import EmbeddedStore
from ipfs.kubo import KuboStore
from registry import backends as backendslib
from registry import fetch as fetch_flow
from registry import publish as publish_flow
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from registry.errors import ConfigError
from verifier.integrity import manifest as manifestlib

MiB = 1 << 20
KiB = 1 << 10
V0, V1_2025, V1_2015 = unixfs.UNIXFS_V0_2015, unixfs.UNIXFS_V1_2025, unixfs.UNIXFS_V1_2015
REPO = Path(__file__).resolve().parents[2]


def keystream(seed: str) -> Iterator[bytes]:
    """Kubo's deterministic test bytes for ``seed``, 1 MiB at a time, for as long as asked."""
    key = hashlib.sha256(seed.encode()).digest()
    encryptor = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    zeros = bytes(MiB)
    while True:
        yield encryptor.update(zeros)


def deterministic(seed: str, size: int) -> bytes:
    out = bytearray()
    for block in keystream(seed):
        out += block
        if len(out) >= size:
            return bytes(out[:size])
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- the profiles themselves


def test_named_profiles_carry_the_ipip_499_parameters() -> None:
    assert (V0.cid_version, V0.raw_leaves, V0.chunk_size, V0.max_links) == (0, False, 256 * KiB, 174)
    assert (V1_2025.cid_version, V1_2025.raw_leaves, V1_2025.chunk_size, V1_2025.max_links) == (
        1,
        True,
        MiB,
        1024,
    )
    assert (V1_2015.cid_version, V1_2015.raw_leaves, V1_2015.chunk_size, V1_2015.max_links) == (
        1,
        True,
        256 * KiB,
        174,
    )
    assert V1_2025.chunker == "size-1048576"
    assert unixfs.profile_named("legacy-cid-v0") is V0
    assert unixfs.profile_for_version(0) is V0
    assert unixfs.profile_for_version(1) is V1_2015


def test_an_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(unixfs.UnknownProfileError, match="unixfs-v2-2030") as caught:
        unixfs.profile_named("unixfs-v2-2030")

    assert all(name in str(caught.value) for name in ("unixfs-v0-2015", "unixfs-v1-2025", "legacy-cid-v0"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cid_version": 0, "raw_leaves": True}, "raw leaves need CIDv1"),
        ({"chunk_size": 2 * MiB}, "chunk size"),
        ({"chunk_size": 0}, "chunk size"),
        ({"max_links": 1}, "at least 2 links"),
        ({"cid_version": 2}, "CID version"),
    ],
)
def test_a_profile_kubo_could_not_produce_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(unixfs.InvalidCidError, match=message):
        dataclasses.replace(V1_2025, **fields)


def test_cid_version_is_a_shorthand_and_must_agree_with_a_profile() -> None:
    data = io.BytesIO(b"hello world\n")

    assert unixfs.import_stream(data, cid_version=1) == unixfs.import_stream(
        io.BytesIO(data.getvalue()), profile=V1_2015
    )
    with pytest.raises(unixfs.InvalidCidError, match="CIDv1, not CIDv0"):
        unixfs.Importer(profile="unixfs-v1-2025", cid_version=0)


# --------------------------------------------------------------------------- IPIP-499 fixtures


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("unixfs-v1-2025", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        ("unixfs-v0-2015", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        ("legacy-cid-v0", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
    ],
)
def test_hello_world_fixture(profile: str, expected: str) -> None:
    assert unixfs.import_stream(io.BytesIO(b"hello world"), profile=profile) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (MiB, "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"),  # one chunk: a raw leaf
        (MiB + 1, "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"),  # two leaves
    ],
)
def test_v1_2025_chunk_boundary_fixtures(size: int, expected: str) -> None:
    assert unixfs.import_stream(io.BytesIO(deterministic("chunk-v1-seed", size)), profile=V1_2025) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (44544 * KiB, "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"),  # 174 chunks: one root, 174 links
        (44800 * KiB, "QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf"),  # 175 chunks: two levels
    ],
)
def test_v0_2015_max_links_fixtures(size: int, expected: str) -> None:
    assert unixfs.import_stream(io.BytesIO(deterministic("v0-seed", size)), profile=V0) == expected


def test_v1_2025_max_links_fixtures() -> None:
    """1024 MiB (one root, 1024 links), and one byte or one chunk more (rebalanced): one pass, forked."""
    importer, stream = unixfs.Importer(profile=V1_2025), keystream("v1-2025-seed")
    for _ in range(1024):
        importer.update(next(stream))
    one_byte_more, one_chunk_more = copy.deepcopy(importer), copy.deepcopy(importer)
    following = next(stream)
    one_byte_more.update(following[:1])
    one_chunk_more.update(following)

    assert importer.finish() == "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm"
    assert one_byte_more.finish() == "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe"
    assert one_chunk_more.finish() == "bafybeihmzokxxjqwxjcryerhp5ezpcog2wcawfryb2xm64xiakgm4a5jue"


def test_custom_links_per_node_fixture() -> None:
    """Kubo's `add --max-file-links 1024` of 256 MiB with 256 KiB chunks (add_test.go): any width works."""
    profile = unixfs.ImportProfile(
        "v0-1024-links", cid_version=0, raw_leaves=False, chunk_size=256 * KiB, max_links=1024
    )
    importer, stream = unixfs.Importer(profile=profile), keystream("hello world")
    for _ in range(256):
        importer.update(next(stream))

    assert importer.finish() == "QmbBftNHWmjSWKLC49dMVrfnY8pjrJYntiAXirFJ7oJrNk"


# --------------------------------------------------------------------------- tree shape beyond 174 chunks


def _root_links(profile: unixfs.ImportProfile, chunks: int) -> tuple[Cid, ...]:
    """The root node's children for a file of ``chunks`` full chunks (zeros: shape only, not content)."""
    blocks: dict[Cid, bytes] = {}
    importer = unixfs.Importer(profile=profile, on_block=lambda cid, block: blocks.setdefault(cid, block))
    chunk = bytes(profile.chunk_size)
    for _ in range(chunks):
        importer.update(chunk)
    root = Cid.parse(importer.finish())
    return unixfs.decode_file_node(blocks[root]).children


def test_v1_2025_puts_175_chunks_under_one_root() -> None:
    """Beyond js-ipfs's reach (it cannot set 1024 links): 174 and 1024 links differ only from 175 chunks on."""
    assert len(_root_links(V1_2025, 175)) == 175
    assert len(_root_links(V1_2015, 175)) == 2  # the 2015 layout: a full 174-link node and one more


def test_v1_2025_rebalances_at_1025_chunks() -> None:
    children = _root_links(V1_2025, 1025)

    assert len(children) == 2
    assert all(child.codec == 0x70 for child in children)  # two internal nodes, not leaves


# --------------------------------------------------------------------------- a real js-ipfs node


SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 5_000_000]


@pytest.fixture(scope="module")
def random_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("profile-sizes")
    files = {}
    for size in SIZES:
        files[size] = folder / f"random-{size}.bin"
        files[size].write_bytes(np.random.default_rng(size + 499).bytes(size))
    return files


@pytest.mark.daemon
@pytest.mark.parametrize("size", SIZES)
def test_js_ipfs_with_the_matching_chunker_agrees_with_v1_2025(
    kubo_store: KuboStore, random_files: dict[int, Path], size: int
) -> None:
    path = random_files[size]
    with open(path, "rb") as stream:
        answer = kubo_store._client.add(
            stream, cid_version=1, raw_leaves=True, chunker="size-1048576", pin=False, timeout=20
        )

    expected = unixfs.compute_cid(path, profile=V1_2025)
    assert str(Cid.parse(str(answer["Hash"]))) == expected
    assert kubo_store.add_file(path, profile="unixfs-v1-2025") == expected  # the store sends the same


@pytest.mark.daemon
def test_the_store_refuses_a_node_whose_cid_differs(
    kubo_store: KuboStore, random_files: dict[int, Path]
) -> None:
    """A profile the RPC cannot fully express (links per node) is caught by comparing CIDs, not trusted."""
    narrow = dataclasses.replace(V1_2015, name="narrow", max_links=2)  # js-ipfs builds 174-link nodes

    with pytest.raises(unixfs.IpfsError, match="other import settings"):
        kubo_store.add_file(random_files[5_000_000], profile=narrow)


# --------------------------------------------------------------------------- settings and the `cid` command


def test_settings_pick_the_profile_from_option_variable_or_cid_version(tmp_path: Path) -> None:
    home = tmp_path / "home"

    assert Settings.load(data_dir=home, environ={}).import_profile is V0
    assert Settings.load(data_dir=home, cid_version="1", environ={}).import_profile is V1_2015
    from_env = Settings.load(data_dir=home, environ={"LEDGERMARK_CID_PROFILE": "unixfs-v1-2025"})
    assert from_env.import_profile is V1_2025
    assert (
        Settings.load(data_dir=home, cid_profile="legacy-cid-v0", cid_version="1", environ={}).import_profile
        is V0
    )


@pytest.mark.parametrize(
    ("given", "environ", "source"),
    [
        ({"cid_profile": "unixfs-v1-2024"}, {}, "--cid-profile"),
        ({}, {"LEDGERMARK_CID_PROFILE": "unixfs-v1-2024"}, "LEDGERMARK_CID_PROFILE"),
    ],
)
def test_an_unknown_profile_setting_names_its_source_and_the_known_ones(
    tmp_path: Path, given: dict[str, str], environ: dict[str, str], source: str
) -> None:
    with pytest.raises(ConfigError, match=source) as caught:
        Settings.load(data_dir=tmp_path, environ=environ, **given)

    assert "unixfs-v1-2025" in str(caught.value)
    assert "unixfs-v0-2015" in str(caught.value)


def _fast_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script's fast path in a fresh process, reporting whether typer was imported."""
    code = "import sys; from registry.cli import main; main(sys.argv[1:]); print('typer' in sys.modules)"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--cid-profile", "unixfs-v1-2025", "cid", "{path}"),
        ("cid", "--cid-profile", "unixfs-v1-2025", "{path}"),
        ("cid", "{path}", "--cid-profile", "unixfs-v1-2025"),
        ("--cid-version", "0", "cid", "--cid-version", "1", "--cid-profile", "unixfs-v1-2025", "{path}"),
    ],
)
def test_cid_fast_path_takes_a_profile_without_typer(tmp_path: Path, args: tuple[str, ...]) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    done = _fast_cli("--data-dir", str(tmp_path / "home"), *(a.format(path=path) for a in args))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", "False"]


def test_cid_fast_path_reads_the_profile_variable(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    done = _fast_cli(
        "cid", str(path), env={"LEDGERMARK_CID_PROFILE": "legacy-cid-v0", "LEDGERMARK_HOME": str(tmp_path)}
    )

    assert done.stdout.split() == ["Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "False"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["cid", "--cid-profile", "unixfs-v1-2025"],
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
        ),
        (["--cid-profile", "unixfs-v0-2015", "cid"], "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        (
            ["--cid-profile", "unixfs-v1-2025", "cid", "--cid-version", "0"],
            "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD",
        ),
    ],
)
def test_cid_command_takes_a_profile(tmp_path: Path, args: list[str], expected: str) -> None:
    from registry.cli import app

    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "home"), *args, str(path)], env={})

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cid-profile", "nope", "cid"], "--cid-profile"),
        (["cid", "--cid-profile", "nope"], "--cid-profile"),
        (["cid", "--cid-profile", "unixfs-v1-2025", "--cid-version", "0"], "--cid-version"),
    ],
)
def test_cid_command_refuses_a_bad_profile_with_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world")
    done = subprocess.run(
        [sys.executable, "-m", "registry", "--data-dir", str(tmp_path / "home"), *args, str(path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# --------------------------------------------------------------------------- manifests


def _entry(profile: str | None, cid: str) -> manifestlib.ManifestEntry:
    return manifestlib.ManifestEntry(
        role="model", path="m.bin", size=11, sha256="ab" * 32, cid=cid, profile=profile
    )


HELLO_V1_2025 = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
HELLO_V0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"


def test_the_profile_is_in_the_manifest_json_but_not_in_the_leaf() -> None:
    recorded, bare = _entry("unixfs-v1-2025", HELLO_V1_2025), _entry(None, HELLO_V1_2025)
    manifest = manifestlib.Manifest.create("m", [recorded])

    assert json.loads(manifest.to_bytes())["entries"][0]["profile"] == "unixfs-v1-2025"
    assert manifestlib.Manifest.from_bytes(manifest.to_bytes()) == manifest
    assert recorded.leaf() == bare.leaf()  # DESIGN.md §4: the manifest's CID covers the field, not the leaf


@pytest.mark.parametrize(("cid", "inferred"), [(HELLO_V0, V0), (HELLO_V1_2025, V1_2015)])
def test_an_old_manifest_without_profiles_loads_and_infers_them(
    cid: str, inferred: unixfs.ImportProfile
) -> None:
    old = json.dumps(
        {
            "entries": [{"cid": cid, "path": "m.bin", "role": "model", "sha256": "ab" * 32, "size": 11}],
            "name": "old",
            "version": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()

    manifest = manifestlib.Manifest.from_bytes(old)

    assert manifest.entries[0].profile is None
    assert manifest.entries[0].import_profile is inferred
    assert manifest.to_bytes() == old  # still canonical, so still the CID anchored on-chain


@pytest.mark.parametrize(
    ("profile", "cid", "message"),
    [
        ("unixfs-v3-2040", HELLO_V1_2025, "not a CID import profile"),
        ("legacy-cid-v0", HELLO_V0, "canonical"),
        ("unixfs-v0-2015", HELLO_V1_2025, "CIDv0, but its CID is CIDv1"),
        ("unixfs-v1-2025", HELLO_V0, "CIDv1, but its CID is CIDv0"),
    ],
)
def test_a_recorded_profile_must_be_known_canonical_and_agree_with_the_cid(
    profile: str, cid: str, message: str
) -> None:
    with pytest.raises(manifestlib.ManifestError, match=message):
        _entry(profile, cid)


def test_a_recompute_with_the_wrong_profile_is_a_cid_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(np.random.default_rng(9).bytes(300_000))  # one 1 MiB chunk, two 256 KiB chunks
    anchored = manifestlib.entry_for_file(path, role="model", profile=V1_2025)
    manifest = manifestlib.Manifest.create("m", [anchored])

    right = manifestlib.entry_for_file(path, role="model", profile=anchored.import_profile)
    wrong = manifestlib.entry_for_file(path, role="model", profile=V1_2015)

    assert anchored.profile == "unixfs-v1-2025"
    assert manifestlib.compare(manifest, [right]).ok
    assert manifestlib.compare(manifest, [wrong]).mismatched[0].fields == ("cid",)


# --------------------------------------------------------------------------- publish → fetch → verify


def _settings(home: Path, **changes: object) -> Settings:
    return Settings(data_dir=home, chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED).with_(**changes)


@pytest.fixture
def model_files(tmp_path: Path) -> list[publish_flow.Artifact]:
    folder = tmp_path / "owner"
    folder.mkdir()
    rng = np.random.default_rng(499)
    (folder / "model.pt").write_bytes(rng.bytes(MiB + 300_000))  # two chunks under either chunk size
    (folder / "card.json").write_bytes(b'{"name": "profiles"}')
    return [
        publish_flow.Artifact(folder / "model.pt", "model"),
        publish_flow.Artifact(folder / "card.json", "card"),
    ]


def test_a_v1_2025_publication_records_its_profile_and_verifies(tmp_path: Path, model_files) -> None:
    with backendslib.open_backends(_settings(tmp_path / "state", cid_profile="unixfs-v1-2025")) as backends:
        pub = publish_flow.publish(backends, model_files, name="v1-2025")
        result = fetch_flow.fetch(backends, str(pub.record_id), tmp_path / "buyer")
        _, comparison = fetch_flow.verify_files(backends, str(pub.record_id), [tmp_path / "buyer"])
        stored = fetch_flow.load_manifest(backends, backends.registry.record(pub.record_id))

    assert {e.profile for e in stored.entries} == {"unixfs-v1-2025"}
    model = next(e for e in stored.entries if e.path == "model.pt")
    assert model.cid == unixfs.compute_cid(model_files[0].path, profile=V1_2025)
    assert model.cid != unixfs.compute_cid(model_files[0].path, cid_version=1)  # the profile mattered
    assert result.comparison.ok
    assert comparison.ok
    assert sorted(comparison.intact) == ["card.json", "model.pt"]


def test_verify_uses_the_entry_profile_not_the_verifier_settings(tmp_path: Path, model_files) -> None:
    with backendslib.open_backends(_settings(tmp_path / "state", cid_profile="unixfs-v1-2025")) as owner:
        pub = publish_flow.publish(owner, model_files, name="v1-2025")
        buyer = dataclasses.replace(owner, settings=owner.settings.with_(cid_profile=None, cid_version=0))
        _, comparison = fetch_flow.verify_files(buyer, str(pub.record_id), [a.path for a in model_files])

    assert buyer.settings.import_profile is V0
    assert comparison.ok


def test_a_manifest_that_lost_its_profiles_fails_verification(tmp_path: Path, model_files) -> None:
    """The same v1-2025 CIDs without the profile field: the verifier recomputes with the 2015 layout and says so."""
    with backendslib.open_backends(_settings(tmp_path / "state", cid_profile="unixfs-v1-2025")) as backends:
        for artifact in model_files:
            backends.store.put_file(artifact.path, profile=V1_2025)
        entries = [
            manifestlib.entry_from_digest(
                unixfs.digest_file(a.path, profile=V1_2025), role=a.role, name=a.path.name
            )
            for a in model_files
        ]
        manifest = manifestlib.Manifest.create("profile-less", entries)
        manifest_cid = backends.store.add_bytes(manifest.to_bytes(), profile=V1_2025)
        record_id, _ = backends.registry.publish(manifest.root(), len(entries), manifest_cid)
        _, comparison = fetch_flow.verify_files(backends, str(record_id), [a.path for a in model_files])

    assert not comparison.ok
    assert [(m.path, m.fields) for m in comparison.mismatched] == [("model.pt", ("cid",))]
    assert comparison.intact == ("card.json",)  # one chunk: its raw CID is the same under both layouts


def test_embedded_store_keeps_v1_2025_blocks_that_read_back(tmp_path: Path) -> None:
    data = np.random.default_rng(11).bytes(2 * MiB + 5)
    (tmp_path / "in.bin").write_bytes(data)
    store = EmbeddedStore(tmp_path / "blocks")

    digest = store.put_file(tmp_path / "in.bin", profile="unixfs-v1-2025")
    back = store.get_file(digest.cid, tmp_path / "out.bin")

    assert digest == unixfs.digest_file(tmp_path / "in.bin", profile=V1_2025)
    assert back.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "out.bin").read_bytes() == data
