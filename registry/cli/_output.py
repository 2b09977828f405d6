"""How the CLI shows things: plain lines for people, one JSON document for scripts, bars for big files."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from registry import views
from registry.cli import PROGRESS_THRESHOLD
from registry.errors import IntegrityError, LedgermarkError, VerificationFailed

if TYPE_CHECKING:
    from registry import chain as chainlib
    from registry.backends import Backends
    from registry.fetch import FetchResult
    from registry.publish import ProgressFactory, Publication
    from verifier.integrity import manifest as manifestlib

T = TypeVar("T")

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
"""Click context settings of the whole command tree (sub-commands inherit them): `-h` works like `--help`."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
"""The `--json` flag every command that reports something takes."""


def emit(as_json: bool, document: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        for line in lines:
            typer.echo(views.printable(line))  # paths, names and messages come from other parties


@contextlib.contextmanager
def progress_factory() -> Iterator[ProgressFactory]:
    """Hand out tqdm bars (stderr, only on a terminal) and close them all at the end."""
    bars: list[Any] = []

    def make(label: str, total: int) -> Callable[[int], None]:
        if total < PROGRESS_THRESHOLD:
            return lambda _n: None
        from tqdm import tqdm

        bar = tqdm(
            total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024, disable=None, leave=False
        )
        bars.append(bar)
        return bar.update

    try:
        yield make
    finally:
        for bar in bars:
            bar.close()


def guard(action: Callable[[], Any], *, as_json: bool = False) -> Any:
    """Run an action; turn known failures into a clean message and the documented exit code.

    An ``OSError`` (unreadable file, full disk, refused connection) is the environment's problem: exit 2 with
    what the system said, not a traceback. Anything else is a bug and keeps its traceback.
    """
    try:
        return action()
    except VerificationFailed as err:
        report_failure(err, as_json)
        raise typer.Exit(1) from None
    except IntegrityError as err:
        report_failure(VerificationFailed(str(err)), as_json)
        raise typer.Exit(1) from None
    except LedgermarkError as err:
        fail(str(err), as_json)
    except OSError as err:
        fail(_os_message(err), as_json)


def on_backends(ctx: typer.Context, action: Callable[[Backends], T], *, as_json: bool = False) -> T:
    """Open the configured backends, run ``action`` on them and close them, failures reported as by `guard`."""
    from registry import backends as backendslib

    def run() -> T:
        with backendslib.open_backends(ctx.obj) as backends:
            return action(backends)

    return guard(run, as_json=as_json)


def _os_message(err: OSError) -> str:
    """``Permission denied: /x`` rather than ``[Errno 13] Permission denied: '/x'``."""
    if err.strerror and err.filename is not None:
        return f"{err.strerror}: {err.filename}"
    return str(err) or type(err).__name__


def fail(message: str, as_json: bool = False) -> NoReturn:
    """Exit 2 with a message that says what is wrong (usage or environment)."""
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    typer.echo(f"error: {_lines_printable(message)}", err=True)
    raise typer.Exit(2)


def report_failure(err: VerificationFailed, as_json: bool) -> None:
    if as_json:
        document: dict[str, Any] = {"ok": False, "error": str(err), "problems": err.problems}
        if err.comparison is not None:
            document.update(err.comparison.to_dict())
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
    typer.echo(f"FAILED: {_lines_printable(str(err))}", err=True)
    for line in err.problems:
        typer.echo(f"  {views.printable(line)}", err=True)


def _lines_printable(message: str) -> str:
    """An error message with control characters escaped line by line: its own line breaks are kept."""
    return "\n".join(views.printable(line) for line in message.split("\n"))


def publication_lines(p: Publication) -> list[str]:
    return [
        f"record      {p.record_id}",
        f"root        0x{p.root.hex()}",
        f"manifest    {p.manifest_cid}",
        f"transaction {p.tx_hash}",
        *[f"  {e.role:<13} {e.path}  {e.cid}" for e in p.manifest.entries],
    ]


def record_lines(record: chainlib.Record, manifest: manifestlib.Manifest) -> list[str]:
    when = datetime.fromtimestamp(record.registered_at, tz=UTC).isoformat()
    lines = [
        f"record      {record.record_id}{'  (REVOKED)' if record.revoked else ''}",
        f"name        {manifest.name}",
        f"owner       {record.owner}",
        f"root        0x{record.root.hex()} ({record.leaf_count} artifacts)",
        f"manifest    {record.manifest_cid}",
        f"registered  block {record.registered_block} at {when} (committed in block {record.commit_block})",
    ]
    if record.parent_id:
        lines.append(f"derives     from record {record.parent_id} ({views.derivation_label(record)})")
    if any(record.watermark_key_hash):
        lines.append(f"wm key hash 0x{record.watermark_key_hash.hex()}")
    lines += [f"  {e.role:<13} {e.path}  {e.size} B  {e.cid}" for e in manifest.entries]
    return lines


def fetch_lines(result: FetchResult) -> list[str]:
    lines = [
        f"record {result.record.record_id}: all {len(result.files)} artifacts verified against the chain"
    ]
    if result.record.revoked:
        lines.append("WARNING: the owner has revoked this record")
    lines += [f"  ok  {path}" for path in result.files]
    for note in result.sources:
        if note.outcome == "served":
            lines.append(
                f"  from {views.printable(note.source)}: {note.blocks} verified blocks of {note.path}"
            )
        else:
            lines.append(
                f"  WARNING: {views.printable(note.source)} was {note.outcome} for {note.path} "
                f"(another source served it): {views.printable(note.detail)}"
            )
    return lines


def comparison_lines(record: chainlib.Record, comparison: manifestlib.Comparison) -> list[str]:
    revoked = ["WARNING: the owner has revoked this record"] if record.revoked else []
    notes = [f"  skipped: {p} (a link or special file: not followed)" for p in comparison.skipped]
    notes += [f"  ignored: {p} (not in the manifest; --allow-extra)" for p in comparison.ignored]
    if comparison.ok:
        return [f"record {record.record_id}: intact ({len(comparison.intact)} artifacts)", *revoked, *notes]
    return [
        f"record {record.record_id}: MISMATCH",
        *revoked,
        *[f"  {line}" for line in comparison.describe()],
        *notes,
    ]
