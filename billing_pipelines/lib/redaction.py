"""Keeping credentials out of what the project tells people.

An API's refusal is quoted in the run's error so an operator learns what the billing source
said; some APIs quote back the key they were sent ("Invalid API Key provided: sk_live_…"). The
error goes to the Dagster event log, the UI, alerts and outbound webhooks, where everyone who can
read a run would then read the billing system's key. So every credential a request carried is
blanked out of the answer before any of it is quoted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter values are not blanked: they would blank ordinary words."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `[redacted]` (longest first, so a whole credential
    goes before a part of it)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def sent_credentials(headers: Mapping[str, str] | None) -> set[str]:
    """The credentials in a request's `Authorization` header: the header's value, its token
    (Bearer and any other scheme), and for Basic the decoded `user:password`, user and password."""
    value = (headers or {}).get("Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    found = {value.strip(), token.strip()}
    if scheme.lower() == "basic" and token:
        try:
            pair = base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            pair = ""
        user, _, password = pair.partition(":")
        found |= {pair, user, password}  # Stripe sends its key as the user name
    return {credential for credential in found if len(credential) >= MIN_SECRET_CHARS}
