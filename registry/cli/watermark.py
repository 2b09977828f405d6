"""`ledgermark watermark …`: train a base model, embed an interpretable watermark, test a suspect model.

`verify` exits 0 when the model carries the key's watermark (a copy), 1 when it does not, 2 on a usage or
environment error, like `ledgermark verify` does for bytes. The key file is the owner's secret; `publish
--watermark-key` seals it into a publication. torch is imported only when one of these commands runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from registry.cli import _output

if TYPE_CHECKING:
    from verifier.watermark import calibration, stats

T = TypeVar("T")

app = typer.Typer(help="Embed and verify interpretable watermarks.", no_args_is_help=True)

ModelArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="MODEL",
        help="A Ledgermark model file (.pt), a TorchScript file (.ts, .torchscript, or a .pt archive) or, to "
        "verify only, an ONNX file (.onnx). Omit it with --model-factory.",
        exists=True,
        dir_okay=False,
    ),
]
FactoryOption = Annotated[
    str | None,
    typer.Option(
        "--model-factory",
        metavar="MODULE:CALLABLE",
        help="Build the model by calling this function of YOUR OWN code (it is imported and run, from the "
        "current folder first: name only code you trust); --weights are loaded into what it returns.",
    ),
]
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        metavar="FILE",
        help="The --model-factory model's state_dict: .pt/.pth/.bin (read with weights_only=True) or "
        ".safetensors.",
        dir_okay=False,
    ),
]
DatasetOption = Annotated[
    str,
    typer.Option(
        "--dataset", metavar="fashion-mnist|digits|breast-cancer|wine", help="A bundled dataset (offline)."
    ),
]


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the trained model.")],
    dataset: DatasetOption = "digits",
    arch: Annotated[str, typer.Option("--arch", metavar="cnn|resnet18|mlp", help="Architecture.")] = "cnn",
    width: Annotated[
        int, typer.Option("--width", metavar="N", help="Base channel width (resnet18: 64 is full).")
    ] = 32,
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", help="Passes over the training set.")] = 5,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Initialisation and shuffling.")] = 0,
) -> None:
    """Train a classifier on a bundled dataset, to watermark afterwards."""

    def run() -> tuple[Path, float]:
        from registry import watermarking

        return watermarking.train_base(dataset, out, arch=arch, width=width, epochs=epochs, seed=seed)

    path, accuracy = _output.guard(run)
    typer.echo(f"trained {arch} on {dataset}: test accuracy {accuracy:.4f}; model written to {path}")


@app.command()
def embed(
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the watermarked model.")],
    key: Annotated[
        Path, typer.Option("--key", metavar="FILE", help="Where to write the secret watermark key (0600).")
    ],
    model: ModelArgument = None,
    model_factory: FactoryOption = None,
    weights: WeightsOption = None,
    dataset: DatasetOption = "digits",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="FILE|DIR",
            help="Your own data instead of --dataset: .npz (arrays x, y), .csv (a 'label' column) or an image "
            "folder (one sub-folder per class); a fifth is held out to measure accuracy.",
        ),
    ] = None,
    modality: Annotated[
        str | None,
        typer.Option(
            "--modality", metavar="image|tokens|tabular|sequence", help="What --data holds [from its shape]."
        ),
    ] = None,
    pad_token_id: Annotated[
        int | None,
        typer.Option("--pad-token-id", metavar="ID", help="Tokens: the id a removed span is filled with."),
    ] = None,
    bits: Annotated[
        int | None, typer.Option("--bits", help="Watermark length (a perfect square for images) [64].")
    ] = None,
    recipe: Annotated[
        str,
        typer.Option(
            "--recipe",
            metavar="seed|robust|robust-simulated",
            help="Embedding method, measured in docs/results/robustness*.md: seed (the paper's: 1 trigger, "
            "ε 0.01; fast, removed by fine-tuning), robust (4 triggers, ε 0.2, fidelity 10, no early stop), "
            "robust-simulated (robust plus attack simulation: survives 10 epochs of lr 1e-2 fine-tuning "
            "there). Options given beside it override its values [seed].",
        ),
    ] = "seed",
    triggers: Annotated[
        int | None, typer.Option("--triggers", help="Trigger inputs (their bits pool) [1; robust: 4].")
    ] = None,
    trigger_kind: Annotated[
        str | None,
        typer.Option(
            "--trigger-kind",
            metavar="clean|noise|patch|edge",
            help="Trigger inputs' kind [noise; tokens: clean].",
        ),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric", metavar="logit|probability|label", help="What is explained (label: hard-label APIs)."
        ),
    ] = "logit",
    masks: Annotated[
        str, typer.Option("--masks", metavar="leave-one-out|random", help="How segments are masked.")
    ] = "leave-one-out",
    mask_count: Annotated[int, typer.Option("--mask-count", help="Random masks (0: 4 × bits).")] = 0,
    mask_keep: Annotated[float, typer.Option("--mask-keep", help="Random masks: keep-probability.")] = 0.5,
    fill: Annotated[float | None, typer.Option("--fill", help="Value of a removed segment [0.5].")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Most fine-tuning steps [300].")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Adam learning rate [1e-4].")] = None,
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="Hinge margin of every attribution [0.01].")
    ] = None,
    fidelity: Annotated[
        float | None,
        typer.Option("--fidelity", help="Anchor to the original outputs (≈100 for a real network) [0]."),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Fine-tune a watermark into MODEL (or --model-factory with --weights); write the watermarked model, in the
    format it came in, and its secret key."""

    def run() -> Any:

        base, recipe_triggers = _recipe(recipe)
        options = {
            **_given(bits=bits, trigger_kind=trigger_kind, fill=fill),
            "triggers": recipe_triggers if triggers is None else triggers,
            "metric": metric,
            "masks": masks,
            "mask_count": mask_count,
            "mask_keep": mask_keep,
            "config": dataclasses.replace(
                base, **_given(steps=steps, lr=lr, epsilon=epsilon, fidelity=fidelity)
            ),
        }
        own = _given(data=data, modality=modality, pad_token_id=pad_token_id)
        return _embed(model, model_factory, weights, dataset, out, key, options, own)

    embedded = _output.guard(run, as_json=as_json)
    report = embedded.report
    document = {
        "model": str(embedded.model_path),
        "key": str(embedded.key_path),
        "key_sha256": embedded.key.sha256,
        **report.to_dict(),
    }
    lines = [
        (
            f"embedded {embedded.key.n_bits} bits in {embedded.key.num_triggers} trigger(s) in {report.steps} steps "
            f"({report.seconds:.1f} s): WSR {report.wsr_before:.3f} → {report.wsr_after:.3f}"
        ),
        f"clean accuracy {report.clean_acc_before:.4f} → {report.clean_acc_after:.4f}; triggers "
        + ("all still predicted correctly" if report.triggers_correct else "NOT all predicted correctly"),
        f"watermarked model: {embedded.model_path}",
        f"secret key:        {embedded.key_path} (keep it private; publish it with --watermark-key)",
    ]
    _output.emit(as_json, document, lines)


def _recipe(name: str) -> tuple[Any, int]:
    """An embedding method's configuration and trigger count (``--recipe``)."""
    from registry.errors import LedgermarkError
    from verifier.watermark import embedding

    recipes = {
        "seed": (embedding.EmbedConfig(), 1),
        "robust": (embedding.ROBUST, 4),
        "robust-simulated": (embedding.ROBUST_SIMULATED, 4),
    }
    if name not in recipes:
        raise LedgermarkError(f"--recipe {name!r}: use {', '.join(recipes)}")
    return recipes[name]


def _given(**options: Any) -> dict[str, Any]:
    """The options the user set; the library's defaults stand for the rest."""
    return {name: value for name, value in options.items() if value is not None}


_OPTION_OF_INPUT = {"model": "MODEL", "factory": "--model-factory", "weights": "--weights", "out": "--out"}


def _naming_options(action: Callable[[], T]) -> T:
    """Run a step that reads the user's model or data: a refusal becomes a usage error naming its option."""
    from registry.errors import LedgermarkError
    from verifier.watermark import sources, userdata

    try:
        return action()
    except sources.ModelSourceError as err:
        raise LedgermarkError(f"{_OPTION_OF_INPUT.get(err.input, err.input)}: {err}") from None
    except userdata.UserDataError as err:
        raise LedgermarkError(f"--data: {err}") from None


def _ledgermark_file(model: Path | None, factory: str | None, weights: Path | None) -> bool:
    """Whether the model is MODEL alone, a file in Ledgermark's own format (the flows that were there first)."""
    from verifier.watermark import sources

    if model is None or factory is not None or weights is not None:
        return False
    return _naming_options(lambda: sources.file_format(model)) == "ledgermark"


def _embed(
    model: Path | None,
    factory: str | None,
    weights: Path | None,
    dataset: str,
    out: Path,
    key: Path,
    options: dict[str, Any],
    own: dict[str, Any],
) -> Any:
    """A Ledgermark model file on a bundled dataset as before; any other model or data through ``api.embed``."""
    from registry import watermarking
    from verifier.watermark import sources

    if not own and _ledgermark_file(model, factory, weights):
        return watermarking.embed_file(model, dataset, out, key, watermarking.EmbedOptions(**options))

    def run() -> Any:
        source = sources.open_model(model, factory=factory, weights=weights)
        train, test = watermarking.load_user_data(own.get("data"), dataset)
        extra = {name: own[name] for name in ("modality", "pad_token_id") if name in own}
        return watermarking.embed_source(source, train, test, out, key, **options, **extra)

    return _naming_options(run)


def _assess(model: Path | None, factory: str | None, weights: Path | None, key: Any, alpha: float) -> Any:
    """A Ledgermark model file as before; a TorchScript or ONNX file, or a factory's model, through ``api``."""
    from registry import watermarking
    from verifier.watermark import sources

    if _ledgermark_file(model, factory, weights):
        return watermarking.assess(model, key, alpha)
    return _naming_options(
        lambda: watermarking.assess_source(
            sources.open_model(model, factory=factory, weights=weights), key, alpha
        )
    )


@app.command()
def verify(
    model: Annotated[
        Path | None,
        typer.Argument(metavar="MODEL", help="The suspect model file.", exists=True, dir_okay=False),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Argument(metavar="KEY", help="The watermark key file.", exists=True, dir_okay=False),
    ] = None,
    model_factory: FactoryOption = None,
    weights: WeightsOption = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            metavar="URL",
            help="Query a model behind this prediction API instead (give only KEY).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", metavar="N", help="--endpoint: inputs per request.")] = 64,
    max_queries: Annotated[
        int | None,
        typer.Option("--max-queries", metavar="N", help="--endpoint: refuse if the key needs more queries."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="S", help="--endpoint: seconds per request.")
    ] = 30.0,
    retries: Annotated[
        int,
        typer.Option(
            "--retries", metavar="N", help="--endpoint: retries after a 5xx or a dropped connection."
        ),
    ] = 3,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", metavar="DIR", help="Write the evidence report (JSON + HTML) here."),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the test.")] = 0.01,
    null_set: Annotated[
        Path | None,
        typer.Option(
            "--null-set", metavar="DIR", help="Calibrate against these null models (watermark calibrate)."
        ),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Extract the key's watermark from MODEL and test it: exit 0 copy, 1 not a copy, 2 error.

    With --null-set the verdict is a copy only if the parametric p < α and the empirical p ≤ α.
    """
    if endpoint is not None:
        options = {"batch_size": batch, "max_queries": max_queries, "timeout": timeout, "retries": retries}
        _verify_endpoint(endpoint, model, key, options, report_dir, alpha, null_set, as_json)
        return
    if model_factory is not None or weights is not None:  # then the one file given is the KEY
        if key is not None:
            _output.fail(
                "with --model-factory and --weights give only the KEY file, not a MODEL file", as_json
            )
        model, key = None, model
    elif model is None:
        _output.fail("give a MODEL file and its KEY, or --endpoint URL and the KEY", as_json)
    if key is None:
        _output.fail("give the watermark KEY file", as_json)

    def test(watermark_key: Any) -> tuple[Any, Any, dict[str, str]]:
        assessment = _assess(model, model_factory, weights, watermark_key, alpha)
        return (
            assessment,
            assessment,
            {"model file": (model or weights or Path("?")).name, "key file": key.name},
        )

    judged = _output.guard(lambda: _judged(key, null_set, alpha, report_dir, test), as_json=as_json)
    assessment, calibrated, written = judged
    result = assessment.result
    document = {**result.to_dict(), "model_sha256": assessment.model_sha256}
    _conclude(as_json, result, calibrated, written, document, [result.verdict])


@app.command()
def calibrate(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="The new null set folder.")],
    dataset: DatasetOption = "digits",
    arch: Annotated[
        str, typer.Option("--arch", metavar="cnn|resnet18|mlp", help="Null models' architecture.")
    ] = "cnn",
    width: Annotated[int, typer.Option("--width", metavar="N", help="Base channel width.")] = 32,
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", help="Passes over each null's data.")] = 5,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", metavar="K", help="Null models to train [99 (enough for α 0.01); 0 with --model]."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Null i uses seed S + i.")] = 1000,
    fraction: Annotated[
        float, typer.Option("--train-fraction", help="Each null trains on its own random share of the data.")
    ] = 0.8,
    model_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--model",
            metavar="FILE",
            help="An independent model file to include (repeatable).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Build a reusable null set: K independent reference models of the task, with a manifest of hashes."""
    given = list(model_files or [])
    trained = count if count is not None else (0 if given else 99)

    def run() -> Any:
        from verifier.watermark import calibration

        return calibration.build_null_set(
            out,
            dataset_name=dataset,
            arch=arch,
            width=width,
            count=trained,
            seed=seed,
            epochs=epochs,
            train_fraction=fraction,
            files=given,
        )

    built = _output.guard(run, as_json=as_json)
    document = {
        "null_set": str(built.folder),
        "manifest_sha256": built.manifest_sha256,
        "models": built.count,
        "trained": trained,
        "given": len(given),
        "p_empirical_floor": 1 / (built.count + 1),
    }
    lines = [
        f"null set of {built.count} models ({trained} trained, {len(given)} given) written to {built.folder}",
        f"manifest sha256 {built.manifest_sha256}",
        f"empirical p can reach 1/{built.count + 1} = {1 / (built.count + 1):.3g}: claims at α ≥ that can succeed",
    ]
    _output.emit(as_json, document, lines)


def _verify_endpoint(
    url: str,
    first: Path | None,
    second: Path | None,
    options: dict[str, Any],
    report_dir: Path | None,
    alpha: float,
    null_set: Path | None,
    as_json: bool,
) -> None:
    """`verify --endpoint URL KEY`: the same test on a model only reachable through its prediction API."""
    if first is None or second is not None:
        _output.fail("with --endpoint URL give only the KEY file, not a model file", as_json)

    def test(watermark_key: Any) -> tuple[Any, Any, dict[str, str]]:
        from registry import watermarking
        from registry.errors import LedgermarkError
        from verifier.watermark import remote

        try:
            found = remote.assess(watermark_key, remote.EndpointConfig(url=url, **options), alpha)
        except remote.QueryBudgetError as err:
            raise LedgermarkError(f"--max-queries {options['max_queries']}: {err}") from None
        except remote.EndpointError as err:
            raise LedgermarkError(f"--endpoint {url}: {err}") from None
        usage = found.usage
        facts = {
            "endpoint": url,
            "endpoint answers": str(usage.answer),
            "queries": f"{usage.queries} in {_count(usage.requests, 'request')} ({usage.retries} retried)",
            "key file": first.name,
        }
        # no file to hash: the placeholder is never a null model's SHA-256, so calibrate's self-check passes
        tested = watermarking.Assessment(found.extraction, found.result, "(black box: no model bytes)")
        return found, tested, facts

    judged = _output.guard(lambda: _judged(first, null_set, alpha, report_dir, test), as_json=as_json)
    assessment, calibrated, written = judged
    usage = assessment.usage
    document = {**assessment.result.to_dict(), "endpoint": usage.to_dict()}
    lines = [
        assessment.result.verdict,
        (
            f"{url}: {_count(usage.queries, 'query', 'queries')} in {_count(usage.requests, 'request')} "
            f"({usage.answer} answers, "
            f"{usage.retries} retried, {usage.seconds:.1f} s)"
        ),
    ]
    _conclude(as_json, assessment.result, calibrated, written, document, lines)


def _judged(
    key_path: Path,
    null_set: Path | None,
    alpha: float,
    report_dir: Path | None,
    test: Callable[[Any], tuple[T, Any, dict[str, str]]],
) -> tuple[T, Any, tuple[Path, Path] | None]:
    """`verify`'s steps around the test, for a file or an endpoint alike: read the key and the null set (before
    the model runs), ``test(key)`` (what it found, that as a ``watermarking.Assessment``, the report's facts),
    calibrate against the nulls, write the evidence report."""
    from registry import watermarking
    from verifier.watermark import calibration

    watermark_key = watermarking.read_key(key_path)
    nulls = calibration.read_null_set(null_set) if null_set is not None else None
    found, assessment, facts = test(watermark_key)
    calibrated = None
    if nulls is not None:
        calibrated = calibration.calibrate(
            watermark_key, assessment.result, nulls, alpha=alpha, suspect_sha256=assessment.model_sha256
        )
    written = None
    if report_dir is not None:
        written = watermarking.write_report(assessment, watermark_key, report_dir, facts, calibrated)
    return found, calibrated, written


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _conclude(
    as_json: bool,
    result: stats.OwnershipResult,
    calibrated: calibration.Calibration | None,
    written: tuple[Path, Path] | None,
    document: dict[str, Any],
    lines: list[str],
) -> None:
    """`verify`'s last step, local or through an endpoint: the null set's verdict replaces the parametric one
    (kept beside it) when there is one, the report's paths are named, and the exit is 1 unless a copy."""
    is_copy = result.is_copy
    if calibrated is not None:
        is_copy = calibrated.is_copy
        document.update(parametric_verdict=result.verdict, verdict=calibrated.verdict, is_copy=is_copy)
        document["calibration"] = calibrated.to_dict()
        lines[:1] = [calibrated.verdict, *(f"warning: {w}" for w in calibrated.warnings())]
    if written is not None:
        document["report_json"], document["report_html"] = (str(p) for p in written)
        lines.append(f"evidence report: {written[1]}")
    _output.emit(as_json, document, lines)
    if not is_copy:
        raise typer.Exit(1)


@app.command("serve-model")
def serve_model(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A Ledgermark model file.", exists=True, dir_okay=False)
    ],
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="TCP port.")] = 8500,
    answer: Annotated[
        str,
        typer.Option(
            "--answer", metavar="logits|probabilities|labels|top1", help="What POST /predict answers."
        ),
    ] = "logits",
) -> None:
    """Serve MODEL behind the JSON prediction protocol `verify --endpoint` speaks (a reference API).

    POST /predict answers --answer; /logits, /probabilities, /labels and /top1 answer that kind.
    """

    def build() -> Any:
        from registry.errors import LedgermarkError
        from verifier.watermark import models, remote, serving

        if answer not in remote.ANSWER_KINDS:
            raise LedgermarkError(f"--answer {answer!r}: use one of {', '.join(remote.ANSWER_KINDS)}")
        loaded = models.load_model(model)
        return serving.make_app(loaded, tuple(loaded.spec.input_shape), answer=answer)

    service = _output.guard(build)
    import uvicorn

    uvicorn.run(service, host=host, port=port, log_level="warning")
