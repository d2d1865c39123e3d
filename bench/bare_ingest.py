"""The baseline of `bench.ingest_api`: the least a durable ingest endpoint can do.

`POST /v1/usage-events` parses the JSON array, appends its events to one file (one JSON line
each) and answers 202 once they are fsync'd. One writer thread does the writing with group
commit: every request that arrives during an fsync shares the next one. No validation, no
authentication, no idempotency: what is left is the HTTP server, the JSON parse and the disk.
It runs under uvicorn with the push API's own settings (one process, uvloop, httptools, no
access log), so the distance to the push API is the cost of what the push API adds.

    python -m bench.bare_ingest --port 8001 --file /tmp/events.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class GroupCommitFile:
    """Appends to one file from the event loop; a request's future resolves once its bytes are
    fsync'd. One writer thread: what is queued during an fsync goes out with the next one."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.handle = path.open("ab", buffering=0)
        self._queue: list[tuple[asyncio.Future, bytes]] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bare-writer", daemon=True)
        self._thread.start()

    def append(self, data: bytes) -> asyncio.Future:
        future = self.loop.create_future()
        with self._condition:
            self._queue.append((future, data))
            self._condition.notify()
        return future

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()
        self.handle.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                group, self._queue = self._queue, []
            if not group:
                return
            self.handle.write(b"".join(data for _, data in group))
            os.fsync(self.handle.fileno())
            self.loop.call_soon_threadsafe(_resolve, [future for future, _ in group])


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def create_app(path: Path) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.file = GroupCommitFile(path, asyncio.get_running_loop())
        try:
            yield
        finally:
            app.state.file.close()

    async def ingest(request: Request) -> Response:
        events = orjson.loads(await request.body())
        if not isinstance(events, list):
            return Response(b'{"error":"expected an array"}', status_code=422, media_type="application/json")
        lines = b"".join(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE) for event in events)
        await request.app.state.file.append(lines)
        return Response(orjson.dumps({"accepted": len(events)}), status_code=202, media_type="application/json")

    return Starlette(routes=[Route("/v1/usage-events", ingest, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True, help="where the events are appended")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.file),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
