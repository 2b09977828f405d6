"""The index's tables. Events are the truth copied from the chain; the other tables are projections of them.

``events`` holds every decoded event of both contracts with its block; ``blocks`` the hash of every block that
held one (and of recent sync heads), so a reorganisation is found by comparing hashes. ``records``,
``disputes`` and ``votes`` are rebuilt from ``events`` alone (``_project.replay``). ``manifests`` holds what IPFS
gave for a manifest CID: content-addressed, so a reorg never invalidates it. A record's ``name`` and
``manifest_status`` and its ``record_fts`` row (keyed by record id) are copied from its manifest once that is
fetched and checked against the record's root (``RecordIndex._link``), so that listing, counting and search
read one table, never a join per row.
A schema change bumps ``VERSION``: an index of another version is deleted and rebuilt (it is a cache).
"""

from __future__ import annotations

VERSION = 4

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash TEXT NOT NULL, timestamp INTEGER, has_events INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL, contract TEXT NOT NULL,
    name TEXT NOT NULL, record_id INTEGER, dispute_id INTEGER, args TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_record ON events (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_dispute ON events (dispute_id) WHERE dispute_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS records (
    record_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, root TEXT NOT NULL, leaf_count INTEGER NOT NULL,
    manifest_cid TEXT NOT NULL, key_hash TEXT NOT NULL, parent_id INTEGER NOT NULL, derivation TEXT NOT NULL,
    registered_block INTEGER NOT NULL, registered_at INTEGER NOT NULL, tx_hash TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, open_disputes INTEGER NOT NULL DEFAULT 0,
    children INTEGER NOT NULL DEFAULT 0, name TEXT, manifest_status TEXT NOT NULL DEFAULT 'missing'
);
CREATE INDEX IF NOT EXISTS records_name ON records (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS records_owner ON records (owner, record_id);
CREATE INDEX IF NOT EXISTS records_parent ON records (parent_id, record_id);
CREATE INDEX IF NOT EXISTS records_root ON records (root);
CREATE INDEX IF NOT EXISTS records_manifest ON records (manifest_cid);
CREATE INDEX IF NOT EXISTS records_revoked ON records (revoked, record_id);
CREATE INDEX IF NOT EXISTS records_disputed ON records (open_disputes, record_id);
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id INTEGER PRIMARY KEY, claimant TEXT NOT NULL, claimant_record INTEGER NOT NULL,
    suspect_root TEXT NOT NULL, suspect_record INTEGER NOT NULL, suspect_owner TEXT NOT NULL,
    priority TEXT NOT NULL, status TEXT NOT NULL, bond TEXT NOT NULL, deadline INTEGER NOT NULL,
    evidence_hash TEXT NOT NULL, evidence_cid TEXT NOT NULL, key_revealed INTEGER NOT NULL DEFAULT 0,
    key_cid TEXT, data_key TEXT, report_cid TEXT, uphold_votes INTEGER NOT NULL DEFAULT 0,
    reject_votes INTEGER NOT NULL DEFAULT 0, opened_block INTEGER NOT NULL, opened_tx TEXT NOT NULL,
    resolved_block INTEGER, resolved_tx TEXT, bond_recipient TEXT
);
CREATE INDEX IF NOT EXISTS disputes_claimant ON disputes (claimant_record);
CREATE INDEX IF NOT EXISTS disputes_suspect ON disputes (suspect_record);
CREATE INDEX IF NOT EXISTS disputes_status ON disputes (status);
CREATE TABLE IF NOT EXISTS votes (
    dispute_id INTEGER NOT NULL, arbiter TEXT NOT NULL, uphold INTEGER NOT NULL, report_cid TEXT NOT NULL,
    block INTEGER NOT NULL, tx_hash TEXT NOT NULL, PRIMARY KEY (dispute_id, arbiter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests (
    id INTEGER PRIMARY KEY, cid TEXT NOT NULL UNIQUE, status TEXT NOT NULL, root TEXT, leaf_count INTEGER,
    name TEXT, document TEXT, card TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS manifests_retry ON manifests (status, retry_at);
CREATE VIRTUAL TABLE IF NOT EXISTS record_fts USING fts5 (name, card, tokenize = 'unicode61', prefix = '2 3');
"""

PROJECTIONS = ("records", "disputes", "votes")
"""The tables ``replay`` rebuilds from ``events``."""
