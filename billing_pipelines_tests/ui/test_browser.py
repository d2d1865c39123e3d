"""The Dagster UI in a real browser: what an operator sees and does there works.

`dagster dev` serves a small sandbox company (the end-to-end test's app database and config)
from its own DAGSTER_HOME on a free loopback port; headless Chromium, driven by Playwright,

1. reads the global asset lineage: one group per source plus `canonical` and `marts`, and every
   canonical table inside its group, all as the built definitions say;
2. launches a backfill of the latest 3 daily partitions of the app database's usage from the
   asset's partition dialog, as an operator migrating history would;
3. and the GraphQL API confirms the backfill completed, its runs succeeded and exactly those 3
   partitions are materialized (the daemon `dagster dev` starts runs it).

Debian's Chromium is required (`/usr/bin/chromium`, `BILLING_TEST_CHROMIUM` overrides; `.ci/run`
installs it): without it the test fails, it never skips. Screenshots of the lineage (and of the
page at a failure) are kept in `billing_pipelines_tests/artifacts/ui/`.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import psutil
import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from billing_pipelines.config import PROJECT_ROOT, current_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines_tests.test_end_to_end import CONFIG, ITEMS_VIEW

CHROMIUM = Path(os.environ.get("BILLING_TEST_CHROMIUM", "/usr/bin/chromium"))
# Headless as root on a closed network: without the background-networking flags Chromium keeps
# trying to reach Google's hosts and its connections are refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "ui"
BACKFILLED_ASSET = dg.AssetKey(["raw_app_db", "usage_events"])
SERVER_START_SECONDS = 180
BACKFILL_SECONDS = 300  # the backfill daemon looks every 30 s: it picks the backfill up, then sees its run end
UI_TIMEOUT_MS = 30_000


class DagsterUI(NamedTuple):
    url: str
    log: Path  # dagster dev's output: webserver, daemon and runs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """The sandbox company's billing.yaml, app database and definitions.

    The generated landing files stay outside the configured landing zone, so the landing sensor
    launches nothing that would queue beside the backfill in the warehouse pool."""
    root = tmp_path_factory.mktemp("ui_company")
    (root / "billing.yaml").write_text(CONFIG)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    generate_company(
        root / "app_db.sqlite",
        root / "generated_landing_files",
        end_date=yesterday,
        days=31,
        accounts=20,
        usage_events=3_000,
        landing_usage_events=1_000,
    )
    with sqlite3.connect(root / "app_db.sqlite") as app_db:
        app_db.execute(ITEMS_VIEW)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BILLING_CONFIG", str(root / "billing.yaml"))
        env.delenv("BILLING_WAREHOUSE", raising=False)
        current_config.cache_clear()
        config, defs = current_config(), build_definitions()
    current_config.cache_clear()
    return root, config, defs.resolve_asset_graph()


@pytest.fixture(scope="module")
def dagster_ui(company, tmp_path_factory):
    """`dagster dev` on a free loopback port, as `make dev` starts it, with its own DAGSTER_HOME
    (the repository's dagster.yaml). Always stops the whole process group."""
    root, _, _ = company
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    bin_dir = str(Path(sys.executable).parent)  # dbt and dagster of this environment
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "DAGSTER_HOME": str(home),
        "BILLING_CONFIG": str(root / "billing.yaml"),
        "DO_NOT_TRACK": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("BILLING_WAREHOUSE", None)
    log_path = home / "dagster_dev.log"
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_loaded(base_url, server, log_path)
        yield DagsterUI(base_url, log_path)
    finally:
        stop_process_group(server)


def wait_until_loaded(base_url: str, server: subprocess.Popen, log_path: Path) -> None:
    """Until the webserver answers and the code location has loaded (not merely started)."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.returncode}:\n{log_tail(log_path)}")
        try:
            entries = graphql(base_url, query)["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, KeyError, AssertionError) as error:
            last = repr(error)
        else:
            last = repr(entries)
            loaded = [entry["locationOrLoadError"] or {} for entry in entries]  # None while loading
            errors = [error for error in loaded if error.get("__typename") == "PythonError"]
            assert not errors, f"the code location failed to load: {errors}"
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        time.sleep(0.5)
    pytest.fail(f"dagster dev not ready after {SERVER_START_SECONDS} s (last: {last}):\n{log_tail(log_path)}")


def stop_process_group(server: subprocess.Popen) -> None:
    """SIGTERM to dagster dev's group (webserver, daemon, code servers, runs, dbt), then SIGKILL
    to whatever of it is left: a run killed halfway only touches this test's temporary files."""
    try:
        family = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
            server.wait(timeout=10)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue  # dagster dev does not always stop on SIGTERM while a run is going
    for process in family:  # any that left the group (psutil will not signal a reused pid)
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    server.wait(timeout=10)


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def graphql(base_url: str, query: str, **variables) -> dict:
    response = requests.post(f"{base_url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """One headless Chromium page on a fresh profile, for the whole module."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM} and it is missing: "
            "apt-get update && apt-get install -y chromium (as .ci/run does), or set BILLING_TEST_CHROMIUM"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium_profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        # A fresh instance greets a new browser with "Join the Dagster community": skip it
        # whenever it shows up in front of what the test is about to click.
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda: page.get_by_role("button", name="Skip").click(),
        )
        try:
            yield page
        finally:
            context.close()


@contextmanager
def screenshot_on_failure(page: Page, name: str):
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{name}-failure.png", full_page=True)
        print(f"screenshot of the failure: {ARTIFACTS / f'{name}-failure.png'}")
        raise


def graph_labels(page: Page) -> list[str]:
    """The names on the lineage graph's nodes (group boxes, or asset boxes), sidebar excluded."""
    return page.locator("svg foreignObject [data-tooltip]").all_inner_texts()


def test_lineage_shows_every_group_and_canonical_asset(company, browser_page, dagster_ui):
    _, config, asset_graph = company
    page = browser_page
    nodes = [asset_graph.get(key) for key in asset_graph.get_all_asset_keys()]
    # Stubs are the dbt sources of sources this config does not have; the UI hides them.
    groups = {node.group_name for node in nodes if not node.assets_def.is_auto_created_stub}
    canonical = sorted(node.key for node in nodes if node.group_name == "canonical")
    sources = set(config.enabled_sources) | ({"landing"} if config.landing.enabled else set())
    assert sources | {"canonical", "marts"} <= groups
    tables = ("customers", "contracts", "contract_items", "usage_events")
    assert {dg.AssetKey(["billing", table]) for table in tables} <= set(canonical)

    with screenshot_on_failure(page, "lineage"):
        page.goto(f"{dagster_ui.url}/asset-groups")
        expect(page.get_by_text("Global asset lineage")).to_be_visible()
        expect(page.locator("svg foreignObject [data-tooltip]")).to_have_count(len(groups))
        assert sorted(graph_labels(page)) == sorted(groups)
        expect(page.get_by_text("(fetching statuses)")).to_have_count(0)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "lineage.png")
        print(f"lineage screenshot: {ARTIFACTS / 'lineage.png'}")

        # Each canonical key, in full, inside the canonical group (a node shows its key's last part).
        keys = " or ".join(f'key:"{key.to_user_string()}"' for key in canonical)
        selection = urllib.parse.quote(f'group:"canonical" and ({keys})', safe="")
        page.goto(f"{dagster_ui.url}/asset-groups~{selection}")
        expect(page.locator("svg foreignObject [data-tooltip]")).to_have_count(len(canonical))
        assert sorted(graph_labels(page)) == sorted(key.path[-1] for key in canonical)
        page.screenshot(path=ARTIFACTS / "lineage-canonical.png")


BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      partitionNames
      assetSelection { path }
      runs(limit: 50) { id status }
      error { message }
    }
    ... on PythonError { message }
  }
}
"""
PARTITIONS_QUERY = """
query Partitions($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
    }
  }
}
"""
TERMINAL_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def test_backfill_of_three_partitions_launched_from_the_ui_completes(company, browser_page, dagster_ui):
    _, _, asset_graph = company
    page = browser_page
    partitions = asset_graph.get(BACKFILLED_ASSET).partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    # The latest 3 complete days: the sandbox's history ends yesterday.
    first, *_, last = chosen = partitions.get_partition_keys()[-3:]

    with screenshot_on_failure(page, "backfill"):
        page.goto(f"{dagster_ui.url}/assets/{BACKFILLED_ASSET.to_user_string()}?view=partitions")
        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Launch runs to materialize {' / '.join(BACKFILLED_ASSET.path)}")
        ranges = dialog.get_by_placeholder("No matching partitions")
        ranges.fill(f"[{first}...{last}]")
        ranges.press("Enter")
        expect(dialog).to_contain_text("3 partitions")
        dialog.get_by_role("button", name="Launch backfill").click()
        expect(page.get_by_text("Created backfill")).to_be_visible()
        backfill_id = page.locator("a[href^='/runs/b/']").first.get_attribute("href").removeprefix("/runs/b/")

    backfill = wait_for_backfill(dagster_ui, backfill_id)
    assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, f"{backfill}\n{log_tail(dagster_ui.log)}"
    assert backfill["partitionNames"] == chosen
    assert backfill["assetSelection"] == [{"path": BACKFILLED_ASSET.path}]
    assert backfill["runs"], "the backfill completed without a run"
    assert {run["status"] for run in backfill["runs"]} == {"SUCCESS"}, backfill["runs"]

    statuses = graphql(dagster_ui.url, PARTITIONS_QUERY, path=BACKFILLED_ASSET.path)["assetNodeOrError"]
    assert statuses["assetPartitionStatuses"]["ranges"] == [
        {"startKey": first, "endKey": last, "status": "MATERIALIZED"}
    ]


def wait_for_backfill(ui: DagsterUI, backfill_id: str) -> dict:
    """The backfill once it has reached a final status, as the GraphQL API reports it."""
    deadline = time.monotonic() + BACKFILL_SECONDS
    backfill = {}
    while time.monotonic() < deadline:
        backfill = graphql(ui.url, BACKFILL_QUERY, id=backfill_id)["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in TERMINAL_BACKFILL_STATUSES:
            return backfill
        time.sleep(2)
    pytest.fail(f"backfill {backfill_id} not finished after {BACKFILL_SECONDS} s: {backfill}\n{log_tail(ui.log)}")
