"""`bench/RESULTS.md`: each benchmark keeps its own section, and a new run goes at its end."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def with_run(results: str, heading: str, intro: str, run: str) -> str:
    """`results` with `run` added at the end of the section that starts with `heading` (made at
    the end of the file, from `intro`, the first time); every other section stays as it is."""
    head, found, rest = results.partition(heading)
    if not found:
        return f"{results.rstrip()}\n{intro}{run}"
    body, next_heading, tail = rest.partition("\n## ")
    after = f"{next_heading}{tail}" if next_heading else ""
    return f"{head}{found}{body.rstrip()}\n{run}{after}"


def record_run(heading: str, intro: str, run: str) -> None:
    """Add `run` to its section of RESULTS.md."""
    RESULTS.write_text(with_run(RESULTS.read_text(), heading, intro, run))
