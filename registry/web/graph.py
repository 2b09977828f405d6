"""The lineage graph laid out for an inline SVG: one row per generation, the oldest ancestor on top.

Only numbers and record ids come out of here; labels are escaped by the template like every other string.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from registry import lineage as lineage_flow
from registry.views import derivation_label

NODE_W, NODE_H = 132, 44
GAP_X, GAP_Y = 28, 46
MARGIN = 12


@dataclasses.dataclass(frozen=True)
class Node:
    record_id: int
    x: int
    y: int
    label: str  # how it derives from its parent ("" for the oldest ancestor)
    revoked: bool
    current: bool


@dataclasses.dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclasses.dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def layout(found: lineage_flow.Lineage) -> Layout:
    """Generations as rows (breadth-first from the oldest ancestor), records in id order within a row."""
    top = found.ancestry[-1].record_id
    children: dict[int, list[int]] = defaultdict(list)
    for parent, child in found.edges:
        children[parent].append(child)
    rows: list[list[int]] = [[top]]
    while True:
        below = sorted(c for p in rows[-1] for c in children.get(p, ()))
        if not below:
            break
        rows.append(below)
    width = max(len(r) for r in rows) * (NODE_W + GAP_X) - GAP_X + 2 * MARGIN
    places: dict[int, tuple[int, int]] = {}
    for depth, row in enumerate(rows):
        row_width = len(row) * (NODE_W + GAP_X) - GAP_X
        left = (width - row_width) // 2
        for i, record_id in enumerate(row):
            places[record_id] = (left + i * (NODE_W + GAP_X), MARGIN + depth * (NODE_H + GAP_Y))
    nodes = [
        Node(
            record_id=rid,
            x=x,
            y=y,
            label="" if rid == top else derivation_label(found.family[rid]),
            revoked=found.family[rid].revoked,
            current=rid == found.record.record_id,
        )
        for rid, (x, y) in places.items()
    ]
    edges = [
        Edge(places[p][0] + NODE_W // 2, places[p][1] + NODE_H, places[c][0] + NODE_W // 2, places[c][1])
        for p, c in found.edges
        if p in places and c in places
    ]
    height = len(rows) * (NODE_H + GAP_Y) - GAP_Y + 2 * MARGIN
    return Layout(nodes, edges, width, height)
