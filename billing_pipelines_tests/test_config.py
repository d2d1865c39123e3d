"""billing.yaml validation: a mistake names the file, the line, the key path and the fix."""

import pytest

from billing_pipelines.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config

VALID = """\
history_start: "2026-08-01"
sources:
  app_db:
    kind: sql
    url_env: APP_DB_URL
    datasets:
      usage_events:
        query: |
          SELECT id AS event_id, occurred_at AS event_timestamp FROM usage
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""


def test_shipped_billing_yaml_is_valid():
    config = load_config(DEFAULT_CONFIG_PATH)
    assert set(config.sources["app_db"].datasets) == {"customers", "contracts", "contract_items", "usage_events"}
    assert config.warehouse_path.name == "warehouse.duckdb"


def test_valid_config_reads_defaults_and_lists_a_single_key():
    config = parse_config(VALID)
    usage = config.sources["app_db"].datasets["usage_events"]
    assert usage.primary_key == ["event_id"]
    assert config.landing.path == "landing"
    assert config.schedules.sync_latest_partitions == 2


def test_query_missing_window_end_names_line_and_key_path():
    text = VALID.replace("AND occurred_at < :window_end", "")
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="billing.yaml")
    assert str(error.value) == (
        "billing.yaml:8: sources.app_db.datasets.usage_events.query: missing :window_end parameter"
    )


def test_window_parameter_must_be_a_whole_name():
    text = VALID.replace(":window_end", ":window_ending")
    with pytest.raises(ConfigError, match="missing :window_end parameter"):
        parse_config(text)


def test_password_in_url_is_refused():
    text = VALID.replace("url_env: APP_DB_URL", "url: postgresql://billing:s3cret@db/app")
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="billing.yaml")
    message = str(error.value)
    assert message.startswith("billing.yaml:5: sources.app_db.url: ")
    assert "environment variable" in message
    assert "s3cret" not in message


def test_a_url_that_is_not_a_url_is_explained():
    with pytest.raises(ConfigError) as error:
        parse_config(VALID.replace("url_env: APP_DB_URL", "url: app.sqlite"), file_name="billing.yaml")
    assert (
        str(error.value) == "billing.yaml:5: sources.app_db.url: is not a SQLAlchemy URL like sqlite:///data/app.sqlite"
    )


def test_unknown_key_and_wrong_type_are_both_reported_with_lines():
    text = VALID.replace('history_start: "2026-08-01"', 'history_start: "August"\nwarehose: {}')
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="b.yaml")
    lines = str(error.value).splitlines()
    assert lines[0].startswith("b.yaml:1: history_start: ")
    assert lines[1] == "b.yaml:2: warehose: Extra inputs are not permitted"


def test_unknown_dataset_and_missing_cursor():
    text = VALID.replace("usage_events:\n        query", "usage:\n        query").replace(
        "        cursor: event_timestamp\n", ""
    )
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="b.yaml")
    assert "b.yaml:7: sources.app_db.datasets.usage" in str(error.value)


def test_source_needs_url_or_env():
    with pytest.raises(ConfigError) as error:
        parse_config(VALID.replace("    url_env: APP_DB_URL\n", ""), file_name="b.yaml")
    assert str(error.value) == "b.yaml:3: sources.app_db: give exactly one of `url` or `url_env`"


def test_source_name_becomes_a_schema_so_it_must_be_snake_case():
    with pytest.raises(ConfigError, match="source name 'App-DB' must be lower_snake_case"):
        parse_config(VALID.replace("  app_db:", "  App-DB:"))


def test_table_form_needs_no_window_parameters():
    text = VALID.replace(
        """query: |
          SELECT id AS event_id, occurred_at AS event_timestamp FROM usage
          WHERE occurred_at >= :window_start AND occurred_at < :window_end""",
        "table: public.usage",
    )
    assert parse_config(text).sources["app_db"].datasets["usage_events"].table == "public.usage"


def test_warehouse_path_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLING_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert parse_config(VALID).warehouse_path == tmp_path / "w.duckdb"


def test_not_yaml_and_not_a_mapping():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("a: [1,", file_name="x.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config("- 1", file_name="x.yaml")


def test_memory_budget_defaults_to_a_small_worker_and_reads_units():
    assert parse_config(VALID).memory_budget_mib == 2048
    assert parse_config(VALID + 'memory_budget: "1536MiB"\n').memory_budget_mib == 1536
    assert parse_config(VALID + "memory_budget: 4GiB\n").memory_budget_mib == 4096


@pytest.mark.parametrize(
    ("value", "message"),
    [("2 gigs", "must be a size like '2GiB' or '1536MiB'"), ("256MiB", "must be at least 512MiB")],
)
def test_memory_budget_mistakes_name_the_line(value, message):
    with pytest.raises(ConfigError) as error:
        parse_config(VALID + f"memory_budget: {value}\n", file_name="billing.yaml")
    assert f"billing.yaml:13: memory_budget: {message}" in str(error.value)


WAREHOUSE_SOURCES = """\
history_start: "2026-08-01"
warehouse:
  kind: postgres
  url_env: WAREHOUSE_URL
sources:
  usage_lake:
    kind: snowflake
    account: acme-prod
    user: billing_loader
    password_env: SNOWFLAKE_PASSWORD
    warehouse: LOAD_WH
    database: USAGE
    datasets:
      usage_events:
        table: public.events
        cursor: event_timestamp
        primary_key: event_id
  analytics:
    kind: bigquery
    project: acme-analytics
    location: EU
    credentials_env: BIGQUERY_KEY_JSON
    datasets:
      usage_events:
        table: product.usage
        cursor: event_timestamp
        primary_key: event_id
"""


def test_snowflake_bigquery_sources_and_a_server_warehouse_are_read():
    config = parse_config(WAREHOUSE_SOURCES)
    assert config.warehouse.kind == "postgres" and config.warehouse.url_env == "WAREHOUSE_URL"
    assert set(config.enabled_sources_of("snowflake")) == {"usage_lake"}
    assert config.sources["analytics"].project == "acme-analytics"


def test_a_source_error_names_the_key_path_without_the_kind_tag():
    text = WAREHOUSE_SOURCES.replace("password_env: SNOWFLAKE_PASSWORD", "password_env: my password")
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="billing.yaml")
    assert str(error.value) == (
        "billing.yaml:10: sources.usage_lake.password_env: must be an environment variable NAME like APP_DB_URL"
    )


def test_an_unknown_warehouse_kind_lists_the_kinds():
    text = WAREHOUSE_SOURCES.replace("kind: postgres", "kind: redshift")
    with pytest.raises(ConfigError) as error:
        parse_config(text, file_name="billing.yaml")
    message = str(error.value)
    assert message.startswith("billing.yaml:2: warehouse: ")
    assert "'duckdb', 'postgres', 'snowflake', 'bigquery'" in message


API_SOURCES = """\
history_start: "2026-08-01"
sources:
  payments:
    kind: stripe
  crm:
    kind: hubspot
    external_id_property: billing_id
  finance_sheet:
    kind: google_sheets
    spreadsheet_id: 1AbC
    tabs: {customers: Customers, contracts: Contracts}
    columns: {customers: {external_id: Customer ID}}
"""


def test_saas_sources_default_to_the_real_apis_and_name_their_secret_variables():
    config = parse_config(API_SOURCES)
    stripe, hubspot, sheets = (config.sources[name] for name in ("payments", "crm", "finance_sheet"))
    assert (stripe.base_url, stripe.api_key_env, stripe.external_id_key) == (
        "https://api.stripe.com",
        "STRIPE_API_KEY",
        "external_id",
    )
    assert (hubspot.base_url, hubspot.token_env, hubspot.external_id_property) == (
        "https://api.hubapi.com",
        "HUBSPOT_TOKEN",
        "billing_id",
    )
    assert hubspot.contract_start_property == "contract_start_date__zenskar_"
    assert sheets.tabs == {"customers": "Customers", "contracts": "Contracts"}
    assert set(config.enabled_api_sources) == {"payments", "crm", "finance_sheet"}
    assert config.enabled_pulled_sources == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("kind: stripe", "kind: stripe\n    api_key: sk_live_123"),
            "billing.yaml:5: sources.payments.api_key: Extra inputs are not permitted",
        ),
        (
            ("kind: stripe", "kind: stripe\n    base_url: api.stripe.com"),
            "billing.yaml:5: sources.payments.base_url: must be an http(s) URL like https://api.stripe.com",
        ),
        (
            ("    tabs: {customers: Customers, contracts: Contracts}\n", "    tabs: {usage: Usage}\n"),
            "billing.yaml:11: sources.finance_sheet.tabs.usage: Input should be 'customers', 'contracts' or",
        ),
    ],
)
def test_saas_source_mistakes_name_the_line(change, message):
    with pytest.raises(ConfigError) as error:
        parse_config(API_SOURCES.replace(*change), file_name="billing.yaml")
    assert str(error.value).startswith(message)
