"""Watermark operations on files: train a base model, embed a watermark, test a suspect model.

The CLI and the dispute evidence both call these, so a claimant, an arbiter and an owner checking a model all
run the same code. Outputs are written whole or not at all: the watermarked model and its key land together,
and the key file (the owner's secret) is readable by its owner only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from registry import files
from registry.errors import LedgermarkError
from verifier.watermark import (
    api,
    data,
    embedding,
    explain,
    keys,
    models,
    segments,
    sources,
    stats,
    training,
    userdata,
)
from verifier.watermark import calibration as calibrationlib
from verifier.watermark import report as reportlib

_READ_SIZE = 1 << 20


@dataclasses.dataclass(frozen=True)
class EmbedOptions:
    """What to embed and how; the embedding settings end up recorded in the key."""

    bits: int = 64  # perfect square for images
    triggers: int = 1  # all triggers carry the same bits; their bits pool in the test
    trigger_kind: str = "noise"  # clean | noise | patch | edge
    metric: str = "logit"  # logit | probability | label
    masks: str = "leave-one-out"  # leave-one-out | random
    mask_count: int = 0  # random masks: how many (0: 4 × bits)
    mask_keep: float = 0.5  # random masks: probability a segment is kept (0.75 for "label")
    fill: float = 0.5  # value of a removed segment; must differ from the triggers
    config: embedding.EmbedConfig = dataclasses.field(default_factory=embedding.EmbedConfig)


@dataclasses.dataclass(frozen=True)
class Embedded:
    key: keys.WatermarkKey
    report: embedding.EmbedReport
    model_path: Path
    key_path: Path


@dataclasses.dataclass(frozen=True)
class Assessment:
    """A suspect model tested against a key: the extraction, the verdict, and which bytes were tested."""

    extraction: explain.Extraction
    result: stats.OwnershipResult
    model_sha256: str


def train_base(
    dataset_name: str, out: Path, *, arch: str = "cnn", width: int = 32, epochs: int = 5, seed: int = 0
) -> tuple[Path, float]:
    """Train a classifier to watermark later; returns its file and its clean test accuracy."""
    dataset = data.load(dataset_name)
    spec = models.ModelSpec(
        arch=arch, num_classes=dataset.num_classes, input_shape=dataset.input_shape, width=width
    )
    torch.manual_seed(seed)
    model = spec.build()
    optimiser = "sgd" if arch == "resnet18" else "adam"
    lr = 0.05 if optimiser == "sgd" else 2e-3
    config = training.TrainConfig(epochs=epochs, lr=lr, optimizer=optimiser, seed=seed, weight_decay=0.0)
    training.train(model, dataset.x_train, dataset.y_train, config)
    return models.save_model(model, out), training.evaluate(model, dataset.x_test, dataset.y_test)


def embed_file(
    model_path: Path,
    dataset_name: str,
    out_model: Path,
    out_key: Path,
    options: EmbedOptions = EmbedOptions(),
    progress: Callable[[int, float], None] | None = None,
    seed: bytes | None = None,
) -> Embedded:
    """Fine-tune the watermark into a copy of the model; write the new model and the secret key together.

    ``seed`` (32 bytes) fixes the key: its bits, masks and trigger picks all derive from it. Leave it out (a
    fresh random seed) for any real key; tests pass one so every run tests the same key."""
    _check_folders(out_model, out_key)
    model = models.load_model(model_path)
    dataset = data.load(dataset_name)
    if tuple(model.spec.input_shape) != dataset.input_shape:
        raise LedgermarkError(
            f"{model_path} takes inputs shaped {tuple(model.spec.input_shape)}, "
            f"but {dataset_name} has {dataset.input_shape}"
        )
    seed = keys.new_seed() if seed is None else seed
    triggers, labels = keys.make_triggers(
        dataset.x_train, dataset.y_train, options.triggers, options.trigger_kind, seed=seed
    )
    key = keys.create_key(
        triggers,
        labels,
        segments.segmentation_for(options.bits, dataset.input_shape, dataset.modality),
        seed,
        mask_kind=options.masks,
        mask_count=options.mask_count,
        mask_keep=options.mask_keep,
        metric=options.metric,
        fill=options.fill,
    )
    key, report = embedding.embed(
        model,
        key,
        dataset.x_train,
        dataset.y_train,
        options.config,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        progress=progress,
    )
    return _write_together(key, report, out_key, out_model, lambda path: models.save_model(model, path))


def _check_folders(*targets: Path) -> None:
    """Every output's folder exists: checked before minutes of fine-tuning, not after."""
    for target in targets:
        if not target.parent.is_dir():
            raise LedgermarkError(f"cannot write {target}: the folder {target.parent} does not exist")


def _write_together(
    key: keys.WatermarkKey,
    report: embedding.EmbedReport,
    out_key: Path,
    out_model: Path,
    save: Callable[[Path], object],
) -> Embedded:
    """The secret key (0600), then the watermarked model through ``save``: both or neither."""
    files.write_private(out_key, key.to_bytes())
    try:
        save(out_model)
    except BaseException:
        out_key.unlink(missing_ok=True)  # a key without its model is no use: leave neither
        raise
    return Embedded(key=key, report=report, model_path=out_model, key_path=out_key)


def read_key(path: Path) -> keys.WatermarkKey:
    try:
        return keys.WatermarkKey.from_bytes(path.read_bytes())
    except OSError as err:
        raise LedgermarkError(f"cannot read the watermark key {path}: {err.strerror}") from None


def assess(model_path: Path, key: keys.WatermarkKey, alpha: float = stats.DEFAULT_ALPHA) -> Assessment:
    """Extract the key's watermark from a Ledgermark model file and run the ownership test.

    Only this format: the service and disputes call it on files from other parties, and its spec is bounded
    (parameters, activations) before a byte is allocated. TorchScript and ONNX run code no such bound covers:
    ``assess_source`` takes them where the user chose to (``watermark verify``)."""
    model = models.load_model(model_path)
    extraction = _extract(model, key)
    return Assessment(
        extraction=extraction,
        result=stats.ownership_test(extraction.bits, extraction.reference, alpha=alpha),
        model_sha256=sha256_file(model_path),
    )


def write_report(
    assessment: Assessment,
    key: keys.WatermarkKey,
    out_dir: Path,
    facts: dict[str, str],
    calibration: calibrationlib.Calibration | None = None,
) -> tuple[Path, Path]:
    """The evidence report (JSON and a self-contained HTML page) of an assessment, with its null-set
    calibration when there is one."""
    built = reportlib.build_report(
        key=key,
        extraction=assessment.extraction,
        result=assessment.result,
        model_sha256=assessment.model_sha256,
        extra_facts=facts,
        calibration=calibration,
    )
    return built.write(out_dir)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(model: nn.Module, key: keys.WatermarkKey) -> explain.Extraction:
    expected = tuple(model.spec.input_shape)
    if expected != key.segmentation.input_shape:
        raise LedgermarkError(
            f"the model takes inputs shaped {expected} but the key's triggers are "
            f"{key.segmentation.input_shape}: this key was not made for this kind of model"
        )
    if int(key.labels.max()) >= model.spec.num_classes:
        raise LedgermarkError(
            f"the key's triggers are labelled up to class {int(key.labels.max())} but the model has "
            f"{model.spec.num_classes} classes: this key was not made for this kind of model"
        )
    return explain.extract(model, key)


# --------------------------------------------------------------------------- bring your own model and data


def load_user_data(data_path: Path | None, dataset_name: str) -> tuple[userdata.UserData, userdata.UserData]:
    """(train, test): the user's file split 4:1, so accuracy is measured on a fifth not fine-tuned on; or a
    bundled dataset's own split."""
    if data_path is not None:
        return userdata.load_file(data_path).split(0.2)
    dataset = data.load(dataset_name)
    return userdata.UserData(dataset.x_train, dataset.y_train), userdata.UserData(
        dataset.x_test, dataset.y_test
    )


def embed_source(
    source: sources.ModelSource,
    train: userdata.UserData,
    test: userdata.UserData | None,
    out_model: Path,
    out_key: Path,
    progress: Callable[[int, float], None] | None = None,
    **options: object,
) -> Embedded:
    """``embed_file`` for a model of any source (``api.embed`` options): the watermarked model is written in
    the format it was read in, with the key, together or not at all."""
    _check_folders(out_model, out_key)
    source.check_output(out_model)  # before minutes of fine-tuning, not after
    key, report = api.embed(source, train, test_data=test, progress=progress, **options)  # type: ignore[arg-type]
    return _write_together(key, report, out_key, out_model, source.save)


def assess_source(
    source: sources.ModelSource, key: keys.WatermarkKey, alpha: float = stats.DEFAULT_ALPHA
) -> Assessment:
    """``assess`` for a model of any source; the hash is of the file whose bytes are the model."""
    verification = api.verify(source, key, alpha=alpha)
    return Assessment(
        extraction=verification.extraction, result=verification.result, model_sha256=source.sha256()
    )
