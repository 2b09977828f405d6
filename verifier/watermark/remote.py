"""Black-box verification: a model behind an HTTP prediction API, queried like a local ``nn.Module``.

The protocol (JSON over HTTP; the suspect's side is anyone's server, ``serving`` is a reference one):

    POST <url>   Content-Type: application/json
        {"inputs": [x_1, …, x_B]}            batch-first; each x_i a nested list of numbers shaped like one
                                              input (an image (C, H, W), a token sequence (L,), a row (F,))
    200 answer, exactly one of:
        {"logits":        [[z_1 … z_C], …]}   B rows of C finite numbers
        {"probabilities": [[p_1 … p_C], …]}   B rows in [0, 1], each summing to 1 (± 0.01)
        {"labels":        [l_1, …, l_B]}      top-1 class indices, 0 ≤ l
        {"top1":          [{"label": l, "probability": p}, …]}   top-1 class and its probability

Other members of the answer object are ignored. Every input row sent is one query. ``RemoteModel`` turns the
answers into a (B, C) score tensor whose metric (``explain.metric_values``) equals what the key's metric reads
from a white-box model, so ``explain.extract`` runs unchanged; an answer kind that cannot give the key's metric
exactly is refused (``EXACT_ANSWERS``): "logit" and "probability" keys read logits or probabilities (the logit
metric z_y − mean z equals log p_y − mean log p, so probabilities give it exactly), and a "label" key (the
label-only mode) reads any answer.

The endpoint is another party: a budget of queries is checked before the first one (``queries_needed``), 5xx
answers, 429 and dropped connections are retried with exponential backoff, each answer is bounded in bytes and
time before it is parsed, and it is validated strictly (shape, finite numbers, probability rows, label range,
the same kind and width in every batch). A broken or lying endpoint raises ``EndpointError``, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import urllib.parse
from typing import Any

import requests
import torch
from torch import nn

from verifier.integrity import documents
from verifier.watermark import explain, keys, stats
from verifier.watermark.errors import WatermarkError

ANSWER_KINDS = ("logits", "probabilities", "labels", "top1")
EXACT_ANSWERS: dict[str, tuple[str, ...]] = {
    "logit": ("logits", "probabilities"),  # log p_y − mean log p = z_y − mean z: the softmax's shift cancels
    "probability": ("logits", "probabilities"),
    "label": ANSWER_KINDS,
}
"""metric → the answer kinds it is computed from exactly; a metric not listed needs logits."""
MAX_CLASSES = 100_000
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_PROBABILITY_TOLERANCE = 0.01
_READ = 64 << 10

log = logging.getLogger(__name__)


class EndpointError(WatermarkError):
    """The prediction endpoint cannot be used: unreachable, refusing, or answering what the protocol forbids."""


class EndpointUnavailableError(EndpointError):
    """No usable answer after every retry (connection refused or dropped, timeouts, 5xx)."""


class QueryBudgetError(EndpointError):
    """The verification needs more queries than the budget allows; raised before any query is sent."""

    def __init__(self, needed: int, budget: int, detail: str) -> None:
        self.needed, self.budget = needed, budget
        super().__init__(f"the key needs {needed:,} queries ({detail}) but the budget allows {budget:,}")


@dataclasses.dataclass(frozen=True)
class EndpointConfig:
    """Where the model answers and how patiently it is asked."""

    url: str
    batch_size: int = 64  # inputs per request
    max_queries: int | None = None  # inputs the endpoint may be sent in all (retries included); None: no cap
    timeout: float = 30.0  # seconds for one request, connection to last byte
    retries: int = 3  # further tries after a 5xx, 429, timeout or dropped connection
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_answer_bytes: int = 16 << 20  # one answer's body
    num_classes: int | None = None  # the model's class count if known: answers must match it

    def __post_init__(self) -> None:
        try:
            parts = urllib.parse.urlsplit(self.url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # an unclosed [IPv6 bracket, a port out of range
            valid = False
        if not valid:
            raise EndpointError(
                f"{self.url[:200]!r} is not an endpoint URL: expected http(s)://host[:port]/path"
            )
        if self.batch_size < 1 or self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise EndpointError("batch size and timeout must be positive, retries and backoff not negative")
        if self.max_queries is not None and self.max_queries < 1:
            raise EndpointError(f"the query budget must be at least 1, not {self.max_queries}")


@dataclasses.dataclass
class Usage:
    """What the verification cost at the endpoint; goes into the result and the evidence report."""

    url: str
    answer: str | None = None  # the answer kind the endpoint gave
    queries: int = 0  # inputs sent, retries included (what the endpoint saw and may bill)
    requests: int = 0  # HTTP requests, retries included
    retries: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Endpoint:
    """Transport and validation: one batch of inputs in, the validated rows of one answer out."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.usage = Usage(url=config.url)
        self._width = 0  # classes in the first row of scores; every later row must match
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json", "Accept-Encoding": "identity"})

    def close(self) -> None:
        self._session.close()

    def ask(self, inputs: torch.Tensor) -> tuple[str, list[Any]]:
        """(B, *shape) → (answer kind, B validated rows), retrying what a retry can fix."""
        body = json.dumps({"inputs": _as_json_inputs(inputs)}, separators=(",", ":")).encode()
        last = "no try"
        for attempt in range(self.config.retries + 1):
            if attempt:
                self.usage.retries += 1
                time.sleep(self.config.backoff * 2 ** (attempt - 1))
            self._spend(len(inputs))
            try:
                status, data = self._post(body)
            except requests.RequestException as err:
                last = _describe(err)
                continue
            if status in _RETRY_STATUS:
                last = f"HTTP {status}: {_snippet(data)}"
                continue
            if status != 200:
                raise EndpointError(
                    f"the endpoint {self.config.url} refused the query: HTTP {status}: {_snippet(data)}"
                )
            return self._validate(data, len(inputs))
        raise EndpointUnavailableError(
            f"the endpoint {self.config.url} gave no answer after {self.config.retries + 1} tries ({last})"
        )

    def _spend(self, count: int) -> None:
        budget = self.config.max_queries
        if budget is not None and self.usage.queries + count > budget:
            raise QueryBudgetError(
                self.usage.queries + count,
                budget,
                f"{self.usage.retries} retried request(s) spent part of it",
            )
        self.usage.queries += count
        self.usage.requests += 1

    def _post(self, body: bytes) -> tuple[int, bytes]:
        """One request; the body read whole only up to ``max_answer_bytes`` and within ``timeout`` seconds."""
        deadline = time.monotonic() + self.config.timeout
        limit = self.config.max_answer_bytes
        with self._session.post(
            self.config.url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=self.config.timeout,
            stream=True,
            allow_redirects=False,
        ) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise EndpointError(self._too_big(f"declares {int(declared):,} bytes"))
            data = bytearray()
            for chunk in response.raw.stream(_READ, decode_content=False):
                data += chunk
                if len(data) > limit:
                    raise EndpointError(self._too_big("sent more"))
                if time.monotonic() > deadline:
                    raise requests.Timeout(f"the answer took over {self.config.timeout:g} s")
            return response.status_code, bytes(data)

    def _too_big(self, what: str) -> str:
        return f"the endpoint {self.config.url}'s answer {what} than the {self.config.max_answer_bytes:,}-byte limit"

    def _validate(self, data: bytes, batch: int) -> tuple[str, list[Any]]:
        source = f"the answer of {self.config.url}"
        try:
            document = documents.parse_json(
                data, source=source, max_bytes=self.config.max_answer_bytes, max_depth=4
            )
        except documents.DocumentError as err:
            raise EndpointError(f"{source} is malformed: {err.problem}") from None
        kinds = [kind for kind in ANSWER_KINDS if isinstance(document, dict) and kind in document]
        if len(kinds) != 1:
            raise EndpointError(f"{source} must be an object with exactly one of {', '.join(ANSWER_KINDS)}")
        kind = kinds[0]
        if self.usage.answer not in (None, kind):
            raise EndpointError(f"{source} switched from {self.usage.answer!r} to {kind!r} answers")
        rows = document[kind]
        if not isinstance(rows, list) or len(rows) != batch:
            raise EndpointError(f"{source} must hold {batch} {kind} (one per input), not {_count(rows)}")
        check = {
            "logits": self._scores,
            "probabilities": self._scores,
            "labels": self._label,
            "top1": self._top1,
        }
        validated = [check[kind](row, kind, source) for row in rows]
        self.usage.answer = kind
        return kind, validated

    def _scores(self, row: object, kind: str, source: str) -> list[float]:
        width = self.config.num_classes or self._width
        if not isinstance(row, list) or not 2 <= len(row) <= MAX_CLASSES or (width and len(row) != width):
            wanted = f"{width}" if width else f"2 to {MAX_CLASSES:,}"
            raise EndpointError(f"{source}: each row of {kind} must list {wanted} numbers, not {_count(row)}")
        self._width = len(row)  # every row of every batch: the same classes
        if not all(_is_number(v) for v in row):
            raise EndpointError(f"{source}: {kind} must be numbers")
        if kind == "probabilities" and (
            min(row) < 0 or max(row) > 1 or abs(sum(row) - 1) > _PROBABILITY_TOLERANCE
        ):
            raise EndpointError(f"{source}: a row of probabilities must lie in [0, 1] and sum to 1")
        return [float(v) for v in row]

    def _label(self, value: object, kind: str, source: str) -> int:
        bound = self.config.num_classes or MAX_CLASSES
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            raise EndpointError(
                f"{source}: a label must be an integer from 0 to {bound - 1}, not {_short(value)}"
            )
        return value

    def _top1(self, value: object, kind: str, source: str) -> int:
        if not isinstance(value, dict) or not {"label", "probability"} <= set(value):
            raise EndpointError(f"{source}: each top1 entry must be an object with a label and a probability")
        probability = value["probability"]
        if not _is_number(probability) or not 0 <= probability <= 1:
            raise EndpointError(f"{source}: a top-1 probability must be a number in [0, 1]")
        return self._label(value["label"], kind, source)


class RemoteModel(nn.Module):
    """A model behind an endpoint as a callable returning (B, C) scores, for ``explain.extract``.

    Logits come back as they are; probabilities as their logarithm (softmax gives them back, argmax is kept);
    labels and top-1 answers as one-hot rows (argmax is the label), which is all a "label" metric reads.
    ``metric`` is the key's: an answer that cannot give it exactly is refused at the first batch.
    """

    def __init__(self, endpoint: Endpoint, *, metric: str, min_classes: int = 0) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.metric = metric
        self.min_classes = min_classes

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        answers = [self.endpoint.ask(batch) for batch in inputs.split(self.endpoint.config.batch_size)]
        kind = answers[0][0] if answers else "logits"
        self._check_kind(kind)
        rows = [row for _, batch in answers for row in batch]
        if kind in ("labels", "top1"):
            width = max(self.min_classes, self.endpoint.config.num_classes or 0, max(rows, default=0) + 1)
            return torch.nn.functional.one_hot(torch.tensor(rows, dtype=torch.int64), width).float()
        scores = torch.tensor(rows, dtype=torch.float32)  # (B, C): ragged rows were refused by _scores
        if scores.shape[1] < self.min_classes:
            raise EndpointError(
                f"the endpoint {self.endpoint.config.url} answers {scores.shape[1]} classes but the key's "
                f"triggers are labelled up to class {self.min_classes - 1}"
            )
        return scores.clamp_min(torch.finfo(torch.float32).tiny).log() if kind == "probabilities" else scores

    def _check_kind(self, kind: str) -> None:
        usable = EXACT_ANSWERS.get(self.metric, ("logits",))
        if kind not in usable:
            raise EndpointError(
                f"the endpoint {self.endpoint.config.url} answers {kind}, but this key's metric "
                f"{self.metric!r} needs {' or '.join(usable)}: a {kind} answer cannot give it exactly"
            )


# --------------------------------------------------------------------------- verification


@dataclasses.dataclass(frozen=True, eq=False)
class RemoteAssessment:
    """A model behind an endpoint tested against a key: the extraction, the verdict, and what it cost."""

    extraction: explain.Extraction
    result: stats.OwnershipResult
    usage: Usage


def queries_needed(key: keys.WatermarkKey) -> tuple[int, str]:
    """Queries one extraction sends (every trigger under every mask, plus the triggers), and how they add up."""
    masks = explain.Explainer(key).num_masks
    needed = key.num_triggers * (masks + 1)
    return needed, f"{key.num_triggers} trigger(s) × ({masks} masks + the trigger itself)"


def assess(
    key: keys.WatermarkKey, config: EndpointConfig, alpha: float = stats.DEFAULT_ALPHA
) -> RemoteAssessment:
    """Extract the key's watermark through the endpoint and run the ownership test; the budget is checked
    before the first query."""
    needed, detail = queries_needed(key)
    if config.max_queries is not None and needed > config.max_queries:
        raise QueryBudgetError(needed, config.max_queries, detail)
    endpoint = Endpoint(config)
    model = RemoteModel(endpoint, metric=key.metric, min_classes=int(key.labels.max()) + 1)
    start = time.perf_counter()
    try:
        extraction = explain.extract(model, key, batch_size=needed)  # one forward: one width for every row
    finally:
        endpoint.close()
    endpoint.usage.seconds = time.perf_counter() - start
    log.info(
        "%s: %d queries in %d requests (%s answers)",
        config.url,
        endpoint.usage.queries,
        endpoint.usage.requests,
        endpoint.usage.answer,
    )
    result = stats.ownership_test(extraction.bits, extraction.reference, alpha=alpha)
    return RemoteAssessment(extraction=extraction, result=result, usage=endpoint.usage)


# --------------------------------------------------------------------------- helpers


def _as_json_inputs(inputs: torch.Tensor) -> list[Any]:
    """Nested lists: ints for an integer tensor (token ids), floats otherwise."""
    return inputs.detach().cpu().tolist()


def _is_number(value: object) -> bool:
    """A finite JSON number (an int of 400 digits overflows a float: not one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _count(value: object) -> str:
    return f"{len(value)} item(s)" if isinstance(value, list) else type(value).__name__


def _short(value: object) -> str:
    return repr(value)[:40]


def _snippet(data: bytes) -> str:
    text = data[:200].decode("utf-8", "replace").strip()
    return text or "(empty body)"


def _describe(err: requests.RequestException) -> str:
    if isinstance(err, requests.Timeout):
        return "timed out"
    if "refused" in str(err).lower():
        return "connection refused"
    return "connection failed" if isinstance(err, requests.ConnectionError) else type(err).__name__
