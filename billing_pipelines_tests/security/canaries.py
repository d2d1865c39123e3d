"""Recognisable secrets, and a search for them in everything the project writes or answers.

Every secret a deployment hands the project (a source URL's password, API tokens, key files,
signing secrets, the SMTP password, a token inside an alert webhook's URL) is set to a value
holding `LEAK-CANARY`, so one substring search finds any of them wherever it ended up: a file,
a database's bytes, an HTTP answer, a log. Each value is also searched in the encodings a leak
could take (URL-quoted, JSON-escaped), and a key file by a stretch of its private key's body.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

MARKER = "LEAK-CANARY"


@dataclass(frozen=True)
class Found:
    """Where a canary was found: the place (a file, a response, …) and which canary."""

    where: str
    canary: str

    def __str__(self) -> str:
        return f"{self.canary!r} in {self.where}"


def needles(secrets: Mapping[str, str]) -> dict[str, bytes]:
    """`{label: bytes}` to search for: each secret as written, URL-quoted and JSON-escaped, plus
    the bare marker (so a secret cut, masked at its ends or re-encoded is still found)."""
    found: dict[str, bytes] = {"marker": MARKER.encode()}
    for name, value in secrets.items():
        for how, text in (
            ("", value),
            (" quoted", quote(value, safe="")),
            (" quoted_plus", quote_plus(value)),
            (" json", json.dumps(value)[1:-1]),
        ):
            found.setdefault(f"{name}{how}", text.encode())
    return found


def search_bytes(where: str, data: bytes, wanted: Mapping[str, bytes]) -> list[Found]:
    return [Found(where, label) for label, needle in wanted.items() if needle and needle in data]


def search_text(where: str, text: str, wanted: Mapping[str, bytes]) -> list[Found]:
    return search_bytes(where, text.encode("utf-8", "surrogateescape"), wanted)


def files_under(*roots: Path, skip: Iterable[Path] = ()) -> Iterator[Path]:
    """Every regular file below `roots` (followed into every folder, hidden ones too), except
    the paths in `skip` (the inputs a test wrote itself, such as billing.yaml)."""
    skipped = {path.resolve() for path in skip}
    for root in roots:
        if root.is_file():
            if root.resolve() not in skipped:
                yield root
            continue
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink() and path.resolve() not in skipped:
                    yield path


def search_files(paths: Iterable[Path], wanted: Mapping[str, bytes]) -> list[Found]:
    """Search each file's bytes (SQLite databases, DuckDB files, pickles, logs alike)."""
    found: list[Found] = []
    for path in paths:
        found += search_bytes(str(path), path.read_bytes(), wanted)
    return found


def pem_body_stretch(pem: str, chars: int = 48) -> str:
    """A stretch from the middle of a PEM's base64 body: found wherever the key was copied,
    however its lines were wrapped or escaped."""
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    middle = len(body) // 2
    return body[middle : middle + chars]


def whsec(label: str) -> str:
    """A Standard Webhooks secret (`whsec_<base64>`) whose bytes spell a canary."""
    return "whsec_" + base64.b64encode(f"{MARKER}-{label}-0123456789abcdef".encode()).decode()


def assert_none_found(found: list[Found]) -> None:
    assert not found, "secrets leaked:\n" + "\n".join(sorted({str(f) for f in found}))
