"""Hidden until a date: an inspector with the right hides one access to a citizen's data, with a reason, a case
reference and a disclosure date at most a year ahead. The citizen does not see the access (nor can verify it)
until that date, and from then on sees it with who hid it and why. Auditors see the hiding at once, and its own
audit entry. The audit entry of the access is never changed. Hiding again with a later date extends it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import credit_code
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.exchange import door
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.portal.navigation import navigation_for
from zhengtong.privacy.actions.accesses import hide_access
from zhengtong.privacy.models import HiddenAccess
from zhengtong.privacy.tests.test_data_usage import as_citizen, credential, gateway_read, rows  # noqa: F401
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC)  # 10:00 in the city
REASON = "正在调查该局工作人员违规查询公民信息，提前告知将妨碍调查。"
CASE = "纪检〔2026〕17号"


@pytest.fixture(autouse=True)
def _now() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def inspector(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    commission = identity.create_department(None, code="CITY-JW", name="市纪委监委", division=city["city"],
                                            credit_code=credit_code(7))
    return make_staff(role_names=(roles.AUDITOR,), department=commission, username="inspector")


@pytest.fixture
def access(make_grant: Callable[..., Grant], credential: str, citizen_user: User) -> int:  # noqa: F811
    """The consumer system's read of the citizen (person 1): the access to hide."""
    make_grant()
    return gateway_read(credential)


def hide(inspector: User, entry_id: int, *, days: int = 30, reason: str = REASON, case: str = CASE) -> HiddenAccess:
    return hide_access(inspector, entry_id=entry_id, hidden_until=timezone.localdate() + dt.timedelta(days=days),
                       reason=reason, case_reference=case)


def fields_of(error: InvalidInput) -> list[str]:
    return [problem.field for problem in error.details]


def later(client: Client, user: User, traveller: Any, days: int) -> None:
    """Move time on, logging the citizen in again (sessions time out)."""
    traveller.move_to(NOW + dt.timedelta(days=days))
    client.force_login(user)


def test_a_hidden_access_stays_hidden_until_its_date_then_shows_who_hid_it_and_why(
        as_citizen: Client, inspector: User, access: int, _now: Any, citizen_user: User) -> None:  # noqa: F811
    before = AuditEntry.objects.filter(pk=access).values().get()
    hide(inspector, access, days=30)
    assert AuditEntry.objects.filter(pk=access).values().get() == before  # the entry itself is untouched
    assert rows(as_citizen.get(reverse("privacy:usage"))) == []
    assert as_citizen.get(reverse("privacy:verify", args=[access])).status_code == 404
    assert as_citizen.get(reverse("privacy:new-objection", args=[access])).status_code == 404  # nor by objecting
    assert as_citizen.get("/api/v1/privacy/my/data-usage").json()["total"] == 0

    later(as_citizen, citizen_user, _now, 29)
    assert rows(as_citizen.get(reverse("privacy:usage"))) == []

    later(as_citizen, citizen_user, _now, 30)
    response = as_citizen.get(reverse("privacy:usage"))
    assert rows(response) == [access]
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "Hidden from you until 2026-12-28 by auditor of 市纪委监委, for case " + CASE in text
    assert REASON in text and inspector.get_full_name() not in text
    assert as_citizen.get(reverse("privacy:verify", args=[access])).status_code == 200
    hidden = as_citizen.get("/api/v1/privacy/my/data-usage").json()["items"][0]["hidden"]
    assert hidden[0]["hidden_until"] == "2026-12-28" and hidden[0]["reason"] == REASON


def test_hiding_again_with_a_later_date_extends_it(as_citizen: Client, inspector: User, access: int,  # noqa: F811
                                                    _now: Any, citizen_user: User) -> None:
    hide(inspector, access, days=10)
    _now.move_to(NOW + dt.timedelta(days=5))
    hide(inspector, access, days=20, reason="调查延长。")
    later(as_citizen, citizen_user, _now, 12)
    assert rows(as_citizen.get(reverse("privacy:usage"))) == []
    later(as_citizen, citizen_user, _now, 25)
    text = as_citizen.get(reverse("privacy:usage")).content.decode()
    assert "调查延长。" in text and REASON in text


def test_hiding_needs_the_right_a_reason_a_case_and_a_date_within_a_year(
        inspector: User, access: int, provider_officer: User) -> None:
    with pytest.raises(NotPermitted):
        hide(provider_officer, access)
    with pytest.raises(InvalidInput) as error:
        hide_access(inspector, entry_id=access, hidden_until=None, reason=" ", case_reference="")
    assert fields_of(error.value) == ["hidden_until", "reason", "case_reference"]
    for days in (0, -3, 367):
        with pytest.raises(InvalidInput) as error:
            hide(inspector, access, days=days)
        assert fields_of(error.value) == ["hidden_until"]
    hide(inspector, access, days=366)
    assert HiddenAccess.objects.count() == 1


def test_only_accesses_by_others_can_be_hidden(inspector: User, access: int, as_citizen: Client,  # noqa: F811
                                              persons: Registry, make_staff: Callable[..., User],
                                              city: dict[str, Any]) -> None:
    as_citizen.get(reverse("privacy:my-data"))
    own_read = AuditEntry.objects.get(actor_kind="citizen", action="exchange.read").pk
    not_an_access = AuditEntry.objects.exclude(action__startswith="exchange.").latest("id").pk
    for entry_id in (own_read, not_an_access, 987654):
        with pytest.raises(InvalidInput) as error:
            hide(inspector, entry_id)
        assert fields_of(error.value) == ["entry_id"]
    # An official who both reads and hides cannot hide their own reading.
    reader = make_staff(role_names=(roles.DATA_OFFICER, roles.AUDITOR), department=city["bureau"])
    door.read_record(door.Reader.staff(reader), persons, person(1), purpose="核对低保申请人信息")
    with pytest.raises(InvalidInput) as error:
        hide(reader, AuditEntry.objects.filter(action="exchange.read").latest("id").pk)
    assert "yourself" in error.value.details[0].reason
    hide(inspector, AuditEntry.objects.filter(action="exchange.read").latest("id").pk)


def test_auditors_see_the_hiding_at_once_with_its_own_audit_entry(
        client: Client, inspector: User, access: int, make_staff: Callable[..., User]) -> None:  # noqa: F811
    hiding = hide(inspector, access)
    recorded = AuditEntry.objects.get(pk=hiding.audit_entry_id)
    assert (recorded.action, recorded.object_id, recorded.case_reference) == ("privacy.hide_access", str(access), CASE)
    assert recorded.detail["reason"] == REASON and recorded.detail["hidden_until"] == "2026-12-28"
    auditor = make_staff(role_names=(roles.AUDITOR,), username="auditor2")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(auditor)
    response = client.get(reverse("privacy:hidden-accesses"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert f'data-entry="{access}"' in text and REASON in text and CASE in text and "2026-12-28" in text
    assert inspector.get_full_name() in text  # auditors see who hid it by name
    assert f'href="{reverse("audit:entry", args=[hiding.audit_entry_id])}"' in text
    assert f'data-entry="{access}"' in client.get(reverse("privacy:hidden-accesses"), {"current": "1"}).content.decode()


def test_the_hide_page_hides_and_shows_errors_by_field(client: Client, inspector: User, access: int,  # noqa: F811
                                                       provider_officer: User) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(provider_officer)
    assert client.get(reverse("privacy:hide-access")).status_code == 403
    assert client.get(reverse("privacy:hidden-accesses")).status_code == 403
    client.force_login(inspector)
    form = client.get(reverse("privacy:hide-access"), {"entry": access})
    assert form.status_code == 200 and "西山区警务综合平台" in form.content.decode()
    wrong = client.post(reverse("privacy:hide-access"), {"entry_id": access, "hidden_until": "2026-11-01",
                                                         "reason": REASON, "case_reference": CASE})
    assert wrong.status_code == 200 and "The date must be after today." in wrong.content.decode()
    assert 'class="form-errors"' in wrong.content.decode() and not HiddenAccess.objects.exists()
    done = client.post(reverse("privacy:hide-access"), {"entry_id": access, "hidden_until": "2027-01-15",
                                                        "reason": REASON, "case_reference": CASE})
    assert done.status_code == 302 and done["Location"] == reverse("privacy:hidden-accesses")
    assert HiddenAccess.objects.get().hidden_until == dt.date(2027, 1, 15)


def test_the_govstack_usage_api_leaves_a_hidden_access_out_until_its_date(
        inspector: User, access: int, _now: Any, city: dict[str, Any]) -> None:  # noqa: F811
    issued = identity.create_api_client(None, department=city["bureau"], name="民政业务系统")
    label = f"CN/GOV/{city['bureau'].credit_code}/{issued.client.key_id}"

    def usage() -> list[str]:
        response = Client().get("/govstack/dr/data/myPersonalDataUsage",
                                {"userId": person(1), "databaseId": "persons", "purpose": "答复数据主体查询"},
                                HTTP_AUTHORIZATION=f"Bearer {issued.credential}",
                                HTTP_INFORMATION_MEDIATOR_CLIENT=label)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()]

    assert usage() == [str(access)]
    hide(inspector, access, days=10)
    assert usage() == []
    _now.move_to(NOW + dt.timedelta(days=10))
    assert usage() == [str(access)]


def test_navigation_offers_my_data_to_citizens_and_hidden_accesses_to_auditors(
        rf: Any, citizen_user: User, inspector: User, provider_officer: User) -> None:
    def labels(user: User) -> list[str]:
        request = rf.get("/")
        request.user = user
        return [str(item.url) for item in navigation_for(request)]

    assert reverse("privacy:index") in labels(citizen_user)
    assert reverse("privacy:hidden-accesses") in labels(inspector)
    assert reverse("privacy:hidden-accesses") not in labels(provider_officer)
    assert reverse("privacy:index") not in labels(provider_officer)
