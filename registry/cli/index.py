"""`ledgermark index …`: the record index the service lists and searches from (DATA_DIR/index.sqlite3).

The index is a cache of the chain's events and the manifests they name: `sync` brings it to the confirmed head,
`rebuild` empties it and reads everything again from the deployment block, `status` says how far it trails the
chain. A running `ledgermark serve` keeps the same file in step by itself; these commands are safe beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from registry.cli import _output

if TYPE_CHECKING:
    from registry.backends import Backends

app = typer.Typer(help="Sync, rebuild and inspect the record index.", no_args_is_help=True)


def _index_path(ctx: typer.Context) -> Any:
    return ctx.obj.index_path


def _sync(ctx: typer.Context, as_json: bool, *, reset: bool) -> None:
    from registry.index import RecordIndex

    def run(backends: Backends) -> dict[str, Any]:
        index = RecordIndex.open(_index_path(ctx))
        try:
            if reset:
                index.reset()
            report = index.sync(backends)
            return {"report": report.to_dict(), "status": index.status().to_dict()}
        finally:
            index.close()

    result = _output.on_backends(ctx, run, as_json=as_json)
    report, status = result["report"], result["status"]
    _output.emit(
        as_json,
        {"ok": True, "path": str(_index_path(ctx)), **result},
        [
            f"indexed  blocks {report['from_block']}..{report['to_block']}: {report['events']} events, "
            f"{report['records_added']} new records, {report['manifests_fetched']} manifests fetched "
            f"in {report['seconds']} s"
            + (f" (reorg: rolled back to {report['rolled_back_to']})" if report["reorgs"] else ""),
            *_status_lines(status),
        ],
    )


@app.command()
def sync(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Bring the index to the chain's confirmed head (undoing a reorganisation first) and fetch due manifests."""
    _sync(ctx, as_json, reset=False)


@app.command()
def rebuild(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Empty the index and read every event again from the deployment block (nothing is lost: it is a cache)."""
    _sync(ctx, as_json, reset=True)


@app.command()
def status(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """How far the index trails the chain's confirmed head, and how many records and manifests it holds."""
    from registry.index import RecordIndex
    from registry.index._follow import confirmed_head

    def run(backends: Backends) -> dict[str, Any]:
        index = RecordIndex.open(_index_path(ctx))
        try:
            found = index.status().to_dict()
        finally:
            index.close()
        head = confirmed_head(backends.chain)
        return {**found, "head_block": head, "lag_blocks": max(0, head - found["indexed_block"])}

    found = _output.on_backends(ctx, run, as_json=as_json)
    _output.emit(as_json, {"ok": True, "path": str(_index_path(ctx)), **found}, _status_lines(found))


def _status_lines(status: dict[str, Any]) -> list[str]:
    return [
        f"block    {status['indexed_block']} of {status['head_block']} ({status['lag_blocks']} behind)",
        f"records  {status['records']} ({status['manifests_missing']} manifests not fetched yet)",
        f"disputes {status['disputes']}",
    ]
