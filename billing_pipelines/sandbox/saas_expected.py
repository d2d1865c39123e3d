"""What the demo's first sync of the SaaS stand-ins must add to the canonical tables, worked out
from what each stand-in holds and the identity rules of the README ("Identity across systems"):

- a customer is known by the company's own id where the system carries it (Stripe metadata, the
  HubSpot company property, the sheet's `external_id`), else by `stripe-<id>` / `hubspot-<id>`;
  only identities the app does not already have are new canonical customers;
- every Stripe subscription is a contract and its items contract items; a customer deleted before
  the sync reads back without its key, so it stays `stripe-<id>` (flagged deleted);
- a live HubSpot deal is a contract of its live company (a deal whose company was deleted has
  none: quarantined as `missing customer_id`); a deal archived before the sync is no contract;
  the live line items of a deal that is a contract are its items;
- every row of the sheet's contracts and contract_items tabs is a contract or an item.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from billing_pipelines.config import BillingConfig, GoogleSheetsSourceConfig, HubSpotSourceConfig, StripeSourceConfig
from billing_pipelines.sandbox.google_sheets_standin import GoogleSheetsStandin
from billing_pipelines.sandbox.http_standin import HttpStandin
from billing_pipelines.sandbox.hubspot_standin import HubSpotStandin
from billing_pipelines.sandbox.stripe_standin import StripeStandin


@dataclass
class SaasExpected:
    """Rows the SaaS sources add per canonical table, quarantined rows per reason, and each
    source's customer identities keyed to the company's own id."""

    counts: Counter = field(default_factory=Counter)
    quarantine: Counter = field(default_factory=Counter)
    keyed: dict[str, set[str]] = field(default_factory=dict)

    def customers(self, identities: set[str], known: set[str]) -> None:
        """Count the identities the canonical customers do not hold yet, and hold them from now on."""
        self.counts["customers"] += len(identities - known)
        known |= identities


def saas_expected(config: BillingConfig, apis: dict[str, HttpStandin], app_customer_ids: set[str]) -> SaasExpected:
    """The additions of every SaaS stand-in in `apis` (by source name) to a company whose app
    already has the customers `app_customer_ids`."""
    expected, known = SaasExpected(), set(app_customer_ids)
    for name, api in apis.items():
        source = config.sources[name]
        if isinstance(api, StripeStandin) and isinstance(source, StripeSourceConfig):
            _stripe(api, source, expected, known, name)
        elif isinstance(api, HubSpotStandin) and isinstance(source, HubSpotSourceConfig):
            _hubspot(api, source, expected, known, name)
        elif isinstance(api, GoogleSheetsStandin) and isinstance(source, GoogleSheetsSourceConfig):
            _sheets(api, source, expected, known)
    return expected


def _stripe(api: StripeStandin, source: StripeSourceConfig, expected: SaasExpected, known: set[str], name: str):
    subscriptions = api.objects("subscriptions")
    named = {sub["customer"] for sub in subscriptions}
    identities, keyed = set(), set()
    for customer in api.objects("customers"):
        key = (customer.get("metadata") or {}).get(source.external_id_key)
        if customer.get("deleted"):
            if customer["id"] in named:
                identities.add(f"stripe-{customer['id']}")
        elif key:
            identities.add(key)
            keyed.add(key)
        else:
            identities.add(f"stripe-{customer['id']}")
    expected.customers(identities, known)
    expected.keyed[name] = keyed
    expected.counts["contracts"] += len(subscriptions)
    expected.counts["contract_items"] += sum(len(sub["items"]) for sub in subscriptions)


def _hubspot(api: HubSpotStandin, source: HubSpotSourceConfig, expected: SaasExpected, known: set[str], name: str):
    companies = api.records("companies") | api.records("companies", archived=True)
    keys = {company_id: props.get(source.external_id_property) for company_id, props in companies.items()}
    expected.customers({key or f"hubspot-{company_id}" for company_id, key in keys.items()}, known)
    expected.keyed[name] = {key for key in keys.values() if key}
    deal_companies, deal_items = api.associated("deals", "companies"), api.associated("deals", "line_items")
    for deal_id in api.records("deals"):
        if deal_companies.get(deal_id):
            expected.counts["contracts"] += 1
            expected.counts["contract_items"] += len(deal_items.get(deal_id, []))
        else:
            expected.quarantine["missing customer_id"] += 1


def _sheets(api: GoogleSheetsStandin, source: GoogleSheetsSourceConfig, expected: SaasExpected, known: set[str]):
    for dataset, tab in source.tabs.items():
        header, *rows = api.tab_rows(source.spreadsheet_id, tab)
        if dataset == "customers":
            column = header.index(source.columns.get("customers", {}).get("external_id", "external_id"))
            expected.customers({row[column] for row in rows}, known)
        else:
            expected.counts[dataset] += len(rows)
