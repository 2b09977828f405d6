"""Black-box verification over HTTP: the protocol against the real reference server, and every way an endpoint
can fail or lie (a scripted server) ending in a clear ``EndpointError``, never a traceback."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from registry import supervisor
from tests.fixtures.model_endpoint import ScriptedEndpoint, json_body, serve_model
from verifier.watermark import data, explain, keys, models, remote, segments, training

SPEC = models.ModelSpec(arch="mlp", num_classes=10, input_shape=(1, 8, 8), hidden=(32,))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    """A small MLP trained briefly on digits, and its model file."""
    digits = data.load("digits")
    torch.manual_seed(0)
    model = SPEC.build()
    training.train(model, digits.x_train, digits.y_train, training.TrainConfig(epochs=3, lr=3e-3, seed=0))
    return model.eval(), models.save_model(model, tmp_path_factory.mktemp("remote") / "tiny.pt")


@pytest.fixture(scope="module")
def served(tiny: tuple[nn.Module, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of `ledgermark watermark serve-model` serving the tiny model (POST /<answer kind>)."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serve_model(tiny[1], log) as url:
        yield url.removesuffix("/predict")


def make_key(metric: str = "logit", label: int = 3) -> keys.WatermarkKey:
    """A 16-bit key on one digits-shaped trigger; leave-one-out masks: 1 × (16 + 1) = 17 queries."""
    seed = hashlib.sha256(f"remote {metric}".encode()).digest()
    trigger = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return keys.create_key(
        trigger, torch.tensor([label]), segments.ImageGrid(16, (1, 8, 8)), seed, metric=metric
    )


def logits_for(request: dict[str, Any], classes: int = 10) -> list[list[float]]:
    generator = torch.Generator().manual_seed(len(request["inputs"]))
    return torch.randn(len(request["inputs"]), classes, generator=generator).tolist()


def honest(number: int, request: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json_body({"logits": logits_for(request)})


def config(url: str, **overrides: Any) -> remote.EndpointConfig:
    return remote.EndpointConfig(url=url, **{"batch_size": 5, "backoff": 0.0, "timeout": 5.0, **overrides})


# --------------------------------------------------------------------------- the real reference server


@pytest.mark.parametrize("kind", remote.ANSWER_KINDS)
def test_every_answer_kind_gives_back_what_the_local_model_says(
    tiny: tuple[nn.Module, Path], served: str, kind: str
) -> None:
    inputs = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    endpoint = remote.Endpoint(config(f"{served}/{kind}"))
    scores = remote.RemoteModel(endpoint, metric="label")(inputs)
    with torch.no_grad():
        local = tiny[0](inputs)
    assert torch.equal(scores.argmax(dim=1), local.argmax(dim=1))
    if kind in ("logits", "probabilities"):
        assert torch.allclose(scores.softmax(dim=1), local.softmax(dim=1), atol=1e-5)
    assert (endpoint.usage.answer, endpoint.usage.queries, endpoint.usage.requests) == (kind, 7, 2)


@pytest.mark.parametrize(
    ("metric", "kind"), [("logit", "logits"), ("logit", "probabilities"), ("probability", "probabilities")]
)
def test_extraction_through_the_endpoint_equals_the_local_one(
    tiny: tuple[nn.Module, Path], served: str, metric: str, kind: str
) -> None:
    key = make_key(metric)
    assessment = remote.assess(key, config(f"{served}/{kind}"))
    local = explain.extract(tiny[0], key)
    assert torch.equal(assessment.extraction.bits, local.bits)
    assert torch.allclose(assessment.extraction.attributions, local.attributions, atol=1e-4)
    assert remote.queries_needed(key)[0] == 17 == assessment.usage.queries == assessment.extraction.queries
    assert (assessment.usage.requests, assessment.usage.answer) == (math.ceil(17 / 5), kind)


def test_a_label_answer_cannot_read_a_logit_key(served: str) -> None:
    with pytest.raises(
        remote.EndpointError,
        match="answers labels, but this key's metric 'logit' needs logits or probabilities",
    ):
        remote.assess(make_key("logit"), config(f"{served}/labels"))


def test_the_server_refuses_badly_shaped_inputs_with_a_problem(served: str) -> None:
    import requests

    answer = requests.post(f"{served}/logits", json={"inputs": [[1.0, 2.0]]}, timeout=10)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert "shaped [1, 8, 8]" in answer.json()["detail"]


# --------------------------------------------------------------------------- budget, retries, timeouts


def test_a_budget_too_small_is_refused_before_any_query() -> None:
    with ScriptedEndpoint(honest) as endpoint:
        with pytest.raises(remote.QueryBudgetError, match=r"needs 17 queries \(1 trigger\(s\) × \(16 masks"):
            remote.assess(make_key(), config(endpoint.url, max_queries=16))
        assert endpoint.requests == []
        assessment = remote.assess(make_key(), config(endpoint.url, max_queries=17))
    assert assessment.usage.queries == 17 == endpoint.queries


def test_5xx_answers_are_retried_and_counted() -> None:
    def flaky(number: int, request: dict[str, Any]) -> tuple[int, bytes]:
        return (503, b"busy") if number < 2 else honest(number, request)

    with ScriptedEndpoint(flaky) as endpoint:
        usage = remote.assess(make_key(), config(endpoint.url)).usage
    assert (usage.retries, usage.requests, usage.queries) == (2, 4 + 2, 17 + 2 * 5)
    assert usage.queries == endpoint.queries


def test_an_endpoint_that_keeps_failing_is_given_up_after_the_retries() -> None:
    with (
        ScriptedEndpoint(lambda n, r: (500, b"boom")) as endpoint,
        pytest.raises(remote.EndpointUnavailableError, match=r"no answer after 3 tries \(HTTP 500: boom\)"),
    ):
        remote.assess(make_key(), config(endpoint.url, retries=2))
    assert len(endpoint.requests) == 3


def test_a_client_error_is_not_retried() -> None:
    with (
        ScriptedEndpoint(lambda n, r: (422, b'{"detail": "no"}')) as endpoint,
        pytest.raises(remote.EndpointError, match="refused the query: HTTP 422"),
    ):
        remote.assess(make_key(), config(endpoint.url))
    assert len(endpoint.requests) == 1


def test_an_unreachable_endpoint_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{supervisor.free_port()}/predict"
    with pytest.raises(remote.EndpointUnavailableError, match="no answer after 2 tries .connection refused"):
        remote.assess(make_key(), config(url, retries=1))


def test_a_slow_endpoint_times_out() -> None:
    start = time.monotonic()
    with (
        ScriptedEndpoint(honest, delay=3.0) as endpoint,
        pytest.raises(remote.EndpointUnavailableError, match="timed out"),
    ):
        remote.assess(make_key(), config(endpoint.url, timeout=0.5, retries=0))
    assert time.monotonic() - start < 3.0


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "http://", "http://[::1/predict", "http://h:99999/", "x"]
)
def test_a_url_that_is_no_endpoint_is_refused_before_any_query(url: str) -> None:
    with pytest.raises(remote.EndpointError, match="is not an endpoint URL"):
        remote.assess(make_key(), config(url))


# --------------------------------------------------------------------------- lies


def _rows(request: dict[str, Any]) -> int:
    return len(request["inputs"])


LIES: dict[str, tuple[Any, str]] = {
    "not JSON": (lambda r: b"<html>hello</html>", "is not valid JSON"),
    "NaN": (lambda r: json_body({"logits": [[float("nan")] * 10] * _rows(r)}), "malformed"),
    "a 400-digit number": (
        lambda r: b'{"logits": [' + b",".join([b"[1" + b"0" * 400 + b", 1]"] * _rows(r)) + b"]}",
        "must be numbers",
    ),
    "no answer member": (lambda r: json_body({"scores": logits_for(r)}), "exactly one of"),
    "two answer members": (
        lambda r: json_body({"logits": logits_for(r), "labels": [0] * _rows(r)}),
        "exactly one of",
    ),
    "a row missing": (lambda r: json_body({"logits": logits_for(r)[1:]}), "must hold 5 logits"),
    "ragged rows": (
        lambda r: json_body({"logits": [[0.0] * (10 + i) for i in range(_rows(r))]}),
        "must list 10 numbers",
    ),
    "a string score": (lambda r: json_body({"logits": [["1"] * 10] * _rows(r)}), "must be numbers"),
    "probabilities not summing to 1": (
        lambda r: json_body({"probabilities": [[0.5] * 10] * _rows(r)}),
        "sum to 1",
    ),
    "a negative label": (lambda r: json_body({"labels": [-1] * _rows(r)}), "a label must be an integer"),
    "a boolean label": (lambda r: json_body({"labels": [True] * _rows(r)}), "a label must be an integer"),
    "a top-1 probability above 1": (
        lambda r: json_body({"top1": [{"label": 3, "probability": 1.5}] * _rows(r)}),
        r"in \[0, 1\]",
    ),
    "too deep": (lambda r: b'{"logits": [[[[[[1]]]]]]}', "deeper than 4"),
    "too few classes for the key": (
        lambda r: json_body({"logits": [[0.0, 1.0]] * _rows(r)}),
        "answers 2 classes but the key's triggers are labelled up to class 3",
    ),
    "too large": (lambda r: b" " * (2 << 20) + b"{}", "than the 1,048,576-byte limit"),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_lying_endpoint_gives_a_clear_error(lie: str) -> None:
    answer, message = LIES[lie]
    with (
        ScriptedEndpoint(lambda n, r: (200, answer(r))) as endpoint,
        pytest.raises(remote.EndpointError, match=message),
    ):
        remote.assess(make_key("label"), config(endpoint.url, max_answer_bytes=1 << 20))


def test_an_endpoint_switching_answer_kinds_is_refused() -> None:
    def switching(number: int, request: dict[str, Any]) -> tuple[int, bytes]:
        return honest(number, request) if number == 0 else (200, json_body({"labels": [0] * _rows(request)}))

    with (
        ScriptedEndpoint(switching) as endpoint,
        pytest.raises(remote.EndpointError, match="switched from 'logits' to 'labels'"),
    ):
        remote.assess(make_key("label"), config(endpoint.url))


def test_a_declared_class_count_is_enforced() -> None:
    with (
        ScriptedEndpoint(lambda n, r: (200, json_body({"labels": [12] * _rows(r)}))) as endpoint,
        pytest.raises(remote.EndpointError, match="from 0 to 9, not 12"),
    ):
        remote.assess(make_key("label"), config(endpoint.url, num_classes=10))
