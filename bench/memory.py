"""Peak resident memory of a process tree, sampled while a command runs."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


class PeakMemory:
    """Samples the summed resident memory of a process and all its children (dbt and the step
    processes run as children) until stopped; `peak` is the largest sum seen, in bytes."""

    def __init__(self, pid: int | None = None, every_seconds: float = 0.05):
        self.peak = 0
        self._root = psutil.Process(pid)
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                tree = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self._every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_bytes: int

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def measure_command(command: list[str], env: dict[str, str], log_path) -> Measured:
    """Run `command` to the end; its wall time and the peak memory of its process tree.
    Output goes to `log_path`; a failing command stops the benchmark with the log's tail."""
    with open(log_path, "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        with PeakMemory(process.pid) as memory:
            code = process.wait()
        elapsed = time.perf_counter() - started
    if code != 0:
        with open(log_path) as log:
            tail = "".join(log.readlines()[-40:])
        raise SystemExit(f"{' '.join(command)} failed ({code}); end of {log_path}:\n{tail}")
    return Measured(elapsed, memory.peak)
