# The code location's image: the project, its dependencies, and the dbt manifest the dbt assets
# are built from. The same image serves the code location (a gRPC code server, port 4000) and
# runs every run worker the K8sRunLauncher starts (see deploy/helm/values.yaml).
#
#   docker build -t billing-pipelines:<version> .
#
# The install and manifest steps are the Makefile's `install` and `manifest` targets, without
# the `dev` extra (tests and local stand-ins); billing_pipelines_tests/deploy/test_dockerfile.py
# keeps them in step.
FROM python:3.11-slim

ENV DO_NOT_TRACK=1 \
    DAGSTER_DISABLE_TELEMETRY=1 \
    RUNTIME__DLTHUB_TELEMETRY=false \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

# The code finds billing.yaml and dbt_project/ beside the package, so the project is installed
# in place (editable), from here.
WORKDIR /opt/dagster/app
COPY . .

RUN python -m pip install --quiet --upgrade pip uv \
    && uv pip install --quiet --system -e . \
    && cd dbt_project && dbt parse --quiet --project-dir . --profiles-dir .

# The instance settings for a plain `docker run`; on Kubernetes the Helm chart mounts its own
# dagster.yaml (written from deploy/helm/values.yaml) over this one.
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml

# Runs write dbt's per-invocation target folders and parse cache under dbt_project/target.
RUN useradd --create-home --uid 1000 dagster && chown -R dagster /opt/dagster
USER dagster

EXPOSE 4000
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", "--module-name", "billing_pipelines.definitions"]
