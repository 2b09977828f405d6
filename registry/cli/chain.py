"""`ledgermark chain …`: the managed local chain and contract deployment.

Without `chain start`, each command on the default `local` chain runs Anvil for its own duration from the
state file in DATA_DIR/chain, saving it after every block (~0.08 s more a read than a running node:
docs/results/default_chain.md). `chain start` keeps one running in
the background instead (nothing to start per command); `chain stop` saves its state and ends it by process id.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry import backends as backendslib
from registry.cli import _output

app = typer.Typer(help="Run the managed local chain and deploy contracts.", no_args_is_help=True)


@app.command()
def start(ctx: typer.Context) -> None:
    """Keep the data dir's local chain running in the background (state in DATA_DIR/chain)."""
    node = _output.guard(lambda: backendslib.start_managed_chain(ctx.obj))
    typer.echo(f"{node.kind} running at {node.url} (pid {node.pid}); stop it with `ledgermark chain stop`")


@app.command()
def stop(ctx: typer.Context) -> None:
    """Save and stop the data dir's background local chain, if one runs."""
    stopped = _output.guard(lambda: backendslib.stop_managed_chain(ctx.obj))
    typer.echo(
        f"stopped {stopped[0]} (pid {stopped[1]})" if stopped else "no managed local chain was running"
    )


@app.command()
def status(ctx: typer.Context) -> None:
    """Say which chain is configured, whether it answers, and where the contracts are."""

    def run(backends: backendslib.Backends) -> dict[str, str]:
        facts = backends.describe()
        facts["block"] = str(backends.chain.block_number())
        return facts

    for key, value in _output.on_backends(ctx, run).items():
        typer.echo(f"{key:<9} {value}")


@app.command()
def deploy(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy even if contracts are already known.")
    ] = False,
) -> None:
    """Deploy ModelRegistry and OwnershipDisputes on the configured chain and remember their addresses."""
    deployment = _output.guard(lambda: backendslib.deploy_on(ctx.obj, force=force))
    typer.echo(f"ModelRegistry      {deployment.registry}\nOwnershipDisputes  {deployment.disputes}")
