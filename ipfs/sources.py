"""``SourceChain``: one store to write to, several to read from, none of them trusted.

Content is addressed, so where a block comes from does not matter once it hashes to its CID: the primary store
(embedded or Kubo; writes and pins go there) is asked first, then each read source (gateways) in order. A
source that lacks the content or is down gives way to the next; one that serves bytes that do not match their
CID is reported by name and gives way too. A source that failed once is not asked again during that get (a
liar stays a liar, and a missing DAG rarely turns up block by block). Each get keeps a report of what every
source did (``last_report``, also logged at INFO) so that a front end can show it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from ipfs import unixfs
from ipfs.cid import Cid
from ipfs.errors import (
    ContentIntegrityError,
    ContentNotFoundError,
    IntegrityError,
    IpfsError,
    IpfsUnavailableError,
    LedgermarkError,
)
from ipfs.store import ContentStore, FileDigest, Progress, _check_block

log = logging.getLogger(__name__)

SERVED, MISSING, DOWN, CORRUPT, FAILED, UNUSED = "served", "missing", "down", "corrupt", "failed", "unused"


@dataclasses.dataclass
class SourceReport:
    """What one source did during one get: blocks it served, and how it failed if it did."""

    source: str
    outcome: str = UNUSED
    blocks: int = 0
    detail: str = ""

    def __str__(self) -> str:
        served = f"{self.blocks} verified block{'s' if self.blocks != 1 else ''}"
        if self.outcome in (SERVED, UNUSED):
            return f"{self.source}: {served}" if self.outcome == SERVED else f"{self.source}: not needed"
        extra = f" after {served}" if self.blocks else ""
        return f"{self.source}: {self.outcome}{extra} ({self.detail})"


def _summary(reports: Sequence[SourceReport]) -> str:
    return "; ".join(str(r) for r in reports)


class SourcesIntegrityError(ContentIntegrityError):
    """No source delivered the content intact, and at least one served bytes that do not match their CID."""

    def __init__(self, cid: str, reports: Sequence[SourceReport]) -> None:
        self.cid = cid
        self.reports = tuple(reports)
        self.expected, self.actual = (
            cid,
            "bad bytes from " + ", ".join(r.source for r in reports if r.outcome == CORRUPT),
        )
        IpfsError.__init__(
            self, f"content {cid} could not be fetched intact from any source: {_summary(reports)}"
        )


class SourcesNotFoundError(ContentNotFoundError):
    """No source had the content (or could be reached); none served bad bytes."""

    def __init__(self, cid: str, reports: Sequence[SourceReport]) -> None:
        self.cid = cid
        self.reports = tuple(reports)
        IpfsError.__init__(self, f"content {cid} is not available from any source: {_summary(reports)}")


class SourceChain(ContentStore):
    """The primary store plus read-only sources tried in order, block by block."""

    def __init__(self, primary: ContentStore, sources: Sequence[ContentStore] = ()) -> None:
        self.primary = primary
        self.sources: tuple[ContentStore, ...] = (primary, *sources)
        self.last_report: tuple[SourceReport, ...] = ()

    def describe(self) -> str:
        return " then ".join(s.describe() for s in self.sources)

    def close(self) -> None:
        for source in self.sources:
            with contextlib.suppress(Exception):
                source.close()

    # -- writing: the primary --------------------------------------------------------------------

    def _put_stream(
        self, stream: BinaryIO, *, profile: unixfs.ImportProfile, progress: Progress | None
    ) -> FileDigest:
        return self.primary._put_stream(stream, profile=profile, progress=progress)

    def pin(self, cid: str) -> None:
        self.primary.pin(cid)

    def pins(self) -> list[str]:
        return self.primary.pins()

    # -- reading: any source -----------------------------------------------------------------------

    def has(self, cid: str) -> bool:
        for source in self.sources:
            try:
                if source.has(cid):
                    return True
            except IpfsError as err:
                if isinstance(err, IntegrityError):
                    raise
                log.info("%s could not say whether it has %s: %s", source.describe(), cid, err)
        return False

    def _get_block(self, cid: Cid, root: str) -> bytes:
        with self._attempt(root, lambda source: lambda node: source._get_block(node, root)) as get:
            return get(cid)

    @contextlib.contextmanager
    def _block_source(self, root: str) -> Iterator[Callable[[Cid], bytes]]:
        with contextlib.ExitStack() as stack:

            def opener(source: ContentStore) -> Callable[[Cid], bytes]:
                return stack.enter_context(source._block_source(root))

            with self._attempt(root, opener) as get:
                yield get

    @contextlib.contextmanager
    def _attempt(
        self, root: str, opener: Callable[[ContentStore], Callable[[Cid], bytes]]
    ) -> Iterator[Callable[[Cid], bytes]]:
        """One get across the sources; ``opener`` gives a source's block getter, opened on first need."""
        attempt = _Attempt(root, self.sources, opener)
        self.last_report = attempt.reports
        try:
            yield attempt.get
        finally:
            for report in attempt.reports:
                log.info("fetch %s: %s", root, report)


class _Attempt:
    def __init__(
        self,
        root: str,
        sources: Sequence[ContentStore],
        opener: Callable[[ContentStore], Callable[[Cid], bytes]],
    ) -> None:
        self.root = root
        self.sources = sources
        self.opener = opener
        self.reports = tuple(SourceReport(s.describe()) for s in sources)
        self.getters: dict[int, Callable[[Cid], bytes]] = {}

    def get(self, node: Cid) -> bytes:
        """The first verified copy of ``node`` from the sources still in the running."""
        for index, report in enumerate(self.reports):
            if report.outcome not in (SERVED, UNUSED):
                continue
            try:
                block = self._getter(index)(node)
                _check_block(node, block, self.root)
            except LedgermarkError as err:
                self._failed(report, err)
                continue
            report.outcome = SERVED
            report.blocks += 1
            return block
        raise self._error()

    def _getter(self, index: int) -> Callable[[Cid], bytes]:
        """A source's block getter, opened on first need. A read source is first asked whether it holds the
        root (a cheap question): a node that lacks it would otherwise be waited on until its timeout."""
        if index not in self.getters:
            source = self.sources[index]
            if index > 0 and not source.has(self.root):
                raise ContentNotFoundError(self.root, source.describe())
            self.getters[index] = self.opener(source)
        return self.getters[index]

    def _failed(self, report: SourceReport, err: LedgermarkError) -> None:
        if isinstance(err, IntegrityError):
            report.outcome = CORRUPT
            log.info("%s served bad bytes for %s: %s", report.source, self.root, err)  # front ends show it
        elif isinstance(err, ContentNotFoundError):
            report.outcome = MISSING
        elif isinstance(err, IpfsUnavailableError):
            report.outcome = DOWN
        else:
            report.outcome = FAILED
        report.detail = str(err)

    def _error(self) -> IpfsError:
        if any(r.outcome == CORRUPT for r in self.reports):
            return SourcesIntegrityError(self.root, self.reports)
        return SourcesNotFoundError(self.root, self.reports)
