"""Who used my data: a department's system reads a citizen's record through the gateway, and the citizen sees
that access on their page and through the API — when, the department by name, the system, purpose, legal basis
and fields — filters and pages through their accesses, and verifies each one's inclusion proof against the
signed tree head: pending before the sequencer ran, verified after, failed once the entry was altered behind the
append-only triggers. Officials are shown by role and department, never by name; other people's accesses and
staff never see the pages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from zhengtong.audit import actions as audit
from zhengtong.audit import merkle, triggers
from zhengtong.audit.models import ActorKind, AuditEntry
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tree import hash_function
from zhengtong.catalog import demo as catalog_demo
from zhengtong.exchange import demo as exchange_demo
from zhengtong.exchange import door
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import demo as identity_demo
from zhengtong.identity.models import ApiClient, User
from zhengtong.privacy.demo_accesses import seed_accesses
from zhengtong.privacy.queries.accesses import visible_accesses
from zhengtong.registries import demo as registries_demo
from zhengtong.registries.models import Registry

PURPOSE = "治安管理核验身份"
LEGAL_BASIS = "《治安管理处罚法》"
SYSTEM_NAME = "西山区警务综合平台"
USAGE = "/api/v1/privacy/my/data-usage"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_witness(settings: Any, tmp_path: Path) -> None:
    """The sequencer's witness file of this test alone."""
    settings.AUDIT_WITNESS = str(tmp_path / "witness.jsonl")


@pytest.fixture
def credential(consumer_client: tuple[ApiClient, str]) -> str:
    return consumer_client[1]


@pytest.fixture
def as_citizen(client: Client, citizen_user: User, persons: Registry) -> Client:
    """王小明 (person 1 of the persons registry), logged in, reading pages in English."""
    assert citizen_user.citizen.resident_id == person(1)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(citizen_user)
    return client


def gateway_read(credential: str, n: int = 1, purpose: str = PURPOSE) -> int:
    """A read of person n by the consumer's system through the gateway; the id of its audit entry."""
    response = Client().get(f"/api/v1/gateway/registries/persons/records/{person(n)}", {"purpose": purpose},
                            HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert response.status_code == 200, response.content
    return AuditEntry.objects.filter(action="exchange.read").latest("id").pk


def staff_read(user: User, registry: Registry, n: int = 1, purpose: str = "核对低保申请人信息") -> int:
    door.read_record(door.Reader.staff(user), registry, person(n), purpose=purpose)
    return AuditEntry.objects.filter(action="exchange.read").latest("id").pk


def text_of(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def rows(response: Any) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-entry="(\d+)"', response.content.decode())]


@contextmanager
def as_dba() -> Iterator[None]:
    """The database administrator's power: lift the append-only triggers for a moment."""
    triggers.remove(connection)
    try:
        yield
    finally:
        triggers.install(connection)


# --- the list -------------------------------------------------------------------------------------------------


def test_a_departments_read_shows_with_department_system_purpose_legal_basis_and_fields(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    mine = gateway_read(credential, 1)
    theirs = gateway_read(credential, 2)
    response = as_citizen.get(reverse("privacy:usage"))
    assert response.status_code == 200
    assert rows(response) == [mine]  # not the read of person 2
    text = text_of(response)
    assert "西山区公安分局" in text and f"System: {SYSTEM_NAME}" in text
    assert PURPOSE in text and f"Legal basis: {LEGAL_BASIS}" in text
    assert "resident ID, name, phone, division, date of birth" in text
    assert theirs != mine
    assert "no-store" in response["Cache-Control"]
    assert f'href="{reverse("privacy:verify", args=[mine])}"' not in text  # a form, not a link
    assert f'action="{reverse("privacy:verify", args=[mine])}"' in text
    assert f'href="{reverse("privacy:new-objection", args=[mine])}"' in text


def test_an_official_is_shown_by_role_and_department_not_by_name(
        as_citizen: Client, persons: Registry, provider_officer: User) -> None:
    staff_read(provider_officer, persons)
    text = text_of(as_citizen.get(reverse("privacy:usage")))
    assert "department data officer of 市民政局" in text
    assert provider_officer.get_full_name() not in text and provider_officer.username not in text


def test_a_call_to_a_departments_api_that_named_the_person_is_an_access(
        as_citizen: Client, persons: Registry) -> None:
    # As door.call_service records it (exchange/tests/test_proxy.py drives the real call).
    system = audit.Actor(ActorKind.API_CLIENT, id="yx-hud-1", name="住房保障系统", department="WEST-PSB")
    with transaction.atomic():
        entry = audit.record("exchange.read_service", system, object_type="resource", object_id="307001/000001",
                             subjects=[person(1)], fields=["marital_status"], purpose="核验婚姻状况")
    response = as_citizen.get(reverse("privacy:usage"))
    assert rows(response) == [entry.pk] and "核验婚姻状况" in text_of(response)


def test_the_citizens_own_reads_are_left_out_unless_asked_for(as_citizen: Client, citizen_user: User) -> None:
    assert as_citizen.get(reverse("privacy:my-data")).status_code == 200
    assert rows(as_citizen.get(reverse("privacy:usage"))) == []
    own = as_citizen.get(reverse("privacy:usage"), {"include_own": "on"})
    assert len(rows(own)) == 1 and "data subject access" in text_of(own)


def test_filters_by_period_department_and_purpose(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str, persons: Registry,
        provider_officer: User) -> None:
    make_grant(valid_from=dt.date(2026, 10, 1))
    with time_machine.travel(dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC), tick=False):
        early = gateway_read(credential)
    with time_machine.travel(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), tick=False):
        late = gateway_read(credential, purpose="侦查案件核实身份")
        by_staff = staff_read(provider_officer, persons)
    usage = reverse("privacy:usage")
    assert rows(as_citizen.get(usage)) == [by_staff, late, early]
    assert rows(as_citizen.get(usage, {"since": "2026-11-10"})) == [by_staff, late]
    assert rows(as_citizen.get(usage, {"until": "2026-11-02"})) == [early]
    assert rows(as_citizen.get(usage, {"department": "WEST-PSB"})) == [late, early]
    assert rows(as_citizen.get(usage, {"purpose": "侦查案件核实身份"})) == [late]
    backwards = as_citizen.get(usage, {"since": "2026-11-20", "until": "2026-11-01"})
    assert "The end of the period must not come before its start." in text_of(backwards)
    # The filters offer the departments by name and the purposes found.
    text = text_of(as_citizen.get(usage))
    assert '<option value="WEST-PSB">西山区公安分局</option>' in text
    assert '<option value="CITY-CA">市民政局</option>' in text


def test_pages_of_twenty(as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    made = [gateway_read(credential) for _ in range(23)]
    first = as_citizen.get(reverse("privacy:usage"))
    assert rows(first) == made[::-1][:20] and "Page 1 of 2" in text_of(first)
    assert rows(as_citizen.get(reverse("privacy:usage"), {"page": 2})) == made[::-1][20:]


def test_output_is_escaped(as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    gateway_read(credential, purpose="<script>alert(1)</script>")
    body = as_citizen.get(reverse("privacy:usage")).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_staff_are_refused_and_visitors_sent_to_log_in(client: Client, provider_officer: User,
                                                       persons: Registry) -> None:
    for name, args in (("privacy:index", []), ("privacy:usage", []), ("privacy:verify", [1])):
        assert client.get(reverse(name, args=args)).status_code == 302
    client.force_login(provider_officer)
    for name, args in (("privacy:index", []), ("privacy:usage", []), ("privacy:verify", [1])):
        assert client.get(reverse(name, args=args)).status_code == 403
    assert client.get(USAGE).status_code == 403


def test_the_privacy_center_links_only_pages_that_exist(as_citizen: Client) -> None:
    response = as_citizen.get(reverse("privacy:index"))
    text = text_of(response)
    for name in ("privacy:my-data", "privacy:usage", "privacy:consents", "privacy:objections", "privacy:corrections"):
        assert f'href="{reverse(name)}"' in text
    assert "<h1>Privacy center</h1>" in text
    assert "no-store" in response["Cache-Control"]


# --- proofs ---------------------------------------------------------------------------------------------------


def test_verify_is_pending_before_sequencing_then_verified(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    entry = gateway_read(credential)
    verify = reverse("privacy:verify", args=[entry])
    pending = as_citizen.get(verify, HTTP_HX_REQUEST="true")
    assert 'data-proof="pending"' in pending.content.decode()
    assert "<h1>" not in pending.content.decode()  # the fragment for htmx
    Sequencer().step()
    size = AuditEntry.objects.count()
    page = text_of(as_citizen.get(verify))
    assert 'data-proof="verified"' in page and f"signed audit log of {size} entries" in page
    assert "<h1>Verify access" in page


def test_verify_answers_only_for_the_citizens_own_accesses(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    theirs = gateway_read(credential, 2)
    assert as_citizen.get(reverse("privacy:verify", args=[theirs])).status_code == 404
    assert as_citizen.get(reverse("privacy:verify", args=[987654])).status_code == 404


def test_the_trail_refuses_an_update_and_an_altered_entry_fails_verification(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    entry = gateway_read(credential)
    Sequencer().step()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry).update(purpose="改过的目的")
    with as_dba():
        AuditEntry.objects.filter(pk=entry).update(purpose="改过的目的")
    text = text_of(as_citizen.get(reverse("privacy:verify", args=[entry])))
    assert 'data-proof="failed"' in text and 'role="alert"' in text
    assert "the entry no longer matches the hash it was sequenced with" in text


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_api_lists_accesses_with_the_pages_filters(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str, persons: Registry,
        provider_officer: User) -> None:
    make_grant()
    by_system = gateway_read(credential)
    by_staff = staff_read(provider_officer, persons)
    body = as_citizen.get(USAGE).json()
    assert body["total"] == 2 and [item["id"] for item in body["items"]] == [by_staff, by_system]
    system = body["items"][1]
    assert system["department"]["name"] == "西山区公安分局"
    assert system["reader"] == {"kind": "system", "name": SYSTEM_NAME, "system_id": system["reader"]["system_id"]}
    assert (system["purpose"], system["legal_basis"]) == (PURPOSE, LEGAL_BASIS)
    assert system["registry"]["code"] == "persons" and system["fields"][0] == "resident ID"
    assert body["items"][0]["reader"]["kind"] == "staff"
    assert provider_officer.get_full_name() not in str(body)
    filtered = as_citizen.get(USAGE, {"department": "WEST-PSB", "page_size": "1"}).json()
    assert filtered["total"] == 1 and filtered["items"][0]["id"] == by_system
    bad = as_citizen.get(USAGE, {"page_size": "1000"})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "page_size"


def test_the_api_gives_a_proof_a_citizens_tool_can_check_on_its_own(
        as_citizen: Client, make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    entry = gateway_read(credential)
    assert as_citizen.get(f"{USAGE}/{entry}/proof").json()["status"] == "pending"
    for _ in range(3):
        gateway_read(credential)
    Sequencer().step()
    proof = as_citizen.get(f"{USAGE}/{entry}/proof").json()
    assert proof["status"] == "verified" and proof["tree_size"] == AuditEntry.objects.count()
    assert proof["tree_head"]["public_key"] and proof["tree_head"]["signature"]
    h = hash_function(proof["tree_head"]["hash_algorithm"])
    assert merkle.verify_inclusion(h, proof["leaf_index"], proof["tree_size"], bytes.fromhex(proof["leaf_hash"]),
                                   [bytes.fromhex(node) for node in proof["proof"]], bytes.fromhex(proof["root_hash"]))
    assert as_citizen.get(f"{USAGE}/987654/proof").status_code == 404


# --- the demo ---------------------------------------------------------------------------------------------------


def test_the_demo_has_departments_read_the_demo_citizens_and_hides_one_read_once(db: Any) -> None:
    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=120, addresses=200, progress=False)
    catalog_demo.seed_catalog()
    exchange_demo.seed_sharing()
    first = seed_accesses(seed=identity_demo.DEFAULT_SEED)
    assert first.reads >= 2 and first.hidden == 1 and "reads" in first.describe()
    persona = User.objects.get(username="citizen")
    shown = list(visible_accesses(persona))
    assert len({entry.actor_department for entry in shown}) >= 2
    assert all(entry.actor_kind == "api_client" and entry.purpose for entry in shown)
    again = seed_accesses(seed=identity_demo.DEFAULT_SEED)
    assert (again.reads, again.hidden) == (0, 0)
    assert len(list(visible_accesses(persona))) == len(shown)
