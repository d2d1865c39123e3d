"""The sandbox company's warehouses, running locally: Snowflake (fakesnow) and BigQuery (bqemulator).

The shipped billing.yaml points its `usage_lake` (Snowflake) and `product_analytics` (BigQuery)
sources at these stand-ins, on the host and port the config names, so the very connector code a
production run uses reads them. Each keeps its data in a folder under `data/sandbox/standins/`, so
what the demo seeds, `make dev` (and any later run) reads.

    python -m billing_pipelines.sandbox.standins      # serve both until interrupted (`make dev`)

Seeding replaces each stand-in's usage table with the generator's Parquet seed
(`generate.warehouse_usage_path`); `serve` seeds only when the seed is newer than the last seeding.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from billing_pipelines.config import BigQuerySourceConfig, BillingConfig, SnowflakeSourceConfig, current_config
from billing_pipelines.sandbox import bigquery_standin, snowflake_standin
from billing_pipelines.sandbox.generate import warehouse_usage_path

SEEDED_MARKER = ".seeded"


@dataclass(frozen=True)
class Standin:
    """A sandbox source served locally: its name in billing.yaml and where it listens."""

    source: str
    kind: str
    port: int


def sandbox_standins(config: BillingConfig) -> list[Standin]:
    """The enabled Snowflake and BigQuery sources that point at this machine (the stand-ins)."""
    found = []
    for name, source in config.enabled_sources.items():
        if isinstance(source, SnowflakeSourceConfig) and source.host in ("127.0.0.1", "localhost") and source.port:
            found.append(Standin(name, "snowflake", source.port))
        elif isinstance(source, BigQuerySourceConfig) and source.api_endpoint:
            endpoint = urlsplit(source.api_endpoint)
            if endpoint.hostname in ("127.0.0.1", "localhost") and endpoint.port:
                found.append(Standin(name, "bigquery", endpoint.port))
    return found


def standin_dir(config: BillingConfig, standin: Standin) -> Path:
    return config.warehouse_path.parent / "sandbox" / "standins" / standin.source


def sandbox_dir(config: BillingConfig) -> Path:
    """Where the generator writes the sandbox company (beside the app database)."""
    return config.warehouse_path.parent / "sandbox"


def needs_seeding(seed: Path, marker: Path) -> bool:
    """A seed file exists and was written after the last seeding."""
    return seed.exists() and (not marker.exists() or marker.stat().st_mtime < seed.stat().st_mtime)


@contextmanager
def running_standins(config: BillingConfig, seed: str = "if-newer") -> Iterator[dict[str, int]]:
    """Run every sandbox stand-in for the block; seed each from its Parquet file (`always`, or
    `if-newer` than its last seeding). Yields the rows seeded per source (0 where not seeded)."""
    seeded: dict[str, int] = {}
    with ExitStack() as running:
        for standin in sandbox_standins(config):
            folder = standin_dir(config, standin)
            if standin.kind == "snowflake":
                server = running.enter_context(snowflake_standin.running_snowflake(folder, port=standin.port))
                seed_usage = snowflake_standin.seed_usage
            else:
                server = running.enter_context(bigquery_standin.running_bigquery(folder, rest_port=standin.port))
                seed_usage = bigquery_standin.seed_usage
            parquet, marker = warehouse_usage_path(sandbox_dir(config), standin.source), folder / SEEDED_MARKER
            seeded[standin.source] = 0
            if parquet.exists() and (seed == "always" or needs_seeding(parquet, marker)):
                seeded[standin.source] = seed_usage(server, parquet)
                marker.touch()
        yield seeded


def sandbox_secrets() -> None:
    """The Snowflake stand-in accepts any password, but the source still names its variable."""
    os.environ.setdefault("USAGE_LAKE_PASSWORD", snowflake_standin.STANDIN_PASSWORD)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox stand-ins until interrupted (what `make dev` runs beside Dagster)."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    config = current_config()
    with running_standins(config) as seeded:
        for standin in sandbox_standins(config):
            rows = seeded[standin.source]
            print(
                f"{standin.kind} stand-in for `{standin.source}` on 127.0.0.1:{standin.port}"
                + (f" (seeded {rows:,} rows)" if rows else ""),
                flush=True,
            )
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
