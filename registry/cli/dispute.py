"""`ledgermark dispute …`: claim ownership of a suspect model and settle it on-chain.

Claimant: `open` (runs the watermark test, keeps the full report private, pins only a commitment to it and pays
the bond) then `reveal` (pins the full report, publishes the key's CID and the sealed copy's data key, never the
key; the contract checks the CID against the record). Arbiters: `review` (check the revealed report against the
commitment, unseal the anchored key with the revealed data key, re-run the test, pin their own report) then
`vote`. Anyone: `finalise` after the deadline, `show`.
The signer is LEDGERMARK_PRIVATE_KEY, or the local chain's first dev account. The watermark engine (torch) is
imported only by the commands that run it, so the rest of the CLI starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from registry import views
from registry.cli import _output

if TYPE_CHECKING:
    from registry.backends import Backends

app = typer.Typer(help="Open, review, vote on and settle ownership disputes.", no_args_is_help=True)

DisputeArgument = Annotated[int, typer.Argument(metavar="DISPUTE", help="The dispute's id.")]
KeyOption = Annotated[
    Path,
    typer.Option(
        "--key", metavar="KEY", help="Your plaintext watermark key file.", exists=True, dir_okay=False
    ),
]


@app.command("open")
def open_(
    ctx: typer.Context,
    claimant_record: Annotated[
        str, typer.Argument(metavar="RECORD", help="Your record (id or 0x root); it must anchor the key.")
    ],
    model: Annotated[
        Path,
        typer.Option("--model", metavar="MODEL", help="The suspect model file.", exists=True, dir_okay=False),
    ],
    key: KeyOption,
    suspect: Annotated[
        str | None,
        typer.Option(
            "--suspect",
            metavar="RECORD",
            help="Suspect record id or 0x root (default: the model file's root).",
        ),
    ] = None,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", metavar="DIR", help="Where to write the evidence report.")
    ] = Path("evidence"),
    force: Annotated[
        bool, typer.Option("--force", help="Open even if the test does not say 'copy'.")
    ] = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Test the suspect for your watermark and open a dispute with the bond, committing to the private report."""
    from registry import dispute as dispute_flow

    def run(backends: Backends) -> dict[str, Any]:
        opened = dispute_flow.claim(
            backends,
            claimant_record,
            model,
            key.read_bytes(),
            report_dir=report_dir,
            suspect=suspect,
            force=force,
        )
        return views.claim_view(opened, with_paths=True)

    _emit(as_json, _output.on_backends(ctx, run, as_json=as_json))


@app.command()
def reveal(
    ctx: typer.Context,
    dispute_id: DisputeArgument,
    key: KeyOption,
    data_key: Annotated[
        Path | None,
        typer.Option(
            "--data-key",
            metavar="FILE",
            help="The sealed key's data key, written by `publish --watermark-key` (default: KEY.datakey).",
            dir_okay=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE",
            help="The full evidence.json `dispute open` wrote (default: its private copy in the data directory).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Pin the full evidence report and reveal the key's CID (computed locally) and the sealed copy's data key;
    the key itself stays private.

    Before anything is uploaded or sent, the data key must open the sealed key your record anchors to exactly
    --key, and the report must hash to the commitment made at opening.
    """
    from registry import backends as backendslib
    from registry import dispute as dispute_flow
    from registry.errors import ConfigError

    data_key_path = data_key or key.with_name(key.name + ".datakey")
    source = "--data-key" if data_key else f"--data-key (default beside --key {key})"

    def run() -> dict[str, Any]:
        if not data_key_path.is_file():
            raise ConfigError(f"{source}: {data_key_path} is not a readable file")
        secret = dispute_flow.parse_data_key(data_key_path.read_bytes(), f"{source}: {data_key_path}")
        with backendslib.open_backends(ctx.obj) as backends:
            cid, tx = dispute_flow.reveal(backends, dispute_id, key.read_bytes(), secret, report=report)
            report_cid = tx.event("KeyRevealed")["reportCid"]
            return {"dispute_id": dispute_id, "key_cid": cid, "report_cid": report_cid, "tx_hash": tx.tx_hash}

    _emit(False, _output.guard(run))


@app.command()
def review(
    ctx: typer.Context,
    dispute_id: DisputeArgument,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", metavar="MODEL", help="Suspect model file (only if the suspect is not registered)."
        ),
    ] = None,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", metavar="DIR", help="Where to write your report.")
    ] = Path("review"),
    as_json: _output.JsonOption = False,
) -> None:
    """Arbiter: check the claimant's revealed report against its commitment, re-run the ownership test from the
    revealed key and pin your own report (then `vote`)."""
    from registry import dispute as dispute_flow

    def run(backends: Backends) -> dict[str, Any]:
        found = dispute_flow.review(backends, dispute_id, report_dir=report_dir, model=model)
        claimant_report_cid = backends.disputes.dispute(dispute_id).report_cid
        return views.review_view(found, dispute_id, claimant_report_cid, with_paths=True)

    _emit(as_json, _output.on_backends(ctx, run, as_json=as_json))


@app.command()
def vote(
    ctx: typer.Context,
    dispute_id: DisputeArgument,
    report: Annotated[
        str,
        typer.Option(
            "--report",
            metavar="CID|FILE",
            help="Your review report: its CID, or the evidence.json that `dispute review` wrote and pinned.",
        ),
    ],
    uphold: Annotated[bool, typer.Option("--uphold/--reject", help="Your ruling.")],
) -> None:
    """Arbiter: vote on the dispute with the CID of your report."""
    from registry import dispute as dispute_flow

    def run(backends: Backends) -> dict[str, Any]:
        report_cid = dispute_flow.pinned_report_cid(backends, report)
        tx = dispute_flow.vote(backends.disputes, dispute_id, uphold, report_cid)
        return {"dispute_id": dispute_id, "uphold": uphold, "report_cid": report_cid, "tx_hash": tx.tx_hash}

    _emit(False, _output.on_backends(ctx, run))


@app.command()
def finalise(
    ctx: typer.Context,
    dispute_id: DisputeArgument,
    skip_wait: Annotated[
        bool, typer.Option("--skip-wait", help="On a dev chain, advance its clock past the deadline first.")
    ] = False,
) -> None:
    """Resolve the dispute after its deadline: the bond goes back to the claimant (upheld, or undecided: too
    few votes or a tie) or to the suspect's owner at opening (rejected)."""
    from registry import dispute as dispute_flow

    def run(backends: Backends) -> dict[str, Any]:
        return views.resolution_view(
            dispute_flow.finalise(backends.disputes, dispute_id, skip_wait_on_dev_chain=skip_wait)
        )

    _emit(False, _output.on_backends(ctx, run))


@app.command()
def show(
    ctx: typer.Context,
    dispute_id: DisputeArgument,
    as_json: _output.JsonOption = False,
) -> None:
    """The dispute's state, priority facts and every vote with its report CID."""
    from registry import dispute as dispute_flow

    def run(backends: Backends) -> dict[str, Any]:
        return views.dispute_view(dispute_flow.report(backends.disputes, dispute_id, backends))

    _emit(as_json, _output.on_backends(ctx, run, as_json=as_json))


@app.command("grant-arbiter")
def grant_arbiter(
    ctx: typer.Context,
    account: Annotated[
        str, typer.Argument(metavar="ADDRESS", help="Address to make an arbiter (admin only).")
    ],
) -> None:
    """Admin: give an account the arbiter role."""
    from registry.config import check_address

    _output.guard(lambda: check_address(account, "ADDRESS"))

    def run(backends: Backends) -> dict[str, Any]:
        return {"arbiter": account, "tx_hash": backends.disputes.grant_arbiter(account).tx_hash}

    _emit(False, _output.on_backends(ctx, run))


def _emit(as_json: bool, document: dict[str, Any]) -> None:
    if as_json:
        typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
        return
    for key, value in document.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        typer.echo(f"{key:<18} {views.printable(shown)}")  # claims, CIDs and messages come from other parties
