"""Each notifier against a faithful local receiver: delivered once, retried when the destination
is down, overloaded or rate-limiting, given up (and logged, never raised) when it refuses, and no
secret in any message or log line."""

import pytest

from billing_pipelines.config import parse_config
from billing_pipelines.defs.alerts.messages import RunFailure, run_failure_alert
from billing_pipelines.defs.alerts.notifiers import RetryPolicy, notifiers_from, scrubber_for, send_alert
from billing_pipelines_tests.alerts.conftest import SECRETS, SLACK_TOKEN, SOURCE_PASSWORD
from billing_pipelines_tests.alerts.receivers import free_port

UI = "http://dagster.internal:3000"


def alerts_yaml(slack=None, webhook=None, smtp=None, smtp_port=None, max_attempts=3) -> str:
    notifiers = []
    if slack is not None:
        notifiers.append(f"    ops_slack:\n      kind: slack\n      channel: '#billing-ops'\n      base_url: {slack}\n")
    if webhook is not None:
        notifiers.append(f"    ops_webhook:\n      kind: webhook\n      url: {webhook}\n")
    if smtp is not None:
        notifiers.append(
            "    ops_email:\n      kind: email\n      host: 127.0.0.1\n"
            f"      port: {smtp_port}\n      starttls: false\n"
            "      from: billing-alerts@example.com\n      to: [ops@example.com, finance@example.com]\n"
        )
    return (
        f"alerts:\n  ui_base_url: {UI}\n  max_attempts: {max_attempts}\n  backoff_seconds: 0.01\n"
        "  notifiers:\n" + "".join(notifiers)
    )


def config_with(body: str, sources: str = ""):
    return parse_config(f'history_start: "2026-08-01"\n{body}{sources}')


SQL_SOURCE = """sources:
  app_db:
    kind: sql
    url_env: APP_DB_URL
    datasets:
      usage_events: {table: usage, cursor: ts, primary_key: id}
"""


def leaky_failure() -> RunFailure:
    """A failure whose error echoed the source URL, password included (a careless driver)."""
    return RunFailure(
        job="billing_sync",
        run_id="0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
        failed_assets=("raw_app_db/usage_events",),
        partitions="2026-09-01…2026-09-03",
        errors=(
            ("app_db_usage", f"OperationalError: could not connect to postgresql://billing:{SOURCE_PASSWORD}@db/app"),
        ),
    )


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def send(config, alert, log, sleeps=None):
    policy = RetryPolicy.from_config(config.alerts)
    if sleeps is not None:
        policy = RetryPolicy(policy.attempts, policy.backoff_seconds, sleep=sleeps)
    return send_alert(notifiers_from(config.alerts), alert, policy, scrubber_for(config), log)


def test_each_notifier_delivers_one_message_without_any_secret(slack, webhook, smtp, alert_secrets, log):
    config = config_with(alerts_yaml(slack.base_url, webhook.url, smtp=True, smtp_port=smtp.port), SQL_SOURCE)
    alert = run_failure_alert(leaky_failure(), UI)

    reports = send(config, alert, log)

    assert [r.delivered for r in reports] == [True, True, True]
    assert len(slack.messages) == len(webhook.payloads) == len(smtp.messages) == 1
    slack_text = slack.messages[0]["text"]
    assert slack.messages[0]["channel"] == "#billing-ops"
    assert "raw_app_db/usage_events" in slack_text and f"{UI}/runs/{leaky_failure().run_id}" in slack_text
    payload = webhook.payloads[0]
    assert payload["type"] == "billing.run_failed"
    assert payload["data"]["failed_assets"] == ["raw_app_db/usage_events"]
    assert payload["data"]["link"] == f"{UI}/runs/{leaky_failure().run_id}"
    mail = smtp.messages[0]
    assert mail["Subject"] == "Billing run failed: billing_sync (2026-09-01…2026-09-03)"
    assert smtp.inbox.envelopes[0].rcpt_tos == ["ops@example.com", "finance@example.com"]
    body = mail.get_content()
    assert "Not materialized: raw_app_db/usage_events" in body and "[redacted]" in body

    everything = [slack_text, *(b.decode() for _, b in webhook.deliveries), smtp.inbox.envelopes[0].content.decode()]
    everything += [log.text]
    for secret in SECRETS:
        assert all(secret not in text for text in everything), "a secret left the process"


def test_slack_rate_limit_is_waited_out_as_slack_asks(slack, alert_secrets, log):
    config = config_with(alerts_yaml(slack.base_url))
    slack.rate_limit_next(retry_after=2)
    sleeps = Sleeps()

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log, sleeps)

    assert report.delivered and report.attempts == 2 and sleeps == [2.0]
    assert slack.requests == 2 and len(slack.messages) == 1
    assert "HTTP 429: ratelimited" in log.text


def test_a_slack_outage_page_is_retried(slack, alert_secrets, log):
    config = config_with(alerts_yaml(slack.base_url))
    slack.fail_next(503, headers={"content-type": "text/html"}, body=b"<html>Service Unavailable</html>")

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log, Sleeps())

    assert report.delivered and report.attempts == 2 and len(slack.messages) == 1
    assert "HTTP 503" in log.text


def test_a_wrong_slack_token_is_refused_once_and_logged_without_the_token(slack, monkeypatch, log):
    wrong = "xoxb-9999-wrong-token-abcdef"
    monkeypatch.setenv("SLACK_BOT_TOKEN", wrong)
    config = config_with(alerts_yaml(slack.base_url))

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log)

    assert not report.delivered and report.attempts == 1 and slack.requests == 1
    assert ("error" in {level for level, _ in log.lines}) and "invalid_auth" in log.text
    assert wrong not in log.text and SLACK_TOKEN not in log.text


def test_webhook_server_errors_are_retried_with_backoff_then_delivered_signed(webhook, alert_secrets, log):
    config = config_with(alerts_yaml(webhook=webhook.url))
    webhook.fail_next(503, times=2)
    sleeps = Sleeps()

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log, sleeps)

    assert report.delivered and report.attempts == 3 and sleeps == [0.01, 0.02]
    assert len(webhook.payloads) == 1
    ids = {headers["webhook-id"] for headers, _ in webhook.deliveries[-1:]}
    assert len(ids) == 1 and next(iter(ids)).startswith("msg_")


def test_a_forged_webhook_signature_would_be_refused(webhook, alert_secrets, monkeypatch, log):
    """The receiver really verifies: a notifier holding another secret is turned away (400)."""
    monkeypatch.setenv("BILLING_ALERT_WEBHOOK_SECRET", "whsec_" + "A" * 43)
    config = config_with(alerts_yaml(webhook=webhook.url))

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log)

    assert not report.delivered and report.attempts == 1 and webhook.payloads == []
    assert "HTTP 400" in log.text


def test_smtp_temporary_failure_is_retried(smtp, log):
    config = config_with(alerts_yaml(smtp=True, smtp_port=smtp.port))
    smtp.fail_next("451 4.3.0 Try again later")

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log, Sleeps())

    assert report.delivered and report.attempts == 2 and len(smtp.messages) == 1
    assert "451" in log.text


@pytest.mark.parametrize("kind", ["slack", "webhook", "email"])
def test_a_notifier_that_is_down_is_retried_logged_and_never_raises(kind, alert_secrets, log):
    port = free_port()  # nothing listens there: connection refused
    config = config_with(
        alerts_yaml(
            slack=f"http://127.0.0.1:{port}/api/" if kind == "slack" else None,
            webhook=f"http://127.0.0.1:{port}/hook" if kind == "webhook" else None,
            smtp=True if kind == "email" else None,
            smtp_port=port,
        )
    )
    sleeps = Sleeps()

    [report] = send(config, run_failure_alert(leaky_failure(), UI), log, sleeps)

    assert not report.delivered and report.attempts == 3 and len(sleeps) == 2
    assert [level for level, _ in log.lines] == ["warning", "warning", "error"]
    assert "unreachable" in log.text and "NOT delivered" in log.text


def test_a_missing_secret_names_the_variable_and_other_notifiers_still_deliver(
    slack, webhook, alert_secrets, monkeypatch, log
):
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    config = config_with(alerts_yaml(slack.base_url, webhook.url))

    reports = send(config, run_failure_alert(leaky_failure(), UI), log, Sleeps())

    assert [r.delivered for r in reports] == [False, True]
    assert reports[0].attempts == 1 and slack.requests == 0 and len(webhook.payloads) == 1
    assert "SLACK_BOT_TOKEN" in log.text and "is not set" in log.text


def test_the_operators_test_command_reports_each_notifier(slack, webhook, alert_secrets, project_config, capsys):
    from billing_pipelines.defs.alerts.try_notifiers import main

    project_config(alerts_yaml(slack.base_url, webhook.url))
    assert main() == 0
    assert slack.messages[0]["text"].startswith("*Billing alerts test from ")
    assert webhook.payloads[0]["type"] == "billing.test"

    webhook.fail_next(500, times=3)
    assert main() == 1
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "ops_slack: delivered (after 1 try)",
        "ops_webhook: NOT delivered (after 3 tries)",
    ]
