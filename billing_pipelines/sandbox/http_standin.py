"""What the sandbox's HTTP API stand-ins (Stripe, HubSpot, Google Sheets) share: a real HTTP
server on loopback that the very connector code a production sync uses talks to.

A stand-in subclasses `HttpStandin` and answers `handle(request)`; errors are raised as
`ApiError` with the body the real API sends. The base keeps what the tests of a sync need to
see from outside: every request made (`requests_to`: a second sync with no changes must make
almost none) and faults to inject before the real answer (`inject_faults`: a burst of 429s with
`Retry-After`, 5xx, or connection resets), so retries and their limits are tested over real HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RESET = 0
"""`inject_faults(RESET, …)`: close the connection without an answer (a connection reset)."""


@dataclass(frozen=True)
class Request:
    """One HTTP request as a stand-in sees it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (`types[]=a&types[]=b`)."""
        return list(self.query.get(name, []))

    def json(self) -> object:
        return json.loads(self.body or b"null")

    @property
    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Response:
    status: int
    body: object
    headers: Mapping[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer: the status, the body the real API sends with it, and its headers."""

    def __init__(self, status: int, body: object, headers: Mapping[str, str] | None = None):
        super().__init__(f"HTTP {status}: {body}")
        self.response = Response(status, body, dict(headers or {}))


@dataclass
class _Fault:
    status: int
    remaining: int
    body: object
    retry_after: float | None
    path_prefix: str


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int


class HttpStandin:
    """A stateful fake of an HTTP API. Subclasses implement `handle` and `error_body`; handlers
    run on the server's threads, so state is changed only under `self.lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.log: list[LoggedRequest] = []
        self._faults: list[_Fault] = []

    # --- what a subclass provides -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> object:
        """The body the real API sends with `status` (used for injected faults)."""
        return {"error": {"status": status, "message": message}}

    # --- what tests use -----------------------------------------------------------------------

    def inject_faults(
        self,
        status: int,
        count: int,
        *,
        retry_after: float | None = None,
        path_prefix: str = "/",
        body: object = None,
    ) -> None:
        """Answer the next `count` requests under `path_prefix` with `status` (and `Retry-After`
        seconds) before any real answer; `status=RESET` drops the connection instead."""
        with self.lock:
            self._faults.append(
                _Fault(status, count, body or self.error_body(status, "injected fault"), retry_after, path_prefix)
            )

    def requests_to(self, path_prefix: str = "/", method: str | None = None) -> int:
        """How many requests reached paths under `path_prefix` (faults included)."""
        with self.lock:
            return sum(1 for r in self.log if r.path.startswith(path_prefix) and (method is None or r.method == method))

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    @contextmanager
    def serving(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on `host:port` (0: a free port) for the `with` block; yields the base URL."""
        server = ThreadingHTTPServer((host, port), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve in the foreground until interrupted (`make dev`, a stand-in's CLI); Ctrl-C ends it quietly."""
        with ThreadingHTTPServer((host, port), _handler_for(self)) as server:
            server.daemon_threads = True
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass

    # --- the dispatch -------------------------------------------------------------------------

    def _next_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    return fault
            return None

    def _answer(self, request: Request) -> Response | None:
        fault = self._next_fault(request.path)
        if fault is not None:
            response = None
            if fault.status != RESET:
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                response = Response(fault.status, fault.body, headers)
        else:
            try:
                response = self.handle(request)
            except ApiError as error:
                response = error.response
        with self.lock:
            self.log.append(LoggedRequest(request.method, request.path, response.status if response else RESET))
        return response


def _handler_for(standin: HttpStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs: a client's session reuses it
        disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (delayed ACK)

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            response = standin._answer(request)
            if response is None:  # a connection reset
                self.close_connection = True
                self.connection.close()
                return
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PATCH = _dispatch

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
            pass  # requests are kept in `standin.log`, not printed

    return Handler
