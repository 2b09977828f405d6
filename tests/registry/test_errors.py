"""One exception root: every library's errors are LedgermarkErrors, and tampering stays distinct from misuse."""

from __future__ import annotations

import pytest

from ipfs.errors import ContentIntegrityError, IntegrityError, IpfsError, LedgermarkError
from registry import errors
from registry.chain.errors import ChainError
from verifier.errors import VerifierError
from verifier.integrity.manifest import ManifestError
from verifier.integrity.merkle import MerkleError


@pytest.mark.parametrize(
    "error",
    [
        IpfsError,
        VerifierError,
        ChainError,
        ManifestError,
        MerkleError,
        errors.ConfigError,
        errors.RecordError,
    ],
)
def test_every_library_root_is_a_ledgermark_error_but_not_tampering(error: type[Exception]) -> None:
    assert issubclass(error, LedgermarkError)
    assert not issubclass(error, IntegrityError)


@pytest.mark.parametrize("error", [ContentIntegrityError, errors.VerificationFailed])
def test_tampering_is_an_integrity_error(error: type[Exception]) -> None:
    assert issubclass(error, IntegrityError) and issubclass(error, LedgermarkError)
