"""Fixtures for the registry flows: embedded backends in a temp data dir, and a small model + trigger set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from registry import backends as backendslib
from registry import publish as publish_flow
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)


@pytest.fixture
def backends(embedded_settings: Settings) -> Iterator[backendslib.Backends]:
    with backendslib.open_backends(embedded_settings) as opened:
        yield opened


def write_artifacts(folder: Path, seed: int = 0, model_size: int = 300_000) -> list[publish_flow.Artifact]:
    """A 'model' spanning two IPFS chunks and a trigger set, from a seeded generator."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    (folder / "model.pt").write_bytes(rng.bytes(model_size))
    (folder / "triggers.npz").write_bytes(rng.bytes(5_000))
    return [
        publish_flow.Artifact(folder / "model.pt", role="model"),
        publish_flow.Artifact(folder / "triggers.npz", role="trigger"),
    ]


@pytest.fixture
def artifacts(tmp_path: Path) -> list[publish_flow.Artifact]:
    return write_artifacts(tmp_path / "owner")


@pytest.fixture
def published(
    backends: backendslib.Backends, artifacts: list[publish_flow.Artifact]
) -> publish_flow.Publication:
    return publish_flow.publish(backends, artifacts, name="tiny")


def files_under(folder: Path) -> list[str]:
    """Everything in a folder, hidden staging folders included, to prove nothing half-written remains."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
