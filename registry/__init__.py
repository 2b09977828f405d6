"""Ledgermark's registry: the flows (publish, fetch, dispute, lineage), the chain binding and the front ends.

``registry.__version__`` is read from the installed package's metadata on first use (importlib.metadata costs
a few milliseconds that most commands never pay); a source tree that was never installed reports ``0+unknown``.
"""

from __future__ import annotations

DISTRIBUTION = "ledgermark"


def __getattr__(name: str) -> str:
    """Lazy module attribute: ``__version__``."""
    if name != "__version__":
        raise AttributeError(f"module 'registry' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
