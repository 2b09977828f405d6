"""The watermark library's one error, apart so that every module (segments, keys, explain, embedding) can raise it."""

from verifier.errors import VerifierError


class WatermarkError(VerifierError):
    """A watermark key or its use is invalid (malformed key file, shapes that do not fit, bad settings)."""
