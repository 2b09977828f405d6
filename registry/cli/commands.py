"""The ``ledgermark`` commands: the typer app, its global options and the record commands.

Exit codes are part of the interface: 0 success (intact, published), 1 the bytes or model do not match
(the output names each difference), 2 a usage or environment problem (the message says what to do and names
the setting's source: an option or an environment variable). The commands are thin: each calls the same
library function the Python API and the service use.

Start-up is part of the interface too: this module imports only typer and the settings. web3 is imported by
the commands that touch the chain, torch by those that run a model, and help is plain text (typer's rich
help imports rich), so `--help` and `--version` start in a fraction of a second.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from registry import config as configlib
from registry.cli import _output
from registry.cli import pin as pin_cli
from registry.cli.account import app as account_app
from registry.cli.chain import app as chain_app
from registry.cli.dispute import app as dispute_app
from registry.cli.index import app as index_app
from registry.cli.network import app as network_app
from registry.cli.watermark import app as watermark_app

if TYPE_CHECKING:
    from registry import publish as publish_flow
    from registry.backends import Backends

app = typer.Typer(
    name="ledgermark",
    help="Blockchain-anchored provenance registry for watermarked AI models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings=_output.CONTEXT_SETTINGS,
    rich_markup_mode=None,
)
for _name, _group in (
    ("chain", chain_app),
    ("dispute", dispute_app),
    ("watermark", watermark_app),
    ("network", network_app),
    ("account", account_app),
    ("index", index_app),
):
    _group.rich_markup_mode = None  # plain help everywhere: rich's import is most of a --help
    app.add_typer(_group, name=_name)

RecordArgument = Annotated[str, typer.Argument(metavar="RECORD", help="Record id or 0x Merkle root.")]


def _setting_option(name: str, metavar: str, help: str) -> Any:
    """A global option for a setting, named and documented with its variable as ``registry.config`` spells them."""
    return typer.Option(
        configlib.OPTIONS[name],
        metavar=metavar,
        envvar=configlib.ENVIRONMENT[name],
        show_envvar=True,
        help=help,
    )


def _show_version(value: bool) -> None:
    """Eager: print the version and stop before the settings are read."""
    if value:
        import registry

        typer.echo(f"ledgermark {registry.__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        _setting_option(
            "data_dir",
            "DIR",
            "State folder (block store, chain database, deployments) [default: ~/.ledgermark].",
        ),
    ] = None,
    chain: Annotated[
        str | None,
        _setting_option(
            "chain",
            "local|embedded|URL",
            "The managed local node, the in-process EVM, or an http(s):// JSON-RPC URL [default: local].",
        ),
    ] = None,
    ipfs: Annotated[
        str | None,
        _setting_option(
            "ipfs",
            "embedded|MULTIADDR",
            "The data dir's block store, or a Kubo RPC multiaddr [default: embedded].",
        ),
    ] = None,
    cid_version: Annotated[
        str | None,
        _setting_option(
            "cid_version",
            "0|1",
            "CID version for new uploads and `cid`: 0 (Kubo's default) or 1 [default: 0].",
        ),
    ] = None,
    cid_profile: Annotated[
        str | None,
        _setting_option(
            "cid_profile",
            "PROFILE",
            "CID import profile for new uploads and `cid`: unixfs-v0-2015, unixfs-v1-2025 or unixfs-v1-2015 "
            "[default: from --cid-version].",
        ),
    ] = None,
    network: Annotated[
        Path | None,
        _setting_option(
            "network",
            "FILE",
            "Network profile (chain, contracts, content sources): `ledgermark network export`.",
        ),
    ] = None,
    gateways: Annotated[
        list[str] | None,
        _setting_option(
            "gateways", "URL", "Trustless HTTP gateway to read content from (repeatable; variable: a,b,…)."
        ),
    ] = None,
    confirmations: Annotated[
        str | None,
        _setting_option(
            "confirmations",
            "N",
            "Blocks a transaction must be under before success [default: 0 on dev chains].",
        ),
    ] = None,
    max_fee_gwei: Annotated[
        str | None,
        _setting_option(
            "max_fee_gwei", "GWEI", "Cap on the max fee per gas; a dearer transaction is not sent."
        ),
    ] = None,
    keystore: Annotated[
        Path | None,
        _setting_option(
            "keystore", "FILE", "Encrypted JSON keystore to sign with (`ledgermark account new`)."
        ),
    ] = None,
    account_index: Annotated[
        str | None,
        _setting_option(
            "account_index", "N", "Sign with funded dev account N (local development chains only)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_show_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Blockchain-anchored provenance registry for watermarked AI models."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    given = {
        "data_dir": data_dir,
        "chain": chain,
        "ipfs": ipfs,
        "cid_version": cid_version,
        "cid_profile": cid_profile,
        "network": network,
        "gateways": gateways,
        "confirmations": confirmations,
        "max_fee_gwei": max_fee_gwei,
        "keystore": keystore,
        "account_index": account_index,
    }
    ctx.obj = _output.guard(lambda: configlib.Settings.load(**_from_command_line(ctx, given)))


def _from_command_line(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """Keep only the values typed as options: Settings reads the environment itself, so it knows the source."""
    return {
        name: value if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE" else None
        for name, value in values.items()
    }


# --------------------------------------------------------------------------- commands


@app.command()
def cid(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="File to hash.", exists=True, dir_okay=False)],
    cid_version: Annotated[
        str | None,
        typer.Option(
            "--cid-version",
            metavar="0|1",
            help="0 or 1 (1 implies raw leaves) [default: the global --cid-version, else 0].",
        ),
    ] = None,
    cid_profile: Annotated[
        str | None,
        typer.Option(
            "--cid-profile",
            metavar="PROFILE",
            help="Import profile: unixfs-v0-2015 (= legacy-cid-v0), unixfs-v1-2025 or unixfs-v1-2015 "
            "(what --cid-version 1 makes) [default: the global setting].",
        ),
    ] = None,
) -> None:
    """Print the CID that Kubo's `ipfs add` would print for PATH (nothing is stored)."""
    from ipfs import unixfs

    settings: configlib.Settings = ctx.obj
    profile = _output.guard(lambda: configlib.cid_profile_of(settings, cid_profile, cid_version))
    size = path.stat().st_size
    with _output.progress_factory() as progress:
        cid = _output.guard(
            lambda: unixfs.compute_cid(path, profile=profile, progress=progress(f"hash {path.name}", size))
        )
    typer.echo(cid)


@app.command("publish")
def publish_command(
    ctx: typer.Context,
    artifacts: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH[:ROLE]",
            help="Files or folders (kept as relative paths), each with a role: model, trigger, card, … "
            "[default: by name, e.g. *.safetensors → model, config.json → config, else artifact].",
        ),
    ],
    roles: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            metavar="PATH=ROLE",
            help="Role of a published path, or of every file in a folder (repeatable; overrides the default).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Human name of the publication.")
    ] = None,
    parent: Annotated[
        int, typer.Option("--parent", metavar="RECORD", help="Record this model derives from (lineage).")
    ] = 0,
    derivation: Annotated[
        str,
        typer.Option(
            "--derivation",
            metavar="fine-tune|quantize|prune|distill|other",
            help="How it derives from --parent.",
        ),
    ] = "fine-tune",
    watermark_key: Annotated[
        Path | None,
        typer.Option(
            "--watermark-key",
            metavar="KEY",
            help="Plaintext watermark key: sealed into the publication, hash anchored.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Upload artifacts to IPFS and anchor their Merkle root on-chain."""
    from registry import backends as backendslib
    from registry import layout
    from registry import publish as publish_flow
    from registry.chain import Derivation

    sources = [layout.Source.parse(spec) for spec in artifacts]
    parsed = _output.guard(lambda: layout.artifacts(sources, roles or ()), as_json=as_json)
    kind = _parse_derivation(derivation) if parent else Derivation.NONE

    def run() -> tuple[publish_flow.Publication, bytes | None]:
        with contextlib.ExitStack() as stack:
            backends = stack.enter_context(backendslib.open_backends(ctx.obj))
            progress = stack.enter_context(_output.progress_factory())
            sealed = None
            if watermark_key is not None:
                import tempfile

                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ledgermark-seal-")))
                sealed = publish_flow.seal_watermark_key(watermark_key, workdir)
            publication = publish_flow.publish(
                backends,
                parsed + ([sealed.artifact] if sealed else []),
                name=name or _default_name(sources[0].path),
                watermark_key_hash=sealed.key_hash if sealed else bytes(32),
                parent_id=parent,
                derivation=kind,
                progress=progress,
            )
            return publication, sealed.data_key if sealed else None

    publication, data_key = _output.guard(run)
    document = publication.to_dict()
    lines = _output.publication_lines(publication)
    if data_key is not None and watermark_key is not None:
        key_file = _write_secret(watermark_key.with_name(watermark_key.name + ".datakey"), data_key)
        document["sealed_key_data_key_file"] = str(key_file)
        lines.append(f"the sealed key's data key is in {key_file}: keep it secret, with the key itself")
    _output.emit(as_json, document, lines)


@app.command()
def show(
    ctx: typer.Context,
    record: RecordArgument,
    as_json: _output.JsonOption = False,
) -> None:
    """Show a record as the chain holds it, with its artifacts."""
    from registry import fetch as fetch_flow
    from registry import views

    def run(backends: Backends) -> tuple[Any, Any]:
        found = fetch_flow.resolve_record(backends, record)
        return found, fetch_flow.load_manifest(backends, found)

    found, manifest = _output.on_backends(ctx, run)
    _output.emit(as_json, views.record_dict(found, manifest), _output.record_lines(found, manifest))


@app.command("fetch")
def fetch_command(
    ctx: typer.Context,
    record: RecordArgument,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Destination folder.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace files already at the record's paths (atomically; links are still refused).",
        ),
    ] = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Download a record's artifacts and prove they are exactly what was anchored (exit 0 when intact).

    Writes only inside DIR, through no link, and all or nothing; an existing file is kept unless --force.
    """
    from registry import fetch as fetch_flow

    def run(backends: Backends) -> fetch_flow.FetchResult:
        with _output.progress_factory() as progress:
            return fetch_flow.fetch(backends, record, out, force=force, progress=progress)

    result = _output.on_backends(ctx, run, as_json=as_json)
    _output.emit(as_json, result.to_dict(), _output.fetch_lines(result))


@app.command()
def verify(
    ctx: typer.Context,
    record: RecordArgument,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Local files (matched by name) or folders (the whole tree, by relative path; links not followed).",
        ),
    ],
    allow_extra: Annotated[
        bool,
        typer.Option(
            "--allow-extra", help="Report files the record does not list as ignored, not as a failure."
        ),
    ] = False,
    as_json: _output.JsonOption = False,
) -> None:
    """Check local files against a record: exit 0 intact, 1 mismatch, 2 usage or environment error."""
    from registry import fetch as fetch_flow

    found, comparison = _output.on_backends(
        ctx,
        lambda backends: fetch_flow.verify_files(backends, record, paths, allow_extra=allow_extra),
        as_json=as_json,
    )
    document = {"record_id": found.record_id, "revoked": found.revoked, **comparison.to_dict()}
    _output.emit(as_json, document, _output.comparison_lines(found, comparison))
    if not comparison.ok:
        raise typer.Exit(1)


@app.command("lineage")
def lineage_command(
    ctx: typer.Context,
    record: RecordArgument,
    fmt: Annotated[
        str, typer.Option("--format", metavar="text|dot", help="Plain text or Graphviz dot.")
    ] = "text",
    as_json: _output.JsonOption = False,
) -> None:
    """Walk a record's ancestry (what it was fine-tuned, quantised, … from) and draw its family."""
    from registry import lineage, views

    if fmt not in lineage.FORMATS:
        _output.fail(f"--format {fmt!r}: use text or dot")

    found = _output.on_backends(ctx, lambda backends: lineage.lineage(backends, record))
    graph = found.render(fmt)
    _output.emit(
        as_json,
        {"ancestry": [views.record_summary(r) for r in found.ancestry], "graph": graph},
        graph.rstrip("\n").split("\n"),  # one line each: emit escapes whatever else a record holds
    )


@app.command()
def transfer(
    ctx: typer.Context,
    record: RecordArgument,
    new_owner: Annotated[
        str, typer.Argument(metavar="ADDRESS", help="Address that receives the model's rights.")
    ],
) -> None:
    """Transfer the rights to a record (only its owner may)."""
    from registry import fetch as fetch_flow

    _output.guard(lambda: configlib.check_address(new_owner, "ADDRESS"))

    def run(backends: Backends) -> str:
        found = fetch_flow.resolve_record(backends, record)
        return backends.registry.transfer(found.record_id, new_owner).tx_hash

    typer.echo(f"record {record} now belongs to {new_owner} (transaction {_output.on_backends(ctx, run)})")


@app.command()
def revoke(
    ctx: typer.Context,
    record: RecordArgument,
) -> None:
    """Revoke a record (only its owner may): it stays readable and is reported as revoked everywhere."""
    from registry import fetch as fetch_flow

    def run(backends: Backends) -> str:
        found = fetch_flow.resolve_record(backends, record)
        return backends.registry.revoke(found.record_id).tx_hash

    typer.echo(f"record {record} revoked (transaction {_output.on_backends(ctx, run)})")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP service and web pages on the configured backends (the pages at /, OpenAPI docs at /docs).

    Reads are public; writes need the API token (LEDGERMARK_API_TOKEN, else DATA_DIR/api-token, made on first
    start). Also a trustless IPFS gateway for the content it holds: GET /ipfs/CID?format=raw|car.
    """
    import uvicorn

    from registry.api.main import create_app

    service = _output.guard(lambda: create_app(ctx.obj))  # a bad LEDGERMARK_MAX_…_BYTES: exit 2
    uvicorn.run(service, host=host, port=port)


app.command("pin")(pin_cli.pin)
app.command("pins")(pin_cli.pins)


# --------------------------------------------------------------------------- helpers


def _default_name(path: Path) -> str:
    """A folder's own name (also for `.`), a file's name without its suffix."""
    return path.resolve().name if path.is_dir() else path.stem


def _parse_derivation(text: str) -> Any:
    from registry.chain import Derivation

    try:
        kind = Derivation[text.upper().replace("-", "_")]
    except KeyError:
        kind = Derivation.NONE
    if kind is Derivation.NONE:
        _output.fail(f"--derivation {text!r}: use fine-tune, quantize, prune, distill or other")
    return kind


def _write_secret(path: Path, data: bytes) -> Path:
    """Owner-only file holding ``data`` in hex, written whole or not at all."""
    from registry import files

    return files.write_private(path, data.hex().encode() + b"\n")
