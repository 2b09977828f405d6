"""The publish → fetch → verify flow on real daemons: Ganache or Anvil for the chain, js-ipfs for IPFS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from registry import backends as backendslib
from registry import fetch as fetch_flow
from registry import publish as publish_flow
from registry.config import Settings
from registry.errors import VerificationFailed
from tests.registry.conftest import files_under, write_artifacts

pytestmark = pytest.mark.daemon


@pytest.fixture
def real_settings(dev_node, jsipfs_daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LEDGERMARK_PRIVATE_KEY", dev_node.private_keys[0])
    settings = Settings.load(data_dir=tmp_path / "state", chain=dev_node.url, ipfs=jsipfs_daemon.multiaddr)
    backendslib.deploy_on(settings)
    return settings


def test_publish_fetch_verify_on_real_daemons(real_settings: Settings, tmp_path: Path) -> None:
    artifacts = write_artifacts(tmp_path / "owner", seed=11, model_size=1_000_000)

    with backendslib.open_backends(real_settings) as backends:
        pub = publish_flow.publish(backends, artifacts, name="real")
        result = fetch_flow.fetch(backends, str(pub.record_id), tmp_path / "buyer")

        assert result.comparison.ok
        assert files_under(tmp_path / "buyer") == ["model.pt", "triggers.npz"]
        assert (tmp_path / "buyer" / "model.pt").read_bytes() == artifacts[0].path.read_bytes()
        assert pub.manifest_cid in backends.store.pins()

        tampered = tmp_path / "tampered"
        shutil.copytree(tmp_path / "buyer", tampered)
        (tampered / "triggers.npz").write_bytes(b"swapped")
        _, comparison = fetch_flow.verify_files(backends, str(pub.record_id), [tampered])
        assert [m.path for m in comparison.mismatched] == ["triggers.npz"]
        assert comparison.mismatched[0].fields == ("size", "sha256", "cid")


def test_a_url_chain_without_deployed_contracts_says_what_to_run(
    dev_node, jsipfs_daemon, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("LEDGERMARK_PRIVATE_KEY", dev_node.private_keys[0])
    settings = Settings.load(data_dir=tmp_path / "fresh", chain=dev_node.url, ipfs=jsipfs_daemon.multiaddr)

    with (
        pytest.raises(backendslib.ConfigError, match="run `ledgermark chain deploy`"),
        backendslib.open_backends(settings),
    ):
        pass


def test_a_record_whose_manifest_the_node_lacks_fails_cleanly(
    real_settings: Settings, tmp_path: Path
) -> None:
    with backendslib.open_backends(real_settings) as backends:
        backends.store.timeout = 3  # type: ignore[attr-defined]
        record_id, _ = backends.registry.publish(
            b"\x33" * 32, 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxqaaaaa"
        )

        with pytest.raises(Exception, match="is not available from Kubo RPC at") as caught:
            fetch_flow.fetch(backends, str(record_id), tmp_path / "buyer")

    assert not isinstance(caught.value, VerificationFailed)
    assert not (tmp_path / "buyer").exists()
