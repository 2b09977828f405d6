"""Shared pytest configuration: fixtures for real daemons live in tests/fixtures/, one module per component."""

pytest_plugins = [
    "tests.fixtures.ipfs_daemons",
    "tests.fixtures.chain_nodes",
]
