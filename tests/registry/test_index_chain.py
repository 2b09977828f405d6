"""The index on a real Anvil: reorganisations are undone, and a deleted index is rebuilt by the next service.

A reorg (``anvil_reorg``) that drops an indexed registration makes the next sync roll back to the fork point:
the dropped record disappears from lists and search, the new branch is indexed, and the result equals an index
rebuilt from scratch. Deleting the index file while the service is down loses nothing: the restarted service
rebuilds it from the chain and the store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from registry import backends as backendslib
from registry.api import dependencies
from registry.api.main import create_app
from registry.chain import localnode
from registry.cli.commands import app as cli_app
from registry.config import Settings
from registry.index import RecordIndex
from tests.registry.chain.test_nonces import cli_env, deploy, node_settings
from tests.registry.test_index import dump, ids_of, publish

pytestmark = pytest.mark.daemon


@pytest.fixture
def settings(anvil_node: localnode.AnvilNode, tmp_path: Path) -> Settings:
    deployment = deploy(anvil_node)
    return node_settings(anvil_node, tmp_path / "home", deployment, deployment_block=deployment.block)


def chain_tables(path: Path) -> dict[str, object]:
    """What the chain alone decides (a dropped manifest may stay cached: content never goes stale)."""
    tables = dump(path)
    return {name: tables[name] for name in ("events", "records", "disputes", "votes")}


def test_a_reorganisation_is_rolled_back_and_the_new_branch_indexed(
    settings: Settings, tmp_path: Path
) -> None:
    with backendslib.open_backends(settings) as backends:
        index = RecordIndex.open(tmp_path / "index.sqlite3")
        kept = publish(backends, tmp_path / "a", "kept-model")
        backends.chain.mine(1)
        dropped = publish(backends, tmp_path / "b", "dropped-model")
        index.sync(backends)
        assert ids_of(index.records(query="dropped")) == [dropped]

        backends.chain.request("anvil_reorg", [1, []])  # the block holding the registration is replaced
        backends.chain.mine(2)
        report = index.sync(backends)

        assert report.reorgs == 1 and report.rolled_back_to is not None
        assert index.record(dropped) is None
        assert ids_of(index.records()) == [kept]
        assert ids_of(index.records(query="dropped")) == []

        replacement = publish(backends, tmp_path / "c", "replacement-model")
        index.sync(backends)
        assert ids_of(index.records(query="replacement")) == [replacement]

        rebuilt = RecordIndex.open(tmp_path / "rebuilt.sqlite3")
        rebuilt.sync(backends)
        assert chain_tables(rebuilt.path) == chain_tables(index.path)


def wait_for_records(client: TestClient, count: int, timeout_s: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = client.get("/records").json()
        if page["total"] >= count and all(r["name"] for r in page["items"]):
            return page
        time.sleep(0.1)
    raise AssertionError(f"the service did not index {count} records in {timeout_s} s")


def test_deleting_the_index_and_restarting_the_service_rebuilds_it(
    settings: Settings, tmp_path: Path
) -> None:
    with TestClient(create_app(settings)) as client:
        with dependencies._backends_lock:
            base = publish(
                client.app.state.backends, tmp_path / "a", "survivor", card="kept through restarts"
            )
            publish(client.app.state.backends, tmp_path / "b", "survivor-child", parent=base)
        before = wait_for_records(client, 2)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.index_path}{suffix}").unlink(missing_ok=True)

    with TestClient(create_app(settings)) as client:
        after = wait_for_records(client, 2)
        searched = client.get("/records", params={"q": "restarts"}).json()

    assert after == before
    assert [r["record_id"] for r in searched["items"]] == [base]


def test_the_cli_rebuilds_and_reports_the_index(
    anvil_node: localnode.AnvilNode, settings: Settings, tmp_path: Path
) -> None:
    with backendslib.open_backends(settings) as backends:
        publish(backends, tmp_path / "a", "from-the-cli")
    env = cli_env(anvil_node, settings.data_dir, deploy_of(settings))
    runner = CliRunner()
    options = ["--chain", anvil_node.url]

    rebuilt = runner.invoke(cli_app, [*options, "index", "rebuild", "--json"], env=env)
    status = runner.invoke(cli_app, [*options, "index", "status"], env=env)

    assert rebuilt.exit_code == 0, rebuilt.output
    document = json.loads(rebuilt.stdout)
    assert document["report"]["records_added"] == 1 and document["status"]["lag_blocks"] == 0
    assert status.exit_code == 0 and "records  1 (0 manifests not fetched yet)" in status.stdout


def deploy_of(settings: Settings) -> object:
    """The deployment ``settings`` name, in the shape ``cli_env`` takes."""
    from registry.chain import deployments

    assert settings.registry_address and settings.disputes_address
    return deployments.Deployment(
        settings.registry_address, settings.disputes_address, settings.deployment_block
    )
