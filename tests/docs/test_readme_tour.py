"""The README's five-minute tour runs literally as written, on a fresh data directory, creating every file it uses.

The tour is the first ```bash block under "## A five-minute tour". It is run as one bash script with
``set -euo pipefail`` from the repository root (so its ``make setup && source .venv/bin/activate`` line works as a
newcomer would type it); the tour itself makes its own scratch folder with the three parties' data directories. What the tour starts (the
owner's chain and gateway) it stops itself; the test checks that by pid and by port.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR_HEADING = "## A five-minute tour"
GATEWAY_PORT = 8765  # the owner's `ledgermark serve` in the tour


def tour_script(readme: str) -> str:
    """The first bash block after the tour heading, verbatim."""
    section = readme.split(TOUR_HEADING, 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "the tour section has no ```bash block"
    return match.group(1)


def test_tour_block_is_self_contained() -> None:
    script = tour_script((ROOT / "README.md").read_text())
    assert "mktemp -d" in script, "the tour must work in a fresh folder"
    assert re.fullmatch(r"ledgermark( --data-dir \S+)? chain stop", script.rstrip().splitlines()[-1])
    for party in ("--data-dir buyer --network network.json", "--data-dir arbiter --network network.json"):
        assert party in script, f"the tour must show {party!r}: a party with only the profile"


@pytest.mark.slow
@pytest.mark.daemon
def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    script = tour_script((ROOT / "README.md").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERMARK_")}
    env["TMPDIR"] = str(tmp_path)  # every mktemp of the tour lands here and is removed with it
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Traceback" not in output
    for expected in (
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        "verified against the chain",
        "verify exited 1",
        "copy: the model carries the watermark",
        "wrote network.json",
        "sent 1 ETH from",
        "recommendation     uphold",
        "upheld",
    ):
        assert expected in output, f"{expected!r} missing from the tour's output:\n{output[-6000:]}"
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert not leftovers, f"the tour left processes running: {leftovers}"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", GATEWAY_PORT)) != 0, "the tour left its gateway running"
