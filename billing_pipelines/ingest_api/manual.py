"""`/manual`: web forms to enter a customer, a contract with its items, or a usage adjustment by hand.

The channel for the few billing records that live in no system (a customer agreed on the phone,
a credit for an outage): a person in a browser fills a form, and the record goes through the
same pydantic models and lands through the same durable spool as a JSON push, so the landing
sensor carries it into the canonical tables like any other. Refusals are shown next to their
field (HTTP 422) and nothing lands; a saved record shows where it landed.

Sign-in is HTTP Basic with an API key as the password (the user name is ignored): a browser
cannot send a bearer header, and the key's scopes decide which forms it may use. Because a
browser replays Basic credentials on its own, a POST must come from a page of this server:
its `Origin` (or, without one, its `Referer`) must name the host the request was sent to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, TypeAdapter, ValidationError

from billing_pipelines.ingest_api.auth import authorize
from billing_pipelines.ingest_api.errors import ApiError
from billing_pipelines.ingest_api.keys import ApiKey
from billing_pipelines.ingest_api.models import ContractIn, CustomerIn, Text, UsageEventIn, describe_problem, usage_rows
from billing_pipelines.ingest_api.push import land, state_rows
from billing_pipelines.ingest_api.spool import Placement

REALM = "billing manual entry"
BASIC = HTTPBasic(auto_error=False, realm=REALM)
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}"'}
FORM_WIDE = "form"
"""Where an error that belongs to no visible field is shown: at the top of the form."""
ITEM_ROWS = 5
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
)

router = APIRouter(prefix="/manual", include_in_schema=False)


@dataclass(frozen=True)
class Input:
    """One field of a form; `name` is the record's field it fills."""

    name: str
    label: str
    required: bool = False
    kind: str = "text"
    hint: str = ""
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManualForm:
    """A form for one kind of billing record, and the scope a key needs to use it."""

    slug: str
    title: str
    scope: str
    inputs: tuple[Input, ...]
    item_inputs: tuple[Input, ...] = ()
    intro: str = ""
    hidden: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """Every form field name: the record's, then each item row's (`items-<row>-<field>`)."""
        rows = [item_prefix(row) + item.name for row in range(ITEM_ROWS) for item in self.item_inputs]
        return [*self.hidden, *(input.name for input in self.inputs), *rows]


CURRENCY_HINT = "ISO-4217, upper case, e.g. EUR"
CUSTOMER_FORM = ManualForm(
    slug="customer",
    title="Customer",
    scope="customers:write",
    intro="Creates the customer, or corrects it when the external id exists already.",
    inputs=(
        Input("external_id", "External id", required=True, hint="the id usage events and contracts refer to"),
        Input("name", "Name", required=True),
        Input("email", "E-mail", kind="email"),
        Input("phone", "Phone"),
        Input("line1", "Address line 1"),
        Input("line2", "Address line 2"),
        Input("city", "City"),
        Input("state", "State or region"),
        Input("postal_code", "Postal code"),
        Input("country", "Country", hint="ISO-3166 alpha-2, e.g. DE"),
        Input("tax_id", "Tax id"),
        Input("currency", "Currency", hint=CURRENCY_HINT),
    ),
)
CONTRACT_FORM = ManualForm(
    slug="contract",
    title="Contract",
    scope="contracts:write",
    intro=f"Creates the contract, or corrects it when the contract id exists already. Up to {ITEM_ROWS} items; "
    "empty item rows are ignored.",
    inputs=(
        Input("contract_id", "Contract id", required=True),
        Input("customer_id", "Customer external id", required=True),
        Input("name", "Name"),
        Input("status", "Status", required=True, suggestions=("draft", "active", "paused", "expired")),
        Input("currency", "Currency", required=True, hint=CURRENCY_HINT),
        Input("start_date", "Start date", required=True, kind="date"),
        Input("end_date", "End date", kind="date", hint="empty: open-ended"),
        Input("renewal_policy", "Renewal policy"),
    ),
    item_inputs=(
        Input("product_id", "Product id", required=True),
        Input("product_name", "Product name"),
        Input(
            "pricing_model",
            "Pricing model",
            required=True,
            suggestions=("flat_fee", "per_unit", "tiered", "volume", "package"),
        ),
        Input("unit_amount", "Unit amount", hint="a decimal number"),
        Input("currency", "Currency", hint=CURRENCY_HINT),
        Input("billing_period", "Billing period", hint="ISO-8601 duration, e.g. P1M"),
        Input("quantity", "Quantity"),
        Input("metric", "Metric", hint="for metered items"),
        Input("start_date", "Start date", kind="date"),
        Input("end_date", "End date", kind="date"),
    ),
)
USAGE_ADJUSTMENT_FORM = ManualForm(
    slug="usage-adjustment",
    title="Usage adjustment",
    scope="usage:write",
    intro="Adds a usage event that corrects a customer's usage: a negative quantity takes usage away. "
    "Submitting the same form twice counts once.",
    hidden=("event_id",),
    inputs=(
        Input("customer_id", "Customer external id", required=True),
        Input("metric", "Metric", required=True, hint="e.g. api_calls"),
        Input("timestamp", "Timestamp", required=True, hint="ISO-8601 with a zone, e.g. 2026-11-28T10:00:00Z"),
        Input("quantity", "Quantity", required=True, hint="a decimal number; negative to take usage away"),
        Input("note", "Note", required=True, hint="why: kept with the event"),
    ),
)
FORMS = (CUSTOMER_FORM, CONTRACT_FORM, USAGE_ADJUSTMENT_FORM)
NOTE = TypeAdapter(Text)


def item_prefix(row: int) -> str:
    """How the fields of item row `row` (0-based) are named in the contract form."""
    return f"items-{row}-"


def challenged(error: ApiError) -> ApiError:
    """A 401 that makes the browser ask for the key (user name: anything; password: the key)."""
    if error.status_code == 401:
        error.headers = {**error.headers, **CHALLENGE}
    return error


def presented_key(credentials: HTTPBasicCredentials | None) -> str:
    return credentials.password if credentials else ""


def signed_in(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(BASIC)]) -> ApiKey:
    """Any active key: enough to see which forms there are."""
    key = request.app.state.services.keys.authenticate(presented_key(credentials))
    if key is None:
        raise challenged(ApiError(401, "unauthorized", "sign in with an API key as the password"))
    return key


def clerk(scope: str):
    """A FastAPI dependency: the signed-in key, which must hold `scope` (401 prompts the browser)."""

    def dependency(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(BASIC)]) -> ApiKey:
        try:
            return authorize(request, scope, presented_key(credentials))
        except ApiError as error:
            raise challenged(error) from None

    return dependency


def same_origin(request: Request) -> None:
    """Refuse a form POST sent from another site's page (cross-site request forgery): the
    browser would attach the signed-in key to it on its own."""
    sender = request.headers.get("origin") or request.headers.get("referer") or ""
    if urlsplit(sender).netloc != request.headers.get("host"):
        raise ApiError(403, "cross_site_form", "manual entry forms are accepted only from this server's own pages")


CustomersClerk = Annotated[ApiKey, Depends(clerk(CUSTOMER_FORM.scope))]
ContractsClerk = Annotated[ApiKey, Depends(clerk(CONTRACT_FORM.scope))]
UsageClerk = Annotated[ApiKey, Depends(clerk(USAGE_ADJUSTMENT_FORM.scope))]
SameOrigin = Depends(same_origin)


async def submitted(request: Request, form: ManualForm) -> dict[str, str]:
    """The form's fields as sent, trimmed (a field not sent reads as empty)."""
    fields = await request.form()
    return {name: str(fields.get(name, "")).strip() for name in form.names}


def filled(values: dict[str, str], inputs: Sequence[Input], prefix: str = "") -> dict[str, str]:
    """The record's fields that were filled in: an empty field is a field not given."""
    return {input.name: values[prefix + input.name] for input in inputs if values[prefix + input.name]}


def input_of(location: Sequence[str | int], item_rows: Sequence[int] = ()) -> str:
    """The form field a pydantic error location points at (`items.1.quantity` → the second
    filled item row's quantity field)."""
    if not location:
        return FORM_WIDE
    if location[0] == "items" and len(location) >= 3:
        return item_prefix(item_rows[location[1]]) + str(location[2])
    return str(location[0])


def checked(model: type[BaseModel], record: dict, item_rows: Sequence[int] = ()) -> tuple[BaseModel | None, dict]:
    """The record validated as the JSON API validates it, or every problem by form field."""
    try:
        return model.model_validate(record), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors(include_url=False):
            # an empty location makes describe_problem return the bare message, as the API words it
            errors.setdefault(input_of(problem["loc"], item_rows), describe_problem((), problem, record))
        return None, errors


def form_page(
    request: Request, form: ManualForm, values: dict[str, str], errors: dict[str, str] | None = None
) -> HTMLResponse:
    """The form, filled with `values`, each error next to its field (422 when there are any)."""
    errors = errors or {}
    visible = set(form.names) - set(form.hidden)
    context = {
        "form": form,
        "item_rows": range(ITEM_ROWS),
        "item_prefix": item_prefix,
        "values": values,
        "errors": errors,
        "form_errors": [message for name, message in errors.items() if name not in visible],
    }
    return TEMPLATES.TemplateResponse(request, "manual_form.html", context, status_code=422 if errors else 200)


def saved_page(
    request: Request, form: ManualForm, record: BaseModel, placements: dict[str, Placement], duplicate: bool = False
) -> HTMLResponse:
    """What was saved and where it landed (or that this very form was saved before)."""
    fields = record.model_dump(mode="json", exclude_none=True)
    context = {
        "form": form,
        "fields": {name: value for name, value in fields.items() if name != "items"},
        "items": fields.get("items", []),
        "placements": placements,
        "duplicate": duplicate,
        "poll_seconds": request.app.state.services.config.landing.poll_seconds,
    }
    return TEMPLATES.TemplateResponse(request, "manual_saved.html", context)


@router.get("", response_class=HTMLResponse)
async def index(request: Request, key: Annotated[ApiKey, Depends(signed_in)]) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "manual_index.html", {"forms": FORMS, "key": key})


@router.get("/customer", response_class=HTMLResponse)
async def customer_form(request: Request, key: CustomersClerk) -> HTMLResponse:
    return form_page(request, CUSTOMER_FORM, {})


@router.post("/customer", response_class=HTMLResponse, dependencies=[SameOrigin])
async def save_customer(request: Request, key: CustomersClerk) -> HTMLResponse:
    values = await submitted(request, CUSTOMER_FORM)
    customer, errors = checked(CustomerIn, filled(values, CUSTOMER_FORM.inputs))
    if errors:
        return form_page(request, CUSTOMER_FORM, values, errors)
    placements = await land(request, state_rows("customers", [customer], datetime.now(UTC)))
    return saved_page(request, CUSTOMER_FORM, customer, placements)


@router.get("/contract", response_class=HTMLResponse)
async def contract_form(request: Request, key: ContractsClerk) -> HTMLResponse:
    return form_page(request, CONTRACT_FORM, {})


@router.post("/contract", response_class=HTMLResponse, dependencies=[SameOrigin])
async def save_contract(request: Request, key: ContractsClerk) -> HTMLResponse:
    values = await submitted(request, CONTRACT_FORM)
    items = {row: filled(values, CONTRACT_FORM.item_inputs, item_prefix(row)) for row in range(ITEM_ROWS)}
    item_rows = [row for row, item in items.items() if item]
    record = filled(values, CONTRACT_FORM.inputs) | {"items": [items[row] for row in item_rows]}
    contract, errors = checked(ContractIn, record, item_rows)
    if errors:
        return form_page(request, CONTRACT_FORM, values, errors)
    placements = await land(request, state_rows("contracts", [contract], datetime.now(UTC)))
    return saved_page(request, CONTRACT_FORM, contract, placements)


def new_event_id() -> str:
    """The adjustment's idempotency key, made when the form is rendered: submitting the same
    rendered form twice lands the event once."""
    return f"manual-{uuid.uuid4()}"


@router.get("/usage-adjustment", response_class=HTMLResponse)
async def usage_adjustment_form(request: Request, key: UsageClerk) -> HTMLResponse:
    return form_page(request, USAGE_ADJUSTMENT_FORM, {"event_id": new_event_id()})


def adjustment_record(values: dict[str, str], key: ApiKey) -> dict:
    """The usage event of an adjustment: the note and who entered it kept in its properties."""
    event_fields = [input for input in USAGE_ADJUSTMENT_FORM.inputs if input.name != "note"]
    properties = {"adjustment": True, "note": values["note"], "entered_by": key.name}
    event_id = values["event_id"] or new_event_id()  # a POST not made from the rendered form
    return {"event_id": event_id, **filled(values, event_fields), "properties": properties}


def note_errors(note: str) -> dict[str, str]:
    """The note must say why, as any text field of the API: one line, at most its length."""
    if not note:
        return {"note": "say why usage is adjusted"}
    try:
        NOTE.validate_python(note)
    except ValidationError as error:
        return {"note": describe_problem((), error.errors()[0], note)}
    return {}


@router.post("/usage-adjustment", response_class=HTMLResponse, dependencies=[SameOrigin])
async def save_usage_adjustment(request: Request, key: UsageClerk) -> HTMLResponse:
    services = request.app.state.services
    values = await submitted(request, USAGE_ADJUSTMENT_FORM)
    record = adjustment_record(values, key)
    event, errors = checked(UsageEventIn, record)
    errors = note_errors(values["note"]) | errors
    if event is not None:
        problem = services.event_time_range.problem(event.timestamp, datetime.now(UTC))
        errors |= {"timestamp": problem} if problem else {}
    if errors:
        return form_page(request, USAGE_ADJUSTMENT_FORM, values, errors)
    placements = await land(
        request, {"usage_events": usage_rows([event], sent=[record])}, drop_repeats=True, same_values=False
    )
    if placements["usage_events"].duplicates:
        return saved_page(request, USAGE_ADJUSTMENT_FORM, event, {}, duplicate=True)
    return saved_page(request, USAGE_ADJUSTMENT_FORM, event, placements)
