"""The sandbox's stand-ins as `make demo` and `make dev` run them: found from billing.yaml, their
secrets set only where the shell has none, filled with the generated company, and reachable by
the real connectors with those secrets, the Google Sheets key the same after a restart."""

import json
import socket
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from billing_pipelines.config import PROJECT_ROOT, parse_config
from billing_pipelines.defs.google_sheets.assets import google_sheets_definitions
from billing_pipelines.defs.hubspot.assets import hubspot_definitions
from billing_pipelines.defs.stripe.assets import stripe_definitions
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.standins import (
    SANDBOX_HUBSPOT_TOKEN,
    Standin,
    running_standins,
    sandbox_secrets,
    sandbox_standins,
)
from billing_pipelines_tests import api_sources

END_DATE, SEED, ACCOUNTS = date(2026, 9, 30), 5, 30
SECRETS = {"stripe": "TEST_SANDBOX_STRIPE_KEY", "hubspot": "TEST_SANDBOX_HUBSPOT_TOKEN",
           "google_sheets": "TEST_SANDBOX_SHEETS_KEY"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def saas_sandbox(project_config, tmp_path, monkeypatch):
    """A billing.yaml with the three SaaS sources on local ports, and a generated company's
    manifest where the demo leaves it (the stand-ins are filled from it)."""
    for name in SECRETS.values():
        monkeypatch.delenv(name, raising=False)
    config = project_config(
        "landing: {enabled: false}\n"
        "sources:\n"
        f"  stripe: {{kind: stripe, base_url: 'http://127.0.0.1:{free_port()}', api_key_env: {SECRETS['stripe']},"
        " max_attempts: 2}\n"
        f"  hubspot: {{kind: hubspot, base_url: 'http://127.0.0.1:{free_port()}', token_env: {SECRETS['hubspot']},"
        " max_attempts: 2}\n"
        f"  google_sheets: {{kind: google_sheets, base_url: 'http://127.0.0.1:{free_port()}',"
        f" credentials_env: {SECRETS['google_sheets']}, spreadsheet_id: billing-sheet, max_attempts: 2,"
        " tabs: {customers: customers, contracts: contracts, contract_items: contract_items}}\n"
    )
    manifest = tmp_path / "sandbox" / "expected.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"seed": SEED, "accounts": ACCOUNTS, "end_date": END_DATE.isoformat()}))
    return config


def materialize_saas(config) -> dg.ExecuteInProcessResult:
    definitions = dg.Definitions.merge(
        stripe_definitions(config), hubspot_definitions(config), google_sheets_definitions(config)
    )
    return api_sources.materialize(definitions, config)


def test_the_shipped_billing_yaml_serves_every_source_but_the_app_database_locally():
    path = PROJECT_ROOT / "billing.yaml"
    config = parse_config(path.read_text(), str(path), base_dir=PROJECT_ROOT)
    assert sandbox_standins(config) == [
        Standin("usage_lake", "snowflake", 8765),
        Standin("product_analytics", "bigquery", 9050),
        Standin("stripe", "stripe", 12111),
        Standin("hubspot", "hubspot", 12112),
        Standin("google_sheets", "google_sheets", 12113),
    ]


def test_secrets_are_set_only_where_the_shell_has_none_and_the_sheets_key_is_kept(saas_sandbox, tmp_path):
    shell = {SECRETS["stripe"]: "sk_live_the_users_own"}
    added = sandbox_secrets(saas_sandbox, shell)
    assert set(added) == {SECRETS["hubspot"], SECRETS["google_sheets"]}
    assert shell[SECRETS["stripe"]] == "sk_live_the_users_own" and shell[SECRETS["hubspot"]] == SANDBOX_HUBSPOT_TOKEN
    key = json.loads(shell[SECRETS["google_sheets"]])
    assert key["type"] == "service_account" and key["token_uri"].startswith(
        saas_sandbox.sources["google_sheets"].base_url
    )

    again = json.loads(sandbox_secrets(saas_sandbox, {})[SECRETS["google_sheets"]])
    assert (again["private_key_id"], again["private_key"]) == (key["private_key_id"], key["private_key"])
    key_file = Path(tmp_path / "sandbox" / "standins" / "google_sheets" / "service_account.json")
    assert key_file.stat().st_mode & 0o777 == 0o600  # a private key: readable by its owner only


def test_the_connectors_load_the_generated_company_and_again_after_a_restart(saas_sandbox, monkeypatch):
    environ: dict[str, str] = {}
    for name, value in sandbox_secrets(saas_sandbox, environ).items():
        monkeypatch.setenv(name, value)
    accounts, subscriptions, items = app_company(END_DATE, SEED, ACCOUNTS)

    with running_standins(saas_sandbox) as served:
        assert materialize_saas(saas_sandbox).success
        assert {source: running.api.requests_to("/") > 0 for source, running in served.items()} == dict.fromkeys(
            SECRETS, True
        )
    loaded = api_sources.query(
        saas_sandbox,
        "select (select count(*) from raw_stripe.subscriptions), (select count(*) from raw_hubspot.deals),"
        " (select count(*) from raw_hubspot.companies), (select count(*) from raw_google_sheets.contract_items)",
    )
    sheet_items = served["google_sheets"].api.tab_rows("billing-sheet", "contract_items")[1:]
    assert loaded == [(len(subscriptions), len(subscriptions), len(accounts), len(sheet_items))]

    with running_standins(saas_sandbox) as restarted:  # `make dev` after `make demo`: same records, same key
        assert materialize_saas(saas_sandbox).success
        requests = {source: running.api.requests_to("/") for source, running in restarted.items()}
    assert requests == {"stripe": 4, "hubspot": 8, "google_sheets": 4}  # nothing changed: the incremental reads
