"""API keys: who may push which kind of billing data.

A key reads `bpk_<key id>_<secret>`. Only the SHA-256 of the secret is stored (the secret is
256 random bits, so a fast hash is enough: there is nothing to guess), and it is compared in
constant time. A key carries scopes, one per kind of data it may write. Keys are created,
listed and revoked with `billing-api keys …`; the server sees a revocation within a second.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

SCOPES = ("usage:write", "customers:write", "contracts:write", "uploads:write")
PREFIX = "bpk"
RELOAD_SECONDS = 1.0
_UNKNOWN_KEY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key, or None when it is not shaped like one of ours."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def check_scopes(scopes: list[str]) -> tuple[str, ...]:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scope {unknown[0]!r}" if unknown else "give at least one scope")
    return tuple(dict.fromkeys(scopes))


class KeyStore:
    """The `api_keys` table, with the active keys cached for the server's hot path."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection
        self._active: dict[str, tuple[str, ApiKey]] = {}
        self._loaded_at = float("-inf")

    def create(self, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
        """A new key and its full text, shown once: only its hash is kept."""
        key = ApiKey(secrets.token_hex(6), name, check_scopes(scopes), datetime.now(UTC).isoformat(timespec="seconds"))
        secret = secrets.token_urlsafe(32)
        self.connection.execute(
            "INSERT INTO api_keys (key_id, name, scopes, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
            (key.key_id, key.name, " ".join(key.scopes), secret_hash(secret), key.created_at),
        )
        return key, f"{PREFIX}_{key.key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        rows = self.connection.execute(
            "SELECT key_id, name, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
        ).fetchall()
        return [
            ApiKey(key_id, name, tuple(scopes.split()), created, revoked)
            for key_id, name, scopes, created, revoked in rows
        ]

    def revoke(self, key_id: str) -> bool:
        """True when an active key was revoked."""
        cursor = self.connection.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (datetime.now(UTC).isoformat(timespec="seconds"), key_id),
        )
        return cursor.rowcount == 1

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key `presented` is, or None. Takes the same time for an unknown key id
        as for a wrong secret."""
        self._refresh()
        key_id, secret = split_key(presented) or ("", "")
        if key_id not in self._active:
            self._load(key_id)  # a key created since the last refresh
        stored_hash, key = self._active.get(key_id, (_UNKNOWN_KEY_HASH, None))
        matches = hmac.compare_digest(stored_hash, secret_hash(secret))
        return key if matches and key is not None else None

    def _refresh(self) -> None:
        """Reload the active keys each second, so a revocation applies within one."""
        if time.monotonic() - self._loaded_at < RELOAD_SECONDS:
            return
        self._active = self._active_keys("")
        self._loaded_at = time.monotonic()

    def _load(self, key_id: str) -> None:
        self._active.update(self._active_keys(" AND key_id = ?", key_id))

    def _active_keys(self, condition: str, *parameters: str) -> dict[str, tuple[str, ApiKey]]:
        rows = self.connection.execute(
            "SELECT key_id, name, scopes, created_at, secret_sha256 FROM api_keys WHERE revoked_at IS NULL" + condition,
            parameters,
        ).fetchall()
        return {
            key_id: (digest, ApiKey(key_id, name, tuple(scopes.split()), created))
            for key_id, name, scopes, created, digest in rows
        }
