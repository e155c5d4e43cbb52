"""Staff pages that show registry records, every one through the one door (exchange.door): choose a registry,
find a record by its key or search for records, see them masked, reveal one field with a reason and a case
reference, export.

The door audits each read with its purpose, so the purpose and case reference travel with every request that
reads (in the POST, never in the session). Values that identify people — keys, search terms — go in POST
bodies, not in URLs, which end up in server logs and browser history. Pages that show values are sent with
Cache-Control: no-store, so no browser or proxy keeps them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from zhengtong.core import crypto
from zhengtong.core.errors import InvalidInput
from zhengtong.exchange import door, exports
from zhengtong.exchange.models import GrantStatus
from zhengtong.exchange.queries.objections import may_raise
from zhengtong.identity import scope
from zhengtong.identity.models import User
from zhengtong.registries.models import FieldType, Registry
from zhengtong.registries.schema import FieldSpec

SEARCH_PAGE_SIZE = 20
KEY_PREFIX = "key_"
FILTER_PREFIX = "filter_"
# Types a value can be typed into a search box for; points, geometries and files are not searched by value.
FILTER_TYPES = (FieldType.TEXT, FieldType.INTEGER, FieldType.DECIMAL, FieldType.DATE, FieldType.DATETIME,
                FieldType.BOOLEAN, FieldType.ENUMERATION)
COMMON_PURPOSES = (
    gettext_lazy("Handling a service application"),
    gettext_lazy("Verifying identity"),
    gettext_lazy("Statistical analysis"),
    gettext_lazy("Answering a citizen's request"),
)
GRANT_REFUSALS = {door.Reason.NO_GRANT, door.Reason.GRANT_EXPIRED, door.Reason.GRANT_REVOKED,
                  door.Reason.GRANT_SUSPENDED}


# --- who is reading, and what ----------------------------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    """The staff member asking. These pages are for staff who read records in their work; which registries and
    fields they may see is the door's decision."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionDenied
    if getattr(user, "staff", None) is None or not user.has_perm(door.READ_RECORDS):
        raise PermissionDenied
    return user


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


def readable_registries(user: User) -> QuerySet[Registry]:
    """Registries the staff member may read: their own department's (by role and data scope) and those their
    department holds a grant in force for."""
    today = timezone.localdate()
    own = scope.filter_by_scope(user, Registry.objects.all())
    granted = Registry.objects.filter(
        catalog_resource__grants__consumer=user.staff.department,
        catalog_resource__grants__status=GrantStatus.ACTIVE,
        catalog_resource__grants__valid_from__lte=today,
        catalog_resource__grants__valid_until__gte=today,
    )
    return (own | granted).distinct().select_related("department").order_by("code")


def _filter_specs(registry: Registry, right: door.Right | None) -> list[FieldSpec]:
    """Fields the reader may search by: within their right (every field when there is none, as the door is
    about to refuse), typed, and either stored plain or indexed. Key fields are found with the key form."""
    schema = door.codec_for(registry).schema
    return [spec for spec in schema.fields
            if (right is None or spec.name in right.fields) and not spec.is_key and spec.type in FILTER_TYPES
            and (spec.searchable or not spec.encrypted)]


def right_or_none(reader: door.Reader, registry: Registry) -> tuple[door.Right | None, door.Refused | None]:
    """The reader's right, to build a form from, or the refusal. Resolving a right reads nothing and is not
    audited: a read the form then asks for goes to the door, which audits its refusal."""
    try:
        return door.resolve_right(reader, registry), None
    except door.Refused as error:
        return None, error


def field_label(spec: FieldSpec) -> str:
    return spec.label_en if _english() and spec.label_en else spec.label


# --- forms -----------------------------------------------------------------------------------------------------


class PurposeForm(forms.Form):
    purpose = forms.CharField(
        label=gettext_lazy("Purpose of this read"), max_length=door.MAX_PURPOSE,
        help_text=gettext_lazy("Why you need to see these records. Choose a common purpose or write your own; it "
                               "is recorded with every read."),
        widget=forms.TextInput(attrs={"list": "purpose-choices", "autocomplete": "off"}))
    case_reference = forms.CharField(
        label=gettext_lazy("Case reference"), max_length=100, required=False,
        help_text=gettext_lazy("The case or file number this read belongs to, if there is one."))


class KeyForm(PurposeForm):
    """Find one record by its key (one field, or each field of a composite key)."""

    def __init__(self, *args: Any, key_specs: Sequence[FieldSpec], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.key_specs = list(key_specs)
        for spec in self.key_specs:
            self.fields[KEY_PREFIX + spec.name] = forms.CharField(label=field_label(spec), max_length=200)
        self.order_fields([KEY_PREFIX + spec.name for spec in self.key_specs])

    def key(self) -> dict[str, str]:
        return {spec.name: self.cleaned_data[KEY_PREFIX + spec.name] for spec in self.key_specs}


def _filter_field(spec: FieldSpec) -> forms.Field:
    label = field_label(spec)
    if spec.type == FieldType.ENUMERATION:
        english = _english()
        choices = [(c["value"], (c.get("label_en") if english else "") or c.get("label") or c["value"])
                   for c in spec.choices]
        return forms.ChoiceField(label=label, required=False, choices=[("", _("any"))] + choices)
    if spec.type == FieldType.BOOLEAN:
        return forms.ChoiceField(label=label, required=False,
                                 choices=[("", _("any")), ("true", _("yes")), ("false", _("no"))])
    if spec.type == FieldType.DATE:
        return forms.CharField(label=label, required=False, widget=forms.DateInput(attrs={"type": "date"}))
    return forms.CharField(label=label, required=False, max_length=200)


class FilterFieldsMixin(forms.Form):
    """Optional value fields to filter records by, one per searchable field."""

    def add_filters(self, specs: Sequence[FieldSpec]) -> None:
        self.filter_specs = list(specs)
        for spec in self.filter_specs:
            self.fields[FILTER_PREFIX + spec.name] = _filter_field(spec)

    def filter_inputs(self) -> list[forms.BoundField]:
        return [self[FILTER_PREFIX + spec.name] for spec in self.filter_specs]

    def filters(self) -> dict[str, str]:
        """The filters given a value, by field name (an empty box means "any", not "no value")."""
        found = {}
        for spec in self.filter_specs:
            value = self.cleaned_data.get(FILTER_PREFIX + spec.name)
            if value:
                found[spec.name] = value
        return found


class SearchForm(PurposeForm, FilterFieldsMixin):
    def __init__(self, *args: Any, filter_specs: Sequence[FieldSpec], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_filters(filter_specs)
        self.order_fields([FILTER_PREFIX + spec.name for spec in self.filter_specs])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.filter_specs and not self.errors and not self.filters():
            raise forms.ValidationError(_("Give at least one value to search by."))
        return cleaned


class RevealForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for revealing the full value"), max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Recorded in the audit trail with your name, and shown to auditors."))
    case_reference = forms.CharField(
        label=gettext_lazy("Case reference"), max_length=100,
        help_text=gettext_lazy("The case or file number this reveal belongs to."))


class ExportForm(PurposeForm, FilterFieldsMixin):
    fields_wanted = forms.MultipleChoiceField(label=gettext_lazy("Fields"), widget=forms.CheckboxSelectMultiple)
    format = forms.ChoiceField(
        label=gettext_lazy("File format"), widget=forms.RadioSelect, initial=exports.ExportFormat.CSV,
        choices=[(exports.ExportFormat.CSV, gettext_lazy("CSV (opens in Excel and WPS)")),
                 (exports.ExportFormat.XLSX, gettext_lazy("Excel workbook (XLSX)")),
                 (exports.ExportFormat.JSON, gettext_lazy("JSON"))])

    def __init__(self, *args: Any, field_choices: Sequence[tuple[str, str]], filter_specs: Sequence[FieldSpec],
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        wanted = self.fields["fields_wanted"]
        assert isinstance(wanted, forms.MultipleChoiceField)
        wanted.choices = list(field_choices)
        wanted.initial = [name for name, label in field_choices]
        self.add_filters(filter_specs)
        self.order_fields(["fields_wanted", *(FILTER_PREFIX + spec.name for spec in self.filter_specs),
                           "purpose", "case_reference", "format"])


def _place_problems(error: InvalidInput, form: forms.Form, prefix: str = "") -> None:
    """Put the door's problems next to the inputs they name; the rest at the top of the form."""
    for problem in error.details:
        name = prefix + problem.field
        if name in form.fields and name not in form.errors:
            form.add_error(name, problem.reason)
        elif problem.field in form.fields and problem.field not in form.errors:
            form.add_error(problem.field, problem.reason)
        else:
            form.add_error(None, problem.reason)
    if not error.details:
        form.add_error(None, error.message)


# --- what a page shows of a reading ------------------------------------------------------------------------------


def rule_description(rule: str) -> str:
    """A masking rule in words, for the people reading a masked value."""
    if rule.startswith("keep:"):
        _keep, first, last = rule.split(":")
        return _("Only the first %(first)s and the last %(last)s characters are shown.") % {
            "first": first, "last": last}
    return {
        "null": _("Withheld: your right does not include this value."),
        "name": _("Only the surname is shown."),
        "address_district": _("Only the address up to its district or county is shown."),
        "date_year": _("Only the year is shown."),
        "pseudonym": _("Replaced by a pseudonym, the same for your department each time and different for "
                       "other departments."),
    }.get(rule, _("Masked."))


def display_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class ShownField:
    name: str
    label: str
    value: str
    masked: bool
    revealed: bool
    rule: str


def shown_fields(registry: Registry, right: door.Right, reading: door.Reading) -> list[ShownField]:
    shown = []
    for name, label in door.field_labels(registry, list(reading.values), _english()):
        masked = name in reading.masked
        shown.append(ShownField(name, label, display_value(reading.values[name]), masked,
                                name in reading.revealed, rule_description(right.rules[name]) if masked else ""))
    return shown


def basis_text(right: door.Right, reader: door.Reader) -> str:
    if right.grant is not None:
        return _("You read this under your department's grant %(number)s.") % {"number": right.grant.number}
    department = reader.department.name if reader.department is not None else ""
    return _("You read this as staff of %(department)s, which keeps this registry.") % {"department": department}


# --- the record's locator ------------------------------------------------------------------------------------
#
# Forms on a record page (reveal a field) and on search results (open a record) must name the record again. They
# carry its id sealed (AEAD under a key derived from SECRET_KEY), bound to the staff member and the registry, and
# good for LOCATOR_MAX_AGE, so that a page cannot be edited into a way of walking through records one id after
# another. Only this server can open it; the door still decides every read.

LOCATOR_MAX_AGE = 60 * 60
_LOCATOR_DOMAIN = b"zhengtong.records.locator"


def _locator_cipher() -> tuple[str, bytes]:
    cipher = crypto.cipher_name()
    key = crypto.hmac_digest(settings.SECRET_KEY.encode(), _LOCATOR_DOMAIN)
    return cipher, key[:crypto.CIPHER_KEY_BYTES[cipher]]


def _locator_binding(user: User, registry: Registry) -> bytes:
    return f"{user.pk}\x00{registry.code}".encode()


def seal_locator(user: User, registry: Registry, record_id: int) -> str:
    cipher, secret = _locator_cipher()
    payload = json.dumps({"record": record_id, "at": int(time.time())}).encode()
    sealed = crypto.seal(cipher, secret, payload, associated_data=_locator_binding(user, registry))
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_locator(user: User, registry: Registry, token: str) -> door.RecordId | None:
    """The record sealed in `token`, or None when it was altered, made for someone or something else, or is
    old."""
    cipher, secret = _locator_cipher()
    try:
        sealed = base64.urlsafe_b64decode(token.encode("ascii"))
        payload = json.loads(crypto.open_sealed(cipher, secret, sealed,
                                                associated_data=_locator_binding(user, registry)))
    except (ValueError, UnicodeError):  # bad base64, a failed opening and bad JSON are all ValueErrors
        return None
    if not isinstance(payload, dict) or time.time() - payload.get("at", 0) > LOCATOR_MAX_AGE:
        return None
    record_id = payload.get("record")
    return door.RecordId(record_id) if isinstance(record_id, int) else None


# --- responses -----------------------------------------------------------------------------------------------


def refusal_page(request: HttpRequest, registry: Registry, error: door.Refused, *, audited: bool) -> HttpResponse:
    """The door's refusal as a page, with the door's status (403, 404 or 429). `audited` when it refused a
    read (which the door records), not just the form that would ask for one."""
    if error.status == 404:
        heading = _("No such record")
    elif error.status == 429:
        heading = _("Too many reads for now")
    else:
        heading = _("This read was refused")
    return render(request, "exchange/records/refused.html", {
        "registry": registry, "error": error, "heading": heading,
        "grant_refusal": error.reason in GRANT_REFUSALS, "audited": audited,
        "can_see_catalog": request.user.has_perm("catalog.view_resource"),
    }, status=error.status)


def _find_page(request: HttpRequest, user: User, registry: Registry, *, key_form: KeyForm | None = None,
               search_form: SearchForm | None = None, status: int = 200) -> HttpResponse:
    reader = door.Reader.staff(user)
    right, refusal = right_or_none(reader, registry)
    if right is None:
        assert refusal is not None
        return refusal_page(request, registry, refusal, audited=False)
    offered = [spec.name for spec in _filter_specs(registry, right)]
    if search_form is not None and [spec.name for spec in search_form.filter_specs] != offered:
        # Built for a reader the door was about to refuse: show the fields of the right instead.
        search_form = None
    return render(request, "exchange/records/find.html", {
        "registry": registry, "basis": basis_text(right, reader),
        "key_form": key_form or KeyForm(auto_id="key-%s", key_specs=door.codec_for(registry).schema.key_fields),
        "search_form": search_form or SearchForm(auto_id="search-%s", filter_specs=_filter_specs(registry, right)),
        "purposes": COMMON_PURPOSES,
    }, status=status)


def _record_page(request: HttpRequest, user: User, registry: Registry, reading: door.Reading,
                 purpose: str, case_reference: str) -> HttpResponse:
    reader = door.Reader.staff(user)
    right = door.resolve_right(reader, registry)
    fields = shown_fields(registry, right, reading)
    reveal_forms = {}
    if right.may_reveal:
        for field in fields:
            if field.masked:
                reveal_forms[field.name] = RevealForm(auto_id=f"reveal-{field.name}-%s",
                                                      initial={"case_reference": case_reference})
    return render(request, "exchange/records/record.html", {
        "registry": registry, "reading": reading, "basis": basis_text(right, reader),
        "rows": [(field, reveal_forms.get(field.name)) for field in fields],
        "hidden": [("locator", seal_locator(user, registry, reading.record_id)), ("purpose", purpose)],
        "purpose": purpose, "case_reference": case_reference,
        "revealed": [field for field in fields if field.revealed],
        # Objections are about another department's data, read under a grant.
        "can_object": right.grant is not None and may_raise(user),
    })


# --- the pages -----------------------------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    registries = list(readable_registries(user))
    own = set(scope.filter_by_scope(user, Registry.objects.filter(pk__in=[r.pk for r in registries]))
              .values_list("pk", flat=True))
    return render(request, "exchange/records/index.html", {
        "rows": [(registry, registry.pk in own) for registry in registries],
    })


@never_cache
@login_required
@require_GET
def find(request: HttpRequest, code: str) -> HttpResponse:
    user = _staff(request)
    return _find_page(request, user, get_object_or_404(Registry, code=code))


def _incomplete(request: HttpRequest, registry: Registry) -> HttpResponse:
    return render(request, "exchange/records/incomplete.html", {"registry": registry}, status=400)


@never_cache
@login_required
@require_POST
def record(request: HttpRequest, code: str) -> HttpResponse:
    """One record, masked as the reader's right says: by the key typed into the find form, or by the sealed
    locator of a search result's Open button."""
    user = _staff(request)
    registry = get_object_or_404(Registry, code=code)
    key: door.RecordId | dict[str, str] | None
    if "locator" in request.POST:
        purpose_form = PurposeForm(request.POST)
        key = open_locator(user, registry, request.POST["locator"])
        if key is None or not purpose_form.is_valid():
            return _incomplete(request, registry)
        form: PurposeForm = purpose_form
    else:
        key_form = KeyForm(request.POST, auto_id="key-%s", key_specs=door.codec_for(registry).schema.key_fields)
        if not key_form.is_valid():
            return _find_page(request, user, registry, key_form=key_form, status=422)
        key, form = key_form.key(), key_form
    purpose, case_reference = form.cleaned_data["purpose"], form.cleaned_data["case_reference"]
    try:
        reading = door.read_record(door.Reader.staff(user), registry, key, purpose=purpose,
                                   case_reference=case_reference)
    except door.Refused as error:
        return refusal_page(request, registry, error, audited=True)
    except InvalidInput as error:
        if not isinstance(form, KeyForm):
            return _incomplete(request, registry)
        _place_problems(error, form, KEY_PREFIX)
        return _find_page(request, user, registry, key_form=form, status=422)
    return _record_page(request, user, registry, reading, purpose, case_reference)


@never_cache
@login_required
@require_POST
def reveal(request: HttpRequest, code: str) -> HttpResponse:
    """One masked field of one record in full, for a reason and a case reference; audited as exchange.reveal."""
    user = _staff(request)
    registry = get_object_or_404(Registry, code=code)
    schema = door.codec_for(registry).schema
    key = open_locator(user, registry, request.POST.get("locator", ""))
    purpose = request.POST.get("purpose", "").strip()
    field_name = request.POST.get("field", "")
    if key is None or not purpose or len(purpose) > door.MAX_PURPOSE or field_name not in schema.by_name:
        return _incomplete(request, registry)
    form = RevealForm(request.POST, auto_id="reveal-%s")
    valid = form.is_valid()
    # An incomplete form still goes to the door, with no reason: the door refuses (and audits) a reader who may
    # not reveal before it looks at the reason, so the form's errors are shown only to those who may reveal.
    reason, case_reference = (form.cleaned_data["reason"], form.cleaned_data["case_reference"]) if valid else ("", "")
    try:
        reading = door.read_record(door.Reader.staff(user), registry, key, purpose=purpose,
                                   case_reference=case_reference, reveal=[field_name], reveal_reason=reason)
    except door.Refused as error:
        return refusal_page(request, registry, error, audited=True)
    except InvalidInput as error:
        if valid:
            _place_problems(error, form)
        return render(request, "exchange/records/reveal.html", {
            "registry": registry, "form": form, "field_label": field_label(schema.by_name[field_name]),
            "field_name": field_name,
            "hidden": [("locator", request.POST["locator"]), ("purpose", purpose)],
        }, status=422)
    return _record_page(request, user, registry, reading, purpose, case_reference)


@never_cache
@login_required
@require_POST
def search(request: HttpRequest, code: str) -> HttpResponse:
    """Records matching the values given, one page at a time, masked."""
    user = _staff(request)
    registry = get_object_or_404(Registry, code=code)
    reader = door.Reader.staff(user)
    right = right_or_none(reader, registry)[0]  # without one, the door refuses the search below
    form = SearchForm(request.POST, auto_id="search-%s", filter_specs=_filter_specs(registry, right))
    if not form.is_valid():
        return _find_page(request, user, registry, search_form=form, status=422)
    try:
        page_number = max(1, int(request.POST.get("page", "1")))
    except ValueError:
        page_number = 1
    purpose, case_reference = form.cleaned_data["purpose"], form.cleaned_data["case_reference"]
    try:
        page = door.search(reader, registry, filters=form.filters(), purpose=purpose,
                           case_reference=case_reference, page=page_number, page_size=SEARCH_PAGE_SIZE)
    except door.Refused as error:
        return refusal_page(request, registry, error, audited=True)
    except InvalidInput as error:
        _place_problems(error, form, FILTER_PREFIX)
        return _find_page(request, user, registry, search_form=form, status=422)
    assert right is not None  # the door found one
    names = list(page.readings[0].values) if page.readings else list(right.fields)
    results = []
    for reading in page.readings:
        cells = [(display_value(reading.values[name]), name in reading.masked) for name in names]
        opener = [("locator", seal_locator(user, registry, reading.record_id)), ("purpose", purpose),
                  ("case_reference", case_reference)]
        results.append((cells, opener))
    carried = [(FILTER_PREFIX + name, str(value)) for name, value in form.filters().items()]
    carried += [("purpose", purpose), ("case_reference", case_reference)]
    return render(request, "exchange/records/results.html", {
        "registry": registry, "page": page, "results": results, "carried": carried,
        "labels": [label for _name, label in door.field_labels(registry, names, _english())],
        "purpose": purpose, "case_reference": case_reference, "basis": basis_text(right, reader),
        "last_page": max(1, -(-page.total // page.page_size)),
    })


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest, code: str) -> HttpResponseBase:
    """Choose fields, filters, a purpose and a format; the file streams from the door, masked and audited."""
    user = _staff(request)
    registry = get_object_or_404(Registry, code=code)
    reader = door.Reader.staff(user)
    right, refusal = right_or_none(reader, registry)
    if refusal is not None and request.method != "POST":
        return refusal_page(request, registry, refusal, audited=False)
    names = right.fields if right is not None else [spec.name for spec in door.codec_for(registry).schema.fields]
    form = ExportForm(request.POST if request.method == "POST" else None, auto_id="export-%s",
                      field_choices=door.field_labels(registry, names, _english()),
                      filter_specs=_filter_specs(registry, right))
    if form.is_bound and form.is_valid():
        try:
            return exports.export_response(
                reader, registry, fmt=form.cleaned_data["format"], fields=form.cleaned_data["fields_wanted"],
                filters=form.filters(), purpose=form.cleaned_data["purpose"],
                case_reference=form.cleaned_data["case_reference"], english=_english())
        except door.Refused as error:
            return refusal_page(request, registry, error, audited=True)
        except InvalidInput as error:
            _place_problems(error, form, FILTER_PREFIX)
    if refusal is not None:
        return refusal_page(request, registry, refusal, audited=False)
    return render(request, "exchange/records/export.html", {
        "registry": registry, "form": form, "basis": basis_text(right, reader) if right else "",
        "purposes": COMMON_PURPOSES,
    }, status=422 if form.is_bound else 200)
