"""How a Snowflake source is reached: the secret comes from the variable billing.yaml names and
never shows in a message; the session is set up for exact, UTC, server-bound reads; and loading
the definitions does not pay for importing dagster-snowflake."""

import subprocess
import sys

import pytest

from billing_pipelines.config import SnowflakeSourceConfig
from billing_pipelines.defs.snowflake.resources import SnowflakeUnavailable, resource_settings

SECRET = "pw-that-must-never-show-0f3a"


def source(**fields) -> SnowflakeSourceConfig:
    base = {
        "kind": "snowflake",
        "account": "myorg-myaccount",
        "user": "BILLING_LOADER",
        "password_env": "USAGE_LAKE_PASSWORD",
        "database": "USAGE_LAKE",
        "schema": "METERING",
        "datasets": {"usage_events": {"table": "metered_usage", "cursor": "occurred_at", "primary_key": "event_id"}},
    }
    return SnowflakeSourceConfig.model_validate(base | fields)


def test_the_password_comes_from_the_named_variable():
    settings = resource_settings("usage_lake", source(), {"USAGE_LAKE_PASSWORD": SECRET})
    assert settings["password"] == SECRET
    assert "private_key" not in settings
    assert (settings["account"], settings["user"], settings["database"], settings["schema"]) == (
        "myorg-myaccount",
        "BILLING_LOADER",
        "USAGE_LAKE",
        "METERING",
    )


def test_a_private_key_comes_from_its_variable():
    settings = resource_settings(
        "usage_lake", source(password_env=None, private_key_env="USAGE_LAKE_KEY"), {"USAGE_LAKE_KEY": SECRET}
    )
    assert settings["private_key"] == SECRET and "password" not in settings


@pytest.mark.parametrize("environ", [{}, {"USAGE_LAKE_PASSWORD": ""}])
def test_a_missing_secret_is_reported_by_its_variable_name(environ):
    with pytest.raises(SnowflakeUnavailable, match="environment variable USAGE_LAKE_PASSWORD is not set") as error:
        resource_settings("usage_lake", source(), environ)
    assert "usage_lake" in str(error.value)


def test_a_source_naming_no_secret_variable_is_told_which_keys_to_set():
    with pytest.raises(SnowflakeUnavailable, match="password_env or private_key_env"):
        resource_settings("usage_lake", source(password_env=None), {"USAGE_LAKE_PASSWORD": SECRET})


def test_reads_bind_on_the_server_in_utc_with_exact_decimals_and_few_chunks_ahead():
    settings = resource_settings("usage_lake", source(), {"USAGE_LAKE_PASSWORD": SECRET})
    assert settings["paramstyle"] == "numeric" and settings["timezone"] == "UTC"
    assert settings["client_prefetch_threads"] == 2
    assert settings["additional_snowflake_connection_args"] == {"arrow_number_to_decimal": True}


def test_a_private_link_or_stand_in_endpoint_is_passed_to_the_connector():
    settings = resource_settings(
        "usage_lake", source(host="127.0.0.1", port=8765, protocol="http"), {"USAGE_LAKE_PASSWORD": SECRET}
    )
    assert settings["additional_snowflake_connection_args"] == {
        "arrow_number_to_decimal": True,
        "host": "127.0.0.1",
        "port": 8765,
        "protocol": "http",
    }
    assert "warehouse" not in settings and "role" not in settings  # unset: the user's defaults


def test_loading_the_snowflake_definitions_does_not_import_the_connector():
    probe = (
        "import sys, billing_pipelines.defs.snowflake.assets; "
        "print(sorted(m for m in ('dagster_snowflake', 'snowflake.connector', 'fakesnow') if m in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
