"""What the push API accepts, and how one pushed record becomes one landing-zone row.

The API checks the shape of every record (required fields, types, numbers, dates and the
event-time range) and answers record by record; what a value *means* (a currency in
circulation, a contract status, a pricing model) is checked where every channel's records are
checked, in the dbt staging models, so the API and a CSV upload can never disagree. A record
that passes lands as the same text row a CSV file of its dataset would hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, NotRequired

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

MAX_RECORDS_PER_REQUEST = 1_000
MAX_TEXT_CHARS = 500
"""The longest identifier or name a record may carry (a landing CSV field has no limit)."""
QUANTITY_DIGITS = (29, 9)
"""A quantity fits the canonical decimal(38, 9): up to 29 integer and 9 fractional digits."""
PAYLOAD_CHARS = 2_000


NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
"""One line of text: a value with a tab or a line break would not stay one landing row."""
CONTROL_CHARACTERS_MESSAGE = "must not contain control characters (tabs, newlines, …)"

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NO_CONTROL_CHARACTERS)]
OptionalText = Annotated[str, Field(max_length=MAX_TEXT_CHARS, pattern=NO_CONTROL_CHARACTERS)] | None
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO-4217 code, upper case")]
Quantity = Annotated[
    Decimal,
    Field(allow_inf_nan=False, max_digits=sum(QUANTITY_DIGITS), decimal_places=QUANTITY_DIGITS[1]),
    PlainSerializer(lambda quantity: format(quantity, "f"), return_type=str, when_used="json"),
]
"""A decimal that fits the canonical decimal(38, 9) exactly: never rounded on the way in."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsageEventIn(_Record):
    """One metered usage event. `event_id` is the idempotency key: the same id sent again (by
    any channel, any time) counts once; without one, an identical record counts once."""

    event_id: OptionalText = Field(None, description="your unique id for this event (recommended)")
    customer_id: Text = Field(description="the customer's external id, as in billing.customers.external_id")
    metric: Text = Field(description="what was used, e.g. api_calls")
    timestamp: AwareDatetime = Field(description="when it was used, ISO-8601 with a zone, e.g. 2026-11-28T10:00:00Z")
    quantity: Quantity = Field(description="how much, a decimal number (sent as a JSON number or string)")
    properties: dict[str, Any] | None = Field(None, description="any JSON object kept with the event")


class CustomerIn(_Record):
    """A customer, created or updated by its `external_id`."""

    external_id: Text
    name: Text
    email: OptionalText = None
    phone: OptionalText = None
    line1: OptionalText = None
    line2: OptionalText = None
    city: OptionalText = None
    state: OptionalText = None
    postal_code: OptionalText = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO-3166 alpha-2")] | None = None
    tax_id: OptionalText = None
    currency: CurrencyCode | None = None
    updated_at: AwareDatetime | None = Field(None, description="when it changed (default: when the API received it)")


class ContractItemIn(_Record):
    """One priced line of a contract, keyed by (contract, product)."""

    product_id: Text
    product_name: OptionalText = None
    pricing_model: Text = Field(description="flat_fee, per_unit, tiered, volume or package")
    unit_amount: Quantity | None = None
    currency: CurrencyCode | None = None
    billing_period: OptionalText = Field(None, description="ISO-8601 duration, e.g. P1M")
    quantity: Quantity | None = None
    metric: OptionalText = Field(None, description="the usage metric a metered item rates")
    start_date: date | None = None
    end_date: date | None = None


class ContractIn(_Record):
    """A contract with its items, created or updated by its `contract_id`."""

    contract_id: Text
    customer_id: Text = Field(description="the customer's external id")
    name: OptionalText = None
    status: Text = Field(description="draft, active, paused or expired")
    currency: CurrencyCode
    start_date: date
    end_date: date | None = Field(None, description="none: open-ended")
    renewal_policy: OptionalText = None
    updated_at: AwareDatetime | None = Field(None, description="when it changed (default: when the API received it)")
    items: list[ContractItemIn] = Field(default_factory=list, max_length=MAX_RECORDS_PER_REQUEST)


@dataclass(frozen=True)
class Rejection:
    """A record the API refused: its place in the request, why, and the record as sent."""

    index: int
    reason: str
    payload: str


def validate_records(model: type[_Record], items: Sequence[Any]) -> tuple[list[tuple[int, _Record]], list[Rejection]]:
    """Each item checked against `model`: the valid ones with their index, and the others with
    the first problem found, named by field (`quantity: Input should be a valid decimal`)."""
    adapter = _list_adapter(model)
    try:
        return list(enumerate(adapter.validate_python(items))), []
    except ValidationError as error:
        reasons: dict[int, str] = {}
        for problem in error.errors(include_url=False):
            index = problem["loc"][0]
            reasons.setdefault(index, describe_problem(problem["loc"][1:], problem, items[index]))
    valid = [(index, model.model_validate(item)) for index, item in enumerate(items) if index not in reasons]
    rejected = [Rejection(index, reason, payload_text(items[index])) for index, reason in sorted(reasons.items())]
    return valid, rejected


def fast_validate(model: type[_Record], body: bytes) -> list[_Record] | None:
    """Every record of a JSON array body, parsed and checked in one pass by pydantic-core; None
    when anything is wrong (then each record is checked on its own to say what)."""
    try:
        return _list_adapter(model).validate_json(body)
    except ValidationError:
        return None


def describe_problem(location: Sequence[str | int], problem: dict, item: Any) -> str:
    """A pydantic error as a client reads it: the field, then what was expected."""
    if not isinstance(item, dict):
        return "must be a JSON object"
    message = problem_message(problem)
    field = ".".join(str(part) for part in location)
    return f"{field}: {message}" if field else message


def problem_message(problem: dict) -> str:
    if problem["type"] == "string_pattern_mismatch" and problem.get("ctx", {}).get("pattern") == NO_CONTROL_CHARACTERS:
        return CONTROL_CHARACTERS_MESSAGE
    return problem["msg"].removeprefix("Value error, ")


def payload_text(item: Any) -> str:
    """The record as sent, as JSON text for the quarantine (cut to its first characters)."""
    try:
        text = orjson.dumps(item).decode()
    except TypeError:
        text = repr(item)
    return text[:PAYLOAD_CHARS]


def _list_adapter(model: type[_Record]) -> TypeAdapter:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])
    return adapter


_ADAPTERS: dict[type, TypeAdapter] = {}


def utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


RFC_3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$"
"""The timestamp text clients send nearly always, which lands as sent: `2026-11-28T10:00:00Z`."""


_SomeText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class _UsageEventFields(TypedDict):
    """`UsageEventIn` as a plain dict, for reading a whole request in one pass: the same fields
    and checks, but the timestamp must be RFC 3339 text (landed as sent), and control
    characters and the quantity's digits are checked for all events at once (checked value by
    value, they took pydantic about half as long again as the rest)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    event_id: NotRequired[Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None]
    customer_id: _SomeText
    metric: _SomeText
    timestamp: Annotated[str, Field(pattern=RFC_3339)]
    quantity: Annotated[Decimal, Field(allow_inf_nan=False)]
    properties: NotRequired[dict[str, Any] | None]


_USAGE_FIELDS = TypeAdapter(list[_UsageEventFields])
_RFC_3339 = re.compile(RFC_3339)
_PLAIN_QUANTITIES = re.compile(rf"(?:-?\d{{1,{QUANTITY_DIGITS[0]}}}(?:\.\d{{1,{QUANTITY_DIGITS[1]}}})?\n)*")
"""Quantities, one per line, each a plain decimal that fits decimal(38, 9)."""


def fast_usage_rows(body: bytes, earliest: datetime, latest: datetime) -> list[tuple[str, ...]] | None:
    """The landing rows of a request whose events are all valid, timed between `earliest` and
    `latest`, read in one pass; None when anything is wrong or unusual (then each event is
    checked by `UsageEventIn` on its own, to say what). Never more lenient than the model."""
    try:
        events = _USAGE_FIELDS.validate_json(body)
        times = [datetime.fromisoformat(event["timestamp"]) for event in events]
    except (ValidationError, ValueError):  # ValueError: a date that does not exist, as 2026-02-30
        return None
    if not 1 <= len(events) <= MAX_RECORDS_PER_REQUEST or min(times) < earliest or max(times) > latest:
        return None
    dumps = orjson.dumps
    rows = [
        (
            event.get("event_id") or "",
            event["customer_id"],
            event["metric"],
            str(event["quantity"]),
            event["timestamp"],
            dumps(properties).decode() if (properties := event.get("properties")) is not None else "",
        )
        for event in events
    ]
    if not _PLAIN_QUANTITIES.fullmatch("".join(row[3] + "\n" for row in rows)):
        return None  # a quantity too long, or one `str` writes with an exponent (1E-9)
    if _CONTROL_CHARACTER.search("".join(text for row in rows for text in row[:3])):
        return None
    return rows


def usage_rows(events: list[UsageEventIn], sent: list[Any] | None = None) -> list[tuple[str, ...]]:
    """Events as landing `usage_events` rows (columns.LANDING_COLUMNS order): the quantity as a
    plain decimal, the properties as compact JSON, the timestamp as sent when it is RFC 3339
    text (`sent`: the records as the client sent them), else in ISO-8601 with its offset."""
    dumps = orjson.dumps
    sent_times = [record.get("timestamp") for record in sent] if sent is not None else [None] * len(events)
    return [
        (
            event.event_id or "",
            event.customer_id,
            event.metric,
            format(event.quantity, "f"),
            text if isinstance(text, str) and _RFC_3339.match(text) else event.timestamp.isoformat(),
            dumps(event.properties).decode() if event.properties is not None else "",
        )
        for event, text in zip(events, sent_times, strict=True)
    ]


def customer_row(customer: CustomerIn, received_at: datetime) -> tuple[str, ...]:
    values = customer.model_dump(exclude={"updated_at"})
    return (*(_text(value) for value in values.values()), utc_text(customer.updated_at or received_at))


def contract_row(contract: ContractIn, received_at: datetime) -> tuple[str, ...]:
    values = contract.model_dump(exclude={"updated_at", "items"})
    renamed = {("customer_external_id" if key == "customer_id" else key): value for key, value in values.items()}
    return (*(_text(value) for value in renamed.values()), utc_text(contract.updated_at or received_at))


def contract_item_rows(contract: ContractIn) -> list[tuple[str, ...]]:
    return [(contract.contract_id, *(_text(value) for value in item.model_dump().values())) for item in contract.items]
