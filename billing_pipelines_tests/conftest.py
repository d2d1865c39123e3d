"""Shared fixtures: a real PostgreSQL database per test session, a project config per test."""

import os
import uuid

import pytest
import sqlalchemy as sa

from billing_pipelines.config import current_config, parse_config
from billing_pipelines.lib.runtime import apply_process_settings

apply_process_settings()

POSTGRES_ADMIN_URL = os.environ.get("BILLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A fresh database on the running PostgreSQL server, dropped after the session.

    Unreachable server: skipped on a laptop, a failure in CI (CI=true) — never a silent pass."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {POSTGRES_ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}")
    name = f"billing_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def project_config(tmp_path, monkeypatch):
    """Write a billing.yaml into tmp_path (warehouse and landing there too) and use it."""

    def configure(body: str):
        path = tmp_path / "billing.yaml"
        path.write_text(f'history_start: "2026-08-01"\nwarehouse: {{path: warehouse.duckdb}}\n{body}')
        monkeypatch.setenv("BILLING_CONFIG", str(path))
        monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)
        current_config.cache_clear()
        return parse_config(path.read_text(), str(path), base_dir=tmp_path)

    yield configure
    current_config.cache_clear()
