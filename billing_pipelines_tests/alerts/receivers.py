"""Local receivers that play the alert destinations over real sockets on loopback.

- `SlackReceiver`: Slack's Web API `chat.postMessage` as documented: a form or JSON body, the
  bot token as `Authorization: Bearer …`, HTTP 200 with `{"ok": true, "channel", "ts",
  "message"}`, HTTP 200 with `{"ok": false, "error": "invalid_auth"}` for a wrong token (and
  `not_authed`, `channel_not_found`, `no_text`), HTTP 429 with `Retry-After` and
  `{"ok": false, "error": "ratelimited"}` when rate-limited.
- `WebhookReceiver`: a consumer verifying Standard Webhooks signatures with the standardwebhooks
  package; an unverifiable delivery is refused with 400, as a real consumer would.
- `SmtpReceiver`: an aiosmtpd server that keeps every message it accepts.

Each can be told to fail its next requests (`fail_next`) to exercise retries; the HTTP ones
keep the headers of every request (`request_headers`, forced failures included), so a test can
see what each retry carried.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 with a queue of forced failures."""

    def __init__(self) -> None:
        self.requests = 0
        self.request_headers: list[dict[str, str]] = []
        self.failures: list[tuple[int, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.requests += 1
                    receiver.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                    forced = receiver.failures.pop(0) if receiver.failures else None
                status, headers, answer = forced or receiver.handle(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self) -> None:
        """Forget what was received and any failure still queued."""
        self.requests = 0
        self.request_headers.clear()
        self.failures.clear()

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.failures.extend([(status, headers or {}, body)] * times)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class SlackReceiver(HttpReceiver):
    """`POST /api/chat.postMessage` as Slack answers it."""

    def __init__(self, token: str, channels: tuple[str, ...] = ("#billing-ops",)) -> None:
        super().__init__()
        self.token = token
        self.channels = channels
        self.messages: list[dict] = []

    def reset(self) -> None:
        super().reset()
        self.messages.clear()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def rate_limit_next(self, retry_after: int = 1, times: int = 1) -> None:
        self.fail_next(
            429,
            times,
            {"Retry-After": str(retry_after), "content-type": "application/json"},
            json.dumps({"ok": False, "error": "ratelimited"}).encode(),
        )

    @staticmethod
    def _answer(payload: dict) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json; charset=utf-8"}, json.dumps(payload).encode()

    def handle(self, path, headers, body):
        if path != "/api/chat.postMessage":
            return self._answer({"ok": False, "error": "unknown_method"})
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if content_type.startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization")
        token = authorization.removeprefix("Bearer ") if authorization else params.get("token")
        if not token:
            return self._answer({"ok": False, "error": "not_authed"})
        if token != self.token:
            return self._answer({"ok": False, "error": "invalid_auth"})
        if params.get("channel") not in self.channels:
            return self._answer({"ok": False, "error": "channel_not_found"})
        if not params.get("text") and not params.get("blocks"):
            return self._answer({"ok": False, "error": "no_text"})
        ts = f"{time.time():.6f}"
        self.messages.append(params)
        message = {"type": "message", "text": params.get("text"), "ts": ts, "bot_id": "B0BILLING"}
        return self._answer({"ok": True, "channel": "C0BILLING", "ts": ts, "message": message})


class WebhookReceiver(HttpReceiver):
    """A webhook consumer that accepts only deliveries whose Standard Webhooks signature
    verifies with its secret; `bodies` keeps every raw body that reached it (verified or not)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.verifier = Webhook(secret)
        self.payloads: list[dict] = []
        self.deliveries: list[tuple[dict[str, str], bytes]] = []

    def reset(self) -> None:
        super().reset()
        self.payloads.clear()
        self.deliveries.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/billing-alerts"

    def handle(self, path, headers, body):
        self.deliveries.append((headers, body))
        try:
            self.payloads.append(self.verifier.verify(body, headers))
        except WebhookVerificationError:
            return 400, {}, b"signature mismatch"
        return 204, {}, b""


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list = []
        self.failures: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.failures:
            return self.failures.pop(0)
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 (no TLS); `fail_next("451 …")` answers the next DATA so."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def reset(self) -> None:
        self.inbox.messages.clear()
        self.inbox.envelopes.clear()
        self.inbox.failures.clear()

    def fail_next(self, reply: str, times: int = 1) -> None:
        self.inbox.failures.extend([reply] * times)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
