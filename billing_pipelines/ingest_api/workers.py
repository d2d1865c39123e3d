"""Several API processes on one port, the kernel spreading the connections between them.

uvicorn's own `workers` share one listening socket, and the worker that wakes first accepts
every connection waiting: a client that keeps its connections open (every HTTP client library
does) can load one worker while the others idle. Here each worker listens on a socket of its
own with `SO_REUSEPORT`, and the kernel hands each new connection to one of them. The parent
only watches: it replaces a worker that dies after it served (a worker that fails before,
as on a configuration error, stops the server: its replacement would fail the same way), and
stops them all on SIGINT or SIGTERM (each worker then seals its open landing files, as a
single process does); if the parent itself is killed, the kernel stops the workers.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import threading
from multiprocessing.synchronize import Event as EventType
from typing import Any

import uvicorn

BACKLOG = 2048
PR_SET_PDEATHSIG = 1
STOP_SECONDS = 30.0

logger = logging.getLogger("uvicorn.error")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket on `host:port` that other processes may listen on too (`SO_REUSEPORT`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(BACKLOG)
    return listener


class _Worker(uvicorn.Server):
    """uvicorn's server, telling the parent once it serves."""

    def __init__(self, config: uvicorn.Config, serving: EventType):
        super().__init__(config)
        self.serving = serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.serving.set()


def stop_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies, even killed (Linux), so
    no worker serves on alone: it stops as on `billing-api` being stopped."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: a worker outlives a killed parent
        pass


def run_worker(settings: dict[str, Any], serving: EventType) -> None:
    """One worker: uvicorn with `settings` (its `Config` arguments) on a socket of its own."""
    os.setpgrp()  # a Ctrl-C reaches the parent alone, which stops each worker once
    stop_with_parent()
    config = uvicorn.Config(**settings)
    _Worker(config, serving).run(sockets=[listening_socket(config.host, config.port)])


def serve_workers(settings: dict[str, Any], workers: int) -> int:
    """Run `workers` worker processes until SIGINT or SIGTERM; returns the exit status."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())

    def start() -> tuple[multiprocessing.process.BaseProcess, EventType]:
        serving = context.Event()
        process = context.Process(target=run_worker, args=(settings, serving), name="billing-api-worker")
        process.start()
        return process, serving

    running = [start() for _ in range(workers)]
    status = 0
    while not stop.wait(0.5):
        for index, (process, serving) in enumerate(running):
            if process.is_alive():
                continue
            if not serving.is_set():  # the next would fail the same way (configuration, port in use)
                logger.error("worker %s exited with %s before serving: stopping", process.pid, process.exitcode)
                status = process.exitcode or 1
                stop.set()
                break
            logger.warning("worker %s exited with %s: starting another", process.pid, process.exitcode)
            running[index] = start()
    for process, _ in running:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    for process, _ in running:
        process.join(STOP_SECONDS)
        if process.is_alive():
            logger.error("worker %s did not stop within %s s: killed", process.pid, STOP_SECONDS)
            process.kill()
    return status
