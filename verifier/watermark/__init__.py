"""The owner's and the arbiter's science: the interpretable watermark (DESIGN.md §7).

Start here: ``from verifier.watermark import embed, extract, verify`` watermarks and tests any
``torch.nn.Module`` classifier on the user's own data (``api``; models from files in ``sources``, data from
files in ``userdata``).

Underneath, read bottom-up: ``segments`` (how a trigger is cut into n segments, which masked copies are
queried), ``keys`` (the owner's secret: bits, triggers, canonical bytes), ``explain`` (ridge attributions and
extraction), ``embedding`` (fine-tuning the bits in), ``stats`` (the ownership test) and ``report`` (evidence
reports); ``errors`` holds ``WatermarkError``. Beside them, the helpers the tools need to have something to
watermark: ``models``, ``data``, ``training``. Those are imported by module (``from verifier.watermark import
keys``); the three functions above are the only names re-exported, and lazily, so importing one module does
not load them all. Everything here imports torch; the buyer's integrity checks (``verifier.integrity``) never
do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verifier.watermark.api import embed, extract, verify

__all__ = ["embed", "extract", "verify"]


def __getattr__(name: str) -> Any:
    """``embed``, ``extract`` and ``verify`` from ``api``, imported on first use (PEP 562)."""
    if name in __all__:
        from verifier.watermark import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
