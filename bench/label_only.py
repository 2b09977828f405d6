"""Can a watermark be read through an API that answers only the top-1 label, and at what cost in queries?

Informs: the label-only key mode (metric "label": random masks keeping 3 segments in 4, the ridge on
"is the label still right", embedded through a straight-through surrogate at τ 1). On digits (8×8) it trains a
small CNN and an innocent one (another seed), then for K keys embeds a label-only key into a copy of the CNN
and verifies it through the real reference endpoint (``serving``, uvicorn on 127.0.0.1) answering labels, and
top-1 class with probability; the reference in the same run is a logit key (leave-one-out) of the same size,
embedded into another copy and verified through logits. Every key is also read from the innocent model.

    python bench/label_only.py --json docs/results/label_only.json --markdown docs/results/label_only.md
    python bench/label_only.py --quick --json /tmp/label_only.json          # 2 keys
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common
import torch
import uvicorn
from torch import nn

from registry import supervisor
from verifier.watermark import (
    data,
    embedding,
    explain,
    keys,
    models,
    remote,
    segments,
    serving,
    stats,
    training,
)

SPEC = models.ModelSpec(arch="cnn", num_classes=10, input_shape=(1, 8, 8), width=16)
TRAIN = training.TrainConfig(epochs=20, batch_size=64, lr=2e-3, optimizer="adam", weight_decay=0.0)
BITS, TRIGGERS = 16, 2
EMBED = {
    "label": embedding.EmbedConfig(steps=300, lr=1e-3, epsilon=0.2),  # τ 1 (the default)
    "logit": embedding.EmbedConfig(steps=300),
}
ANSWERS = {"label": ("labels", "top1"), "logit": ("logits",)}

log = logging.getLogger("bench.label_only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=5, help="keys per metric")
    parser.add_argument("--quick", action="store_true", help="2 keys per metric")
    parser.add_argument("--json", type=Path, help="write the rows and settings here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser


def train(dataset: data.Dataset, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = SPEC.build()
    training.train(model, dataset.x_train, dataset.y_train, dataclasses.replace(TRAIN, seed=seed))
    return model.eval()


def make_key(dataset: data.Dataset, metric: str, index: int) -> keys.WatermarkKey:
    seed = hashlib.sha256(f"bench label-only {metric} {index}".encode()).digest()
    triggers, labels = keys.make_triggers(dataset.x_train, dataset.y_train, TRIGGERS, "noise", seed=seed)
    segmentation = segments.ImageGrid(BITS, dataset.input_shape)
    if metric == "label":
        return keys.create_key(
            triggers, labels, segmentation, seed, mask_kind="random", mask_keep=0.75, metric="label"
        )
    return keys.create_key(triggers, labels, segmentation, seed, metric="logit")


@contextmanager
def endpoint(model: nn.Module) -> Iterator[str]:
    """The reference server for ``model`` on a free port, in a thread; yields its base URL."""
    port = supervisor.free_port()
    app = serving.make_app(model, SPEC.input_shape)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_key(
    dataset: data.Dataset, base: nn.Module, innocent: nn.Module, metric: str, index: int
) -> list[dict]:
    model = copy.deepcopy(base)
    key, report = embedding.embed(
        model,
        make_key(dataset, metric, index),
        dataset.x_train,
        dataset.y_train,
        EMBED[metric],
        x_test=dataset.x_test,
        y_test=dataset.y_test,
    )
    innocent_extraction = explain.extract(innocent, key)
    innocent_result = stats.ownership_test(innocent_extraction.bits, innocent_extraction.reference)
    rows = []
    with endpoint(model) as url:
        for answer in ANSWERS[metric]:
            assessment = remote.assess(key, remote.EndpointConfig(url=f"{url}/{answer}"))
            rows.append(
                {
                    "metric": metric,
                    "key": index,
                    "answer": answer,
                    "queries": assessment.usage.queries,
                    "requests": assessment.usage.requests,
                    "wsr": assessment.result.wsr,
                    "p_value": assessment.result.p_value,
                    "is_copy": assessment.result.is_copy,
                    "innocent_wsr": innocent_result.wsr,
                    "innocent_p_value": innocent_result.p_value,
                    "innocent_is_copy": innocent_result.is_copy,
                    "acc_before": report.clean_acc_before,
                    "acc_after": report.clean_acc_after,
                    "triggers_correct": report.triggers_correct,
                    "embed_steps": report.steps,
                    "embed_seconds": report.seconds,
                    "verify_seconds": assessment.usage.seconds,
                }
            )
            log.info(
                "%s key %d via %s: WSR %.3f p %.2g",
                metric,
                index,
                answer,
                rows[-1]["wsr"],
                rows[-1]["p_value"],
            )
    return rows


def summarise(rows: list[dict]) -> list[dict[str, Any]]:
    """One line per (metric, answer): medians and ranges over keys."""
    lines = []
    for metric, answer in sorted(
        {(r["metric"], r["answer"]) for r in rows}, key=lambda g: (g[0] != "logit", g[1])
    ):
        group = [r for r in rows if (r["metric"], r["answer"]) == (metric, answer)]
        lines.append(
            {
                "key": f"{metric} ({'random 0.75' if metric == 'label' else 'leave-one-out'} masks)",
                "answer": answer,
                "keys": len(group),
                "queries": group[0]["queries"],
                "wsr": [min(r["wsr"] for r in group), statistics.median(r["wsr"] for r in group)],
                "p_max": max(r["p_value"] for r in group),
                "copies": sum(r["is_copy"] for r in group),
                "innocent_wsr_max": max(r["innocent_wsr"] for r in group),
                "innocent_copies": sum(r["innocent_is_copy"] for r in group),
                "acc_cost_pp": statistics.median(100 * (r["acc_before"] - r["acc_after"]) for r in group),
                "triggers_correct": sum(r["triggers_correct"] for r in group),
            }
        )
    return lines


def convictions(rows: list[dict]) -> str:
    """The innocent model's convictions, each with its key: the per-key level the parametric test cannot hold."""
    wrong = {(r["metric"], r["key"]): r for r in rows if r["innocent_is_copy"]}
    if not wrong:
        return "The innocent model was convicted under no key.\n"
    listed = "; ".join(
        f"{metric} key {key} (WSR {r['innocent_wsr']:.3f}, p {r['innocent_p_value']:.2g})"
        for (metric, key), r in sorted(wrong.items())
    )
    return (
        f"The innocent model (another seed, same data) was convicted under {len(wrong)} key(s): {listed}. The "
        "parametric p assumes independent bits; attributions of models trained on the same data are correlated, "
        "so a claim needs the empirical p against a null set (`watermark verify --null-set`).\n"
    )


def markdown(summary: list[dict[str, Any]], rows: list[dict], command: str, seconds: float) -> str:
    head = (
        "| key | API answers | keys | queries per verification | WSR min / median | largest p | copies "
        "| innocent: largest WSR | innocent copies | accuracy cost (median pp) | triggers still right |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {s['key']} | {s['answer']} | {s['keys']} | {s['queries']} | {s['wsr'][0]:.3f} / {s['wsr'][1]:.3f} "
        f"| {s['p_max']:.2g} | {s['copies']}/{s['keys']} | {s['innocent_wsr_max']:.3f} "
        f"| {s['innocent_copies']}/{s['keys']} | {s['acc_cost_pp']:.2f} | {s['triggers_correct']}/{s['keys']} |\n"
        for s in summary
    )
    return (
        f"# Label-only keys through a prediction API\n\n`{command}` ({seconds / 60:.1f} min, {_common.machine()})."
        f"\n\nDigits CNN (width 16), {BITS} bits × "
        f"{TRIGGERS} triggers per key, verified through the reference endpoint over HTTP; p is the one-sided "
        "Fisher exact p (α 0.01). The logit key is the reference: same model, same size, read through logits.\n\n"
        + head
        + body
        + "\n"
        + convictions(rows)
    )


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    count = 2 if args.quick else args.keys
    start = time.perf_counter()
    dataset = data.load("digits")
    base, innocent = train(dataset, 0), train(dataset, 1)
    rows = [
        row
        for metric in ("logit", "label")
        for i in range(count)
        for row in run_key(dataset, base, innocent, metric, i)
    ]
    seconds = time.perf_counter() - start
    summary = summarise(rows)
    command = (
        "python bench/label_only.py"
        + (" --quick" if args.quick else f" --keys {count}")
        + "".join(
            f" --{flag} {path}" for flag, path in (("json", args.json), ("markdown", args.markdown)) if path
        )
    )
    table = markdown(summary, rows, command, seconds)
    print(table)
    if args.json:
        settings = {
            "spec": SPEC.to_dict(),
            "bits": BITS,
            "triggers": TRIGGERS,
            "embed": {k: v.to_dict() for k, v in EMBED.items()},
        }
        args.json.write_text(
            json.dumps({"settings": settings, "seconds": seconds, "summary": summary, "rows": rows}, indent=2)
        )
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
