"""The OpenAPI document is a contract the service keeps: a bounded schemathesis run finds no 5xx and no
undocumented status, content type, header or body, against a real `ledgermark serve` on a free port. It runs as
the operator (with the API token), so the writes are exercised too; its `ignored_auth` check drops the token and
expects the refusal the document declares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.registry.test_api_hostile import AUTH, TOKEN, ledgermark_serve

ST = Path(sys.executable).parent / "st"
"""The schemathesis CLI of this environment (the `schemathesis` test extra)."""
MAX_EXAMPLES = 25
"""Per operation; the whole run stays within a few minutes."""
SEED = 10
"""Fixed, so that a failure reproduces: `st run … --seed 10`."""
SKIPPED_CHECKS = "positive_data_acceptance,negative_data_rejection"
"""Strictness, not faults: a schema-valid request may still be refused on its meaning (a key file that holds no
key, a CID no one stored), and a "schema-violating" one may be fine (unknown query parameters are ignored, and a
file whose bytes read `null` is still a file). Every answer is still checked against the documented statuses,
content types, headers and bodies."""
CONFIG = """
[dictionaries.records]
values = ["1"]

[dictionaries.artifacts]
values = ["model.pt"]

[parameters]
"path.reference" = { dictionary = "records", probability = 0.5 }
"path.path" = { dictionary = "artifacts", probability = 0.5 }
"""
"""Half the record references name the record published first, so verify, lineage, read and download reach real
data."""


def test_schemathesis_finds_no_server_error_or_undocumented_status(tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with ledgermark_serve(tmp_path / "state") as (url, process):
        published = httpx.post(
            f"{url}/records",
            files={"files": ("model.pt", b"weights")},
            data={"roles": "model"},
            headers=AUTH,
            timeout=60,
        )
        assert published.json()["record_id"] == 1, published.text
        document = httpx.get(f"{url}/openapi.json", timeout=60).json()
        operations = sum(len(methods) for methods in document["paths"].values())
        run = subprocess.run(
            [
                str(ST),
                "--config-file",
                str(config),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                SKIPPED_CHECKS,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--workers",
                "1",
                "--request-timeout",
                "60",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            cwd=tmp_path,  # schemathesis keeps its example database in the working directory
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        alive = process.poll() is None

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert f"Operations:       {operations} selected / {operations} total" in run.stdout
    assert alive, "the service died during the schemathesis run"


EXAMPLE_PENDING: set[str] = set()
"""Response schemas known to lack an example: listed here, not skipped silently; remove a name once its schema
has one."""


def test_every_response_example_is_a_valid_instance_of_its_model() -> None:
    """An example that drifted from its model would document a response the service never sends."""
    import pydantic

    from registry.api import index_schemas, schemas

    checked = []
    for module in (schemas, index_schemas):
        for model in vars(module).values():
            if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
                continue
            extra = model.model_config.get("json_schema_extra")
            if not isinstance(extra, dict):
                continue
            for example in [extra["example"]] if "example" in extra else extra.get("examples", []):
                model.model_validate(example)
                assert set(example) <= set(model.model_fields), model.__name__  # no stray names
                checked.append(model.__name__)
    assert len(checked) >= 15 and {"RecordSummaryOut", "RecordPageOut", "RecordDetailOut"} <= set(checked)


def test_every_operation_is_described_and_every_error_is_a_typed_problem(tmp_path: Path) -> None:
    """Static completeness: a description per operation, named response schemas with examples, and each error
    status served as problem details whose example carries a stable code from the documented list."""
    from registry.api import problems
    from registry.api.main import create_app
    from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings

    settings = Settings(data_dir=tmp_path / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
    document = create_app(settings).openapi()
    components = document["components"]["schemas"]
    gaps = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            if not operation.get("description"):
                gaps.append(f"{where}: no description")
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    name = content.get("schema", {}).get("$ref", "").rpartition("/")[2]
                    has_example = {"example", "examples"} & set(components.get(name, {}))
                    if int(status) < 400 and name and not has_example and name not in EXAMPLE_PENDING:
                        gaps.append(f"{where} {status}: schema {name} has no example")
                    if int(status) >= 400 and path.startswith("/ipfs"):
                        continue  # the gateway's own problem shape (a trustless-gateway spec surface)
                    if int(status) >= 400 and media != problems.PROBLEM:
                        gaps.append(f"{where} {status}: served as {media}, not problem details")
                    if int(status) >= 400 and content.get("example", {}).get("code") not in problems.KINDS:
                        gaps.append(f"{where} {status}: no example with a documented code")

    assert gaps == []
    assert set(components["Problem"]["required"]) == {"type", "code", "title", "status", "detail"}
    writes = [op for methods in document["paths"].values() for op in methods.values() if op.get("security")]
    assert len(writes) == 6 and all(op["security"] == [{"HTTPBearer": []}] for op in writes)


def test_the_record_detail_example_proofs_verify_against_its_root() -> None:
    """The documented example is a real tree: a reader who tries its proofs finds they hold."""
    from registry.api.index_schemas import RecordDetailOut
    from verifier.integrity import merkle

    example = RecordDetailOut.model_config["json_schema_extra"]["example"]  # type: ignore[index]
    root = bytes.fromhex(example["root"][2:])
    assert len(example["artifacts"]) == example["leaf_count"]
    for artifact in example["artifacts"]:
        proof = [bytes.fromhex(p[2:]) for p in artifact["proof"]]
        leaf = bytes.fromhex(artifact["leaf"][2:])
        assert merkle.verify_proof(leaf, artifact["index"], example["leaf_count"], proof, root)
