"""The evidence report of an ownership test: a JSON document for machines and a page for people.

Claimants and arbiters pin both files to IPFS and cite the JSON's CID on-chain, so the report must stand on its
own: every number needed to re-check the verdict (the 2×2 table, the deciding one-sided Fisher p and the
reported chi-squared p, each trigger's bits and attributions), the hashes that tie it to one model and one
watermark key, and the chain facts the registry adds.

The HTML page is self-contained (inline PNGs and SVG, inline CSS, a Content-Security-Policy that forbids any
fetch) because it is read from IPFS gateways and archives long after any server is gone. Facts come from users,
so every string is escaped.

Both files are written atomically, and together: a failure leaves neither a half-written file nor a JSON
without its page. They are owner-only (0600): the report names the key's bits and triggers, which stay secret
until the claimant reveals them; whoever publishes a report pins its bytes, the file mode does not travel.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from verifier.errors import VerifierError
from verifier.watermark import _render, stats

if TYPE_CHECKING:
    from verifier.watermark import calibration as calibrationlib
    from verifier.watermark import explain, keys

FORMAT = "ledgermark-evidence"
VERSION = 1
JSON_NAME = "evidence.json"
HTML_NAME = "evidence.html"
IMAGE_KIND = "image-grid"  # the segmentation whose inputs are pictures

_log = logging.getLogger(__name__)


class ReportError(VerifierError):
    """The report cannot be built (inconsistent inputs) or written (bad destination, failed write)."""


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: numpy arrays do not compare to one bool
class TriggerEvidence:
    """What one trigger contributes: its labels, its attribution per segment and its bits."""

    index: int
    label: int  # the trigger's true label (the watermark never changes it)
    predicted: int  # the suspect model's label on the unmasked trigger
    attributions: np.ndarray  # (n,) ridge weight W per segment
    extracted: np.ndarray  # (n,) ±1, the sign of W
    reference: np.ndarray  # (n,) ±1, the owner's bits
    trigger: np.ndarray  # one input, shaped like the key's input_shape

    @property
    def mismatches(self) -> int:
        return int(np.sum(self.extracted != self.reference))

    @property
    def wsr(self) -> float:
        """Recomputed from the bits shown, so the page can never disagree with its own pictures."""
        return 1 - self.mismatches / len(self.reference)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "label": self.label,
            "predicted": self.predicted,
            "wsr": self.wsr,
            "mismatches": self.mismatches,
            "attributions": [_finite(w) for w in self.attributions],
            "extracted_bits": sign_string(self.extracted),
            "reference_bits": sign_string(self.reference),
        }


@dataclasses.dataclass(frozen=True, eq=False)
class EvidenceReport:
    """Everything the report shows, frozen at build time; rendering happens only when it is written."""

    created: str  # UTC, ISO-8601
    result: stats.OwnershipResult
    model_sha256: str
    key_sha256: str
    key_seed: (
        str  # hex: the bits and masks re-derive from it (keys.derive_bits), so they were drawn, not chosen
    )
    metric: str
    segmentation: str  # the segmentation's kind
    assignment: np.ndarray  # segment index of every element of one input
    triggers: tuple[TriggerEvidence, ...]
    extraction_seconds: float
    queries: int
    facts: tuple[tuple[str, str], ...]  # chain and IPFS facts from the registry, in the order given
    calibration: calibrationlib.Calibration | None = None  # against null models; its verdict then decides

    @property
    def is_copy(self) -> bool:
        return self.calibration.is_copy if self.calibration else self.result.is_copy

    @property
    def verdict(self) -> str:
        return self.calibration.verdict if self.calibration else self.result.verdict

    @property
    def bits_per_trigger(self) -> int:
        return len(self.triggers[0].reference)

    def to_dict(self) -> dict[str, object]:
        r = self.result
        return {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created,
            "verdict": self.verdict,
            "is_copy": self.is_copy,
            "wsr": r.wsr,
            "p_value": r.p_value,
            "decided_by": stats.DECIDED_BY,
            "positive_association": r.positive_association,
            "chi2_p_value": r.chi2_p_value,
            "chi2": r.chi2,
            "table": [list(row) for row in r.table],
            "alpha": r.alpha,
            "n_bits": r.n_bits,
            "matches": r.matches,
            "bits_per_trigger": self.bits_per_trigger,
            "model_sha256": self.model_sha256,
            "key_sha256": self.key_sha256,
            "key_seed": self.key_seed,
            "metric": self.metric,
            "segmentation": self.segmentation,
            "triggers": [t.to_dict() for t in self.triggers],
            "extraction_seconds": self.extraction_seconds,
            "queries": self.queries,
            "facts": dict(self.facts),
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }

    def to_json(self) -> str:
        return (
            json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
        )

    def to_html(self) -> str:
        return _page(self)

    def write(self, out_dir: Path | str) -> tuple[Path, Path]:
        """Write ``evidence.json`` and ``evidence.html`` into ``out_dir`` (created if needed); return both paths.

        Both documents are rendered before the disk is touched, staged as temporary files in ``out_dir`` and
        moved into place with ``os.replace``; on any failure every file this call made is removed.
        """
        folder = _prepare(Path(out_dir))
        json_path, html_path = _write_together(folder, {JSON_NAME: self.to_json(), HTML_NAME: self.to_html()})
        _log.info("wrote the evidence report to %s", folder)
        return json_path, html_path


def build_report(
    *,
    key: keys.WatermarkKey,
    extraction: explain.Extraction,
    result: stats.OwnershipResult,
    model_sha256: str,
    extra_facts: dict[str, str] | None = None,
    created: datetime.datetime | None = None,
    calibration: calibrationlib.Calibration | None = None,
) -> EvidenceReport:
    """Gather the report of one ownership test; ``created`` defaults to now (UTC).

    The inputs are checked against each other (trigger count, bits per trigger, pooled bits) because a
    report whose pictures do not belong to its statistics is worse than no report.
    """
    attributions = _array(extraction.attributions, "extraction.attributions", ndim=2).astype(np.float64)
    count, n = attributions.shape
    _check_sizes(key, extraction, result, count, n)
    assignment = _assignment(key, n)
    triggers = _array(key.triggers, "key.triggers")
    bits, reference = _array(extraction.bits, "bits"), _array(extraction.reference, "reference")
    labels, predictions = _array(key.labels, "labels"), _array(extraction.predictions, "predictions")
    return EvidenceReport(
        created=_timestamp(created),
        result=result,
        model_sha256=model_sha256,
        key_sha256=key.sha256,
        key_seed=key.seed.hex(),
        metric=str(key.metric),
        segmentation=str(key.segmentation.kind),
        assignment=assignment,
        triggers=tuple(
            TriggerEvidence(
                index=t,
                label=int(labels[t]),
                predicted=int(predictions[t]),
                attributions=attributions[t],
                extracted=bits[t * n : (t + 1) * n].astype(np.int8),
                reference=reference[t * n : (t + 1) * n].astype(np.int8),
                trigger=triggers[t],
            )
            for t in range(count)
        ),
        extraction_seconds=float(extraction.seconds),
        queries=int(extraction.queries),
        facts=tuple((str(k), str(v)) for k, v in (extra_facts or {}).items()),
        calibration=calibration,
    )


def sign_string(bits: np.ndarray) -> str:
    """±1 bits as a compact "+-" string, one character per bit."""
    return "".join("+" if b > 0 else "-" for b in bits)


def _array(value: object, name: str, ndim: int | None = None) -> np.ndarray:
    """A read-only numpy copy of a tensor or array-like, so the frozen report cannot change under us."""
    detached = value.detach().cpu().numpy() if hasattr(value, "detach") else value  # type: ignore[attr-defined]
    array = np.array(detached)
    if ndim is not None and array.ndim != ndim:
        raise ReportError(f"{name} should have {ndim} dimensions, not shape {array.shape}")
    array.setflags(write=False)
    return array


def _check_sizes(key: object, extraction: object, result: stats.OwnershipResult, count: int, n: int) -> None:
    expected = {
        "key.triggers": count,
        "key.labels": count,
        "extraction.predictions": count,
        "extraction.bits": count * n,
        "extraction.reference": count * n,
    }
    for name, size in expected.items():
        owner, attribute = name.split(".")
        actual = len(getattr(key if owner == "key" else extraction, attribute))
        if actual != size:
            raise ReportError(f"{name} has {actual} entries, expected {size} ({count} triggers × {n} bits)")
    if count == 0 or n == 0:
        raise ReportError("the extraction holds no triggers or no bits")
    if result.n_bits != count * n:
        raise ReportError(f"the ownership test pooled {result.n_bits} bits, the extraction has {count * n}")


def _assignment(key: keys.WatermarkKey, n: int) -> np.ndarray:
    """The segment of every element of one input, checked against the input shape and the bit count."""
    segmentation = key.segmentation
    if int(segmentation.n) != n:
        raise ReportError(f"the segmentation has {segmentation.n} segments but {n} attributions per trigger")
    assignment = _array(segmentation.assignment(), "segmentation.assignment()").astype(np.int64)
    input_shape = tuple(key.triggers.shape[1:])
    if assignment.shape != input_shape:
        raise ReportError(f"the segment assignment has shape {assignment.shape}, an input {input_shape}")
    if assignment.size and (assignment.min() < 0 or assignment.max() >= n):
        raise ReportError(f"the segment assignment names segments outside [0, {n})")
    return assignment


def _timestamp(created: datetime.datetime | None) -> str:
    moment = created or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _finite(value: float) -> float | None:
    """A JSON-safe float: NaN and infinities (a broken model's output) become null rather than invalid JSON."""
    number = float(value)
    return number if math.isfinite(number) else None


# ---- writing -------------------------------------------------------------------------------------------------


def _prepare(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{folder} exists and is not a folder: the evidence report needs a folder to go in")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create the report folder {folder}: {error}") from error
    return folder


def _write_together(folder: Path, documents: dict[str, str]) -> list[Path]:
    """Stage every document, then move each into place; on failure remove everything this call made."""
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for name, text in documents.items():
            staged.append((_stage(folder, name, text), folder / name))
        for temp, target in staged:
            os.replace(temp, target)
            placed.append(target)
    except BaseException as error:
        for path in [temp for temp, _ in staged] + placed:
            path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ReportError(f"cannot write the evidence report in {folder}: {error}") from error
        raise
    return [target for _, target in staged]


def _stage(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to a fresh hidden temporary file next to its target (same file system for os.replace)."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        # left owner-only as mkstemp creates it (0600): the report holds the key's bits, secret until a reveal
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


# ---- the page ------------------------------------------------------------------------------------------------

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #111; }
h1 { font-size: 1.3em; padding: .7em 1em; border-radius: 6px; }
h1.copy { background: #fee2e2; color: #991b1b; border: 2px solid #dc2626; }
h1.not-copy { background: #dcfce7; color: #166534; border: 2px solid #16a34a; }
table.facts { border-collapse: collapse; margin: 1em 0; }
table.facts th, table.facts td { border: 1px solid #ccc; padding: .3em .6em; text-align: left;
  vertical-align: top; }
table.facts th { background: #f4f4f5; font-weight: 600; }
td.hash, td.fact { font-family: ui-monospace, monospace; word-break: break-all; }
table.counts td, table.counts th { border: 1px solid #ddd; padding: .1em .5em; text-align: right; }
section.trigger { border-top: 1px solid #ccc; margin-top: 1.5em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: .85em; color: #444; max-width: 22em; }
img { image-rendering: pixelated; }
.mismatch-count { font-weight: 600; }
.mismatch-count.some { color: #b91c1c; }
.misclassified { color: #b91c1c; font-weight: 600; }
"""


def _page(report: EvidenceReport) -> str:
    verdict_class = "copy" if report.is_copy else "not-copy"
    heading = "COPY" if report.is_copy else "NOT A COPY"
    sections = "\n".join(_trigger_section(report, t) for t in report.triggers)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>Ledgermark evidence: {_e(heading)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1 class="verdict {verdict_class}">{_e(report.verdict)}</h1>
<h2>Facts</h2>
{_facts_table(report)}
{_null_section(report.calibration)}
<p>Pictures: a bit +1 is white and −1 black; in the mismatch picture red marks a bit that differs from the
reference. In an attribution map a segment is tinted red when its attribution W &gt; 0 (bit +1) and blue when
W &lt; 0 (bit −1), more strongly the larger |W| is relative to the trigger's largest.</p>
{sections}
</body>
</html>
"""


def _facts_table(report: EvidenceReport) -> str:
    r = report.result
    rows = [
        ("verdict", _e("copy" if report.is_copy else "not a copy"), "value"),
        ("watermark success rate (WSR)", _e(f"{r.wsr:.4f} ({r.matches} of {r.n_bits} bits match)"), "value"),
        ("mismatching bits", _e(str(r.n_bits - r.matches)), "value"),
        ("what decides", _e(f"the {stats.DECIDED_BY}, at level α"), "value"),
        ("p-value, Fisher exact (one-sided; decides)", _e(f"{r.p_value:.6g}"), "value"),
        (
            "association with the reference",
            _e("positive" if r.positive_association else "none or negative"),
            "value",
        ),
        ("p-value, chi-squared (Yates, two-sided; reported only)", _e(f"{r.chi2_p_value:.6g}"), "value"),
        ("chi-squared statistic", _e(f"{r.chi2:.6g}"), "value"),
        ("2×2 table", _counts_table(r.table), "value"),
        ("α (significance level)", _e(f"{r.alpha:g}"), "value"),
        ("bits", _e(f"{r.n_bits} ({len(report.triggers)} triggers × {report.bits_per_trigger})"), "value"),
        ("model sha256", _e(report.model_sha256), "hash"),
        ("watermark key sha256", _e(report.key_sha256), "hash"),
        ("watermark key seed (its bits and masks re-derive from it)", _e(report.key_seed), "hash"),
        ("metric", _e(report.metric), "value"),
        ("segmentation", _e(f"{report.segmentation}, {report.bits_per_trigger} segments"), "value"),
        ("extraction", _e(f"{report.extraction_seconds:.2f} s, {report.queries} queries"), "value"),
        ("report time (UTC)", _e(report.created), "value"),
    ]
    rows += [(name, _e(value), "fact") for name, value in report.facts]
    body = "\n".join(
        f'<tr><th>{_e(name)}</th><td class="{cls}">{value}</td></tr>' for name, value, cls in rows
    )
    return f'<table class="facts">\n{body}\n</table>'


def _null_section(calibration: calibrationlib.Calibration | None) -> str:
    """The suspect against the null distribution: the empirical p, the rule, and a histogram of −log10 p."""
    if calibration is None:
        return ""
    scores = -np.log10(np.maximum(np.array(calibration.null_p_values, dtype=np.float64), 1e-300))
    suspect = -math.log10(max(calibration.suspect.p_value, 1e-300))
    warnings = "".join(f'<p class="misclassified">{_e(w)}</p>' for w in calibration.warnings())
    digest = calibration.null_set_sha256 or "(null models given in memory)"
    return f"""<section class="null" id="null-distribution">
<h2>Against {calibration.count} null models</h2>
<p>Null models are independent reference models of the same task, which never saw the watermark. Each goes
through the same extraction and the same one-sided Fisher test. Empirical p = (1 + nulls at least as extreme)
/ (K + 1) = {1 + calibration.exceeding}/{calibration.count + 1} = <b>{calibration.p_empirical:.4g}</b>
(parametric p = {calibration.suspect.p_value:.4g}). Null-adjusted p (the suspect's agreement against the chance
rate the nulls show for this key) = <b>{calibration.p_adjusted:.4g}</b>. Rule: copy only if the parametric p &lt; α,
the empirical p ≤ α and the null-adjusted p &lt; α (α = {calibration.alpha:g}); empirical p is never below
1/(K + 1) = {calibration.floor:.3g}.
Null set manifest sha256: <code>{_e(digest)}</code>.</p>
{warnings}
<figure>{_render.null_histogram_svg(scores, suspect)}<figcaption>−log10 of the one-sided Fisher p: grey bars
are the null models, the red line is the suspect.</figcaption></figure>
</section>"""


def _counts_table(table: tuple[tuple[int, int], tuple[int, int]]) -> str:
    """The contingency table with its headings: rows are the extracted bit, columns the reference bit."""
    (a, b), (c, d) = table
    return (
        '<table class="counts"><tr><th>extracted \\ reference</th><th>−1</th><th>+1</th></tr>'
        f"<tr><th>−1</th><td>{int(a)}</td><td>{int(b)}</td></tr>"
        f"<tr><th>+1</th><td>{int(c)}</td><td>{int(d)}</td></tr></table>"
    )


def _trigger_section(report: EvidenceReport, t: TriggerEvidence) -> str:
    n = len(t.reference)
    differ = "some" if t.mismatches else "none"
    predicted = f"<b>{t.predicted}</b>"
    if t.predicted != t.label:
        predicted = f'<span class="misclassified">{t.predicted} (differs from the true label)</span>'
    figures = [
        _figure(_render.png_data_uri(_render.bits_image(t.reference)), "reference bits (the owner's)"),
        _figure(_render.png_data_uri(_render.bits_image(t.extracted)), "extracted bits (the suspect's)"),
        _figure(_render.png_data_uri(_render.mismatch_image(t.extracted, t.reference)), "mismatches (red)"),
        _attribution_figure(report, t),
    ]
    return f"""<section class="trigger" id="trigger-{t.index}">
<h2>Trigger {t.index}</h2>
<p>true label <b>{t.label}</b>, the model predicts {predicted};
WSR {t.wsr:.4f}; <span class="mismatch-count {differ}">{t.mismatches} of {n} bits differ</span></p>
<div class="figures">
{"".join(figures)}
</div>
</section>"""


def _attribution_figure(report: EvidenceReport, t: TriggerEvidence) -> str:
    peak = f"{float(np.max(np.abs(np.nan_to_num(t.attributions)))):.4g}"
    if report.segmentation == IMAGE_KIND:  # (C, H, W): tint the picture; anything else gets bars
        image = _render.attribution_image(t.trigger, report.assignment, t.attributions)
        return _figure(
            _render.png_data_uri(image), f"attribution map over the trigger (largest |W| = {peak})"
        )
    chart = _render.bar_chart_svg(t.attributions, t.reference)
    caption = (
        f"attribution W per segment (largest |W| = {peak}); ▼ above: reference +1, ▲ below: reference −1"
    )
    return f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure>"


def _figure(data_uri: str, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)
