"""The owner's and the arbiter's science: keys, explanation and extraction, embedding (DESIGN.md §7).

Beside them: ``stats`` (the ownership test), ``report`` (evidence reports), and the helpers the tools need to
have something to watermark: ``models``, ``data``, ``training``. Everything here imports torch; the buyer's
integrity checks (``verifier.integrity``) never do.
"""

from verifier.watermark._core import *
