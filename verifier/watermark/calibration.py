"""Calibration against null models: an empirical p-value for one key and one suspect (DESIGN.md §7).

The parametric test assumes that an innocent model's bits are independent coin flips. They are not:
attributions of neighbouring segments, and of different models trained on the same data, are strongly
correlated, so the test holds its level on average over keys but not for every key. A claim is therefore also
calibrated against *null models*: K reference models made independently of the claimant's (trained by the
arbiter on the same task with other seeds and data subsets, or registered models with an earlier commit that
do not derive from the claimant's). Each null goes through the same extraction and the same statistic as the
suspect, and

    p_emp = (1 + #{null models at least as extreme as the suspect}) / (K + 1)

where "at least as extreme" means a one-sided Fisher p-value no larger than the suspect's (ties count against
the claimant). If the suspect is just one more innocent model, it is exchangeable with the nulls and
P[p_emp ≤ α] ≤ α for *this* key, whatever the correlation between bits.

Exchangeability is the catch: an innocent suspect trained differently from every null, or just the one in K + 1
that lies beyond them all, passes a key whose bits follow the natural pattern (a seed ground for it). So the
nulls also give the key's own chance rate of agreement, and ``adjusted_p`` asks how far beyond it the suspect's
agreement lies (binomial, or beta-binomial when the nulls spread more).

Verdict with a null set: copy iff the parametric test says copy (positive association, Fisher p < α) AND
p_emp ≤ α AND p_adjusted < α. The Fisher p decides without nulls; each added test can only acquit. p_emp is never
below 1/(K + 1), so at least ⌈1/α⌉ − 1 nulls (99 at α = 0.01) are needed before any claim can succeed; with
fewer, the verdict says so. bench/false_claims.py measures each test's share.

A null set is a folder: model files in Ledgermark's format and ``nullset.json``, a manifest with each file's
SHA-256 and how it was made. It may come from another party, so the manifest is bounded and strictly typed
before use and every model is hashed before it is loaded; the manifest's own SHA-256 identifies the set in
reports.

References: Lukas et al., "Deep neural network fingerprinting by conferrable adversarial examples" (null
models), Liu et al., "False claims against model ownership resolution" (USENIX Security 2024: judge-trained
reference models as a countermeasure); North et al., "A note on the calculation of empirical P values".
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats as scipy_stats
from torch import nn

from verifier.integrity import documents
from verifier.watermark import data, explain, keys, models, stats, training
from verifier.watermark.errors import WatermarkError

FORMAT = "ledgermark-null-set"
VERSION = 1
MANIFEST_NAME = "nullset.json"
MAX_MANIFEST_BYTES = 1 << 20
"""A manifest is ~300 bytes per model: 1 MiB holds the 1000 models allowed with room to spare."""
MAX_MANIFEST_DEPTH = 6  # manifest → models → entry → made → (one level of free-form detail)
MAX_NULL_MODELS = 1000
"""Each null costs one extraction per claim; 1000 reach p_emp ≈ 0.001."""
MAX_MODEL_BYTES = 512 * 1024 * 1024
"""Above the largest model spec allows (64M parameters, 256 MB)."""
EPOCH_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
"""A spread of recipes for train_null_models: null i trains for epochs × EPOCH_SCALES[i mod 5]."""
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SOURCE = "null set manifest"
_READ_SIZE = 1 << 20


class CalibrationError(WatermarkError):
    """A null set cannot be built or used: malformed or tampered manifest, a model that does not match it."""


# --------------------------------------------------------------------------- the null set on disk


@dataclasses.dataclass(frozen=True)
class NullModel:
    """One entry of the manifest: a file of the set, its digest, and how it was made."""

    file: str  # a plain file name inside the set's folder
    sha256: str
    size: int
    made: Mapping[str, Any]  # {"source": "trained", seed, …} or {"source": "file", "name": …}

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "bytes": self.size, "made": dict(self.made)}


@dataclasses.dataclass(frozen=True)
class NullSet:
    """A checked null set: every model in it fits one task (input shape, classes)."""

    folder: Path
    manifest_sha256: str  # identifies the set in reports; pin the manifest to cite it
    input_shape: tuple[int, ...]
    num_classes: int
    dataset: str | None  # the bundled data set the models were trained on, when known
    models: tuple[NullModel, ...]

    @property
    def count(self) -> int:
        return len(self.models)

    def load(self, entry: NullModel) -> nn.Module:
        """The model of one entry, after its bytes are checked against the manifest."""
        path = self.folder / entry.file
        if path.is_symlink() or not path.is_file():
            raise CalibrationError(f"null set {self.folder}: {entry.file} is missing or not a regular file")
        size, digest = _size_and_digest(path)
        if size != entry.size or digest != entry.sha256:
            raise CalibrationError(
                f"null set {self.folder}: {entry.file} does not match the manifest (expected sha256 "
                f"{entry.sha256}, {entry.size} bytes; found {digest}, {size} bytes): tampered or corrupt"
            )
        model = models.load_model(path)
        _check_task(model, self.input_shape, self.num_classes, f"null set {self.folder}: {entry.file}")
        return model

    def __iter__(self) -> Iterator[nn.Module]:
        return (self.load(entry) for entry in self.models)


def train_null_models(
    dataset: data.Dataset,
    spec: models.ModelSpec,
    count: int,
    *,
    seed: int = 0,
    epochs: int = 5,
    train_fraction: float = 0.8,
    epoch_scales: Sequence[float] = (1.0,),
) -> Iterator[tuple[nn.Module, dict[str, Any]]]:
    """``count`` independent models of one spec: model i starts from seed ``seed + i``, trains on its own
    random ``train_fraction`` of the training split, for ``epochs`` × ``epoch_scales[i % len(epoch_scales)]``
    epochs. Yields each model with the record of how it was made.

    One recipe by default; ``EPOCH_SCALES`` spreads the nulls over shorter and longer training (the arbiter
    does not know the suspect's recipe). bench/false_claims.py measures both; neither made the empirical p
    alone hold α against a ground key, which is why the verdict also uses ``adjusted_p``.
    """
    if not 0 < train_fraction <= 1:
        raise CalibrationError(f"the training fraction must lie in (0, 1], not {train_fraction}")
    size = max(1, round(train_fraction * len(dataset.x_train)))
    optimiser, lr = ("sgd", 0.05) if spec.arch == "resnet18" else ("adam", 2e-3)
    if not epoch_scales or min(epoch_scales) <= 0:
        raise CalibrationError(f"epoch scales must be positive, not {tuple(epoch_scales)}")
    for i in range(count):
        model_seed = seed + i
        subset = dataset.subset(train=size, seed=model_seed)
        torch.manual_seed(model_seed)
        model = spec.build()
        config = training.TrainConfig(
            epochs=max(1, round(epochs * epoch_scales[i % len(epoch_scales)])),
            lr=lr,
            optimizer=optimiser,
            seed=model_seed,
            weight_decay=0.0,
        )
        training.train(model, subset.x_train, subset.y_train, config)
        made = {
            "source": "trained",
            "dataset": dataset.name,
            "train_rows": size,
            "subset_seed": model_seed,
            "init_seed": model_seed,
            "spec": spec.to_dict(),
            "training": dataclasses.asdict(config),
            "test_accuracy": round(training.evaluate(model, dataset.x_test, dataset.y_test), 6),
        }
        yield model.eval(), made


def write_null_set(
    out: Path,
    *,
    trained: Iterable[tuple[nn.Module, Mapping[str, Any]]] = (),
    files: Sequence[Path] = (),
    dataset: str | None = None,
) -> NullSet:
    """Write a null set folder from trained models and given model files, whole or not at all.

    Everything is staged in a hidden folder next to ``out`` and renamed into place at the end, so a failure
    (or an interrupt) after an hour of training leaves no half-built set that a later claim could use.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CalibrationError(f"{out} already exists and is not an empty folder: choose a new --out")
    if not out.parent.is_dir():
        raise CalibrationError(f"cannot write {out}: the folder {out.parent} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        entries, task = _stage_models(staging, trained, files)
        if not entries:
            raise CalibrationError("a null set needs at least one model: train some or give model files")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "dataset": dataset,
            "input_shape": list(task[0]),
            "num_classes": task[1],
            "models": [entry.to_dict() for entry in entries],
        }
        (staging / MANIFEST_NAME).write_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n")
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a null set is meant to be shared
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_null_set(out)


def _stage_models(
    staging: Path, trained: Iterable[tuple[nn.Module, Mapping[str, Any]]], files: Sequence[Path]
) -> tuple[list[NullModel], tuple[tuple[int, ...], int]]:
    entries: list[NullModel] = []
    task: tuple[tuple[int, ...], int] | None = None
    for source in files:  # checked (readable, in our format) before any training starts
        model = models.load_model(source)
        task = task or (tuple(model.spec.input_shape), model.spec.num_classes)
        _check_task(model, *task, str(source))
        target = staging / f"null-{len(entries):04d}.pt"
        shutil.copyfile(source, target)
        entries.append(_entry(target, {"source": "file", "name": Path(source).name[:128]}))
    for model, made in trained:
        spec = model.spec
        task = task or (tuple(spec.input_shape), spec.num_classes)
        _check_task(model, *task, "a trained null model")
        target = models.save_model(model, staging / f"null-{len(entries):04d}.pt")
        entries.append(_entry(target, made))
    digests = [entry.sha256 for entry in entries]
    if len(set(digests)) != len(digests):
        raise CalibrationError("the same model appears twice: every null model must be a different model")
    return entries, task or ((), 0)


def _entry(path: Path, made: Mapping[str, Any]) -> NullModel:
    size, digest = _size_and_digest(path)
    return NullModel(file=path.name, sha256=digest, size=size, made=dict(made))


def read_null_set(folder: Path) -> NullSet:
    """A null set folder, its manifest bounded and strictly typed; model files are hashed when loaded."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a folder: a null set is a folder holding {MANIFEST_NAME}")
    if path.is_symlink() or not path.is_file():
        raise CalibrationError(
            f"{folder} holds no {MANIFEST_NAME}: not a null set (build one with calibrate)"
        )
    raw = _read_bounded(path, MAX_MANIFEST_BYTES)
    try:
        document = documents.parse_json(
            raw, source=f"{_SOURCE} {path}", max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_MANIFEST_DEPTH
        )
        return _null_set_from(folder, document, hashlib.sha256(raw).hexdigest())
    except documents.DocumentError as err:
        raise CalibrationError(str(err)) from None


def _null_set_from(folder: Path, document: object, manifest_sha256: str) -> NullSet:
    source = f"{_SOURCE} {folder / MANIFEST_NAME}"
    top = documents.mapping(
        document,
        "the manifest",
        source,
        required=("format", "version", "input_shape", "num_classes", "models"),
        optional=("created", "dataset"),
    )
    if top["format"] != FORMAT or top["version"] != VERSION:
        raise CalibrationError(f"{source}: not a {FORMAT} version {VERSION} manifest")
    shape = documents.array(top["input_shape"], "input_shape", source, max_items=models.MAX_INPUT_DIMS)
    input_shape = tuple(
        documents.integer(d, "a dimension of input_shape", source, low=1, below=models.MAX_DIMENSION + 1)
        for d in shape
    )
    num_classes = documents.integer(top["num_classes"], "num_classes", source, low=1, below=1 << 20)
    dataset = top.get("dataset")
    if dataset is not None:
        dataset = documents.text(dataset, "dataset", source, max_length=64)
    items = documents.array(top["models"], "models", source, max_items=MAX_NULL_MODELS)
    entries = tuple(_null_model_from(item, source) for item in items)
    if not entries:
        raise CalibrationError(f"{source}: the manifest lists no models")
    for field in ("file", "sha256"):
        values = [getattr(entry, field) for entry in entries]
        if len(set(values)) != len(values):
            raise CalibrationError(
                f"{source}: two entries share a {field}; every null model must be distinct"
            )
    return NullSet(folder, manifest_sha256, input_shape, num_classes, dataset, entries)


def _null_model_from(item: object, source: str) -> NullModel:
    entry = documents.mapping(item, "a model entry", source, required=("file", "sha256", "bytes", "made"))
    made = documents.mapping(entry["made"], "made", source, optional=_keys_of(entry["made"]))
    documents.text(made.get("source"), "made.source", source, allowed=("trained", "file"))
    return NullModel(
        file=documents.text(entry["file"], "file", source, max_length=128, pattern=_FILE_NAME),
        sha256=documents.hex_digest(entry["sha256"], "sha256", source),
        size=documents.integer(entry["bytes"], "bytes", source, low=1, below=MAX_MODEL_BYTES + 1),
        made=made,
    )


def _keys_of(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, dict) else ()


def _read_bounded(path: Path, limit: int) -> bytes:
    with open(path, "rb") as stream:
        raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise CalibrationError(f"{path} is larger than {limit:,} bytes: not a null set manifest")
    return raw


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ_SIZE):
            size += len(chunk)
            if size > MAX_MODEL_BYTES:
                raise CalibrationError(f"{path} is larger than {MAX_MODEL_BYTES:,} bytes: not a null model")
            digest.update(chunk)
    return size, digest.hexdigest()


def _check_task(model: nn.Module, input_shape: tuple[int, ...], num_classes: int, what: str) -> None:
    spec = model.spec
    if tuple(spec.input_shape) != tuple(input_shape) or spec.num_classes != num_classes:
        raise CalibrationError(
            f"{what} takes inputs {tuple(spec.input_shape)} with {spec.num_classes} classes, but the null set "
            f"is for inputs {tuple(input_shape)} with {num_classes} classes"
        )


# --------------------------------------------------------------------------- the empirical p-value


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The suspect's statistic against the null distribution, and the verdict that uses both p-values."""

    suspect: stats.OwnershipResult  # the parametric test on the suspect
    null_p_values: tuple[float, ...]  # one-sided Fisher p of each null model, the same statistic
    null_matches: tuple[int, ...]  # agreeing bits of each null model (for the report)
    alpha: float
    null_set_sha256: str | None = None  # the manifest's digest, when the nulls came from a folder

    @classmethod
    def of(
        cls,
        suspect: stats.OwnershipResult,
        nulls: Sequence[stats.OwnershipResult],
        alpha: float,
        null_set_sha256: str | None = None,
    ) -> Calibration:
        """The suspect's result against the null models' results under the same key (``null_results``)."""
        return cls(
            suspect=suspect,
            null_p_values=tuple(float(r.p_value) for r in nulls),
            null_matches=tuple(int(r.matches) for r in nulls),
            alpha=alpha,
            null_set_sha256=null_set_sha256,
        )

    @property
    def count(self) -> int:
        """K, the number of null models."""
        return len(self.null_p_values)

    @property
    def exceeding(self) -> int:
        """Null models at least as extreme as the suspect (p no larger: ties count against the claim)."""
        return sum(p <= self.suspect.p_value for p in self.null_p_values)

    @property
    def p_empirical(self) -> float:
        return (1 + self.exceeding) / (self.count + 1)

    @property
    def floor(self) -> float:
        """The smallest p_emp these nulls can give, 1/(K + 1)."""
        return 1 / (self.count + 1)

    @property
    def nulls_needed(self) -> int:
        """The fewest nulls with which p_emp can reach α: K + 1 ≥ 1/α."""
        return max(0, math.ceil(1 / self.alpha - 1e-9) - 1)

    @property
    def enough_nulls(self) -> bool:
        return self.count >= self.nulls_needed

    @property
    def empirical_significant(self) -> bool:
        """p_emp ≤ α, compared in whole numbers: 1 + exceeding ≤ α (K + 1)."""
        return 1 + self.exceeding <= math.floor(self.alpha * (self.count + 1) + 1e-9)

    @property
    def p_adjusted(self) -> float:
        """The suspect's agreement against the chance rate these nulls show for this key (``adjusted_p``)."""
        return adjusted_p(self.suspect.matches, self.suspect.n_bits, self.null_matches)

    @property
    def is_copy(self) -> bool:
        """Copy iff the parametric test says copy AND p_emp ≤ α AND p_adjusted < α."""
        return bool(self.suspect.is_copy) and self.empirical_significant and self.p_adjusted < self.alpha

    @property
    def verdict(self) -> str:
        numbers = (
            f"parametric p = {self.suspect.p_value:.3g}, empirical p = {1 + self.exceeding}/{self.count + 1} "
            f"= {self.p_empirical:.3g} and null-adjusted p = {self.p_adjusted:.3g} against {self.count} null models"
        )
        if self.is_copy:
            return f"copy: the watermark is beyond chance and beyond every innocent model's ({numbers}, α = {self.alpha:g})"
        reason = "no evidence of the watermark"
        if self.suspect.is_copy and not self.enough_nulls:
            reason = (
                f"too few null models to decide: p_emp can never fall below 1/{self.count + 1}; "
                f"at least {self.nulls_needed} are needed at α = {self.alpha:g}"
            )
        elif self.suspect.is_copy:
            reason = "the parametric test passes, but null models agree with this key nearly as much as the suspect"
        return f"not a copy: {reason} ({numbers})"

    def warnings(self) -> list[str]:
        if self.enough_nulls:
            return []
        return [
            (
                f"only {self.count} null models: p_emp is at least 1/{self.count + 1} = {self.floor:.3g}, so it "
                f"cannot reach α = {self.alpha:g}; build a null set of at least {self.nulls_needed} models"
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": (
                "copy iff parametric (one-sided Fisher p < alpha, positive association) and p_empirical <= alpha "
                "and p_adjusted < alpha"
            ),
            "statistic": "one-sided Fisher exact p; a null is at least as extreme when its p <= the suspect's",
            "p_adjusted": self.p_adjusted,
            "null_models": self.count,
            "null_set_sha256": self.null_set_sha256,
            "null_p_values": list(self.null_p_values),
            "null_matches": list(self.null_matches),
            "suspect_p_value": self.suspect.p_value,
            "suspect_matches": self.suspect.matches,
            "exceeding": self.exceeding,
            "p_empirical": self.p_empirical,
            "p_empirical_floor": self.floor,
            "nulls_needed": self.nulls_needed,
            "enough_nulls": self.enough_nulls,
            "parametric_is_copy": bool(self.suspect.is_copy),
            "is_copy": self.is_copy,
            "verdict": self.verdict,
            "warnings": self.warnings(),
        }


def adjusted_p(matches: int, n_bits: int, null_matches: Sequence[int]) -> float:
    """P[X ≥ matches] where X is the agreement of a model like the nulls: the chance rate q is what the nulls
    show for this key, not ½, and the spread is the larger of the binomial's and the nulls' own.

    A key whose bits follow the natural attribution pattern (a ground seed) makes every innocent model agree
    with it more than half the time; Fisher's test then convicts them all, and with K nulls the empirical p can
    still put an innocent beyond every null about once in K + 1. This test asks how far beyond the nulls' typical
    agreement the suspect lies: X ~ Binomial(n, q), q = (Σ null matches + 1)/(K·n + 2), or the beta-binomial
    with the same mean and the nulls' variance when they are more spread out than a binomial (bits that move
    together). A real watermark (WSR ≈ 1 against q ≈ ½–¾) stays far beyond either.
    """
    k = len(null_matches)
    q = (sum(null_matches) + 1) / (k * n_bits + 2)
    binomial_var = n_bits * q * (1 - q)
    observed_var = float(np.var(null_matches, ddof=1)) if k > 1 else 0.0
    if n_bits < 2 or observed_var <= binomial_var:
        return float(scipy_stats.binom.sf(matches - 1, n_bits, q))
    rho = min(1 - 1e-9, (observed_var / binomial_var - 1) / (n_bits - 1))  # intra-model correlation of bits
    concentration = (1 - rho) / rho  # a + b of the beta-binomial
    return float(scipy_stats.betabinom.sf(matches - 1, n_bits, q * concentration, (1 - q) * concentration))


def null_results(
    key: keys.WatermarkKey, null_models: Iterable[nn.Module], alpha: float = stats.DEFAULT_ALPHA
) -> list[stats.OwnershipResult]:
    """The ownership test of every null model under this key: the same extraction, the same statistic."""
    results = []
    for model in null_models:
        extraction = explain.extract(model, key)
        results.append(stats.ownership_test(extraction.bits, extraction.reference, alpha=alpha))
    return results


def calibrate(
    key: keys.WatermarkKey,
    suspect: stats.OwnershipResult,
    null_models: Iterable[nn.Module] | NullSet,
    *,
    alpha: float = stats.DEFAULT_ALPHA,
    suspect_sha256: str | None = None,
) -> Calibration:
    """The suspect's result (``stats.ownership_test`` under ``key``) against every null model's.

    With a ``NullSet``, a null byte-identical to the suspect (``suspect_sha256``) is refused: the suspect cannot
    be its own null, and a set holding it would hide any copy.
    """
    digest = null_models.manifest_sha256 if isinstance(null_models, NullSet) else None
    if isinstance(null_models, NullSet):
        if suspect_sha256 is not None and suspect_sha256 in {m.sha256 for m in null_models.models}:
            raise CalibrationError(
                "the null set holds the suspect model itself: its nulls must be independent"
            )
        _check_key_task(key, null_models)
    results = null_results(key, null_models, alpha)
    if not results:
        raise CalibrationError("no null models: the empirical p-value needs at least one")
    return Calibration.of(suspect, results, alpha, null_set_sha256=digest)


def _check_key_task(key: keys.WatermarkKey, null_set: NullSet) -> None:
    if tuple(key.segmentation.input_shape) != null_set.input_shape:
        raise CalibrationError(
            f"the key's triggers are {tuple(key.segmentation.input_shape)} but the null set's models take "
            f"{null_set.input_shape}: this null set is for another task"
        )
    if int(key.labels.max()) >= null_set.num_classes:
        raise CalibrationError(
            f"the key's triggers are labelled up to class {int(key.labels.max())} but the null set's models "
            f"have {null_set.num_classes} classes: this null set is for another task"
        )


def build_null_set(
    out: Path,
    *,
    dataset_name: str = "digits",
    arch: str = "cnn",
    width: int = 32,
    count: int = 0,
    seed: int = 1000,
    epochs: int = 5,
    train_fraction: float = 0.8,
    files: Sequence[Path] = (),
) -> NullSet:
    """Train ``count`` null models (``arch`` on a bundled data set) and add the given model ``files``.

    The default seeds start at 1000, away from the seeds an owner's own training uses by default (0, 1, …).
    """
    total = count + len(files)
    if count < 0 or not 1 <= total <= MAX_NULL_MODELS:
        raise CalibrationError(
            f"a null set holds 1 to {MAX_NULL_MODELS} models, not {total}: set --count or give --model files"
        )
    trained: Iterable[tuple[nn.Module, Mapping[str, Any]]] = ()
    if count:
        dataset = data.load(dataset_name)
        spec = models.ModelSpec(
            arch=arch, num_classes=dataset.num_classes, input_shape=dataset.input_shape, width=width
        )
        trained = train_null_models(
            dataset, spec, count, seed=seed, epochs=epochs, train_fraction=train_fraction
        )
    return write_null_set(out, trained=trained, files=files, dataset=dataset_name if count else None)
