from pathlib import Path

import pytest

HEADER = b"event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"


@pytest.fixture
def write_usage_csv(tmp_path):
    """Write a usage CSV (header added) into the landing inbox and return its path."""

    def write(name: str, body: bytes, root: Path = tmp_path / "landing", header: bytes = HEADER) -> Path:
        path = root / "usage_events" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(header + body)
        return path

    return write
