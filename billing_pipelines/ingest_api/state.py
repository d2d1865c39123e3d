"""The API's own small state, in one SQLite file beside it (`ingest_api.state_path`).

- `api_keys`: who may push what; only a SHA-256 hash of each secret is kept.
- `idempotent_responses`: the first answer to each `Idempotency-Key`, replayed for a retry.

None of it is billing data: the landing files are. Losing this file loses no event (the
canonical table is unique on `event_id` whatever the API answered); it costs clients their
keys and replays.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

STATE_FILE = "ingest_api.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS idempotent_responses (
    key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotent_responses_by_age ON idempotent_responses (created_at);
"""


def open_state(folder: Path) -> sqlite3.Connection:
    """The state database (created on first use). WAL lets the key CLI write while the API
    serves; `synchronous=NORMAL` because nothing here must survive a power cut (see above)."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / STATE_FILE, check_same_thread=False, isolation_level=None, timeout=10)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    return connection
