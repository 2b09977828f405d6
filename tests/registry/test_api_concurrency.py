"""More concurrent requests than AnyIO has worker threads (40) on routes that take the chain client in turn.

Before the turn waited in the event loop, each waiter blocked a worker thread; with all 40 blocked, the holder's
release (a dependency exit, which needs a worker thread too) never ran and the service hung for good.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from fastapi.testclient import TestClient

from registry import publish as publish_flow
from registry.api.main import create_app
from registry.config import Settings


@pytest.mark.timeout(300, method="thread")  # a deadlock blocks the executor's exit too: stop the whole run
def test_a_hundred_concurrent_chain_reads_all_answer(embedded_settings: Settings, tmp_path) -> None:
    from tests.registry.conftest import write_artifacts

    with TestClient(create_app(embedded_settings)) as client:
        backends = client.app.state.backends  # type: ignore[attr-defined]
        record = publish_flow.publish(backends, write_artifacts(tmp_path / "owner"), name="busy").record_id

        def read(_: int) -> int:
            return client.get(f"/records/{record}/lineage").status_code

        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(read, range(100), timeout=120))

    assert statuses == [200] * 100
