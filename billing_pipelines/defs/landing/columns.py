"""The CSV columns the landing zone accepts per dataset (README "CSV landing zone").

A file's header must be exactly one of these sets (in any order). Every value is loaded as
text, exactly as written; typing and validation happen in the dbt staging models, so a
corrected mapping re-admits quarantined rows without asking anybody to re-send a file.

Besides the four canonical datasets, `rejected_records` is the inbox of the records the push
API refused itself (bad types, timestamps out of range): nobody writes it by hand, but its files
are landed, archived and loaded like any other, and billing.quarantine shows every row.
"""

REJECTED_RECORDS = "rejected_records"

LANDING_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "external_id",
        "name",
        "email",
        "phone",
        "line1",
        "line2",
        "city",
        "state",
        "postal_code",
        "country",
        "tax_id",
        "currency",
        "updated_at",
    ),
    "contracts": (
        "contract_id",
        "customer_external_id",
        "name",
        "status",
        "currency",
        "start_date",
        "end_date",
        "renewal_policy",
        "updated_at",
    ),
    "contract_items": (
        "contract_id",
        "product_id",
        "product_name",
        "pricing_model",
        "unit_amount",
        "currency",
        "billing_period",
        "quantity",
        "metric",
        "start_date",
        "end_date",
    ),
    "usage_events": (
        "event_id",
        "customer_external_id",
        "metric",
        "quantity",
        "event_timestamp",
        "properties",
    ),
    REJECTED_RECORDS: (
        "dataset",  # the canonical dataset the record was pushed for
        "location",  # where the API took it: method, path, time, request id and index in the batch
        "reason",  # why the API refused it, in its own words
        "payload",  # the record as sent, JSON text
    ),
}

FILE_COLUMNS = ("_file", "_file_digest", "_line", "_received_at", "_parse_error", "_raw_line")
"""Where each row came from (file and line) and, for a row the reader could not split, why."""
