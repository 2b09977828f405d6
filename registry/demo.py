"""`make demo`: the main job on the embedded defaults, narrated step by step.

An owner publishes a small model and its trigger set; a buyer fetches and verifies them against the chain;
then one flipped byte in a copy of the model is caught and itemised. Everything runs in this process (the
in-process EVM and the embedded block store), in a fresh folder under ./.ledgermark/demo.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

import numpy as np
import torch

from registry import backends as backendslib
from registry import fetching, publishing
from registry.config import CHAIN_EMBEDDED, IPFS_EMBEDDED, Settings
from registry.errors import RecordError, VerificationFailed


def say(step: str, text: str = "") -> None:
    print(f"\n== {step}")
    if text:
        print(textwrap.indent(text.rstrip(), "   "))


def make_artifacts(folder: Path, seed: int = 0) -> list[publishing.Artifact]:
    """A small CNN's weights and a trigger set, generated so the demo needs no download."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 28 * 28, 10),
    )
    torch.save({"arch": "demo-cnn", "state_dict": model.state_dict()}, folder / "model.pt")
    rng = np.random.default_rng(seed)
    np.savez(
        folder / "triggers.npz", inputs=rng.random((4, 1, 28, 28), dtype=np.float32), labels=np.arange(4)
    )
    return [
        publishing.Artifact(folder / "model.pt", role="model"),
        publishing.Artifact(folder / "triggers.npz", role="trigger"),
    ]


def run(workdir: Path) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    settings = Settings(data_dir=workdir / "state", chain=CHAIN_EMBEDDED, ipfs=IPFS_EMBEDDED)
    with backendslib.open_backends(settings) as backends:
        say("Backends", "\n".join(f"{k:<9} {v}" for k, v in backends.describe().items()))

        artifacts = make_artifacts(workdir / "owner")
        say(
            "Owner: generated artifacts",
            "\n".join(f"{a.role:<8} {a.path} ({a.path.stat().st_size} bytes)" for a in artifacts),
        )

        pub = publishing.publish(backends, artifacts, name="demo-cnn")
        say(
            "Owner: published (artifacts and manifest on IPFS, Merkle root anchored on-chain)",
            "\n".join(
                [
                    f"record id   {pub.record_id}",
                    f"merkle root 0x{pub.root.hex()}",
                    f"manifest    {pub.manifest_cid}",
                    f"transaction {pub.tx_hash}",
                    *[f"{e.role:<11} {e.path} -> {e.cid}" for e in pub.manifest.entries],
                ]
            ),
        )

        result = fetching.fetch(backends, str(pub.record_id), workdir / "buyer")
        say(
            "Buyer: fetched the record and verified every byte against the chain",
            "\n".join(f"ok  {p}  (sha256, CID and on-chain Merkle proof all match)" for p in result.files),
        )

        tampered = workdir / "tampered"
        shutil.copytree(workdir / "buyer", tampered)
        model_copy = tampered / "model.pt"
        data = bytearray(model_copy.read_bytes())
        data[len(data) // 2] ^= 0x01
        model_copy.write_bytes(bytes(data))
        say("Someone flips one bit in the middle of a copy of model.pt", f"{model_copy}")

        _, comparison = fetching.verify_files(backends, str(pub.record_id), [tampered])
        if comparison.ok:
            say("UNEXPECTED: the tampered copy verified as intact")
            return 1
        say("Buyer: verifying the tampered copy fails, item by item", "\n".join(comparison.describe()))

        (workdir / "buyer-2").mkdir()
        say("A buyer asks for a record that does not exist")
        try:
            fetching.fetch(backends, str(pub.record_id + 41), workdir / "buyer-2")
        except RecordError as err:
            print(f"   refused: {err}")
        except VerificationFailed as err:  # pragma: no cover - would be a bug
            print(f"   UNEXPECTED verification failure: {err}")
            return 1
    say("Done", f"everything the demo wrote is under {workdir}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".ledgermark/demo"))
    raise SystemExit(run(parser.parse_args().workdir))


if __name__ == "__main__":
    main()
