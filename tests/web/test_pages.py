"""The web pages over HTTP: a real service (uvicorn, embedded chain and store) holding three records and a
dispute with a vote. Names and the dispute's summary come from other parties, so they carry markup and terminal
escapes; every page must show them as text, load nothing from another origin, and carry a CSP."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from registry import chain as chainlib
from registry import dispute as dispute_flow
from registry import publish as publish_flow
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from registry.web import catalogue
from tests.web.conftest import serving

HOSTILE = '<script>alert("name")</script>\x1b[2J\x1b[31mforged'
SUMMARY = {
    "format": dispute_flow.SUMMARY_FORMAT,
    "version": 1,
    "verdict": "<img src=x onerror=alert(1)>copy\x1b[32m",
    "wsr": 1.0,
    "facts": {"claimant record": 1},
}


@dataclasses.dataclass(frozen=True)
class Site:
    url: str
    owner: str
    roots: dict[int, str]
    sizes: dict[str, int]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Record 1 (hostile name), record 2 (its fine-tune), record 3 (revoked); dispute 1: record 1's owner
    against record 2, one arbiter's vote to reject (an uphold needs the key revealed)."""
    tmp_path = tmp_path_factory.mktemp("site")
    settings = Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
    with serving(settings) as (url, app):
        backends = app.state.backends
        sizes = {"model.pt": 300_000, "card.json": 40}
        roots = {}
        for record_id, name, parent in ((1, HOSTILE, 0), (2, "child-model", 1), (3, "withdrawn", 0)):
            folder = tmp_path / f"r{record_id}"
            folder.mkdir()
            (folder / "model.pt").write_bytes(hashlib.shake_256(name.encode()).digest(sizes["model.pt"]))
            (folder / "card.json").write_bytes(b'{"license": "CC-BY-4.0", "n": %d}\n' % record_id)
            artifacts = [
                publish_flow.Artifact(folder / "model.pt", role="model"),
                publish_flow.Artifact(folder / "card.json", role="card"),
            ]
            derivation = chainlib.Derivation.FINE_TUNE if parent else chainlib.Derivation.NONE
            key_hash = chainlib.watermark_key_hash("bafkkey-of-record-1") if record_id == 1 else bytes(32)
            done = publish_flow.publish(
                backends,
                artifacts,
                name=name,
                parent_id=parent,
                derivation=derivation,
                watermark_key_hash=key_hash,
            )
            roots[record_id] = "0x" + done.root.hex()
        backends.registry.revoke(3)
        summary = json.dumps(SUMMARY).encode()
        cid = backends.store.add_bytes(summary, cid_version=1)
        dispute_flow.open_dispute(backends.disputes, 1, 2, hashlib.sha256(b"full report").digest(), cid)
        arbiter = backends.chain.dev_accounts(3)[2]
        backends.disputes.grant_arbiter(arbiter.address)
        dispute_flow.vote(backends.signed_by(arbiter).disputes, 1, False, "bafyarbiterreport")
        wait_indexed(app)
        yield Site(url, backends.chain.address, roots, sizes)


def wait_indexed(app: FastAPI, timeout_s: float = 60) -> None:
    """Until the service's index has followed the chain to its head (the list reads the index)."""
    head = app.state.backends.chain.block_number()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = app.state.index.status()
        if status.indexed_block >= head and not status.manifests_missing:
            return
        time.sleep(0.1)
    raise AssertionError(f"the index did not reach block {head}: {app.state.index.status()}")


@pytest.fixture
def http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def page(http: httpx.Client, path: str, status: int = 200) -> str:
    response = http.get(path)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert_local_only(response.text)
    return response.text


def assert_local_only(html: str) -> None:
    """Every asset and link points at this origin: no CDN, no other host, no inline script."""
    for attr, value in re.findall(r'\b(src|href|action)="([^"]*)"', html):
        assert value.startswith(("/", "?")) and not value.startswith("//"), (attr, value)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<[a-zA-Z][^<>]*\son[a-z]+\s*=", html), "an event-handler attribute"


def record_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/record/(\d+)">\1</a></td>', html)]


def test_the_list_shows_every_record_newest_first(http: httpx.Client) -> None:
    html = page(http, "/")
    assert record_ids(html) == [3, 2, 1]
    assert "3 records found" in html
    assert html.count('class="badge revoked"') == 1
    assert html.count('class="badge open">open dispute') == 2  # both parties, from the index's counts
    assert re.search(r'id="index-status">Index at block \d+', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=child", [2]),
        ("q=CHILD", [2]),
        ("q=script", [1]),
        ("revoked=yes", [3]),
        ("revoked=no", [2, 1]),
        ("q=nothing-like-this", []),
        ("q=99999999999999999999", []),  # an id past SQLite's integers names no record
        ("owner=0x0000000000000000000000000000000000000001", []),
    ],
)
def test_search_and_filters_narrow_the_list(http: httpx.Client, query: str, expected: list[int]) -> None:
    html = page(http, f"/?{query}")
    assert record_ids(html) == expected
    assert f"{len(expected)} record" in html


def test_search_finds_a_record_by_its_root_and_its_owner(http: httpx.Client, site: Site) -> None:
    assert record_ids(page(http, f"/?q={site.roots[2]}")) == [2]
    assert record_ids(page(http, f"/?owner={site.owner.lower()}")) == [3, 2, 1]


def test_pages_follow_a_cursor_to_older_records(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "PER_PAGE", 2)
    first = page(http, "/")
    assert record_ids(first) == [3, 2]
    older = re.search(r'id="next-page" href="([^"]+)"', first)
    assert older, "no link to the next page"
    second = page(http, older.group(1).replace("&amp;", "&"))
    assert record_ids(second) == [1]
    assert 'id="next-page"' not in second


def test_names_from_other_parties_are_text_not_markup_nor_terminal_codes(http: httpx.Client) -> None:
    for html in (page(http, "/"), page(http, "/record/1"), page(http, "/?q=script")):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html
        assert "\x1b" not in html
        assert "\\x1b[2J\\x1b[31mforged" in html


def test_a_record_page_lists_the_anchored_artifacts_with_cids_and_sizes(
    http: httpx.Client, site: Site
) -> None:
    html = page(http, "/record/2")
    anchored = http.get("/records/2").json()["artifacts"]
    assert len(anchored) == 2
    for artifact in anchored:
        row = re.search(rf'<tr class="artifact" data-path="{re.escape(artifact["path"])}"[^>]*>', html)
        assert row, artifact["path"]
        assert f'data-size="{artifact["size"]}"' in row.group(0)
        assert f'data-sha256="{artifact["sha256"]}"' in row.group(0)
        assert artifact["cid"] in html
        assert f"{site.sizes[artifact['path']]:,}" in html
    assert 'id="verify-form"' in html and '<script src="/static/verify.js">' in html


def test_a_record_page_draws_its_lineage_and_names_its_disputes(http: httpx.Client) -> None:
    html = page(http, "/record/2")
    svg = html[html.index('<svg class="lineage"') : html.index("</svg>")]
    assert re.findall(r'<a href="/record/(\d+)" class="node([^"]*)"', svg) == [("1", ""), ("2", " current")]
    assert svg.count("<line ") == 1
    assert "fine-tune" in svg
    assert '<a href="/dispute/1">dispute 1</a>' in html
    assert "Disputed: dispute 1 claims this model copies another one." in html
    assert "the suspect" in html
    parent = page(http, "/record/1")
    assert "the claimant&#39;s record" in parent and "Disputed:" not in parent


def test_a_revoked_record_warns_before_anything_else(http: httpx.Client) -> None:
    html = page(http, "/record/3")
    warning = html.index('class="warning"')
    assert warning < html.index('id="artifacts"')
    assert "Revoked: the owner withdrew this record." in html
    assert "Revoked" not in page(http, "/record/2")


def test_a_dispute_page_shows_state_votes_and_the_evidence_summary(http: httpx.Client) -> None:
    html = page(http, "/dispute/1")
    assert 'id="dispute-status">open<' in html
    assert "0 uphold, 1 reject; quorum" in html
    assert "bafyarbiterreport" in html
    assert "0.1 ETH (100000000000000000 wei)" in html
    assert "the public summary" in html
    assert "&lt;img src=x onerror=alert(1)&gt;copy\\x1b[32m" in html
    assert "<img" not in html and "\x1b" not in html
    assert '<a href="/record/2">record 2</a>' in html and '<a href="/record/1">record 1</a>' in html


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("q=%21%21%21", "a search needs at least one letter or digit"),
        ("owner=somebody", "owner must be a 0x-prefixed 20-byte address, not &#39;somebody&#39;"),
    ],
)
def test_a_search_the_index_cannot_run_is_explained_above_the_form(
    http: httpx.Client, query: str, says: str
) -> None:
    html = page(http, f"/?{query}", 400)
    assert says in html[html.index('id="problem"') :]
    assert 'id="q"' in html and record_ids(html) == []


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/record/4", 404, "4"),
        ("/dispute/2", 404, "no dispute 2"),
    ],
)
def test_unknown_records_and_disputes_are_pages_that_say_so(
    http: httpx.Client, path: str, status: int, says: str
) -> None:
    html = page(http, path, status)
    assert says in html[html.index('id="problem"') :]


@pytest.mark.parametrize(
    "path", ["/record/0", "/record/abc", f"/record/{2**256}", "/dispute/-1", "/?revoked=maybe"]
)
def test_malformed_references_are_refused_as_problems(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_swagger_ui_is_served_from_this_service(http: httpx.Client) -> None:
    html = page(http, "/docs")
    assert '<script src="/static/swagger-ui-bundle.js">' in html
    bundle = http.get("/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert b"SwaggerUIBundle" in bundle.content and len(bundle.content) > 500_000
    assert http.get("/static/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert http.get("/redoc").status_code == 404
    paths = http.get("/openapi.json").json()["paths"]
    assert "/records/{reference}" in paths
    assert not [p for p in paths if p in ("/", "/docs") or p.startswith(("/record/", "/dispute/", "/static"))]


@pytest.mark.parametrize("name", ["nope.js", "..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd", "index.j2"])
def test_static_serves_only_its_own_files(http: httpx.Client, name: str) -> None:
    assert http.get(f"/static/{name}").status_code == 404


# --------------------------------------------------------------------------- the write forms

WRITE_PAGES = ["/publish", "/record/1", "/dispute/1"]
SCRIPT_ONLY_FIELDS = {"data_key_file"}  # read by the page's script into `data_key`


def forms(html: str) -> dict[str, tuple[str, str]]:
    """id -> (action, the form's HTML) of every form that writes (the search and verify forms send nothing)."""
    found = re.findall(
        r'(<form id="([a-z-]+)" class="write" method="post" action="([^"]+)".*?</form>)', html, re.DOTALL
    )
    return {form_id: (action, body) for body, form_id, action in found}


def operation_fields(document: dict, path: str) -> tuple[set[str], bool]:
    """The names an operation takes (body properties and query parameters) and whether it needs the token."""
    operation = document["paths"][path]["post"]
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
        names |= set(document["components"]["schemas"][ref]["properties"])
    return names, bool(operation.get("security"))


def test_every_write_form_names_a_json_api_operation_and_only_its_fields(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    seen = {}
    for path in WRITE_PAGES:
        for form_id, (action, body) in forms(page(http, path)).items():
            template = re.sub(r"/disputes/\d+/", "/disputes/{dispute_id}/", action)
            names, needs_token = operation_fields(document, template)
            fields = set(re.findall(r'\sname="([a-z_]+)"', body)) - SCRIPT_ONLY_FIELDS
            assert fields <= names, (form_id, fields - names)
            assert ("badge operator" in body) == needs_token, form_id  # marked exactly when the API asks
            seen[form_id] = template
    assert seen == {
        "publish-form": "/records",
        "cid-form": "/cid",
        "check-form": "/watermark/verify",
        "open-form": "/disputes",
        "reveal-form": "/disputes/{dispute_id}/reveal",
        "finalise-form": "/disputes/{dispute_id}/finalise",
    }


@pytest.mark.parametrize("path", WRITE_PAGES)
def test_the_token_field_is_never_submitted_nor_filled(http: httpx.Client, path: str) -> None:
    html = page(http, path)
    field = re.search(r"<input[^>]*\bid=\"token\"[^>]*>", html)
    assert field, "no token field"
    assert 'type="password"' in field.group(0)
    assert " name=" not in field.group(0) and " value=" not in field.group(0)
    assert '<script src="/static/writes.js">' in html
    assert "Authorization" not in html.split("<main>")[0]


def test_the_write_script_builds_text_only_and_keeps_the_token_to_the_tab(http: httpx.Client) -> None:
    response = http.get("/static/writes.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    script = response.text
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "document.cookie",
    ):
        assert banned not in script, banned
    assert "sessionStorage.setItem" in script and 'credentials: "omit"' in script


def test_a_dispute_can_be_opened_only_from_a_record_that_anchors_a_key(http: httpx.Client) -> None:
    assert 'id="open-form"' in page(http, "/record/1")  # record 1 anchors a key hash
    plain = page(http, "/record/2")
    assert 'id="open-form"' not in plain and 'id="token-panel"' not in plain
    assert "anchors no watermark key, so no dispute can be opened from it" in plain
    assert 'id="check-form"' in plain  # anyone may still test a suspect against a key


def test_an_unrevealed_dispute_offers_the_reveal_and_not_yet_the_review(http: httpx.Client) -> None:
    html = page(http, "/dispute/1")
    assert set(forms(html)) == {"reveal-form", "finalise-form"}
    assert 'data-dispute="1"' in html
    assert "Arbiters review and vote once the key is revealed." in html


def test_the_publish_page_offers_every_derivation_the_api_accepts(http: httpx.Client) -> None:
    html = page(http, "/publish")
    offered = re.findall(r'<option value="([a-z-]+)">', html[html.index('id="publish-derivation"') :])
    schema = http.get("/openapi.json").json()["components"]["schemas"]
    assert offered == schema["DerivationName"]["enum"]
    assert '<a href="/publish">Publish</a>' in html
