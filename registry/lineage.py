"""Lineage: which record a model was fine-tuned, quantised, pruned or distilled from, and its whole family.

Ancestry follows ``parentId`` upwards through the registry (one read a generation, bounded). The family walks
down from the oldest ancestor through the indexed ``ModelRegistered(parentId)`` events, scanned from the
contracts' deployment block rather than from genesis. Rendering (text tree or Graphviz) lives here, not in the
chain binding.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from registry import chain as chainlib
from registry.backends import Backends
from registry.fetch import resolve_record
from registry.views import derivation_label

MAX_FAMILY = 200
FORMATS = ("text", "dot")


@dataclasses.dataclass(frozen=True)
class Lineage:
    """A record's ancestry (itself first, root last) and its family tree, ready to render."""

    record: chainlib.Record
    ancestry: tuple[chainlib.Record, ...]
    family: dict[int, chainlib.Record]
    edges: tuple[tuple[int, int], ...]

    def render(self, fmt: str = "text") -> str:
        """An indented tree (the queried record marked ``<==``) or Graphviz ``dot``."""
        if fmt == "dot":
            return _render_dot(self.family, self.edges, self.record.record_id)
        if fmt != "text":
            raise ValueError(f"unknown lineage format {fmt!r}: use 'text' or 'dot'")
        return _render_text(self.family, self.edges, self.ancestry[-1].record_id, self.record.record_id)


def lineage(backends: Backends, reference: str, *, max_nodes: int = MAX_FAMILY) -> Lineage:
    """The ancestry of a record and every descendant of its oldest ancestor (at most ``max_nodes``)."""
    record = resolve_record(backends, reference)
    ancestry = tuple(backends.registry.ancestry(record.record_id))
    family, edges = _family(backends, ancestry, max_nodes)
    return Lineage(record=record, ancestry=ancestry, family=family, edges=tuple(edges))


def _family(
    backends: Backends, ancestry: tuple[chainlib.Record, ...], max_nodes: int
) -> tuple[dict[int, chainlib.Record], list[tuple[int, int]]]:
    """Breadth-first walk down from the oldest ancestor; bounded by ``max_nodes``. The ancestry's records are
    already read, so only the other descendants are read from the registry."""
    known = {r.record_id: r for r in ancestry}
    top = ancestry[-1]
    nodes = {top.record_id: top}
    edges: list[tuple[int, int]] = []
    queue = deque([top.record_id])
    while queue and len(nodes) < max_nodes:
        parent = queue.popleft()
        for child in backends.registry.children(parent):
            if child in nodes or len(nodes) >= max_nodes:
                continue
            nodes[child] = known.get(child) or backends.registry.record(child)
            edges.append((parent, child))
            queue.append(child)
    return nodes, edges


def _label(rec: chainlib.Record) -> str:
    how = "" if rec.derivation is chainlib.Derivation.NONE else f"{derivation_label(rec)} "
    state = " [REVOKED]" if rec.revoked else ""
    return f"#{rec.record_id} {how}root 0x{rec.root.hex()[:12]}… owner {rec.owner} manifest {rec.manifest_cid}{state}"


def _render_text(
    nodes: dict[int, chainlib.Record], edges: tuple[tuple[int, int], ...], top: int, marked: int
) -> str:
    kids: dict[int, list[int]] = {}
    for parent, child in edges:
        kids.setdefault(parent, []).append(child)
    lines = [_label(nodes[top]) + ("  <==" if top == marked else "")]

    def walk(node: int, prefix: str) -> None:
        children = kids.get(node, [])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            mark = "  <==" if child == marked else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(nodes[child])}{mark}")
            walk(child, prefix + ("    " if last else "│   "))

    walk(top, "")
    return "\n".join(lines) + "\n"


def _render_dot(nodes: dict[int, chainlib.Record], edges: tuple[tuple[int, int], ...], marked: int) -> str:
    out = ["digraph lineage {", "  rankdir=TB;"]
    for rid, rec in sorted(nodes.items()):
        style = ', style="dashed"' if rec.revoked else ""
        peri = ", peripheries=2" if rid == marked else ""
        revoked = "\\n[REVOKED]" if rec.revoked else ""
        label = f"#{rid}\\n0x{rec.root.hex()[:12]}…{revoked}"
        out.append(f'  r{rid} [label="{label}"{style}{peri}];')
    for parent, child in edges:
        out.append(f'  r{parent} -> r{child} [label="{derivation_label(nodes[child])}"];')
    out.append("}")
    return "\n".join(out) + "\n"
