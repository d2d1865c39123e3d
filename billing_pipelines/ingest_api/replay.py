"""Retries that never double-count: `Idempotency-Key` replays and the recent event ids.

A client that did not hear the answer sends the same request again. With an `Idempotency-Key`
it gets the first answer back, byte for byte (kept at least `idempotency_hours`); the same key
with a different body is a client bug and gets 409. Without one, every usage event with an
`event_id` the API landed recently is answered `duplicate` and not landed again. Either way the
canonical table is unique on `event_id`, so even a retry the API cannot recognise (after
`event_index_hours`, after a restart, or through another channel) is counted once.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

PURGE_EVERY_SECONDS = 600
FLUSH_SECONDS = 0.1


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same request" for an idempotency key."""
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


class IdempotencyConflict(Exception):
    """The key was used before for another request, or its first request is still running."""


class IdempotencyStore:
    """First answers per (API key, Idempotency-Key), kept in SQLite where a restarted process
    and the other workers find them. A process writes its new answers in batches, one
    transaction every `flush_seconds` (a write per request would cost about a fifth of a small
    request's time): until then they are answered from memory. A request in progress is known
    in memory only. If the process dies meanwhile, a retry of those requests simply runs again,
    and its events still count once (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection, retention_hours: float, flush_seconds: float = FLUSH_SECONDS):
        self.connection = connection
        self.retention_seconds = retention_hours * 3600
        self.flush_seconds = flush_seconds
        self._in_progress: dict[tuple[str, str], str] = {}
        self._unsaved: dict[tuple[str, str], tuple[str, StoredResponse, float]] = {}
        self._flush_scheduled = False
        self._purged_at = float("-inf")

    def begin(self, key_id: str, idempotency_key: str, request_fingerprint: str) -> StoredResponse | None:
        """The stored answer to replay, or None after reserving the key for this request."""
        scope = (key_id, idempotency_key)
        if scope in self._in_progress:
            raise IdempotencyConflict("a request with this Idempotency-Key is still being processed")
        stored = self._unsaved.get(scope) or self._saved(key_id, idempotency_key)
        if stored is not None:
            if stored[0] != request_fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used for a different request")
            return stored[1]
        self._in_progress[scope] = request_fingerprint
        return None

    def finish(self, key_id: str, idempotency_key: str, status_code: int, body: bytes) -> None:
        scope = (key_id, idempotency_key)
        fingerprint_ = self._in_progress.pop(scope)
        self._unsaved[scope] = (fingerprint_, StoredResponse(status_code, body), time.time())
        self._schedule_flush()

    def abandon(self, key_id: str, idempotency_key: str) -> None:
        """The request failed before answering: a retry with the key runs again."""
        self._in_progress.pop((key_id, idempotency_key), None)

    def flush(self) -> None:
        """Write the answers not yet in SQLite, in one transaction (also when the API stops)."""
        self._flush_scheduled = False
        if self._unsaved:
            rows = [
                (*scope, fingerprint_, stored.status_code, stored.body, created_at)
                for scope, (fingerprint_, stored, created_at) in self._unsaved.items()
            ]
            with self.connection:
                self.connection.execute("BEGIN")
                self.connection.executemany(
                    "INSERT OR REPLACE INTO idempotent_responses VALUES (?, ?, ?, ?, ?, ?)", rows
                )
            self._unsaved.clear()
        self._purge_old()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            asyncio.get_running_loop().call_later(self.flush_seconds, self.flush)
            self._flush_scheduled = True
        except RuntimeError:  # no event loop (a script, a test): write now
            self.flush()

    def _saved(self, key_id: str, idempotency_key: str) -> tuple[str, StoredResponse, float] | None:
        row = self.connection.execute(
            "SELECT fingerprint, status_code, body, created_at FROM idempotent_responses"
            " WHERE key_id = ? AND idempotency_key = ? AND created_at >= ?",
            (key_id, idempotency_key, time.time() - self.retention_seconds),
        ).fetchone()
        return (row[0], StoredResponse(row[1], row[2]), row[3]) if row is not None else None

    def _purge_old(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self.connection.execute(
            "DELETE FROM idempotent_responses WHERE created_at < ?", (time.time() - self.retention_seconds,)
        )
        self._purged_at = time.monotonic()


class RecentEventIds:
    """The events this API process landed in the last `retention_hours` (at most `max_ids`
    of them, the oldest forgotten first), each as its event id with its values: a lookup costs
    a dict probe, where an on-disk index costs tens of microseconds per event and grows with the
    traffic. The same id with other values is not a repeat: it lands, and the canonical model
    quarantines it as a conflicting duplicate.

    A retry the index no longer knows (older, after a restart, or sent to another API process)
    is landed again and still counted once: the canonical table is unique on `event_id`."""

    def __init__(self, retention_hours: float, max_ids: int, clock=time.monotonic):
        self.retention_seconds, self.max_ids, self.clock = retention_hours * 3600, max_ids, clock
        self._landed_at: dict[Hashable, float] = {}  # insertion order is landing order

    def seen(self, keys: list[Hashable]) -> set[Hashable]:
        """Which of `keys` (an event id with its values, `push.delivery_keys`) were landed before."""
        landed = self._landed_at
        return {key for key in keys if key in landed}

    def remember(self, keys: Iterable[Hashable]) -> None:
        """Record keys once their events are on disk (never before: a crash in between would
        answer `duplicate` for an event that was never landed)."""
        now = self.clock()
        self._landed_at.update(dict.fromkeys(keys, now))
        self._forget_old(now)

    def __len__(self) -> int:
        return len(self._landed_at)

    def _forget_old(self, now: float) -> None:
        landed, oldest_kept = self._landed_at, now - self.retention_seconds
        excess = len(landed) - self.max_ids
        if excess <= 0 and (not landed or next(iter(landed.values())) >= oldest_kept):
            return  # the usual case, at the cost of one look at the oldest id
        for event_id, landed_at in list(itertools.islice(landed.items(), max(excess, 0) + 1024)):
            if excess <= 0 and landed_at >= oldest_kept:
                break
            del landed[event_id]
            excess -= 1
