"""`ledgermark network …`: hand another party one file that says where the chain, contracts and content are.

`export` writes the profile of what is in force (the owner's side); every command takes it back with
`--network FILE` / `LEDGERMARK_NETWORK` (the buyer's and the arbiter's side), beneath options and variables.
`show` prints every setting in force and where each came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registry.cli import _output

app = typer.Typer(
    help="Export and inspect network profiles (chain, contracts, content sources).", no_args_is_help=True
)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write the profile here [default: print it].")
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option("--rpc", metavar="URL", help="RPC URL others can reach [default: the chain in force]."),
    ] = None,
    gateways: Annotated[
        list[str] | None,
        typer.Option("--gateway", metavar="URL", help="Trustless gateway serving the content (repeatable)."),
    ] = None,
    kubo: Annotated[
        list[str] | None,
        typer.Option("--kubo", metavar="ADDR", help="Kubo RPC node holding the content (repeatable)."),
    ] = None,
) -> None:
    """Write the network profile of the chain, contracts and content sources in force."""
    import json

    from registry import network

    def run() -> network.Profile:
        profile = network.export_profile(
            ctx.obj, rpc=rpc, gateways=tuple(gateways or ()), kubo=tuple(kubo or ())
        )
        if out is not None:
            network.write(out, profile)
        return profile

    profile = _output.guard(run)
    if out is None:
        typer.echo(json.dumps(profile.to_dict(), indent=2))
    else:
        typer.echo(
            f"wrote {out}: chain {profile.chain_id} at {profile.rpc[0]}, registry {profile.registry.address}"
        )


@app.command()
def show(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """Print every setting in force and where it came from (option, variable, network profile, default)."""
    from registry import network

    rows = network.in_force(ctx.obj)
    width = max(len(row["setting"]) for row in rows)
    _output.emit(
        as_json,
        {row["setting"]: {"value": row["value"], "source": row["source"]} for row in rows},
        [f"{row['setting']:<{width}}  {row['value']}  ({row['source']})" for row in rows],
    )
