"""A citizen asks to correct a field of a record about them, with evidence; the registry's owner department
decides within 5 working days. Accepted, the record changes through the registries' update action and its
history names the request; refused, the citizen reads the reason. Through the actions, the pages and the API;
only the citizen's own records (as the one door says), only the provider's data officers decide, evidence is
checked by its content and given only to those who may open the case.

The dates sit around National Day 2026: 1–7 October are holidays and Saturday 10 October is worked (调休).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import PASSWORD
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.exchange import door
from zhengtong.exchange.queries.sharing import Deadlines

# The exchange's autouse fixtures (own key files and VAR_DIR per test, no cached codecs, English messages),
# which the package's `import *` leaves out for their leading underscore.
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys, person  # noqa: F401
from zhengtong.identity import actions as identity
from zhengtong.identity import demo as identity_demo
from zhengtong.identity.models import User
from zhengtong.privacy import demo_cases
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.models import CorrectionRequest, CorrectionStatus, Objection, ObjectionStatus
from zhengtong.privacy.queries import cases as queries
from zhengtong.privacy.tasks import check_case_deadlines
from zhengtong.registries import demo as registries_demo
from zhengtong.registries.models import Record, RecordChange, Registry

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_BEFORE_NATIONAL_DAY = dt.date(2026, 9, 28)
DECISION_DUE = dt.date(2026, 10, 10)  # 5 working days on: 29, 30 September, 8, 9, 10 (Saturday, worked) October
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
NEW_PHONE = "13912345678"
CITIZEN_MAIL = "xiaoming@example.cn"


@pytest.fixture
def on() -> Iterator[Callable[[dt.date], None]]:
    traveller: list[Any] = []

    def travel(day: dt.date) -> None:
        if traveller:
            traveller.pop().stop()
        machine = time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI), tick=False)
        machine.start()
        traveller.append(machine)

    yield travel
    if traveller:
        traveller.pop().stop()


@pytest.fixture
def citizen(citizen_user: User, persons: Registry) -> User:
    User.objects.filter(pk=citizen_user.pk).update(email=CITIZEN_MAIL)
    citizen_user.refresh_from_db()
    return citizen_user


def record_id(registry: Registry, n: int) -> int:
    """The id of person n's record (the fixture makes them in order)."""
    return Record.objects.filter(registry=registry).order_by("pk").values_list("pk", flat=True)[n - 1]


def request(citizen: User, registry: Registry, *, field: str = "phone", value: str = NEW_PHONE,
            evidence: bytes | None = PNG, n: int = 1) -> CorrectionRequest:
    return actions.request_correction(
        citizen, registry=registry, record_id=record_id(registry, n), field=field, value=value,
        reason="手机号已更换", evidence=actions.Evidence("证明.png", evidence) if evidence is not None else None)


def step_url(step: str) -> str:
    return reverse("privacy:correction-step", args=[step])


def other_citizen() -> User:
    citizen = identity.register_citizen(None, identity.CitizenInput(
        name="赵六", resident_id=person(4), phone="13900139000", division_code="330108"))
    return identity.create_citizen_account(None, citizen, username="citizen4", password=PASSWORD)


def phone_of(citizen: User) -> Any:
    [reading] = door.read_own_records(door.Reader.citizen(citizen), purpose="查看本人数据")
    return reading.values["phone"]


# --- actions -------------------------------------------------------------------------------------------------


def test_an_accepted_correction_changes_the_record_and_its_history_names_the_request(
        citizen: User, persons: Registry, provider_officer: User, on: Callable[[dt.date], None]) -> None:
    on(MONDAY_BEFORE_NATIONAL_DAY)
    correction = request(citizen, persons)
    assert correction.number == "GZSQ-2026-000001" and correction.due == DECISION_DUE
    assert correction.provider.code == "CITY-CA" and correction.field_label == "手机号码"
    assert actions.evidence_path(correction.evidence_digest).read_bytes() == PNG
    assert correction.evidence_type == "image/png"

    decided = actions.decide_correction(provider_officer, correction, accept=True)
    assert decided.status == CorrectionStatus.ACCEPTED and decided.record_version == 2
    assert phone_of(citizen) == NEW_PHONE
    change = RecordChange.objects.get(record_id=correction.record_id)
    assert change.reason == correction.number and change.changed_fields == ["phone"]
    [message] = mail.outbox
    assert message.to == [CITIZEN_MAIL] and correction.number in message.subject
    steps = list(AuditEntry.objects.filter(object_type="correction", object_id=correction.number)
                 .order_by("pk").values_list("action", flat=True))
    assert steps == ["privacy.request_correction", "privacy.decide_correction"]
    with pytest.raises(Conflict):
        actions.decide_correction(provider_officer, decided, accept=False, reason="再决定一次")


def test_a_refusal_needs_a_reason_and_leaves_the_record_alone(citizen: User, persons: Registry,
                                                              provider_officer: User) -> None:
    before = phone_of(citizen)
    correction = request(citizen, persons)
    with pytest.raises(InvalidInput) as blank:
        actions.decide_correction(provider_officer, correction, accept=False, reason=" ")
    assert [p.field for p in blank.value.details] == ["reason"]
    refused = actions.decide_correction(provider_officer, correction, accept=False, reason="未提供运营商证明")
    assert refused.status == CorrectionStatus.REFUSED and refused.refusal_reason == "未提供运营商证明"
    assert phone_of(citizen) == before and not RecordChange.objects.exists()
    [message] = mail.outbox
    assert "未提供运营商证明" in message.body


def test_a_correction_that_breaks_the_registry_rules_is_not_accepted(citizen: User, persons: Registry,
                                                                     provider_officer: User) -> None:
    taken = "13800138002"  # person 2's phone; phones are unique in the registry
    correction = request(citizen, persons, value=taken)
    with pytest.raises(InvalidInput) as clash:
        actions.decide_correction(provider_officer, correction, accept=True)
    assert [p.field for p in clash.value.details] == ["decision"]
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.SUBMITTED and not RecordChange.objects.exists()


@pytest.mark.parametrize(("changes", "field"), [
    ({"n": 4}, "record"),  # somebody else's record
    ({"value": "12345"}, "value"),  # not a mobile number
    ({"value": "13800138001"}, "value"),  # the value the record holds already
    ({"field": "resident_id", "value": person(2)}, "field"),  # the key
    ({"field": "height"}, "field"),  # no such field
    ({"evidence": None}, "evidence"),
    ({"evidence": b"just text"}, "evidence"),
    ({"evidence": b"%PDF-" + b"\0" * actions.MAX_EVIDENCE_BYTES}, "evidence"),
])
def test_bad_input_is_refused_by_field_and_nothing_is_written(changes: dict[str, Any], field: str, citizen: User,
                                                              persons: Registry) -> None:
    with pytest.raises(InvalidInput) as refused:
        request(citizen, persons, **changes)
    assert field in [p.field for p in refused.value.details]
    assert not CorrectionRequest.objects.exists()


def test_a_second_request_for_the_same_field_is_a_conflict_and_keeps_no_file(citizen: User, persons: Registry,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = request(citizen, persons)
    later = PNG + b"another scan"
    with pytest.raises(Conflict):
        request(citizen, persons, value="13912345679", evidence=later)
    # The same when the check before saving misses the first (a request at the same moment): the database's
    # one-waiting-correction-per-field rule answers, and the aborted request leaves no evidence file behind.
    real_exists = QuerySet.exists
    monkeypatch.setattr(QuerySet, "exists", lambda qs: False if qs.model is CorrectionRequest else real_exists(qs))
    with pytest.raises(Conflict):
        request(citizen, persons, value="13912345679", evidence=later)
    assert list(CorrectionRequest.objects.values_list("pk", flat=True)) == [first.pk]
    assert not actions.evidence_path(hashlib.sha256(later).hexdigest()).exists()
    assert actions.evidence_path(first.evidence_digest).exists()


def test_only_the_provider_departments_data_officers_decide(citizen: User, persons: Registry, governance: User,
                                                           consumer_officer: User, provider_officer: User) -> None:
    correction = request(citizen, persons)
    for somebody in (governance, consumer_officer, citizen):
        with pytest.raises(NotPermitted):
            actions.decide_correction(somebody, correction, accept=True)
    with pytest.raises(NotPermitted):
        request(provider_officer, persons)
    with pytest.raises(Conflict):
        request(citizen, persons, value="13912340000")  # one waiting request per field


# --- deadlines -------------------------------------------------------------------------------------------------


def test_the_provider_is_reminded_and_an_overdue_correction_is_flagged_to_the_governance_office(
        client: Client, citizen: User, persons: Registry, provider_officer: User, governance: User,
        consumer_officer: User, on: Callable[[dt.date], None]) -> None:
    for user, address in ((provider_officer, "ca@ca.example.gov.cn"), (governance, "gov@data.example.gov.cn"),
                          (consumer_officer, "psb@psb.example.gov.cn")):
        User.objects.filter(pk=user.pk).update(email=address)
    on(MONDAY_BEFORE_NATIONAL_DAY)
    correction = request(citizen, persons)
    on(dt.date(2026, 10, 9))  # Friday; the next working day is the worked Saturday, the deadline
    assert check_case_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert [m.to for m in mail.outbox] == [["ca@ca.example.gov.cn"]]
    on(dt.date(2026, 10, 12))
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 1}
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    assert sorted(mail.outbox[-1].to) == ["ca@ca.example.gov.cn", "gov@data.example.gov.cn"]

    client.force_login(provider_officer)
    queue = client.get(reverse("privacy:correction-queue")).content.decode()
    assert f'data-correction="{correction.number}" data-deadline="overdue"' in queue
    client.force_login(governance)
    office = client.get(reverse("privacy:objection-queue")).content.decode()
    assert f'data-correction="{correction.number}"' in office
    assert client.get(reverse("privacy:correction", args=[correction.number])).status_code == 200
    assert client.get(reverse("privacy:decide-correction", args=[correction.number])).status_code == 403
    client.force_login(consumer_officer)
    assert client.get(reverse("privacy:correction", args=[correction.number])).status_code == 404


# --- pages -----------------------------------------------------------------------------------------------------


def test_pages_the_citizen_requests_and_the_provider_accepts(client: Client, citizen: User, persons: Registry,
                                                             provider_officer: User) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(citizen)
    target = f"persons|{record_id(persons, 1)}|phone"
    form = client.get(reverse("privacy:new-correction") + "?registry=persons&field=phone").content.decode()
    assert f'<option value="{target}" selected>' in form
    assert "13800138001" in form  # the citizen sees their own value, unmasked, through the door
    # Out of order, a question sends the citizen back to the first one not answered yet.
    assert client.get(step_url("reason"))["Location"] == reverse("privacy:new-correction")
    assert client.post(reverse("privacy:new-correction"), {"target": target})["Location"] == step_url("value")
    wrong_value = client.post(step_url("value"), {"value": "12345"})
    assert wrong_value.status_code == 200 and 'href="#id_value"' in wrong_value.content.decode()
    assert client.post(step_url("value"), {"value": NEW_PHONE})["Location"] == step_url("reason")
    assert client.post(step_url("reason"), {"reason": "手机号已更换"})["Location"] == step_url("evidence")
    wrong = client.post(step_url("evidence"), {
        "evidence": SimpleUploadedFile("note.txt", b"hello", content_type="image/png")})
    assert wrong.status_code == 200 and "Attach a PDF, PNG or JPEG file." in wrong.content.decode()
    assert 'href="#id_evidence"' in wrong.content.decode()
    check_url = reverse("privacy:check-correction")
    upload = SimpleUploadedFile("证明.png", PNG, content_type="image/png")
    assert client.post(step_url("evidence"), {"evidence": upload})["Location"] == check_url
    assert not CorrectionRequest.objects.exists() and not list(actions.evidence_path("x").parent.glob("*"))

    check = client.get(check_url).content.decode()
    assert NEW_PHONE in check and "手机号已更换" in check and "证明.png" in check
    assert f'href="{step_url("reason")}?change=1"' in check
    # A change link comes back to the check page once the answer is given again.
    assert client.post(step_url("reason") + "?change=1", {"reason": "手机号已于九月更换"})["Location"] == check_url
    response = client.post(check_url)
    correction = CorrectionRequest.objects.get()
    assert correction.reason == "手机号已于九月更换"
    assert response["Location"] == reverse("privacy:correction-submitted", args=[correction.number])
    confirmation = client.get(response["Location"]).content.decode()
    assert correction.number in confirmation and correction.due.isoformat() in confirmation
    assert client.get(check_url)["Location"] == reverse("privacy:new-correction")  # the answers are gone
    assert correction.number in client.get(reverse("privacy:corrections")).content.decode()
    evidence = client.get(reverse("privacy:correction-evidence", args=[correction.number]))
    assert evidence.status_code == 200 and evidence.getvalue() == PNG
    assert "attachment" in evidence["Content-Disposition"]
    assert client.get(reverse("privacy:correction-queue")).status_code == 403

    client.force_login(provider_officer)
    decide = client.get(reverse("privacy:decide-correction", args=[correction.number])).content.decode()
    assert "138****8001" in decide  # the current value, masked as the door shows it to this officer
    assert "139****5678" in decide and NEW_PHONE not in decide  # and the value asked for, masked the same way
    assert client.get(reverse("privacy:correction-evidence", args=[correction.number])).status_code == 200
    assert AuditEntry.objects.filter(action="privacy.download_evidence").count() == 2
    response = client.post(reverse("privacy:decide-correction", args=[correction.number]), {"decision": "accept"})
    assert response.status_code == 302

    client.force_login(citizen)
    detail = client.get(reverse("privacy:correction", args=[correction.number])).content.decode()
    assert 'data-status="accepted"' in detail and provider_officer.display_name not in detail
    assert NEW_PHONE in detail  # the citizen sees what they asked for
    assert phone_of(citizen) == NEW_PHONE

    client.force_login(other_citizen())
    assert client.get(reverse("privacy:correction", args=[correction.number])).status_code == 404
    assert client.get(reverse("privacy:correction-evidence", args=[correction.number])).status_code == 404


def test_the_evidence_is_kept_where_the_web_server_does_not_serve_it(citizen: User, persons: Registry,
                                                                     settings: Any) -> None:
    correction = request(citizen, persons)
    path = actions.evidence_path(correction.evidence_digest)
    assert path.is_relative_to(settings.VAR_DIR) and not path.is_relative_to(settings.MEDIA_ROOT)


# --- API -------------------------------------------------------------------------------------------------------


def test_api_the_citizen_requests_and_the_provider_refuses(client: Client, citizen: User, persons: Registry,
                                                           provider_officer: User) -> None:
    client.force_login(citizen)
    fields = {"registry": "persons", "record_id": record_id(persons, 1), "field": "phone", "value": NEW_PHONE,
              "reason": "手机号已更换"}
    bad = client.post("/api/v1/privacy/corrections", {**fields, "evidence": SimpleUploadedFile("x.exe", b"MZ")})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "evidence"
    created = client.post("/api/v1/privacy/corrections",
                          {**fields, "evidence": SimpleUploadedFile("证明.pdf", b"%PDF-1.7\n%test")})
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["evidence_type"] == "application/pdf" and created.json()["provider"] == "CITY-CA"
    assert [c["number"] for c in client.get("/api/v1/privacy/corrections").json()] == [number]
    assert client.post(f"/api/v1/privacy/corrections/{number}/decide", {"accept": True},
                       content_type="application/json").status_code == 403

    client.force_login(provider_officer)
    listed = client.get("/api/v1/privacy/corrections").json()
    assert [c["number"] for c in listed] == [number] and listed[0]["requested_value"] == "139****5678"
    blank = client.post(f"/api/v1/privacy/corrections/{number}/decide", {"accept": False},
                        content_type="application/json")
    assert blank.status_code == 422 and blank.json()["details"][0]["field"] == "reason"
    refused = client.post(f"/api/v1/privacy/corrections/{number}/decide", {"accept": False, "reason": "证明不清"},
                          content_type="application/json")
    assert refused.status_code == 200 and refused.json()["status"] == "refused"

    client.force_login(citizen)
    assert client.get(f"/api/v1/privacy/corrections/{number}").json()["refusal_reason"] == "证明不清"


# --- the demo ----------------------------------------------------------------------------------------------------


def test_the_demo_gives_its_citizen_cases_in_every_state_once(db: Any) -> None:
    identity_demo.seed_demo_city(citizens=30, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=20, addresses=20, progress=False)
    summary = demo_cases.seed_cases()
    citizen = User.objects.get(username="citizen")
    assert summary.objections >= 3 and summary.corrections >= 3 and "objections" in summary.describe()
    assert sorted(Objection.objects.filter(citizen=citizen).values_list("status", flat=True)) == sorted(
        [ObjectionStatus.OPEN, ObjectionStatus.UPHELD, ObjectionStatus.DISMISSED])
    corrections = {c.status: c for c in CorrectionRequest.objects.filter(citizen=citizen)}
    assert set(corrections) == {CorrectionStatus.SUBMITTED, CorrectionStatus.ACCEPTED, CorrectionStatus.REFUSED}
    assert queries.state(Deadlines.as_of(), corrections[CorrectionStatus.SUBMITTED]) == queries.DueState.OVERDUE
    accepted = corrections[CorrectionStatus.ACCEPTED]
    assert RecordChange.objects.get(record_id=accepted.record_id, reason=accepted.number).changed_fields == [
        "mobile_phone"]
    for objection in Objection.objects.filter(citizen=citizen):
        assert queries.entry_concerning(citizen, objection.audit_entry_id) is not None

    again = demo_cases.seed_cases()
    assert (again.objections, again.corrections) == (0, 0)
    assert CorrectionRequest.objects.filter(citizen=citizen).count() == 3
