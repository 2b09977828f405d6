"""FLOW: lineage, on the embedded backends: ancestry up the parent links, the family down, both renderings."""

from __future__ import annotations

from pathlib import Path

from registry import lineage
from registry import publish as publish_flow
from registry.chain import Derivation
from tests.registry.conftest import write_artifacts


def _derive(backends, parent: int, how: Derivation, folder: Path, seed: int) -> int:
    return publish_flow.publish(
        backends, write_artifacts(folder, seed=seed), name=folder.name, parent_id=parent, derivation=how
    ).record_id


def test_family_is_walked_from_the_oldest_ancestor_and_rendered(backends, published, tmp_path: Path) -> None:
    base = published.record_id
    tuned = _derive(backends, base, Derivation.FINE_TUNE, tmp_path / "tuned", 1)
    small = _derive(backends, tuned, Derivation.QUANTIZE, tmp_path / "small", 2)
    sibling = _derive(backends, base, Derivation.DISTILL, tmp_path / "sibling", 3)
    backends.registry.revoke(tuned)

    found = lineage.lineage(backends, str(small))

    assert [r.record_id for r in found.ancestry] == [small, tuned, base]
    assert found.ancestry[0].derivation is Derivation.QUANTIZE
    assert set(found.family) == {base, tuned, small, sibling}
    lines = found.render().splitlines()
    assert lines[0].startswith(f"#{base} ")
    assert any(f"#{tuned} fine-tune" in line and "[REVOKED]" in line for line in lines)
    assert any(f"#{small} quantize" in line and line.endswith("<==") for line in lines)
    assert any(f"#{sibling} distill" in line for line in lines)
    dot = found.render("dot")
    assert f"r{base} -> r{tuned}" in dot and f"r{tuned} -> r{small}" in dot and "peripheries=2" in dot


def test_family_walk_is_bounded(backends, published, tmp_path: Path) -> None:
    for seed in range(3):
        _derive(backends, published.record_id, Derivation.OTHER, tmp_path / f"child{seed}", 10 + seed)
    assert len(lineage.lineage(backends, str(published.record_id), max_nodes=2).family) == 2


def test_event_scans_start_at_the_deployment_block(backends, published, tmp_path: Path) -> None:
    """The deployment block is remembered, and lineage reads events from there, not from genesis."""
    child = _derive(backends, published.record_id, Derivation.FINE_TUNE, tmp_path / "child", 4)
    registry = backends.registry
    assert 0 < registry.deployed_at <= backends.registry.record(published.record_id).registered_block
    assert registry.children(published.record_id) == [child]
    after = backends.registry.record(child).registered_block + 1
    late = type(registry)(registry.chain, registry.address, deployed_at=after)
    assert late.children(published.record_id) == []  # the scan really starts at deployed_at
