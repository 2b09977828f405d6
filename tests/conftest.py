"""Shared pytest configuration: fixtures for real daemons live in tests/fixtures/, one module per component."""

import pytest

pytest_plugins = [
    "tests.fixtures.ipfs_daemons",
    "tests.fixtures.chain_nodes",
]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Tests train tiny models: one thread is fastest, and 2 threads on 2 busy cores can be 100× slower."""
    import torch

    torch.set_num_threads(1)
