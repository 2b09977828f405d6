"""`make demo`: the main job on the embedded defaults, narrated step by step.

An owner trains a small classifier, embeds an interpretable watermark, and publishes the model, its card and
the sealed watermark key (which carries the secret trigger set); a buyer fetches and verifies every byte
against the chain; one flipped bit in a copy is caught and itemised. Then a thief circulates a fine-tuned
copy: the owner proves the watermark is in it, opens a dispute that commits to the evidence without revealing
it, reveals key and evidence together, and an arbiter checks both and settles the dispute on-chain.
Everything runs in this process on the default backends (a managed local Anvil whose state lives in the data
directory, and the embedded block store), in ./.ledgermark/demo; the last line is the command that serves what
the demo made as a web page.
"""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from pathlib import Path

from registry import backends as backendslib
from registry import chain as chainlib
from registry import dispute as dispute_flow
from registry import fetch as fetch_flow
from registry import publish as publish_flow
from registry import watermarking
from registry.config import CHAIN_LOCAL, IPFS_EMBEDDED, Settings
from registry.errors import RecordError
from verifier.watermark import data, embedding, models, training

DATASET = "digits"
SERVE_COMMAND = ".venv/bin/ledgermark"


def say(step: str, text: str = "") -> None:
    print(f"\n== {step}", flush=True)
    if text:
        print(textwrap.indent(text.rstrip(), "   "), flush=True)


def owner_prepares(folder: Path) -> tuple[watermarking.Embedded, Path]:
    """Train, watermark and describe a model: the files an owner publishes."""
    folder.mkdir(parents=True)
    base, accuracy = watermarking.train_base(DATASET, folder / "base.pt", arch="cnn", width=16, epochs=30)
    say("Owner: trained a small CNN on the bundled digits", f"test accuracy {accuracy:.4f}  ({base})")
    options = watermarking.EmbedOptions(bits=16, triggers=2, config=embedding.EmbedConfig(steps=400))
    embedded = watermarking.embed_file(base, DATASET, folder / "model.pt", folder / "key.wmk", options)
    r = embedded.report
    say(
        "Owner: embedded a 16-bit interpretable watermark in the explanations of 2 secret triggers",
        f"WSR {r.wsr_before:.3f} → {r.wsr_after:.3f} in {r.steps} steps; clean accuracy "
        f"{r.clean_acc_before:.4f} → {r.clean_acc_after:.4f}; triggers still predicted correctly: "
        f"{r.triggers_correct}\nsecret key {embedded.key_path} (the trigger set lives inside it)",
    )
    card = folder / "card.json"
    card.write_text(json.dumps({"name": "digits-cnn", "dataset": DATASET, "accuracy": r.clean_acc_after}))
    return embedded, card


def thief_copies(model_path: Path, out: Path) -> Path:
    """A stolen copy, fine-tuned a little so that its bytes (and hash) differ from the original."""
    model = models.load_model(model_path)
    dataset = data.load(DATASET)
    config = training.TrainConfig(epochs=1, batch_size=64, lr=1e-3, max_steps=50, seed=7)
    training.train(model, dataset.x_train, dataset.y_train, config)
    return models.save_model(model, out)


def run(workdir: Path) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    settings = Settings(data_dir=workdir / "state", chain=CHAIN_LOCAL, ipfs=IPFS_EMBEDDED)
    with backendslib.open_backends(settings) as backends:
        say("Backends", "\n".join(f"{k:<9} {v}" for k, v in backends.describe().items()))
        embedded, card = owner_prepares(workdir / "owner")
        sealed = publish_flow.seal_watermark_key(embedded.key_path, workdir / "owner")
        artifacts = [
            publish_flow.Artifact(embedded.model_path, role="model"),
            publish_flow.Artifact(card, role="card"),
            sealed.artifact,
        ]
        pub = publish_flow.publish(backends, artifacts, name="digits-cnn", watermark_key_hash=sealed.key_hash)
        say(
            "Owner: published (artifacts and manifest on IPFS, Merkle root anchored on-chain, commit–reveal)",
            "\n".join(
                [
                    f"record id   {pub.record_id}",
                    f"merkle root 0x{pub.root.hex()}",
                    f"manifest    {pub.manifest_cid}",
                    f"transaction {pub.tx_hash}",
                    f"key hash    0x{sealed.key_hash.hex()} (the sealed key's plaintext, anchored)",
                    *[f"{e.role:<13} {e.path} -> {e.cid}" for e in pub.manifest.entries],
                ]
            ),
        )

        result = fetch_flow.fetch(backends, str(pub.record_id), workdir / "buyer")
        say(
            "Buyer: fetched the record and verified every byte against the chain",
            "\n".join(f"ok  {p}  (sha256, CID and on-chain Merkle proof all match)" for p in result.files),
        )
        if not _tamper_is_caught(backends, pub.record_id, workdir):
            return 1

        say("A buyer asks for a record that does not exist")
        try:
            fetch_flow.fetch(backends, str(pub.record_id + 41), workdir / "buyer-2")
        except RecordError as err:
            print(f"   refused: {err}")

        if not _dispute(backends, pub.record_id, embedded, sealed.data_key, workdir):
            return 1
    say("Done", f"everything the demo wrote is under {workdir}")
    say(
        "Browse the demo's records and dispute as a web page (then open http://127.0.0.1:8000/)",
        f"{SERVE_COMMAND} --data-dir {workdir / 'state'} serve --port 8000",
    )
    return 0


def _tamper_is_caught(backends: backendslib.Backends, record_id: int, workdir: Path) -> bool:
    tampered = workdir / "tampered"
    shutil.copytree(workdir / "buyer", tampered)
    model_copy = tampered / "model.pt"
    content = bytearray(model_copy.read_bytes())
    content[len(content) // 2] ^= 0x01
    model_copy.write_bytes(bytes(content))
    say("Someone flips one bit in the middle of a copy of model.pt", f"{model_copy}")
    _, comparison = fetch_flow.verify_files(backends, str(record_id), [tampered])
    if comparison.ok:
        say("UNEXPECTED: the tampered copy verified as intact")
        return False
    say("Buyer: verifying the tampered copy fails, item by item", "\n".join(comparison.describe()))
    return True


def _dispute(
    backends: backendslib.Backends,
    record_id: int,
    embedded: watermarking.Embedded,
    data_key: bytes,
    workdir: Path,
) -> bool:
    suspect = thief_copies(embedded.model_path, workdir / "thief-model.pt")
    say(
        "A thief fine-tunes a copy of the model and passes it off as their own",
        f"{suspect} (sha256 {watermarking.sha256_file(suspect)[:16]}…, not the published bytes)",
    )
    claim = dispute_flow.claim(
        backends, str(record_id), suspect, embedded.key_path.read_bytes(), report_dir=workdir / "evidence"
    )
    say(
        "Owner: extracted the watermark from the suspect and opened a dispute committing to the private report",
        f"{claim.evidence.result.verdict}\nreport {claim.evidence.html_path} (owner-only, not uploaded)"
        f"\ncommitted SHA-256 {claim.evidence.report_sha256.hex()}, public summary {claim.summary_cid}"
        f"\ndispute {claim.dispute.dispute_id}, bond {claim.dispute.bond / 1e18:g} ETH",
    )
    dispute_id = claim.dispute.dispute_id
    key_cid, tx = dispute_flow.reveal(backends, dispute_id, embedded.key_path.read_bytes(), data_key)
    say(
        "Owner: revealed the sealed key's data key and pinned the full evidence report",
        f"the contract checked keccak256({key_cid}) against record {record_id}; the plaintext key was never "
        "uploaded: the data key opens the sealed copy the record anchors\n"
        f"full report {tx.event('KeyRevealed')['reportCid']} (its SHA-256 is the commitment)",
    )

    arbiter_account = backends.chain.dev_accounts(2)[1]
    backends.disputes.grant_arbiter(arbiter_account.address)
    arbiter = backends.signed_by(arbiter_account)
    review = dispute_flow.review(arbiter, dispute_id, report_dir=workdir / "review", model=suspect)
    dispute_flow.vote(arbiter.disputes, dispute_id, review.result.is_copy, str(review.report_cid))
    say(
        "Arbiter: checked the revealed report against the commitment, unsealed the anchored key with the "
        "revealed data key (its hash matches the record), re-ran the test and voted with its own pinned report",
        f"{'uphold' if review.result.is_copy else 'reject'} (report {review.report_cid})",
    )
    resolution = dispute_flow.finalise(backends.disputes, dispute_id, skip_wait_on_dev_chain=True)
    say(
        "Anyone: finalised after the deadline",
        f"dispute {dispute_id} {resolution.outcome.name.lower()}; "
        f"bond of {resolution.bond_wei / 1e18:g} ETH returned to {resolution.recipient}",
    )
    return resolution.outcome is chainlib.DisputeStatus.UPHELD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".ledgermark/demo"))
    raise SystemExit(run(parser.parse_args().workdir))


if __name__ == "__main__":
    main()
