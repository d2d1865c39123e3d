"""The `alerts:` section of billing.yaml: strict, line-numbered errors, secrets only by name."""

import pytest

from billing_pipelines.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from billing_pipelines.defs.alerts.notifiers import notifiers_from, secret_env_names

HEAD = 'history_start: "2026-08-01"\n'
ALERTS = """\
alerts:
  ui_base_url: https://dagster.acme.internal/
  notifiers:
    billing_ops:
      kind: slack
      channel: "#billing-ops"
    finance_hook:
      kind: webhook
      url: https://hooks.acme.internal/billing
      secret_env: FINANCE_HOOK_SECRET
    finance_mail:
      kind: email
      host: smtp.acme.internal
      from: billing-alerts@acme.com
      to: finance@acme.com
      username: billing-alerts
      password_env: SMTP_PASSWORD
    muted:
      kind: slack
      channel: "#old"
      enabled: false
"""


def test_alerts_defaults_and_each_notifier_kind():
    config = parse_config(HEAD + ALERTS)
    alerts = config.alerts
    assert alerts.ui_base_url == "https://dagster.acme.internal"
    assert (alerts.max_attempts, alerts.backoff_seconds) == (3, 1.0)
    slack, hook, mail = (alerts.notifiers[n] for n in ("billing_ops", "finance_hook", "finance_mail"))
    assert (slack.token_env, slack.base_url) == ("SLACK_BOT_TOKEN", "https://slack.com/api/")
    assert hook.secret_env == "FINANCE_HOOK_SECRET"
    assert (mail.port, mail.starttls, mail.to, mail.from_) == (
        587,
        True,
        ["finance@acme.com"],
        "billing-alerts@acme.com",
    )
    assert [n.name for n in notifiers_from(alerts)] == ["billing_ops", "finance_hook", "finance_mail"]


def test_the_shipped_billing_yaml_sends_nothing():
    assert load_config(DEFAULT_CONFIG_PATH).alerts.enabled_notifiers == {}


def test_secret_env_names_cover_sources_warehouse_and_notifiers():
    config = parse_config(
        HEAD + ALERTS + "warehouse: {kind: postgres}\nsources:\n  app_db:\n    kind: sql\n    url_env: APP_DB_URL\n"
        "    datasets:\n      customers: {table: accounts, cursor: updated_at, primary_key: id}\n"
        "  stripe: {kind: stripe}\n"
    )
    assert secret_env_names(config) >= {
        "APP_DB_URL",
        "BILLING_WAREHOUSE_URL",
        "STRIPE_API_KEY",
        "SLACK_BOT_TOKEN",
        "FINANCE_HOOK_SECRET",
        "SMTP_PASSWORD",
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('      channel: "#billing-ops"\n', ""),
            "billing.yaml:5: alerts.notifiers.billing_ops.channel: Field required",
        ),
        (("kind: webhook", "kind: pager"), "billing.yaml:8: alerts.notifiers.finance_hook: Input tag 'pager'"),
        (
            ("url: https://hooks", "url: hooks"),
            "billing.yaml:10: alerts.notifiers.finance_hook.url: must be an http(s) URL",
        ),
        (
            ("SMTP_PASSWORD", "hunter2-password"),
            "billing.yaml:18: alerts.notifiers.finance_mail.password_env: must be an environment variable NAME",
        ),
        (
            ('      channel: "#old"\n', '      channel: "#old"\n      token: xoxb-1\n'),
            "billing.yaml:22: alerts.notifiers.muted.token: Extra inputs",
        ),
        (
            ("billing_ops:", "Billing Ops:"),
            "billing.yaml:4: alerts.notifiers: notifier name 'Billing Ops' must be lower_snake_case",
        ),
    ],
)
def test_mistakes_name_the_line_and_key_path(change, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(HEAD + ALERTS.replace(*change), file_name="billing.yaml")
    assert str(error.value).startswith(expected)


def test_an_smtp_login_needs_starttls_and_both_halves():
    no_tls = ALERTS.replace(
        "      username: billing-alerts\n", "      starttls: false\n      username: billing-alerts\n"
    )
    with pytest.raises(ConfigError, match="finance_mail: a login needs `starttls: true`"):
        parse_config(HEAD + no_tls, file_name="billing.yaml")
    with pytest.raises(ConfigError, match="give both `username` and `password_env`"):
        parse_config(HEAD + ALERTS.replace("      password_env: SMTP_PASSWORD\n", ""))


def test_the_commented_example_in_billing_yaml_is_valid_when_uncommented():
    text = DEFAULT_CONFIG_PATH.read_text()
    block = [line[2:] for line in text.splitlines() if line.startswith(("# alerts:", "#   "))]
    alerts = parse_config(HEAD + "\n".join(block)).alerts
    assert set(alerts.enabled_notifiers) == {"billing_ops", "finance_hook", "finance_mail"}
