"""``ledgermark pin`` and ``ledgermark pins``: replicate a record's content and report where it is pinned.

TARGET is ``kubo:MULTIADDR`` or ``kubo:http://HOST:PORT`` (a Kubo RPC node: Kubo, js-ipfs) or
``psa:https://HOST/PATH`` (an IPFS Pinning Service API endpoint; its token in ``LEDGERMARK_PINNING_TOKEN``).
The flow lives in ``registry.pinning``; this module parses, calls and prints, and imports nothing heavy before a
command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from registry.cli import _output

if TYPE_CHECKING:
    from registry import pinning
    from registry.backends import Backends

_TARGET_HELP = (
    "kubo:MULTIADDR, kubo:http://HOST:PORT (a Kubo RPC node) or psa:https://HOST/PATH "
    "(a Pinning Service API; token in LEDGERMARK_PINNING_TOKEN)."
)

Record = Annotated[str, typer.Argument(metavar="RECORD", help="Record id or 0x Merkle root.")]


def pin(
    ctx: typer.Context,
    record: Record,
    to: Annotated[str, typer.Option("--to", metavar="TARGET", help=_TARGET_HELP)],
    origins: Annotated[
        list[str] | None,
        typer.Option(
            "--origin",
            metavar="URL",
            help="Where a pinning service can fetch the blocks: a gateway URL such as the owner's "
            "`ledgermark serve`, or a multiaddr (repeatable).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", metavar="SECONDS", min=0, help="Wait this long for a pinning service to pin everything."
        ),
    ] = 0.0,
    as_json: _output.JsonOption = False,
) -> None:
    """Replicate a record's manifest and artifacts (each whole DAG, verified first) to TARGET and pin them."""
    from registry import pinning

    target = _output.guard(lambda: pinning.parse_target(to, "--to"), as_json=as_json)
    if isinstance(target, pinning.KuboTarget) and origins:
        _output.fail("--origin is for psa: targets; a kubo: node is sent the blocks themselves", as_json)

    def run(backends: Backends) -> pinning.PinResult:
        return pinning.pin_record(backends, record, target, origins=origins or (), wait_s=wait)

    result = _output.on_backends(ctx, run, as_json=as_json)
    _output.emit(as_json, result.to_dict(), _pin_lines(result))


def pins(
    ctx: typer.Context,
    record: Record,
    at: Annotated[
        list[str] | None,
        typer.Option("--at", metavar="TARGET", help="Also ask this target (repeatable): " + _TARGET_HELP),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Report where each of a record's artifacts is pinned: the configured store, then each --at TARGET."""
    from registry import pinning

    targets = _output.guard(lambda: [pinning.parse_target(t, "--at") for t in at or []], as_json=as_json)
    report = _output.on_backends(
        ctx, lambda backends: pinning.pin_status(backends, record, targets), as_json=as_json
    )
    _output.emit(as_json, report.to_dict(), _pins_lines(report))


def _pin_lines(result: pinning.PinResult) -> list[str]:
    done = sum(p.status == "pinned" for p in result.items)
    head = f"record {result.record_id}: {done} of {len(result.items)} pinned at {result.target}"
    rows = [f"  {p.status:<8} {p.item.role:<13} {p.item.path}  {p.item.cid}" for p in result.items]
    return [head, *rows]


def _pins_lines(report: pinning.PinsReport) -> list[str]:
    lines = [f"record {report.record_id}: where each artifact is pinned"]
    for item, where in report.items:
        lines.append(f"  {item.role:<13} {item.path}  {item.cid}")
        lines += [f"    {status:<8} {place}" for place, status in where.items()]
    return lines
