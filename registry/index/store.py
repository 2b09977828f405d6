"""``RecordIndex``: a SQLite cache of the registry, rebuilt from the chain, for listing, search and detail.

Reading records from the chain means scanning events from the deployment block (26 s for 100,000 records in
docs/results/index.md, and linear): a marketplace page cannot wait for that. The index follows both contracts' events up to the confirmed
head (``Settings.confirmations``), keeps the hash of every block it took an event from, and on each sync first
checks that the block it stopped at is still on the chain; when it is not, it walks back to the newest stored
block that is, drops everything after it and replays the projections from the kept events (a reorganisation).
Manifests and card text come from IPFS through the store, verified; a missing manifest leaves the record
listed without a name and is retried later with a growing delay.

Everything here can be thrown away: deleting the file loses nothing, the next ``sync`` rebuilds it. The file
uses WAL, one connection per thread, so readers never wait for the follower's writes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import is_hex_address, to_checksum_address

from registry.errors import LedgermarkError
from registry.index import _content, _follow, _project, _schema
from registry.index.rows import (
    ArtifactRow,
    DisputeRow,
    IndexStatus,
    Page,
    RecordRow,
    SyncReport,
    TransactionRow,
    VoteRow,
)

if TYPE_CHECKING:
    from registry.backends import Backends

log = logging.getLogger(__name__)

MAX_LIMIT = 200
MAX_SQL_ID = 2**63 - 1
"""SQLite's largest integer: record ids (uint256 on chain) beyond it are never indexed."""
MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 16
KEEP_CHECKPOINTS = 1024
"""Sync heads older than this many blocks are forgotten (blocks that held events are always kept)."""
DISPUTE_STATUSES = ("open", "upheld", "rejected", "undecided")
MAX_CACHED_COUNTS = 256
RETRY_BASE_S = 5.0
RETRY_MAX_S = 3600.0
"""A missing manifest is tried again after 5 s, 10 s, 20 s… at most an hour apart."""

_RECORD_COLUMNS = (
    "r.record_id, r.owner, r.root, r.leaf_count, r.manifest_cid, r.key_hash, r.parent_id, r.derivation, "
    "r.registered_block, r.registered_at, r.tx_hash, r.revoked, r.open_disputes, r.children, "
    "r.name, r.manifest_status"
)
_MATCHES = "m.status IN ('ok', 'partial') AND m.root = records.root AND m.leaf_count = records.leaf_count"
_LINK = f"""
UPDATE records SET
    manifest_status = CASE WHEN {_MATCHES} THEN 'verified'
                           WHEN m.status IN ('ok', 'partial', 'invalid') THEN 'invalid' ELSE 'missing' END,
    name = CASE WHEN {_MATCHES} THEN m.name END
FROM manifests m WHERE m.cid = records.manifest_cid AND records.manifest_cid IN (SELECT value FROM json_each(?))
"""
_SEARCHABLE = """
INSERT INTO record_fts (rowid, name, card)
SELECT r.record_id, r.name, coalesce(m.card, '') FROM records r JOIN manifests m ON m.cid = r.manifest_cid
WHERE r.manifest_status = 'verified' AND r.manifest_cid IN (SELECT value FROM json_each(?))
"""


class IndexQueryError(LedgermarkError):
    """A listing parameter the index cannot use (a malformed cursor, owner, limit or search)."""


class RecordIndex:
    """The index file at ``path``; open with ``RecordIndex.open``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._sync_lock = threading.Lock()
        self._last_error: str | None = None
        self._last_sync_at: float | None = None
        self._writes = 0  # commits through this object: data_version does not see a connection's own
        self.retry_base_s = RETRY_BASE_S

    @classmethod
    def open(cls, path: Path) -> RecordIndex:
        """Open (or create) the index; a file of another schema version, or not SQLite, is deleted and rebuilt."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        index = cls(path)
        try:
            index._prepare()
        except sqlite3.DatabaseError as err:
            log.warning("index %s is unreadable (%s): rebuilding it from the chain", path, err)
            index.close()
            index._delete_files()
            index._prepare()
        return index

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- following the chain -------------------------------------------------------------------

    def sync(
        self,
        backends: Backends,
        *,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        max_manifests: int | None = None,
    ) -> SyncReport:
        """Follow the contracts' events to the confirmed head, undoing a reorganisation first, then fetch the
        manifests that are due. ``lock`` is held around each chain request batch (the service's backends
        lock: an in-process chain serves one caller at a time)."""
        guard = lock or contextlib.nullcontext()
        started = time.monotonic()
        with self._sync_lock:
            try:
                report = self._sync(backends, guard, max_manifests, started)
            except Exception as err:
                self._last_error = f"{type(err).__name__}: {err}"[:500]
                raise
            self._last_error = None
            self._last_sync_at = time.time()
            return report

    def _sync(self, backends: Backends, guard: Any, max_manifests: int | None, started: float) -> SyncReport:
        contracts = _follow.Contracts.of(backends)
        self._bind(contracts)
        with guard:
            head = _follow.confirmed_head(backends.chain)
            fork = self._fork_point(backends, contracts)
        reorgs = 0
        if fork is not None:
            self._roll_back(fork)
            reorgs = 1
        if self._meta("head_block") != str(head):  # an unchanged index keeps its cached totals
            self._set_meta("head_block", str(head))
        first = (
            self.indexed_block + 1 if self.indexed_block >= contracts.deployed_at else contracts.deployed_at
        )
        events = added = 0
        start, span = first, _follow.FIRST_SPAN
        while start <= head:
            end = min(head, start + span - 1)
            with guard:
                counted = self._read_range(backends, contracts, start, end)
            if counted is None:
                break  # the chain changed under the scan: the next sync starts by undoing it
            events, added = events + counted[0], added + counted[1]
            span = _follow.next_span(end - start + 1, counted[0])
            start = end + 1
        fetched, missing = self._fetch_manifests(backends, max_manifests)
        return SyncReport(
            from_block=first,
            to_block=self.indexed_block,
            events=events,
            records_added=added,
            manifests_fetched=fetched,
            manifests_missing=missing,
            reorgs=reorgs,
            rolled_back_to=fork,
            seconds=round(time.monotonic() - started, 3),
        )

    def _read_range(
        self, backends: Backends, contracts: _follow.Contracts, start: int, end: int
    ) -> tuple[int, int] | None:
        """Store the events of ``start..end`` and make ``end`` the indexed block; None (nothing stored) when
        ``end``'s hash changed while the range was read."""
        chain = backends.chain
        before = _follow.header(chain, end)
        events, hashes = _follow.events(chain, contracts, start, end)
        times: dict[int, int] = {}
        for number in sorted({e.block for e in events if e.name == "ModelRegistered"}):
            found = _follow.header(chain, number)
            if found is None or found.hash != hashes[number]:
                return None
            times[number] = found.timestamp
        after = _follow.header(chain, end)
        if before is None or after is None or before.hash != after.hash:
            return None
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, 1)",
                [(n, h, times.get(n)) for n, h in hashes.items()],
            )
            conn.execute(
                "INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, 0)", (end, after.hash, after.timestamp)
            )
            cids = _project.store_all(conn, events)
            conn.executemany(  # new manifests to fetch; a CID seen before keeps its row (content never changes)
                "INSERT OR IGNORE INTO manifests (cid, status) VALUES (?, 'pending')", [(c,) for c in cids]
            )
            if cids:
                self._link(conn, cids)  # a manifest fetched before (a reorg, a reused CID) applies at once
            conn.execute("DELETE FROM blocks WHERE has_events = 0 AND number < ?", (end - KEEP_CHECKPOINTS,))
            self._put_meta(conn, "indexed_block", str(end))
        return len(events), len(cids)

    def _fork_point(self, backends: Backends, contracts: _follow.Contracts) -> int | None:
        """None when the indexed block is still on the chain; else the newest stored block that is (every block
        after it must be dropped), or the block before the deployment when none is."""
        indexed = self.indexed_block
        if indexed < contracts.deployed_at:
            return None
        conn = self._conn()
        stored = conn.execute("SELECT hash FROM blocks WHERE number = ?", (indexed,)).fetchone()
        current = _follow.header(backends.chain, indexed)
        if stored is not None and current is not None and current.hash == stored[0]:
            return None
        for number, block_hash in conn.execute(
            "SELECT number, hash FROM blocks WHERE number < ? ORDER BY number DESC", (indexed,)
        ).fetchall():
            found = _follow.header(backends.chain, number)
            if found is not None and found.hash == block_hash:
                return int(number)
        return contracts.deployed_at - 1

    def _roll_back(self, fork: int) -> None:
        """Forget every block after ``fork`` and rebuild the projections from the events that remain."""
        with self._write() as conn:
            dropped = conn.execute("DELETE FROM events WHERE block > ?", (fork,)).rowcount
            conn.execute("DELETE FROM blocks WHERE number > ?", (fork,))
            _project.replay(conn)
            self._link(conn, None)
            self._put_meta(conn, "indexed_block", str(fork))
        log.warning("chain reorganisation: index rolled back to block %d (%d events dropped)", fork, dropped)

    def reset(self) -> None:
        """Forget everything (the next ``sync`` rebuilds from the deployment block); safe while others read."""
        with self._sync_lock, self._write() as conn:
            _forget(conn, "manifests")

    def _bind(self, contracts: _follow.Contracts) -> None:
        """Tie the file to one deployment; another chain or contract pair empties it first."""
        identity = self._meta("contracts")
        if identity == contracts.identity():
            return
        if identity is not None:
            log.warning("index %s followed %s, now %s: rebuilding", self.path, identity, contracts.identity())
        with self._write() as conn:
            _forget(conn)  # manifests stay: content-addressed, they hold for any deployment naming them
            self._put_meta(conn, "contracts", contracts.identity())
            self._put_meta(conn, "indexed_block", str(contracts.deployed_at - 1))

    def _fetch_manifests(self, backends: Backends, limit: int | None) -> tuple[int, int]:
        """Fetch the manifests that are due (new, or missing and past their retry time)."""
        due = (
            self._conn()
            .execute(
                "SELECT id, cid, attempts FROM manifests WHERE status IN ('pending', 'missing', 'partial') "
                "AND retry_at <= ? ORDER BY id LIMIT ?",
                (time.time(), -1 if limit is None else limit),
            )
            .fetchall()
        )
        fetched = missing = 0
        batch: list[tuple[str, int, _content.Fetched]] = []
        for _, cid, attempts in due:
            result = _content.fetch(backends.store, cid)
            batch.append((cid, attempts, result))
            fetched += result.status in ("ok", "partial", "invalid")
            missing += result.status == "missing"
            if len(batch) >= 500:
                self._store_manifests(batch)
                batch = []
        self._store_manifests(batch)
        return fetched, missing

    def _store_manifests(self, batch: list[tuple[str, int, _content.Fetched]]) -> None:
        if not batch:
            return
        now = time.time()
        rows = [
            (
                got.status,
                got.root,
                got.leaf_count,
                got.name,
                got.document,
                got.card,
                got.error,
                attempts + 1,
                now + min(RETRY_MAX_S, self.retry_base_s * 2**attempts)
                if got.status in ("missing", "partial")
                else 0.0,
                cid,
            )
            for cid, attempts, got in batch
        ]
        with self._write() as conn:  # one transaction and one prepared statement per batch
            conn.executemany(
                "UPDATE manifests SET status = ?, root = ?, leaf_count = ?, name = ?, document = ?, card = ?,"
                " error = ?, attempts = ?, retry_at = ? WHERE cid = ?",
                rows,
            )
            self._link(conn, [cid for cid, _, _ in batch])

    @staticmethod
    def _link(conn: sqlite3.Connection, cids: list[str] | None) -> None:
        """Copy what the manifests ``cids`` (None: every one) say onto the records naming them: name and
        status when the manifest is the one the record anchors, and the record's search row."""
        if cids is None:
            cids = [row[0] for row in conn.execute("SELECT DISTINCT manifest_cid FROM records")]
            conn.execute("DELETE FROM record_fts")
        else:
            conn.execute(
                "DELETE FROM record_fts WHERE rowid IN (SELECT record_id FROM records "
                "WHERE manifest_cid IN (SELECT value FROM json_each(?)))",
                (json.dumps(cids),),
            )
        listed = json.dumps(cids)
        conn.execute(_LINK, (listed,))
        conn.execute(_SEARCHABLE, (listed,))

    # -- reading -------------------------------------------------------------------------------

    def records(
        self,
        *,
        owner: str | None = None,
        name: str | None = None,
        parent: int | None = None,
        revoked: bool | None = None,
        open_dispute: bool | None = None,
        query: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """A page of records, newest first, filtered; ``query`` is full-text search over names and cards."""
        if not 1 <= limit <= MAX_LIMIT:
            raise IndexQueryError(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
        where, params = _filters(owner, name, parent, revoked, open_dispute, query)
        conn = self._conn()
        with _snapshot(conn):
            before = None if cursor is None else decode_cursor(cursor)
            only_search = query is not None and (owner, name, parent, revoked, open_dispute) == (None,) * 5
            if only_search:  # every search row is a verified record: FTS5 counts its own hits
                total = self._count(conn, "record_fts MATCH ?", params[-1:], source="record_fts")
            else:
                total = self._count(conn, where, params)
            if only_search:  # FTS5 walks its doclist newest first and stops: no set of every match is built
                where, params = _search_page(conn, params[-1], before, limit + 1)
            elif before is not None:
                where, params = where + " AND r.record_id < ?", [*params, before]
            rows = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE {where} ORDER BY r.record_id DESC LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
        items = tuple(_record_row(row) for row in rows[:limit])
        more = len(rows) > limit
        return Page(
            items=items, next_cursor=encode_cursor(items[-1].record_id) if more else None, total=total
        )

    def _count(
        self, conn: sqlite3.Connection, where: str, params: list[Any], source: str = "records r"
    ) -> int:
        """How many records match, remembered until the index changes (``PRAGMA data_version`` moves when the
        follower commits): counting 100,000 matches costs tens of ms, and a listing asks the same few counts."""
        version = (conn.execute("PRAGMA data_version").fetchone()[0], self._writes)  # others', and ours
        cache = getattr(self._local, "counts", None)
        if cache is None or self._local.version != version or len(cache) > MAX_CACHED_COUNTS:
            cache = self._local.counts = {}
            self._local.version = version
        key = (source, where, tuple(params))
        if key not in cache:
            cache[key] = conn.execute(f"SELECT COUNT(*) FROM {source} WHERE {where}", params).fetchone()[0]
        return cache[key]

    def record(self, record_id: int) -> RecordRow | None:
        """The record, or None; an id past SQLite's integers (a uint256 may be) names no indexed record."""
        return self._record_where("r.record_id = ?", record_id) if record_id <= MAX_SQL_ID else None

    def record_by_root(self, root: bytes) -> RecordRow | None:
        return self._record_where("r.root = ?", "0x" + root.hex())

    def _record_where(self, where: str, value: Any) -> RecordRow | None:
        row = (
            self._conn()
            .execute(f"SELECT {_RECORD_COLUMNS} FROM records r WHERE {where}", (value,))
            .fetchone()
        )
        return None if row is None else _record_row(row)

    def artifacts(self, record_id: int) -> tuple[ArtifactRow, ...] | None:
        """The record's artifacts from its verified manifest, in manifest (Merkle leaf) order; None when the
        manifest is missing or is not the one the record anchors."""
        row = (
            self._conn()
            .execute(
                "SELECT m.document FROM records r JOIN manifests m ON m.cid = r.manifest_cid "
                "WHERE r.record_id = ? AND r.manifest_status = 'verified'",
                (record_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return tuple(
            ArtifactRow(e["role"], e["path"], e["size"], e["sha256"], e["cid"], e.get("profile"))
            for e in json.loads(row[0])["entries"]
        )

    def ancestry(self, record_id: int, *, max_depth: int = 256) -> list[RecordRow]:
        """The record, its parent, grandparent… (bounded by ``max_depth``)."""
        chain: list[RecordRow] = []
        current = self.record(record_id)
        while current is not None and len(chain) < max_depth:
            chain.append(current)
            current = self.record(current.parent_id) if current.parent_id else None
        return chain

    def children(self, record_id: int, *, limit: int = 100) -> list[RecordRow]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE r.parent_id = ? ORDER BY r.record_id LIMIT ?",
                (record_id, limit),
            )
            .fetchall()
        )
        return [_record_row(row) for row in rows]

    def transactions(self, record_id: int) -> list[TransactionRow]:
        """The record's events (registration, transfers, revocation) and those of the disputes it is party to."""
        rows = (
            self._conn()
            .execute(
                "SELECT name, block, log_index, tx_hash, args FROM events WHERE record_id = ? UNION ALL "
                "SELECT name, block, log_index, tx_hash, args FROM events WHERE dispute_id IN "
                "(SELECT dispute_id FROM disputes WHERE claimant_record = ? OR suspect_record = ?) "
                "ORDER BY 2, 3",
                (record_id, record_id, record_id),
            )
            .fetchall()
        )
        return [TransactionRow(n, b, i, t, json.loads(a)) for n, b, i, t, a in rows]

    def disputes(self, *, record_id: int | None = None, status: str | None = None) -> list[DisputeRow]:
        """Disputes, newest first: those ``record_id`` is party to (claimant or suspect), in ``status``."""
        clauses, params = ["1 = 1"], []
        if record_id is not None:
            clauses.append("(claimant_record = ? OR suspect_record = ?)")
            params += [record_id, record_id]
        if status is not None:
            if status not in DISPUTE_STATUSES:
                raise IndexQueryError(f"status must be one of {', '.join(DISPUTE_STATUSES)}, not {status!r}")
            clauses.append("status = ?")
            params.append(status)
        conn = self._conn()
        with _snapshot(conn):
            rows = conn.execute(
                f"SELECT * FROM disputes WHERE {' AND '.join(clauses)} ORDER BY dispute_id DESC",
                params,
            ).fetchall()
            return [self._dispute_row(conn, row) for row in rows]

    def dispute(self, dispute_id: int) -> DisputeRow | None:
        conn = self._conn()
        with _snapshot(conn):
            row = conn.execute("SELECT * FROM disputes WHERE dispute_id = ?", (dispute_id,)).fetchone()
            return None if row is None else self._dispute_row(conn, row)

    def status(self) -> IndexStatus:
        """How far the index has got (no chain request: the head is the one the last sync saw)."""
        conn = self._conn()
        with _snapshot(conn):
            records = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            disputes = conn.execute("SELECT COUNT(*) FROM disputes").fetchone()[0]
            missing = conn.execute(
                "SELECT COUNT(*) FROM manifests WHERE status IN ('pending', 'missing')"
            ).fetchone()[0]
            head = self._meta("head_block")
        indexed = self.indexed_block
        head_block = None if head is None else int(head)
        return IndexStatus(
            indexed_block=max(indexed, 0),
            head_block=head_block,
            lag_blocks=None if head_block is None else max(0, head_block - indexed),
            records=records,
            disputes=disputes,
            manifests_missing=missing,
            last_sync_at=self._last_sync_at,
            last_error=self._last_error,
        )

    @property
    def indexed_block(self) -> int:
        """The last block whose events are in the index (-1 before the first sync)."""
        value = self._meta("indexed_block")
        return -1 if value is None else int(value)

    # -- internals -----------------------------------------------------------------------------

    def _dispute_row(self, conn: sqlite3.Connection, row: sqlite3.Row) -> DisputeRow:
        votes = conn.execute(
            "SELECT arbiter, uphold, report_cid, block, tx_hash FROM votes WHERE dispute_id = ? ORDER BY block",
            (row["dispute_id"],),
        ).fetchall()
        values = dict(row)
        values["key_revealed"] = bool(values["key_revealed"])
        return DisputeRow(**values, votes=tuple(VoteRow(a, bool(u), c, b, t) for a, u, c, b, t in votes))

    def _prepare(self) -> None:
        conn = self._conn()
        version = None
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            found = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            version = None if found is None else int(found[0])
        if version is not None and version != _schema.VERSION:
            log.warning(
                "index %s has schema %s, this version needs %s: rebuilding",
                self.path,
                version,
                _schema.VERSION,
            )
            self.close()
            self._delete_files()
            conn = self._conn()
        conn.executescript(_schema.DDL)
        with self._write() as writing:
            self._put_meta(writing, "version", str(_schema.VERSION))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._writes += 1

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            self._put_meta(conn, key, value)

    @staticmethod
    def _put_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _forget(conn: sqlite3.Connection, *also: str) -> None:
    """Empty what the followed chain decided (events, blocks, projections, search rows, meta but the schema
    version), and the tables ``also`` names."""
    for table in ("events", "blocks", "record_fts", *_schema.PROJECTIONS, *also):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM meta WHERE key NOT IN ('version')")


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Several reads from one snapshot (a page and its total agree even while the follower writes)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _filters(
    owner: str | None,
    name: str | None,
    parent: int | None,
    revoked: bool | None,
    open_dispute: bool | None,
    query: str | None,
) -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], []
    if owner is not None:
        if not is_hex_address(owner):
            raise IndexQueryError(f"owner must be a 0x-prefixed 20-byte address, not {owner[:50]!r}")
        clauses.append("r.owner = ?")
        params.append(to_checksum_address(owner))
    if name is not None:
        clauses.append("r.name = ? COLLATE NOCASE")
        params.append(name)
    if parent is not None:
        clauses.append("r.parent_id = ?")
        params.append(parent)
    if revoked is not None:
        clauses.append("r.revoked = ?")
        params.append(int(revoked))
    if open_dispute is not None:
        clauses.append("r.open_disputes > 0" if open_dispute else "r.open_disputes = 0")
    if query is not None:
        clauses.append("r.record_id IN (SELECT rowid FROM record_fts WHERE record_fts MATCH ?)")
        params.append(fts_query(query))
    return " AND ".join(clauses), params


def _search_page(
    conn: sqlite3.Connection, match: str, before: int | None, count: int
) -> tuple[str, list[Any]]:
    """The WHERE clause selecting one page of search hits, found by FTS5 alone (newest first)."""
    bound = "AND rowid < ?" if before is not None else ""
    hits = conn.execute(
        f"SELECT rowid FROM record_fts WHERE record_fts MATCH ? {bound} ORDER BY rowid DESC LIMIT ?",
        [match, *([before] if before is not None else []), count],
    ).fetchall()
    ids = [h[0] for h in hits]
    return (f"r.record_id IN ({', '.join('?' * len(ids))})" if ids else "0 = 1"), ids


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: each word a quoted prefix term, all required (no FTS5 syntax passes)."""
    if len(text) > MAX_QUERY_CHARS:
        raise IndexQueryError(f"a search is at most {MAX_QUERY_CHARS} characters")
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split()]
    if not words:
        raise IndexQueryError("a search needs at least one letter or digit")
    if len(words) > MAX_QUERY_TERMS:
        raise IndexQueryError(f"a search is at most {MAX_QUERY_TERMS} words")
    return " ".join(f'"{w}"*' for w in words)


def encode_cursor(record_id: int) -> str:
    """The cursor of the page that starts after ``record_id`` (newest first): opaque to clients."""
    return base64.urlsafe_b64encode(f"r{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if len(cursor) > 40 or not text.startswith("r") or not text[1:].isdecimal():
            raise ValueError(text)
        return int(text[1:])
    except ValueError:
        raise IndexQueryError("cursor is not one this service gave: pass next_cursor unchanged") from None


def _record_row(row: sqlite3.Row) -> RecordRow:
    return RecordRow(
        record_id=row[0],
        owner=row[1],
        root=row[2],
        leaf_count=row[3],
        manifest_cid=row[4],
        watermark_key_hash=row[5],
        parent_id=row[6],
        derivation=row[7],
        registered_block=row[8],
        registered_at=row[9],
        tx_hash=row[10],
        revoked=bool(row[11]),
        open_disputes=row[12],
        children=row[13],
        name=row[14],
        manifest_status=row[15],
    )
