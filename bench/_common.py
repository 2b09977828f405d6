"""What the watermark benches (false_claims, watermark, robustness; label_only for its machine line) share: the
machine line and head of a results page, ``--render`` (a page re-made from a saved run) and writing the run's
JSON and markdown. Imported as ``_common``: the benches run as scripts, with bench/ first on the path."""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Markdown = Callable[[dict[str, Any]], str]


def machine() -> str:
    """The hardware and software a run measured, as its page states them."""
    threads = torch.get_num_threads()
    return (
        f"{platform.machine()} CPU, {threads} thread{'' if threads == 1 else 's'}, torch {torch.__version__}"
    )


def produced_by(document: dict[str, Any], detail: str = "", comment: str = "") -> list[str]:
    """The head of a results page: the run's note, what produced it in how long on what (``detail`` adds to
    that), and the command that regenerates it (``comment`` follows it)."""
    return [
        *([f"> {document['note']}", ""] if document.get("note") else []),
        (
            f"Produced by `{document['command']}` in {document['seconds_total'] / 60:.1f} minutes on "
            f"{document['machine']}{detail}. Regenerate with:"
        ),
        "",
        "```",
        f".venv/bin/{document['command']} --json OUT.json --markdown OUT.md{comment}",
        "```",
        "",
    ]


def rendered(args: argparse.Namespace, markdown: Markdown) -> bool:
    """With ``--render JSON``: print the page of a saved run (and write it to ``--markdown``); nothing is run."""
    if not args.render:
        return False
    table = markdown(json.loads(args.render.read_text()))
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return True


def write_outputs(document: dict[str, Any], table: str, json_path: Path | None, md_path: Path | None) -> None:
    """The run's document (sorted keys, so reruns diff cleanly) and its page, where the options asked."""
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    if md_path:
        md_path.write_text(table + "\n")
