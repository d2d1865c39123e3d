"""Send one test alert to every configured notifier: `python -m billing_pipelines.defs.alerts.try_notifiers`.

An operator runs it after adding a notifier (or rotating its secret) to see the alert arrive
before a real failure needs it. It uses billing.yaml (or BILLING_CONFIG) and the same
environment as the daemon; each notifier's outcome is printed, secrets scrubbed, and the exit
status is 1 when any notifier did not take the alert.
"""

from __future__ import annotations

import logging
import socket
import sys

from billing_pipelines.config import current_config
from billing_pipelines.defs.alerts.messages import Alert
from billing_pipelines.defs.alerts.notifiers import RetryPolicy, notifiers_from, scrubber_for, send_alert, tries


def test_alert(ui_base_url: str) -> Alert:
    """An alert that says it is a test, with a link to the UI's run list."""
    host = socket.gethostname()
    return Alert(
        event="test",
        title=f"Billing alerts test from {host}",
        lines=("This is a test: the notifier is configured and reachable. No run failed.",),
        link=f"{ui_base_url}/runs",
        facts={"host": host},
    )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
    log = logging.getLogger("billing_pipelines.alerts")
    config = current_config()
    notifiers = notifiers_from(config.alerts)
    if not notifiers:
        log.warning("no notifier is enabled under alerts.notifiers in %s", "billing.yaml")
        return 1
    reports = send_alert(
        notifiers,
        test_alert(config.alerts.ui_base_url),
        RetryPolicy.from_config(config.alerts),
        scrubber_for(config),
        log,
    )
    for report in reports:
        print(
            f"{report.notifier}: {'delivered' if report.delivered else 'NOT delivered'} (after {tries(report.attempts)})"
        )
    return 0 if all(report.delivered for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
