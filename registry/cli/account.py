"""`ledgermark account …`: signing keys in encrypted JSON keystores (DATA_DIR/keystore/, one file per address).

Sign with one through `--keystore FILE` / `LEDGERMARK_KEYSTORE`: it is decrypted at the first transaction only.
The password comes from LEDGERMARK_KEYSTORE_PASSWORD or a hidden prompt, never from an option.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry.cli import _output

if TYPE_CHECKING:
    from registry import accounts
    from registry.config import Settings

app = typer.Typer(help="Create, import and list encrypted signing keys.", no_args_is_help=True)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="FILE", help="Write the keystore here [default: DATA_DIR/keystore/ADDRESS.json]."
    ),
]


@app.command()
def new(
    ctx: typer.Context,
    out: OutOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the new address (for scripts).")
    ] = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Make a new random account and store its key encrypted."""
    from registry import accounts

    def run() -> accounts.Keystore:
        settings: Settings = ctx.obj
        password = _new_password(settings)
        return accounts.create(accounts.keystore_dir(settings.data_dir), password, out=out)

    keystore = _output.guard(run, as_json=as_json)
    if quiet and not as_json:
        typer.echo(keystore.address)
    else:
        _report(keystore, "created", as_json)


@app.command("import")
def import_(
    ctx: typer.Context,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            metavar="FILE",
            help="File holding the hex key [default: LEDGERMARK_PRIVATE_KEY, else a hidden prompt].",
        ),
    ] = None,
    out: OutOption = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Store an existing private key encrypted (from a file, LEDGERMARK_PRIVATE_KEY or a hidden prompt)."""
    from registry import accounts

    def run() -> accounts.Keystore:
        settings: Settings = ctx.obj
        if key_file is not None:
            key, source = accounts.read_key_file(key_file), f"key file {key_file}"
        elif settings.private_key:
            key, source = settings.private_key, accounts.KEY_VARIABLE
        else:
            key, source = accounts.ask_key(), "the typed key"
        accounts.parse_key(key, source)  # a bad key fails before the password is asked
        password = _new_password(settings)
        return accounts.import_key(key, password, accounts.keystore_dir(settings.data_dir), out=out)

    _report(_output.guard(run, as_json=as_json), "imported", as_json)


@app.command("list")
def list_(ctx: typer.Context, as_json: _output.JsonOption = False) -> None:
    """List the keystores in DATA_DIR/keystore (addresses only: nothing is decrypted)."""
    from registry import accounts

    folder = accounts.keystore_dir(ctx.obj.data_dir)
    found, problems = accounts.list_keystores(folder)
    lines = [f"{k.address}  {k.path}" for k in found] or [f"no keystores in {folder}"]
    _output.emit(
        as_json,
        {"keystores": [k.to_dict() for k in found], "problems": problems},
        lines + [f"skipped: {line}" for line in problems],
    )


@app.command()
def send(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(metavar="ADDRESS", help="Account to pay.")],
    amount: Annotated[str, typer.Argument(metavar="ETH", help="Amount in ether, such as 1 or 0.05.")],
    as_json: _output.JsonOption = False,
) -> None:
    """Send ether from the signing account (gas money for an arbiter's new account, say)."""
    from registry import backends as backendslib
    from registry import config as configlib

    settings: Settings = ctx.obj
    wei = _output.guard(lambda: _parse_ether(amount), as_json=as_json)
    _output.guard(lambda: configlib.check_address(to, "ADDRESS"), as_json=as_json)

    def run() -> dict[str, object]:
        with backendslib.open_chain(settings) as chain:
            result = chain.send_value(to, wei)
            return {"from": chain.address, "to": to, "wei": wei, "transaction": result.tx_hash}

    sent = _output.guard(run, as_json=as_json)
    _output.emit(
        as_json,
        sent,
        [f"sent {amount} ETH from {sent['from']} to {to}", f"transaction {sent['transaction']}"],
    )


def _parse_ether(text: str) -> int:
    """Ether as text to wei; anything but a positive amount with at most 18 decimals is a usage error."""
    from decimal import Decimal, InvalidOperation

    from registry.errors import ConfigError

    try:
        wei = Decimal(text.strip()) * 10**18
    except InvalidOperation:
        wei = Decimal("NaN")
    if not wei.is_finite() or wei <= 0 or wei != wei.to_integral_value() or wei > 10**27:
        raise ConfigError(f"ETH must be a positive amount of ether (such as 1 or 0.05), not {text!r}")
    return int(wei)


def _new_password(settings: Settings) -> str:
    from registry import accounts

    if settings.keystore_password is not None:
        return settings.keystore_password
    return accounts.ask_password("the new keystore", confirm=True)


def _report(keystore: accounts.Keystore, verb: str, as_json: bool) -> None:
    _output.emit(
        as_json,
        keystore.to_dict(),
        [
            f"{verb} account {keystore.address} in {keystore.path}",
            f"sign with it: --keystore {keystore.path}",
        ],
    )
