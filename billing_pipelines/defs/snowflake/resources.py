"""How a Snowflake source is reached: dagster-snowflake's `SnowflakeResource`, built when a run
reads the source, from billing.yaml plus the secret held by the environment variable it names.

`import dagster_snowflake` takes ~20 s (Snowpark, snowflake.core), so it happens here, at run
time, never while the code location loads. The secret is read from the environment only, and no
message ever carries it: a missing variable is reported by its NAME.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any

from billing_pipelines.config import SnowflakeSourceConfig

SESSION_SETTINGS: dict[str, Any] = {
    "paramstyle": "numeric",
    "timezone": "UTC",
    "autocommit": True,
    "client_prefetch_threads": 2,
}
"""Server-side binding (`:1`, `:2`), event times compared and delivered in UTC, no transaction
to commit after a read, and at most two result chunks downloaded ahead of the one being loaded
(the connector's default is four): a read's memory stays a few chunks plus one batch."""
CONNECTOR_SETTINGS: dict[str, Any] = {"arrow_number_to_decimal": True}
"""Without it the connector turns NUMBER(p, s>0) into float64 Arrow columns: quantities and
amounts must stay exact decimals."""


class SnowflakeUnavailable(RuntimeError):
    """The source's secret is not available at run time."""


def resource_settings(source_name: str, source: SnowflakeSourceConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """The `SnowflakeResource` fields of a source: its connection from billing.yaml, the secret
    from the variable it names, and the session settings every read relies on."""
    secret_env = source.password_env or source.private_key_env
    if secret_env is None:
        raise SnowflakeUnavailable(
            f"source {source_name}: name the variable holding its secret in password_env or private_key_env"
        )
    secret = environ.get(secret_env)
    if not secret:
        what = "password" if source.password_env else "private key (PEM)"
        raise SnowflakeUnavailable(
            f"environment variable {secret_env} is not set: it must hold the Snowflake {what} of source {source_name}"
        )
    endpoint = {"host": source.host, "port": source.port, "protocol": source.protocol}
    settings = {
        "account": source.account,
        "user": source.user,
        "warehouse": source.warehouse,
        "database": source.database,
        "schema": source.schema_,
        "role": source.role,
        "password" if source.password_env else "private_key": secret,
        **SESSION_SETTINGS,
        "additional_snowflake_connection_args": {
            **CONNECTOR_SETTINGS,
            **{key: value for key, value in endpoint.items() if value is not None},
        },
    }
    return {key: value for key, value in settings.items() if value is not None}


@contextmanager
def snowflake_connection(source_name: str, source: SnowflakeSourceConfig) -> Iterator[Any]:
    """An open `snowflake.connector` connection to the source, closed on exit, also when a
    read fails or stops early (dagster-snowflake only closes it after a clean exit)."""
    settings = resource_settings(source_name, source, os.environ)
    from dagster_snowflake import SnowflakeResource  # ~20 s: only when a run reads Snowflake

    resource = SnowflakeResource(**settings)
    with resource.get_connection() as connection, closing(connection):
        yield connection
