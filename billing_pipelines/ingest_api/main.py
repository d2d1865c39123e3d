"""`billing-api`: run the push API, and manage its API keys.

    billing-api serve                       # on BILLING_API_HOST:BILLING_API_PORT (127.0.0.1:8000)
    billing-api keys create --name shop --scope usage:write [--scope …]
    billing-api keys list
    billing-api keys revoke <key id>

A new key is printed once, on its own line, so a script can capture it; only its hash is kept.
"""

from __future__ import annotations

import argparse
import os
import sys

from billing_pipelines.config import ConfigError, load_config
from billing_pipelines.ingest_api.keys import SCOPES, KeyStore
from billing_pipelines.ingest_api.state import open_state

HOST_ENV, PORT_ENV = "BILLING_API_HOST", "BILLING_API_PORT"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def listen_address(environ: dict[str, str]) -> tuple[str, int]:
    port = environ.get(PORT_ENV) or str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"{PORT_ENV}={port!r} is not a port number")
    return environ.get(HOST_ENV) or DEFAULT_HOST, int(port)


def serve() -> None:
    import uvicorn

    from billing_pipelines.ingest_api.app import create_app
    from billing_pipelines.ingest_api.workers import serve_workers

    host, port = listen_address(dict(os.environ))
    config = load_config()
    settings = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # one line per push costs throughput; errors are still logged
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
    }
    workers = config.ingest_api.workers
    if workers == 1:
        uvicorn.run(create_app(config), **settings)
    else:  # each worker builds the app from BILLING_CONFIG, as this process did
        app = "billing_pipelines.ingest_api.app:app_from_environment"
        sys.exit(serve_workers({"app": app, "factory": True, **settings}, workers))


def manage_keys(arguments: argparse.Namespace) -> None:
    config = load_config()
    keys = KeyStore(open_state(config.ingest_api_state_path))
    if arguments.action == "create":
        try:
            key, text = keys.create(arguments.name, arguments.scope)
        except ValueError as error:
            raise SystemExit(f"billing-api keys create: {error} (scopes: {', '.join(SCOPES)})") from None
        print(
            f"created key {key.key_id} ({key.name}) with scopes {' '.join(key.scopes)}; it is shown only now:",
            file=sys.stderr,
        )
        print(text)
    elif arguments.action == "list":
        for key in keys.list():
            state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
            print(f"{key.key_id}  {key.name:<24} {' '.join(key.scopes):<50} created {key.created_at}  {state}")
    elif not keys.revoke(arguments.key_id):
        raise SystemExit(f"billing-api keys revoke: no active key {arguments.key_id!r}")
    else:
        print(f"revoked key {arguments.key_id}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="billing-api", description="The billing_pipelines push API.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help=f"serve on ${HOST_ENV}:${PORT_ENV} ({DEFAULT_HOST}:{DEFAULT_PORT})")
    keys = commands.add_parser("keys", help="create, list or revoke API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="a new key (printed once)")
    create.add_argument("--name", required=True, help="who uses it, e.g. the service that pushes")
    create.add_argument("--scope", action="append", required=True, choices=SCOPES, help="repeat for several")
    keys.add_parser("list", help="every key, without secrets")
    revoke = keys.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key_id")
    return root


def main(argv: list[str] | None = None) -> None:
    arguments = parser().parse_args(argv)
    try:
        serve() if arguments.command == "serve" else manage_keys(arguments)
    except ConfigError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
