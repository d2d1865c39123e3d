"""What `make demo` shows a person: a line per stage, a progress bar while a run works, and the
summary; everything else the demo's libraries print (Dagster's event log, dbt's and dlt's
output, the stand-ins' servers) goes to a log file whose path it prints first.

The log file takes the process's own standard output and error (file descriptors 1 and 2), so
the subprocesses it starts (dbt, the BigQuery emulator) write there too; the console keeps a
copy of the terminal for the demo's own lines.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO

import dagster as dg

BAR_WIDTH = 30
POLL_SECONDS = 1.0


class Stage:
    """One stage's line: `[n/N] title … <result> (seconds)`, with a progress bar drawn in place
    while it works (on a terminal; in a log or a CI console only the finished line)."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream, self.prefix = stream, prefix
        self.interactive = stream.isatty()
        self.started = time.perf_counter()
        self._write(prefix)

    def bar(self, done: int, total: int) -> None:
        if self.interactive and total:
            filled = BAR_WIDTH * min(done, total) // total
            self._write(f"\r{self.prefix}[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total:,}")

    def done(self, result: str) -> None:
        clear = "\r\033[K" + self.prefix if self.interactive else ""
        self._write(f"{clear}{result} ({time.perf_counter() - self.started:.1f} s)\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class Console:
    """The demo's own lines, on the terminal the demo was started from."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def line(self, text: str = "") -> None:
        self.stream.write(f"{text}\n")
        self.stream.flush()

    def stage(self, number: int, total: int, title: str) -> Stage:
        return Stage(self.stream, f"[{number}/{total}] {title} … ")


@contextmanager
def logging_to(log_file: Path) -> Iterator[Console]:
    """Send the process's standard output and error (and its subprocesses') to `log_file` for
    the block (Python's own `sys.stdout`/`sys.stderr` too, whatever they were); yield a Console on
    the terminal."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.dup(1)
    saved_error = os.dup(2)
    with open(log_file, "w", encoding="utf-8", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with (
                os.fdopen(os.dup(terminal), "w", encoding="utf-8", buffering=1) as console_stream,
                redirect_stdout(log),
                redirect_stderr(log),
            ):
                yield Console(console_stream)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(terminal, 1)
            os.dup2(saved_error, 2)
            os.close(terminal)
            os.close(saved_error)


class RunProgress:
    """A run's assets materialized and planned so far, read from the events new since the last
    look. Counted by asset, not by event: a range run plans every asset once per day, even one
    that is not partitioned and materializes once."""

    KINDS = (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)

    def __init__(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self.instance, self.run_id = instance, run_id
        self.assets: dict[dg.DagsterEventType, set[dg.AssetKey]] = {kind: set() for kind in self.KINDS}
        self.cursors: dict[dg.DagsterEventType, str | None] = dict.fromkeys(self.KINDS)

    def share(self) -> tuple[int, int]:
        """(assets materialized, assets planned)."""
        for kind in self.KINDS:
            while True:
                found = self.instance.get_records_for_run(
                    self.run_id, cursor=self.cursors[kind], of_type=kind, limit=1_000
                )
                self.assets[kind].update(record.event_log_entry.dagster_event.asset_key for record in found.records)
                self.cursors[kind] = found.cursor if found.records else self.cursors[kind]
                if not found.has_more:
                    break
        materialized, planned = (len(self.assets[kind]) for kind in self.KINDS)
        return materialized, planned


@contextmanager
def run_progress(stage: Stage, run_id: str) -> Iterator[None]:
    """Draw a run's progress on its stage (assets materialized of those planned) while the
    block runs it; off a terminal there is no bar, and nothing is polled."""
    if not stage.interactive:  # no bar to draw: nothing to poll
        yield
        return
    finished = threading.Event()

    def draw() -> None:
        progress = RunProgress(dg.DagsterInstance.get(), run_id)
        while not finished.wait(POLL_SECONDS):
            try:
                stage.bar(*progress.share())
            except Exception:  # noqa: BLE001 - the bar is a courtesy; the run's own errors are reported
                pass

    drawer = threading.Thread(target=draw, name="demo-progress", daemon=True)
    drawer.start()
    try:
        yield
    finally:
        finished.set()
        drawer.join()
