"""The sandbox company's other systems, running locally: its Snowflake (fakesnow) and BigQuery
(bqemulator) warehouses, and its Stripe, HubSpot and Google Sheets accounts (HTTP stand-ins).

The shipped billing.yaml points its `usage_lake` (Snowflake), `product_analytics` (BigQuery),
`stripe`, `hubspot` and `google_sheets` sources at these stand-ins, on the host and port the
config names, so the very connector code a production run uses reads them. A source counts as a
stand-in when billing.yaml points it at this machine (127.0.0.1 or localhost).

    python -m billing_pipelines.sandbox.standins            # serve them all until interrupted (`make dev`)
    eval "$(python -m billing_pipelines.sandbox.standins --exports)"   # their secrets, for `make dev`

The warehouses keep their data in a folder under `data/sandbox/standins/`; seeding replaces each
one's usage table with the generator's Parquet seed (`generate.warehouse_usage_path`), and `serve`
seeds only when the seed is newer than the last seeding. The SaaS stand-ins keep their data in
memory and are filled, each time they start, with the generated company's accounts,
subscriptions and items (`generate.app_company`, for the end date, seed and size `expected.json`
records), so the demo and a later `make dev` see the same records under the same ids.

Their secrets are the environment variables the sources name, set to sandbox values where the
shell has not set them (`sandbox_secrets`); each stand-in accepts whatever value the variable
holds, so the connector and the stand-in always agree. The Google Sheets service-account key is
made once and kept in the stand-in's folder, so the key handed out stays valid across restarts.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from billing_pipelines.config import (
    ApiSourceConfig,
    BigQuerySourceConfig,
    BillingConfig,
    GoogleSheetsSourceConfig,
    HubSpotSourceConfig,
    SnowflakeSourceConfig,
    StripeSourceConfig,
    current_config,
)
from billing_pipelines.sandbox import bigquery_standin, generate, snowflake_standin
from billing_pipelines.sandbox.generate import warehouse_usage_path
from billing_pipelines.sandbox.google_sheets_standin import GoogleSheetsStandin
from billing_pipelines.sandbox.http_standin import HttpStandin
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines.sandbox.stripe_standin import StripeStandin

SEEDED_MARKER = ".seeded"
LOOPBACK = ("127.0.0.1", "localhost")
KEY_FILE = "service_account.json"
SANDBOX_STRIPE_KEY = "sk_test_sandbox"
SANDBOX_HUBSPOT_TOKEN = "pat-sandbox"


@dataclass(frozen=True)
class Standin:
    """A sandbox source served locally: its name in billing.yaml, its kind and where it listens."""

    source: str
    kind: str
    port: int


@dataclass(frozen=True)
class Served:
    """A stand-in while it runs: what it was filled with, and (for the HTTP ones) the fake itself,
    whose request log tells what a sync asked of it."""

    standin: Standin
    seeded: str
    api: HttpStandin | None = None


def sandbox_standins(config: BillingConfig) -> list[Standin]:
    """The enabled Snowflake, BigQuery and SaaS sources that point at this machine (the stand-ins)."""
    found = []
    for name, source in config.enabled_sources.items():
        if isinstance(source, SnowflakeSourceConfig) and source.host in LOOPBACK and source.port:
            found.append(Standin(name, "snowflake", source.port))
        elif isinstance(source, BigQuerySourceConfig) and source.api_endpoint:
            endpoint = urlsplit(source.api_endpoint)
            if endpoint.hostname in LOOPBACK and endpoint.port:
                found.append(Standin(name, "bigquery", endpoint.port))
        elif isinstance(source, ApiSourceConfig):
            url = urlsplit(source.base_url)
            if url.hostname in LOOPBACK and url.port:
                found.append(Standin(name, source.kind, url.port))
    return found


def standin_dir(config: BillingConfig, standin: Standin) -> Path:
    return config.warehouse_path.parent / "sandbox" / "standins" / standin.source


def sandbox_dir(config: BillingConfig) -> Path:
    """Where the generator writes the sandbox company (beside the app database)."""
    return config.warehouse_path.parent / "sandbox"


def needs_seeding(seed: Path, marker: Path) -> bool:
    """A seed file exists and was written after the last seeding."""
    return seed.exists() and (not marker.exists() or marker.stat().st_mtime < seed.stat().st_mtime)


def generated_company(config: BillingConfig) -> generate.AppCompany | None:
    """The app's accounts, subscriptions and items as the last generated sandbox company has them
    (from its `expected.json`), or None when no company has been generated yet."""
    manifest = sandbox_dir(config) / "expected.json"
    if not manifest.exists():
        return None
    facts = json.loads(manifest.read_text())
    return generate.app_company(date.fromisoformat(facts["end_date"]), facts["seed"], facts["accounts"])


@contextmanager
def running_standins(config: BillingConfig, seed: str = "if-newer") -> Iterator[dict[str, Served]]:
    """Run every sandbox stand-in for the block, by source name. Warehouses are seeded from their
    Parquet file (`always`, or `if-newer` than their last seeding); SaaS stand-ins are filled with
    the generated company (empty when none was generated). Needs `sandbox_secrets` first."""
    served: dict[str, Served] = {}
    company = None
    with ExitStack() as running:
        for standin in sandbox_standins(config):
            if standin.kind in ("snowflake", "bigquery"):
                served[standin.source] = _serve_warehouse(running, config, standin, seed)
                continue
            if company is None:
                company = generated_company(config) or ([], [], [])
            api = _filled_api(config, standin, company)
            running.enter_context(api.serving(port=standin.port))
            served[standin.source] = Served(standin, _records(company), api)
        yield served


def _serve_warehouse(running: ExitStack, config: BillingConfig, standin: Standin, seed: str) -> Served:
    folder = standin_dir(config, standin)
    if standin.kind == "snowflake":
        server = running.enter_context(snowflake_standin.running_snowflake(folder, port=standin.port))
        seed_usage = snowflake_standin.seed_usage
    else:
        server = running.enter_context(bigquery_standin.running_bigquery(folder, rest_port=standin.port))
        seed_usage = bigquery_standin.seed_usage
    parquet, marker = warehouse_usage_path(sandbox_dir(config), standin.source), folder / SEEDED_MARKER
    rows = 0
    if parquet.exists() and (seed == "always" or needs_seeding(parquet, marker)):
        rows = seed_usage(server, parquet)
        marker.touch()
    return Served(standin, f"{rows:,} usage rows" if rows else "")


def _filled_api(config: BillingConfig, standin: Standin, company: generate.AppCompany) -> HttpStandin:
    """A SaaS stand-in holding the company as that system would, accepting the secret the
    environment holds for the source."""
    source = config.sources[standin.source]
    if isinstance(source, StripeSourceConfig):
        stripe = StripeStandin(api_key=os.environ[source.api_key_env])
        stripe.seed_from_sandbox(*company)
        return stripe
    if isinstance(source, HubSpotSourceConfig):
        hubspot = HubSpotStandin(token=os.environ[source.token_env])
        hubspot.seed_from_sandbox(
            *company,
            external_id_property=source.external_id_property,
            contract_start_property=source.contract_start_property,
            contract_end_property=source.contract_end_property,
        )
        return hubspot
    assert isinstance(source, GoogleSheetsSourceConfig)
    sheets = GoogleSheetsStandin()
    sheets.trust_service_account(json.loads(os.environ[source.credentials_env]))
    sheets.seed_from_sandbox(source.spreadsheet_id, *company)
    return sheets


def _records(company: generate.AppCompany) -> str:
    accounts, subscriptions, items = company
    return f"{len(accounts):,} accounts, {len(subscriptions):,} subscriptions, {len(items):,} items"


def sandbox_secrets(config: BillingConfig, environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set each stand-in's secret variable to a sandbox value where `environ` has none, and
    return what was set: the Snowflake password (fakesnow takes any), the Stripe key, the HubSpot
    token and the Google Sheets service-account key JSON (kept in the stand-in's folder)."""
    wanted: dict[str, str] = {}
    for standin in sandbox_standins(config):
        source = config.sources[standin.source]
        if isinstance(source, SnowflakeSourceConfig) and source.password_env:
            wanted[source.password_env] = snowflake_standin.STANDIN_PASSWORD
        elif isinstance(source, StripeSourceConfig):
            wanted[source.api_key_env] = SANDBOX_STRIPE_KEY
        elif isinstance(source, HubSpotSourceConfig):
            wanted[source.token_env] = SANDBOX_HUBSPOT_TOKEN
        elif isinstance(source, GoogleSheetsSourceConfig) and source.credentials_env not in environ:
            wanted[source.credentials_env] = json.dumps(_sheets_key(config, standin, source.base_url))
    added = {name: value for name, value in wanted.items() if name not in environ}
    environ.update(added)
    return added


def _sheets_key(config: BillingConfig, standin: Standin, base_url: str) -> dict:
    """The sandbox's service-account key file for the Sheets stand-in at `base_url`: made once,
    then read back, so a key handed out earlier stays the one the stand-in trusts."""
    key_file = standin_dir(config, standin) / KEY_FILE
    maker = GoogleSheetsStandin()
    if key_file.exists():
        maker.trust_service_account(json.loads(key_file.read_text()))
    info = maker.service_account_info(base_url)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(info, indent=2))
    key_file.chmod(0o600)
    return info


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox stand-ins until interrupted (what `make dev` runs beside Dagster), or
    print their secrets as shell `export` lines (`--exports`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", action="store_true", help="print `export NAME=value` for unset secrets")
    args = parser.parse_args(argv)
    config = current_config()
    added = sandbox_secrets(config)
    if args.exports:
        sys.stdout.write("".join(f"export {name}={shlex.quote(value)}\n" for name, value in added.items()))
        return
    signal.signal(signal.SIGTERM, _stop)
    with running_standins(config) as served:
        for running in served.values():
            standin = running.standin
            seeded = f" ({running.seeded})" if running.seeded else ""
            print(f"{standin.kind} stand-in for `{standin.source}` on 127.0.0.1:{standin.port}{seeded}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
