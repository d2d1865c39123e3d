"""A TCP proxy on loopback that breaks connections on purpose: the network failing under a
source's driver mid-read, as a firewall's idle reset, a failover or a killed backend does.

The proxy forwards bytes both ways between a client (the driver under test) and the real server
(PostgreSQL, the Snowflake or BigQuery stand-in). Armed with `cut_after(n, marker, times)`, the next
`times` connections whose server-to-client stream carries `n` bytes after `marker` (bytes that
open the result stream: PostgreSQL's binary COPY signature, a JSON key of the answer holding the
rows) get exactly those bytes, then a TCP reset (SO_LINGER 0), and the server side is closed
too: the client has read part of a result and the rest never comes. `cut_every` keeps cutting
until `heal()`. Connections that never carry the marker (a login, a catalog query) pass
untouched, so a cut lands inside a result stream, wherever the driver's handshake ends.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

FOREVER = -1
CHUNK = 16 * 1024


@dataclass
class _Stream:
    """A connection's server-to-client stream: bytes counted since the marker (None: not seen
    yet) and the last bytes before this chunk, to find a marker split across two chunks."""

    counted: int | None = None
    tail: bytes = b""


class FaultProxy:
    """Forwards `127.0.0.1:<port>` to `target`; see the module docstring for the faults."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self.cuts = 0
        self._cut_at: int | None = None
        self._marker = b""
        self._cuts_left = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    # --- what tests use -------------------------------------------------------------------------

    def cut_after(self, downstream_bytes: int, marker: bytes = b"", times: int = 1) -> None:
        """Reset the next `times` connections once the server has sent them `downstream_bytes`
        after the first `marker` (from their first byte if `marker` is empty)."""
        with self._lock:
            self._cut_at, self._marker, self._cuts_left = downstream_bytes, marker, times

    def cut_every(self, downstream_bytes: int, marker: bytes = b"") -> None:
        """Reset every connection that carries `downstream_bytes` after `marker`, until `heal()`."""
        self.cut_after(downstream_bytes, marker, FOREVER)

    def heal(self) -> None:
        with self._lock:
            self._cut_at, self._cuts_left = None, 0

    @property
    def armed(self) -> bool:
        """Whether a cut is still pending."""
        with self._lock:
            return self._cut_at is not None and self._cuts_left != 0

    # --- the forwarding -------------------------------------------------------------------------

    def _take_cut(self, stream: _Stream, data: bytes) -> int | None:
        """How many bytes of `data` (the next chunk of a connection's server-to-client stream)
        to forward before resetting it, or None to forward them all."""
        with self._lock:
            marker = self._marker
            if stream.counted is None:
                window = stream.tail + data
                found = window.find(marker)
                stream.tail = window[-len(marker) :] if marker else b""
                if found < 0:
                    return None
                start = max(found + len(marker) - (len(window) - len(data)), 0)
                stream.counted = 0
            else:
                start = 0
            counted_before = stream.counted
            stream.counted += len(data) - start
            if self._cut_at is None or self._cuts_left == 0 or stream.counted < self._cut_at:
                return None
            if self._cuts_left > 0:
                self._cuts_left -= 1
            self.cuts += 1
            return start + max(self._cut_at - counted_before, 0)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client_writer)
            return
        self._open |= {client_writer, server_writer}

        async def upstream() -> None:
            try:
                while data := await client_reader.read(CHUNK):
                    server_writer.write(data)
                    await server_writer.drain()
                if not server_writer.is_closing():
                    server_writer.write_eof()
            except OSError:
                pass

        async def downstream() -> None:
            stream = _Stream()
            try:
                while data := await server_reader.read(CHUNK):
                    keep = self._take_cut(stream, data)
                    if keep is not None:
                        client_writer.write(data[:keep])
                        await client_writer.drain()
                        _reset(client_writer)
                        return
                    client_writer.write(data)
                    await client_writer.drain()
            except OSError:
                _reset(client_writer)
                return
            client_writer.close()

        pump_up = asyncio.ensure_future(upstream())
        await downstream()
        server_writer.transport.abort()
        client_writer.transport.abort()
        await pump_up
        self._open -= {client_writer, server_writer}

    # --- lifetime -------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FaultProxy]:
        """Listen on a free loopback port for the `with` block (`self.port`)."""
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
            self._loop.close()

    async def _shutdown(self) -> None:
        """Stop listening and drop every connection still open (its forwarding then ends)."""
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        await asyncio.wait(pending, timeout=5) if pending else None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, not a FIN: the peer sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
