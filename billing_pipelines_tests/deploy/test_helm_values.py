"""`deploy/helm/values.yaml` against the official Dagster chart's value structure, offline (no helm
binary here, and the chart is not vendored).

The chart validates values with a JSON schema generated from pydantic models in the Dagster
repository (`helm/dagster/schema/schema/charts/...`). The fields below are those models' fields for
the sections this file sets; the sections whose models forbid extra keys (`extra = forbid`) must
use no other key. A misspelt key there is one `helm install` would refuse; a misspelt key in a
section that allows extras would be silently ignored — hence the explicit lists.
"""

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
INSTANCE = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())

# dagster_user_deployments/subschema/user_deployments.py: UserDeployment
USER_DEPLOYMENT_FIELDS = {
    "name": str,
    "image": dict,
    "port": int,
    "dagsterApiGrpcArgs": list,
    "codeServerArgs": list,
    "includeConfigInLaunchedRuns": dict,
    "env": (dict, list),
    "envConfigMaps": list,
    "envSecrets": list,
    "annotations": dict,
    "nodeSelector": dict,
    "affinity": dict,
    "tolerations": list,
    "podSecurityContext": dict,
    "securityContext": dict,
    "resources": dict,
    "livenessProbe": dict,
    "readinessProbe": dict,
    "startupProbe": dict,
    "labels": dict,
    "volumeMounts": list,
    "volumes": list,
    "schedulerName": str,
}
USER_DEPLOYMENT_REQUIRED = {"name", "image", "port"}
# utils/kubernetes.py: Image (repository and pullPolicy required; tag a string, int or null)
PULL_POLICIES = {"Always", "IfNotPresent", "Never"}
# dagster/subschema/postgresql.py: PostgreSQL
POSTGRESQL_FIELDS = {
    "postgresqlScheme": str,
    "image": dict,
    "enabled": bool,
    "postgresqlHost": str,
    "postgresqlUsername": str,
    "postgresqlPassword": str,
    "postgresqlDatabase": str,
    "postgresqlParams": dict,
    "service": dict,
}
# dagster/subschema/run_launcher.py: K8sRunLauncherConfig (extra = forbid)
K8S_RUN_LAUNCHER_FIELDS = {
    "image": dict,
    "imagePullPolicy": str,
    "jobNamespace": str,
    "loadInclusterConfig": bool,
    "kubeconfigFile": str,
    "envConfigMaps": list,
    "envSecrets": list,
    "envVars": list,
    "volumeMounts": list,
    "volumes": list,
    "labels": dict,
    "failPodOnRunFailure": bool,
    "resources": dict,
    "schedulerName": str,
    "securityContext": dict,
    "runK8sConfig": dict,
}
# dagster/subschema/daemon.py: RunCoordinator and QueuedRunCoordinatorConfig (extra = forbid)
RUN_COORDINATOR_FIELDS = {"enabled": bool, "type": str, "config": dict}
QUEUED_RUN_COORDINATOR_FIELDS = {
    "maxConcurrentRuns": int,
    "tagConcurrencyLimits": list,
    "dequeueIntervalSeconds": int,
    "dequeueNumWorkers": int,
    "dequeueUseThreads": bool,
}
# the keys the chart's instance template (templates/configmap-instance.yaml) reads from
# dagsterDaemon.runMonitoring / runRetries (both free-form dicts in the schema)
RUN_MONITORING_FIELDS = {
    "enabled": bool,
    "startTimeoutSeconds": int,
    "cancelTimeoutSeconds": int,
    "maxResumeRunAttempts": int,
    "pollIntervalSeconds": int,
    "freeSlotsAfterRunEndSeconds": int,
}
RUN_RETRIES_FIELDS = {"enabled": bool, "maxRetries": int}
# dagster/subschema/concurrency.py (extra = forbid everywhere)
CONCURRENCY_FIELDS = {"enabled": bool, "pools": dict, "runs": dict}
CONCURRENCY_POOLS_FIELDS = {"defaultLimit": int, "granularity": str, "opGranularityRunBuffer": int}
CONCURRENCY_RUNS_FIELDS = {"maxConcurrentRuns": int, "tagConcurrencyLimits": list}
TAG_LIMIT_FIELDS = {"key": str, "value": (str, dict), "limit": int}
# dagster/values.py: DagsterHelmValues, the top-level sections
TOP_LEVEL = {
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "global",
    "retention",
    "concurrency",
    "additionalInstanceConfig",
}
GLOBAL_FIELDS = {
    "postgresqlSecretName": str,
    "dagsterHome": str,
    "serviceAccountName": str,
    "celeryConfigSecretName": str,
    "dagsterInstanceConfigMap": str,
}


def conforms(section: dict, fields: dict, where: str, required: set = frozenset()) -> None:
    assert isinstance(section, dict), f"{where} must be a mapping"
    unknown = set(section) - set(fields)
    assert not unknown, f"{where}: keys the chart does not define: {sorted(unknown)}"
    missing = set(required) - set(section)
    assert not missing, f"{where}: required keys missing: {sorted(missing)}"
    for key, value in section.items():
        assert isinstance(value, fields[key]), f"{where}.{key}: {type(value).__name__}, expected {fields[key]}"


def test_top_level_sections_are_the_charts():
    assert set(VALUES) <= TOP_LEVEL
    conforms(VALUES["global"], GLOBAL_FIELDS, "global")
    assert VALUES["telemetry"] == {"enabled": False}


def test_the_code_location_deployment():
    section = VALUES["dagster-user-deployments"]
    assert section["enabled"] is True and section["enableSubchart"] is True
    [deployment] = section["deployments"]
    conforms(deployment, USER_DEPLOYMENT_FIELDS, "deployment", USER_DEPLOYMENT_REQUIRED)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", deployment["name"])  # a Kubernetes name
    image = deployment["image"]
    assert {"repository", "pullPolicy"} <= set(image) <= {"repository", "tag", "pullPolicy"}
    assert image["pullPolicy"] in PULL_POLICIES and isinstance(image["tag"], str)
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "billing_pipelines.definitions"]
    assert deployment["port"] == 4000
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    # configuration from a ConfigMap mounted where BILLING_CONFIG points, secrets from a Secret
    env = {variable["name"]: variable for variable in deployment["env"]}
    config_path = Path(env["BILLING_CONFIG"]["value"])
    [mount] = [m for m in deployment["volumeMounts"] if config_path.is_relative_to(m["mountPath"])]
    [volume] = [v for v in deployment["volumes"] if v["name"] == mount["name"]]
    assert "configMap" in volume
    assert deployment["envSecrets"] and all(set(ref) == {"name"} for ref in deployment["envSecrets"])


def test_the_instance_database_is_an_external_postgres_with_a_secret_password():
    postgresql = VALUES["postgresql"]
    conforms(postgresql, POSTGRESQL_FIELDS, "postgresql")
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlHost"] and postgresql["postgresqlUsername"] and postgresql["postgresqlDatabase"]
    assert postgresql["service"] == {"port": 5432}
    # the password comes from the Secret global.postgresqlSecretName, never from this file
    assert "postgresqlPassword" not in postgresql
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    # the same driver as deploy/dagster.yaml
    assert postgresql["postgresqlScheme"] == INSTANCE["storage"]["postgres"]["postgres_db"]["scheme"]


def test_runs_are_kubernetes_jobs():
    launcher = VALUES["runLauncher"]
    assert set(launcher) == {"type", "config"} and launcher["type"] == "K8sRunLauncher"
    assert set(launcher["config"]) == {"k8sRunLauncher"}
    config = launcher["config"]["k8sRunLauncher"]
    conforms(config, K8S_RUN_LAUNCHER_FIELDS, "runLauncher.config.k8sRunLauncher")
    assert config["imagePullPolicy"] in PULL_POLICIES
    assert config["loadInclusterConfig"] is True
    # Run workers in the project's image load the instance, which names this launcher: the image
    # must hold dagster-k8s, pinned with the rest of the Dagster family.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = dict(dependency.split("==", 1) for dependency in pyproject["project"]["dependencies"] if "==" in dependency)
    assert pins["dagster-k8s"] == pins["dagster-postgres"]
    assert importlib.util.find_spec("dagster_k8s") is not None


def test_the_daemon_queues_monitors_and_retries_runs_as_the_instance_file_does():
    daemon = VALUES["dagsterDaemon"]
    assert daemon["enabled"] is True
    coordinator = daemon["runCoordinator"]
    conforms(coordinator, RUN_COORDINATOR_FIELDS, "dagsterDaemon.runCoordinator")
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    conforms(queued, QUEUED_RUN_COORDINATOR_FIELDS, "queuedRunCoordinator")
    assert queued["dequeueIntervalSeconds"] == INSTANCE["run_coordinator"]["config"]["dequeue_interval_seconds"]

    monitoring = daemon["runMonitoring"]
    conforms(monitoring, RUN_MONITORING_FIELDS, "dagsterDaemon.runMonitoring")
    assert monitoring == {
        "enabled": INSTANCE["run_monitoring"]["enabled"],
        "startTimeoutSeconds": INSTANCE["run_monitoring"]["start_timeout_seconds"],
        "cancelTimeoutSeconds": INSTANCE["run_monitoring"]["cancel_timeout_seconds"],
        "pollIntervalSeconds": INSTANCE["run_monitoring"]["poll_interval_seconds"],
        "freeSlotsAfterRunEndSeconds": INSTANCE["run_monitoring"]["free_slots_after_run_end_seconds"],
    }
    retries = daemon["runRetries"]
    conforms(retries, RUN_RETRIES_FIELDS, "dagsterDaemon.runRetries")
    assert retries == {"enabled": True, "maxRetries": INSTANCE["run_retries"]["max_retries"]}


def test_pools_and_run_limits_match_the_instance_file():
    concurrency = VALUES["concurrency"]
    conforms(concurrency, CONCURRENCY_FIELDS, "concurrency")
    assert concurrency["enabled"] is True
    conforms(concurrency["pools"], CONCURRENCY_POOLS_FIELDS, "concurrency.pools")
    conforms(concurrency["runs"], CONCURRENCY_RUNS_FIELDS, "concurrency.runs")
    for limit in concurrency["runs"]["tagConcurrencyLimits"]:
        conforms(limit, TAG_LIMIT_FIELDS, "concurrency.runs.tagConcurrencyLimits[]", {"key", "limit"})
    instance = INSTANCE["concurrency"]
    assert concurrency["pools"] == {
        "defaultLimit": instance["pools"]["default_limit"],
        "granularity": instance["pools"]["granularity"],
    }
    assert concurrency["runs"] == {
        "maxConcurrentRuns": instance["runs"]["max_concurrent_runs"],
        "tagConcurrencyLimits": instance["runs"]["tag_concurrency_limits"],
    }
    # the chart refuses run limits in both places
    assert "maxConcurrentRuns" not in VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]


SECRET_WORDS = re.compile(r"(password|secret|token|key|credential)", re.IGNORECASE)


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, str(index)))
    else:
        yield path, node


@pytest.mark.parametrize("document", ["helm", "instance"])
def test_no_secret_is_written_in_the_files(document):
    """A value under a secret-sounding key is only ever a reference: a Secret's name, an
    environment variable's name, or the tag of a concurrency limit."""
    values = VALUES if document == "helm" else INSTANCE
    for path, value in leaves(values):
        secretish = [part for part in path if SECRET_WORDS.search(part)]
        if not secretish:
            continue
        reference = (
            path[-1] in ("name", "env")  # envSecrets[].name, postgresqlSecretName's value, {env: VAR}
            or path[-1].endswith("SecretName")
            or path[-1] == "key"  # a tag concurrency limit's tag key
            or value is False  # generatePostgresqlPasswordSecret
        )
        assert reference, f"{'.'.join(path)} holds a literal value: {value!r}"
    assert "sslmode" in VALUES["postgresql"]["postgresqlParams"]
    password = INSTANCE["storage"]["postgres"]["postgres_db"]["password"]
    assert set(password) == {"env"}
