"""The tour's write steps from a browser: Playwright driving Debian's chromium against two `ledgermark serve`s.

On a real Anvil, the owner's service (its data dir, dev account 0, its API token) and an arbiter's service (its
own data dir and keystore, reading the owner's content through the network profile, its own token), as the
README's tour has them; the only CLI steps are the ones the tour's admin does (deploy, export the profile, make
the arbiter's account, appoint it and send it gas money). From the browser: hello.txt's CIDs (step 1); a wrong
token is refused with the 403 problem and nothing is written; the owner publishes the base model and the
watermarked fine-tune with its sealed key (the data key shown once, saved as a file), sees both in the list,
tests a stolen copy, opens dispute 1 against it and reveals; the arbiter, on its own service's page, reviews and
votes; anyone finalises. Every request stays on the two services' origins, and no page logs an error but the
expected 403. Screenshots go to the test's tmp dir, or to LEDGERMARK_SCREENSHOTS:

    LEDGERMARK_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/web/test_browser_writes.py
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WatermarkFiles
from tests.web.conftest import cli, cli_service, listed, wait_for_records, watch

pytestmark = pytest.mark.daemon

OWNER_TOKEN = "owner-service-token-0123456789abcdef"
ARBITER_TOKEN = "arbiter-service-token-fedcba9876543210"
WRONG_TOKEN = "not-the-owners-token-0123456789"
PASSWORD = "the arbiter's keystore password"


@dataclasses.dataclass(frozen=True)
class Services:
    owner: str
    arbiter: str
    files: Path  # the owner's files and the stolen copy


@pytest.fixture
def services(tmp_path: Path, anvil_node: Any, watermark_files: WatermarkFiles) -> Iterator[Services]:
    """The owner's and the arbiter's services on one Anvil; the arbiter appointed and paid with the CLI."""
    files = tmp_path / "files"
    files.mkdir()
    shutil.copyfile(watermark_files.base, files / "base.pt")
    shutil.copyfile(watermark_files.watermarked, files / "model.pt")
    shutil.copyfile(watermark_files.key, files / "key.wmk")
    shutil.copyfile(watermark_files.watermarked, files / "suspect.pt")  # a stolen copy, found later
    (files / "card.json").write_text('{"name": "digits-cnn", "license": "CC-BY-4.0"}\n')

    owner = ["--data-dir", tmp_path / "owner", "--chain", anvil_node.url]
    admin = {"LEDGERMARK_PRIVATE_KEY": anvil_node.first_key}
    cli(*owner, "chain", "deploy", env=admin)
    keystore = {"LEDGERMARK_KEYSTORE_PASSWORD": PASSWORD}
    arbiter_home = tmp_path / "arbiter"
    address = cli("--data-dir", arbiter_home, "account", "new", "--quiet", env=keystore).strip()
    cli(*owner, "dispute", "grant-arbiter", address, env=admin)
    cli(*owner, "account", "send", address, "1", env=admin)
    with cli_service(owner, {**admin, "LEDGERMARK_API_TOKEN": OWNER_TOKEN}, tmp_path / "owner.log") as url:
        profile = tmp_path / "network.json"
        cli(*owner, "network", "export", "--out", profile, "--gateway", url, env=admin)
        arbiter = [
            "--data-dir",
            arbiter_home,
            "--network",
            profile,
            "--keystore",
            arbiter_home / "keystore" / f"{address}.json",
        ]
        env = {**keystore, "LEDGERMARK_API_TOKEN": ARBITER_TOKEN}
        with cli_service(arbiter, env, tmp_path / "arbiter.log") as arbiter_url:
            yield Services(url, arbiter_url, files)


def test_the_tour_from_the_browser_publish_dispute_review_vote_finalise(
    browser_page: Any, services: Services, screenshots: Path
) -> None:
    page, owner, files = browser_page, services.owner, services.files
    seen = watch(page, owner, services.arbiter)

    _content_addresses(page, owner, files)
    refused = _a_wrong_token_writes_nothing(page, owner, files)
    data_key = _publish_both_records(page, owner, files, screenshots)
    wait_for_records(page, owner, 2)
    assert listed(page) == ["2", "1"]
    assert page.text_content("#records tbody tr:first-child a.name") == "digits-cnn"

    _check_and_open_a_dispute(page, owner, files, screenshots)
    _reveal(page, owner, files, data_key)
    _arbiter_reviews_and_votes(page, services.arbiter, files, screenshots)

    _use_token(page, ARBITER_TOKEN)  # anyone's service finalises: the arbiter's here
    page.check("#finalise-skip")
    page.click("#finalise-button")
    done = page.wait_for_selector("#finalise-form-result .verdict")
    assert done.text_content().startswith("Finalised: upheld. The bond (100000000000000000 wei) went to 0x")
    page.click("#reload")
    page.wait_for_selector("#settled")
    assert page.text_content("#dispute-status") == "upheld"
    page.goto(f"{owner}/dispute/1")  # the owner's service reads the same chain
    assert page.text_content("#dispute-status") == "upheld"
    page.screenshot(path=screenshots / "write-finalised.png", full_page=True)

    assert seen["elsewhere"] == [], "requests left the two services' origins"
    assert [e for e in seen["errors"] if e not in refused and "status of 403" not in e] == []
    assert refused[0] in seen["errors"], "the wrong token was never refused"


def _use_token(page: Any, token: str) -> None:
    """Type the token into the page's field; it is kept for the tab and never shown back."""
    page.fill("#token", token)
    page.click("#token-set")
    assert page.text_content("#token-state").startswith("A token is set for this tab")
    assert page.input_value("#token") == ""
    assert token not in page.content()


def _content_addresses(page: Any, owner: str, files: Path) -> None:
    """The tour's step 1: what `ipfs add` prints for hello.txt, CIDv0 then v1; no token needed."""
    hello = files / "hello.txt"
    hello.write_text("hello world\n")
    page.goto(f"{owner}/publish")
    page.set_input_files("#cid-file", str(hello))
    page.click("#cid-button")
    assert (
        page.wait_for_selector("#cid-value").text_content()
        == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )
    page.select_option("#cid-version", "1")
    page.click("#cid-button")
    # a locator wait, not wait_for_function: the page's CSP (script-src 'self') forbids evaluating a string
    page.locator("#cid-value", has_text=re.compile(r"^baf")).wait_for()
    assert page.text_content("#cid-value") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def _a_wrong_token_writes_nothing(page: Any, owner: str, files: Path) -> list[str]:
    """Publishing with a wrong token shows the 403 problem and writes nothing; without one nothing is sent."""
    page.goto(f"{owner}/publish")
    page.set_input_files("#publish-files", [str(files / "base.pt")])
    page.click("#publish-button")
    assert (
        "needs the operator's API token"
        in page.wait_for_selector("#publish-form-result .verdict").text_content()
    )

    _use_token(page, WRONG_TOKEN)
    page.click("#publish-button")
    problem = page.wait_for_selector("#problem")
    assert problem.query_selector(".verdict").text_content() == "Refused: 403 Forbidden"
    assert "the API token is not this service's token" in problem.text_content()
    assert "urn:ledgermark:problem:" in problem.text_content()
    assert "Nothing was written." in problem.text_content()
    assert WRONG_TOKEN not in page.content() and WRONG_TOKEN not in page.url
    with httpx.Client(base_url=owner, timeout=30) as http:
        assert http.get("/records/1").status_code == 404  # nothing registered
    assert page.evaluate("document.cookie") == ""
    page.click("#token-forget")
    assert page.text_content("#token-state").startswith("No token set")
    return [f"403 {owner}/records"]


def _publish_both_records(page: Any, owner: str, files: Path, shots: Path) -> str:
    """Record 1, the base model; record 2, the watermarked fine-tune with its card and sealed key. Returns
    the data key the page showed once (and saved as a file, as the CLI's key.wmk.datakey)."""
    _use_token(page, OWNER_TOKEN)
    page.set_input_files("#publish-files", [str(files / "base.pt")])
    page.fill("#publish-name", "digits-base")
    page.click("#publish-button")
    assert (
        page.wait_for_selector("#publish-form-result .verdict")
        .text_content()
        .startswith("Published: record 1")
    )

    page.set_input_files("#publish-files", [str(files / "model.pt"), str(files / "card.json")])
    assert page.input_value("#role-0") == "model" and page.input_value("#role-1") == "card"
    page.fill("#publish-name", "digits-cnn")
    page.fill("#publish-parent", "1")
    page.select_option("#publish-derivation", "fine-tune")
    page.set_input_files("#publish-key", str(files / "key.wmk"))
    page.click("#publish-button")
    page.wait_for_selector("#data-key-box")
    assert page.text_content("#publish-form-result .verdict") == "Published: record 2, anchored on-chain."
    published = page.text_content("#published")
    assert "record 1 (fine-tune)" in published and re.search(r"Merkle root\s*0x[0-9a-f]{64}", published)
    roles = page.locator("#published-artifacts tbody tr td:nth-child(2)").all_text_contents()
    assert sorted(roles) == ["card", "model", "watermark-key"]
    assert "it is shown once" in page.text_content("#data-key-box")
    data_key = page.text_content("#data-key")
    assert re.fullmatch(r"[0-9a-f]{64}", data_key)
    with page.expect_download() as saved:
        page.click("#data-key-save")
    assert saved.value.suggested_filename == "key.wmk.datakey"
    assert Path(saved.value.path()).read_text() == data_key + "\n"
    page.screenshot(path=shots / "write-publish.png", full_page=True)
    page.click("#publish-form-result a[href='/']")
    return data_key


def _check_and_open_a_dispute(page: Any, owner: str, files: Path, shots: Path) -> None:
    """On record 2's page: the stolen copy carries the key's watermark; the owner opens dispute 1 on it."""
    page.goto(f"{owner}/record/2")
    page.set_input_files("#check-model", str(files / "suspect.pt"))
    page.set_input_files("#check-key", str(files / "key.wmk"))
    page.click("#check-button")
    verdict = page.wait_for_selector("#check-verdict", timeout=120_000)
    assert verdict.text_content().startswith("copy")
    assert re.search(r"bits matching(\d+) of \1 \(WSR 100\.0%\)", page.text_content("#check-facts"))

    page.set_input_files("#open-model", str(files / "suspect.pt"))
    page.set_input_files("#open-key", str(files / "key.wmk"))
    page.click("#open-button")
    opened = page.wait_for_selector("#opened, #problem", timeout=120_000)
    assert opened.text_content() == "Dispute 1 opened (bond 100000000000000000 wei).", opened.text_content()
    page.screenshot(path=shots / "write-dispute-opened.png", full_page=True)
    page.click("#open-form-result a[href='/dispute/1']")
    page.wait_for_url(f"{owner}/dispute/1")


def _reveal(page: Any, owner: str, files: Path, data_key: str) -> None:
    page.set_input_files("#reveal-key", str(files / "key.wmk"))
    page.fill("#reveal-data-key", data_key)
    page.click("#reveal-button")
    result = page.wait_for_selector("#reveal-form-result .verdict, #problem", timeout=120_000)
    assert result.text_content().startswith("Revealed"), result.text_content()
    page.click("#reload")
    page.wait_for_selector("#review-form")
    assert page.text_content("#key-check").startswith("ok: the revealed data key opens record 2")


def _arbiter_reviews_and_votes(page: Any, arbiter: str, files: Path, shots: Path) -> None:
    """On the arbiter's own service (another origin: the token is typed again), review then vote."""
    page.goto(f"{arbiter}/dispute/1")
    assert page.text_content("#token-state").startswith("No token set")  # the owner's stays with its origin
    _use_token(page, ARBITER_TOKEN)
    page.set_input_files("#review-model", str(files / "suspect.pt"))
    page.click("#review-button")
    reviewed = page.wait_for_selector("#review-verdict, #problem", timeout=120_000)
    assert reviewed.text_content().startswith("Recommendation: uphold."), reviewed.text_content()
    cid = page.input_value("#vote-report")
    assert cid.startswith(("baf", "Qm")) and cid in page.text_content("#review-form-result")
    assert page.is_checked("#vote-uphold")
    page.click("#vote-button")
    voted = page.wait_for_selector("#vote-form-result .verdict, #problem", timeout=60_000)
    assert voted.text_content() == f"Voted to uphold, citing report {cid}.", voted.text_content()
    page.click("#reload")
    page.wait_for_selector("#votes")
    assert page.text_content("#tally").startswith("1 uphold, 0 reject")
    assert cid in page.text_content("#votes")
    page.screenshot(path=shots / "write-voted.png", full_page=True)
