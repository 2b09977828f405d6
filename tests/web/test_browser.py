"""The web pages in a real browser: Playwright driving Debian's chromium against `ledgermark serve`.

The owner's data dir is built with the real CLI on a real Anvil: the base model (record 1), the watermarked
model as its fine-tune with the sealed key (record 2), a record whose name is a script (record 3), a copy of
record 2's model published as record 4, and dispute 1 of record 2 against it, opened and revealed. Then a buyer's browser opens the list,
searches, opens a record, verifies the right files and a tampered copy through the form (hashed in the
browser), reads the dispute and the API docs. Every request must stay on the service's origin, no page may log
an error or a CSP violation, and the script in a name must never run. A screenshot of each page lands in the
test's tmp dir, or in the folder LEDGERMARK_SCREENSHOTS names; to refresh the ones the docs show:

    LEDGERMARK_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/web/test_browser.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WatermarkFiles
from tests.web.conftest import cli, cli_service, listed, wait_for_records, watch

pytestmark = pytest.mark.daemon

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


@dataclasses.dataclass(frozen=True)
class Served:
    url: str
    files: Path  # the owner's published files (what a buyer downloads)


@pytest.fixture
def served(tmp_path: Path, anvil_node: Any, watermark_files: WatermarkFiles) -> Iterator[Served]:
    """The owner's records and dispute 1, made with the CLI, and `ledgermark serve` on them (stopped by pid)."""
    home, files = tmp_path / "owner", tmp_path / "files"
    owner = ["--data-dir", home, "--chain", anvil_node.url]
    env = {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    cli(*owner, "chain", "deploy", env=env)
    _publish_records(owner, env, files, watermark_files)
    _dispute(owner, env, files, tmp_path)
    with cli_service(owner, {}, tmp_path / "serve.log") as url:
        yield Served(url, files)


def _publish_records(owner: list[Any], env: dict[str, str], files: Path, marked: WatermarkFiles) -> None:
    files.mkdir()
    for name in ("base.pt", "key.wmk"):
        shutil.copyfile(getattr(marked, name.split(".")[0]), files / name)
    shutil.copyfile(marked.watermarked, files / "model.pt")
    (files / "card.json").write_text('{"name": "digits-cnn", "license": "CC-BY-4.0"}\n')
    (files / "notes.txt").write_text("a record whose name is markup\n")
    cli(*owner, "publish", f"{files / 'base.pt'}:model", "--name", "digits-base", env=env)
    cli(
        *owner,
        "publish",
        f"{files / 'model.pt'}:model",
        f"{files / 'card.json'}:card",
        "--watermark-key",
        files / "key.wmk",
        "--parent",
        "1",
        "--derivation",
        "fine-tune",
        "--name",
        "digits-cnn",
        env=env,
    )
    cli(*owner, "publish", f"{files / 'notes.txt'}:other", "--name", HOSTILE, env=env)


def _dispute(owner: list[Any], env: dict[str, str], files: Path, tmp_path: Path) -> None:
    """A copy of record 2's model turns up as record 4; the owner opens dispute 1 against it and reveals."""
    suspect = tmp_path / "stolen" / "model.pt"
    suspect.parent.mkdir()
    shutil.copyfile(files / "model.pt", suspect)
    cli(*owner, "publish", f"{suspect}:model", "--name", "stolen-copy", env=env)
    key = files / "key.wmk"
    cli(
        *owner,
        "dispute",
        "open",
        "2",
        "--model",
        suspect,
        "--key",
        key,
        "--report-dir",
        tmp_path / "claim",
        env=env,
    )
    cli(*owner, "dispute", "reveal", "1", "--key", key, env=env)


def test_a_buyer_browses_searches_verifies_and_reads_a_dispute(
    browser_page: Any, served: Served, tmp_path: Path, screenshots: Path
) -> None:
    page, url = browser_page, served.url
    seen = watch(page, url)
    shots = screenshots

    wait_for_records(page, url, 4)
    assert listed(page) == ["4", "3", "2", "1"]
    page.screenshot(path=shots / "records.png", full_page=True)

    page.fill("#q", "digits cnn")
    page.click("#search")
    page.wait_for_url("**/?q=digits+cnn*")
    assert listed(page) == ["2"]
    page.screenshot(path=shots / "search.png", full_page=True)

    page.click("#records a.name")
    page.wait_for_url(f"{url}/record/2")
    assert page.text_content("#record-name") == "digits-cnn"
    assert page.locator("#lineage a.node").count() == 2
    assert page.locator("#lineage a.node.current").text_content().strip().startswith("record 2")
    assert "the claimant's record" in page.text_content("#disputes")
    page.screenshot(path=shots / "record.png", full_page=True)

    _verify_good_and_tampered(page, served.files, tmp_path, shots)

    page.click("#disputes a[href='/dispute/1']")
    page.wait_for_url(f"{url}/dispute/1")
    assert page.text_content("#dispute-status") == "open"
    assert page.text_content("#tally").startswith("0 uphold, 0 reject")
    assert page.text_content("#key-check").startswith("ok: the revealed data key opens record 2")
    assert page.text_content("#report-check").startswith("ok: the revealed report")
    assert "is_copy" in page.text_content("#evidence")
    page.screenshot(path=shots / "dispute.png", full_page=True)

    page.click("main a[href='/record/4']")
    page.wait_for_url(f"{url}/record/4")
    assert page.text_content("p.warning") == "Disputed: dispute 1 claims this model copies another one."

    page.goto(f"{url}/record/3")
    assert page.text_content("#record-name") == HOSTILE
    assert page.title() == "Record 3 · Ledgermark"
    assert page.locator("main img").count() == 0

    page.goto(f"{url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "Ledgermark" in page.text_content(".swagger-ui .info .title")
    assert page.locator(".opblock-summary-path[data-path='/records/{reference}']").count() >= 1
    page.screenshot(path=shots / "docs.png")

    assert seen["elsewhere"] == [], "requests left the service's origin"
    assert seen["errors"] == [], "the pages logged errors"


def _download_all(page: Any, folder: Path) -> list[Path]:
    """Every artifact through the page's download links (the service sends only verified bytes)."""
    folder.mkdir()
    saved = []
    for link in page.locator("#artifacts tbody a[download]").all():
        with page.expect_download() as started:
            link.click()
        path = folder / link.text_content().strip()
        started.value.save_as(path)
        saved.append(path)
    return saved


def _verify_good_and_tampered(page: Any, files: Path, tmp_path: Path, shots: Path) -> None:
    """The downloaded artifacts verify intact; a copy of the model with one byte appended is itemised as a
    mismatch (size and SHA-256, expected and actual), the other files still intact."""
    good = _download_all(page, tmp_path / "downloaded")
    assert len(good) == 3 and {"card.json", "model.pt"} < {p.name for p in good}  # and the sealed key
    assert (tmp_path / "downloaded" / "model.pt").read_bytes() == (files / "model.pt").read_bytes()
    page.set_input_files("#verify-files", [str(p) for p in good])
    page.click("#verify-button")
    verdict = page.wait_for_selector("#verify-verdict")
    assert verdict.get_attribute("class") == "verdict good"
    assert verdict.text_content() == "All 3 artifacts intact: every byte is what the record anchors."
    intact = page.text_content("#verify-intact")
    for path in good:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in intact  # hashed by the browser
    page.screenshot(path=shots / "verify-intact.png", full_page=True)

    tampered = tmp_path / "tampered" / "model.pt"
    tampered.parent.mkdir()
    model = tmp_path / "downloaded" / "model.pt"
    tampered.write_bytes(model.read_bytes() + b"\0")
    others = [p for p in good if p.name != "model.pt"]
    page.set_input_files("#verify-files", [str(tampered), *map(str, others)])
    page.click("#verify-button")
    page.wait_for_selector("#verify-verdict.bad")
    mismatch = page.text_content("#verify-mismatched")
    size = model.stat().st_size
    assert f"size: expected {size}, got {size + 1}" in mismatch
    assert f"sha256: expected {hashlib.sha256(model.read_bytes()).hexdigest()}, got " in mismatch
    assert hashlib.sha256(tampered.read_bytes()).hexdigest() in mismatch
    assert "card.json" in page.text_content("#verify-intact")
    page.locator("#verify-result").scroll_into_view_if_needed()
    page.screenshot(path=shots / "verify-tampered.png", full_page=True)
