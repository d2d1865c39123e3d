"""The connection to a BigQuery source: dagster-gcp's `BigQueryResource`, with the credentials
billing.yaml names.

Credentials, in order: the service-account key JSON held in the environment variable
`credentials_env` names; anonymous for a local stand-in (`api_endpoint` set, no variable named);
otherwise the machine's application-default credentials. The key is read when a run connects,
never stored in the resource's configuration, and never quoted in an error.

dagster-gcp (with google-cloud-bigquery) takes seconds to import, so it is imported when a run
first connects, not when the definitions load.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import cache
from typing import Any

from billing_pipelines.config import BigQueryConnection

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class SourceUnavailable(RuntimeError):
    """The source's credentials are missing or unusable at run time."""


def key_info(credentials_env: str) -> dict[str, Any]:
    """The credentials JSON held in the variable `credentials_env` names, as a mapping.

    Errors name the variable and say what is wrong, without quoting any of its content."""
    text = os.environ.get(credentials_env, "")
    if not text.strip():
        raise SourceUnavailable(
            f"environment variable {credentials_env} is not set: it must hold the service-account key JSON"
        )
    try:
        info = json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"it is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    else:
        if isinstance(info, dict):
            return info
        reason = "it is not a JSON object"
    raise SourceUnavailable(f"environment variable {credentials_env} must hold the service-account key JSON: {reason}")


def source_credentials(credentials_env: str | None, api_endpoint: str | None):
    """The credentials a source's clients authenticate with (see the module docstring)."""
    if credentials_env:
        from google.oauth2 import service_account

        info = key_info(credentials_env)
        try:
            return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM_SCOPE])
        except (ValueError, KeyError, TypeError):
            # The parser's messages may quote the key: say what is wrong without them.
            raise SourceUnavailable(
                f"environment variable {credentials_env} holds a service-account key that cannot be used "
                "(it needs client_email, token_uri and a readable private_key)"
            ) from None
    if api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    return None  # the clients find the application-default credentials


def bigquery_resource(connection: BigQueryConnection):
    """The `BigQueryResource` a source is read through."""
    return _resource_type()(
        project=connection.project,
        location=connection.location,
        credentials_env=connection.credentials_env,
        api_endpoint=connection.api_endpoint,
    )


@cache
def _resource_type() -> type:
    from dagster_gcp import BigQueryResource
    from google.cloud import bigquery

    class SourceBigQueryResource(BigQueryResource):
        """dagster-gcp's resource, authenticating as the source's configuration says, and able
        to reach a local stand-in's REST endpoint."""

        credentials_env: str | None = None
        api_endpoint: str | None = None

        @contextmanager
        def get_client(self):
            client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=source_credentials(self.credentials_env, self.api_endpoint),
                client_options={"api_endpoint": self.api_endpoint} if self.api_endpoint else None,
            )
            try:
                yield client
            finally:
                client.close()

        def storage_read_client(self):
            """A Storage Read API client (query results as Arrow streams over gRPC), or None to
            read them as REST pages: an emulator's Storage Read API cannot read query results."""
            if self.api_endpoint:
                return None
            from google.cloud import bigquery_storage

            credentials = source_credentials(self.credentials_env, self.api_endpoint)
            return bigquery_storage.BigQueryReadClient(credentials=credentials)

    return SourceBigQueryResource
