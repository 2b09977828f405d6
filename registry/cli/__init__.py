"""The ``ledgermark`` command line: the entry point, and the one command that must start like a C tool.

The commands live in ``registry.cli.commands`` (a typer app, ``registry.cli.app``). typer 0.29 coerces every
argument through a pydantic TypeAdapter, and typer plus pydantic cost ~0.2 s of CPU before a command's own code
runs: more than hashing a 44 MB model takes. So `main` first tries the plain form of `cid` that scripts use,
``[--data-dir|--chain|--ipfs|--cid-version|--cid-profile VALUE]... cid [--cid-version V] [--cid-profile P] PATH``
(the command's options before or after PATH), without importing typer. It
answers only when everything is valid and nobody watches a progress bar (stderr is not a terminal, or the file
is small); every other spelling, and every error, goes to the typer app, which produces the same output or the
one documented error. bench/exp_cli_overhead.py measures the difference.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from registry import config

GLOBAL_VALUE_OPTIONS = {
    config.OPTIONS[name]: name for name in ("data_dir", "chain", "ipfs", "cid_version", "cid_profile")
}
"""The global options the fast path understands (`--name VALUE` only); any other token sends args to typer."""

CID_VALUE_OPTIONS = ("--cid-version", "--cid-profile")
"""The `cid` command's own options the fast path understands (each at most once)."""

PROGRESS_THRESHOLD = 16 << 20
"""From this size on, a terminal gets a bar (the typer path draws it; ``_output`` uses this value); smaller
files take less time than the bar takes to draw."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; the name is fixed so that `python -m registry` reads the same."""
    args = sys.argv[1:] if argv is None else list(argv)
    if _fast_cid(args):
        return
    from registry.cli.commands import app

    app(args=args, prog_name="ledgermark")


def __getattr__(name: str) -> Any:
    """``registry.cli.app`` is the typer app, imported on first use (tests and `typer.testing` use it)."""
    if name != "app":
        raise AttributeError(f"module 'registry.cli' has no attribute {name!r}")
    from registry.cli.commands import app

    return app


def _fast_cid(args: list[str]) -> bool:
    """Print PATH's CID and return True for a valid plain `cid`; return False to let the typer app answer."""
    parsed = _plain_cid(args)
    if parsed is None:
        return False
    given, path, own = parsed
    from ipfs import unixfs
    from registry.errors import LedgermarkError

    try:
        settings = config.Settings.load(**given)
        profile = config.cid_profile_of(settings, own.get("--cid-profile"), own.get("--cid-version"))
        if not path.is_file() or not os.access(path, os.R_OK):
            return False
        if path.stat().st_size >= PROGRESS_THRESHOLD and sys.stderr.isatty():
            return False
        cid = unixfs.compute_cid(path, profile=profile)
    except (LedgermarkError, OSError):
        return False
    sys.stdout.write(cid + "\n")
    return True


def _plain_cid(args: list[str]) -> tuple[dict[str, Any], Path, dict[str, str]] | None:
    """(global option values, PATH, cid's own options) for the plain form of `cid`, else None."""
    given: dict[str, Any] = {}
    i = 0
    while i + 1 < len(args) and args[i] in GLOBAL_VALUE_OPTIONS:
        given[GLOBAL_VALUE_OPTIONS[args[i]]] = args[i + 1]
        i += 2
    if args[i : i + 1] != ["cid"]:
        return None
    rest, own, paths = args[i + 1 :], {}, []
    while rest:
        if rest[0] in CID_VALUE_OPTIONS and len(rest) > 1 and rest[0] not in own:
            own[rest[0]], rest = rest[1], rest[2:]
        else:
            paths.append(rest.pop(0))
    if len(paths) != 1 or any(value.startswith("-") for value in (*given.values(), *own.values(), *paths)):
        return None
    if "data_dir" in given:
        given["data_dir"] = Path(given["data_dir"])
    return given, Path(paths[0]), own
