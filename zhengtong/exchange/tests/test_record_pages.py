"""Staff record pages read through the one door: own-department staff see masked values, another department
sees nothing without a grant and only the grant's fields with one, and revealing one field needs the right, a
reason and a case reference, happens only on POST and is audited as exchange.reveal."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.exchange import actions
from zhengtong.exchange.tests.conftest import person
from zhengtong.exchange.views import records
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.registries.queries import find_record

PURPOSE = "核验身份"
CASE = "2026-民-0042"


@pytest.fixture(autouse=True)
def _english(client: Client) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def approver(make_staff, city):
    """An approver of the provider department (CITY-CA): reads its registry by role and may reveal."""
    return make_staff(role_names=(roles.APPROVER,), department=city["bureau"], username="approver", trained=True)


@pytest.fixture
def clerk(make_staff, city):
    """A window clerk of the provider department: reads its registry, may not reveal."""
    return make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"], username="clerk")


@pytest.fixture
def outsider(make_staff, city):
    """A window clerk of WEST-PSB, the consumer department."""
    return make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"], username="outsider")


def read(client: Client, n: int = 1, **extra: str):
    data = {"key_resident_id": person(n), "purpose": PURPOSE, "case_reference": ""}
    data.update(extra)
    return client.post(reverse("records:record", args=["persons"]), data)


def locator(user, registry, n: int = 1) -> str:
    """What a record page's forms carry to name person n's record: its id, sealed for this user."""
    record = find_record(registry, person(n))
    assert record is not None
    return records.seal_locator(user, registry, record.pk)


def reveal(client: Client, located: str, field: str = "name", **extra: str):
    data = {"locator": located, "purpose": PURPOSE, "field": field, "reason": "当面核对申请人身份",
            "case_reference": CASE}
    data.update(extra)
    return client.post(reverse("records:reveal", args=["persons"]), data)


def shown_fields(html: str) -> set[str]:
    return set(re.findall(r'data-field="([a-z_]+)"', html))


def invalid(html: str, element_id: str) -> bool:
    """Whether the input with this id is marked invalid."""
    tag = re.search(rf'<(?:input|textarea|select)\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert tag is not None, f"no input #{element_id}"
    return 'aria-invalid="true"' in tag.group(0)


def test_own_department_staff_see_masked_values_marked_and_explained(client, persons, clerk):
    client.force_login(clerk)
    response = read(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert shown_fields(html) == {"resident_id", "name", "phone", "division_code", "birth_date"}
    assert person(1)[:6] + "********" + person(1)[-4:] in html
    assert "王**" in html and "王小明" not in html
    assert "138****8001" in html and "13800138001" not in html
    assert "1985" in html and "1985-06-01" not in html
    assert len(re.findall(r'data-masked="true"', html)) == 4  # everything but the division code
    assert "Only the surname is shown." in html
    assert "Only the first 6 and the last 4 characters are shown." in html
    entry = AuditEntry.objects.get(action="exchange.read")
    assert entry.actor_id == str(clerk.pk) and entry.actor_department == "CITY-CA"
    assert entry.purpose == PURPOSE and entry.subjects == [subject_hash(person(1))]


def test_another_department_without_a_grant_is_refused_and_sees_nothing(client, persons, outsider):
    client.force_login(outsider)
    response = read(client)
    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-refusal="no_grant"' in html
    assert "王" not in html and person(1)[-4:] not in html
    assert "no-store" in response["Cache-Control"]
    refused = AuditEntry.objects.get(action="exchange.read_refused")
    assert refused.result == "denied" and refused.detail["reason"] == "no_grant"
    assert not AuditEntry.objects.filter(action="exchange.read").exists()
    # Nor do the find and export forms open for them.
    assert client.get(reverse("records:find", args=["persons"])).status_code == 403
    assert client.get(reverse("records:export", args=["persons"])).status_code == 403


def test_with_a_grant_another_department_sees_the_granted_fields_only(client, persons, outsider, make_grant):
    grant = make_grant(fields=("resident_id", "name"))
    client.force_login(outsider)
    response = read(client, 4)
    html = response.content.decode()
    assert response.status_code == 200
    assert shown_fields(html) == {"resident_id", "name"}
    assert "赵*" in html and "赵六" not in html
    assert "13800138004" not in html and "138****8004" not in html
    assert grant.number in html
    assert 'data-reveal=' not in html  # a clerk may not reveal, under a grant or not


def test_the_registry_list_offers_what_the_reader_may_read(client, persons, clerk, outsider, make_grant):
    client.force_login(outsider)
    page = client.get(reverse("records:index"))
    assert page.status_code == 200 and reverse("records:find", args=["persons"]) not in page.content.decode()
    make_grant(fields=("resident_id", "name"))
    page = client.get(reverse("records:index")).content.decode()
    assert reverse("records:find", args=["persons"]) in page and "a grant to your department" in page
    client.force_login(clerk)
    page = client.get(reverse("records:index")).content.decode()
    assert reverse("records:find", args=["persons"]) in page and "your department's registry" in page


def test_the_pages_are_for_staff_who_read_records(client, persons, citizen_user, make_staff, city):
    assert client.get(reverse("records:index")).status_code == 302  # to the login page
    client.force_login(citizen_user)
    assert client.get(reverse("records:index")).status_code == 403
    assert read(client).status_code == 403
    client.force_login(make_staff(role_names=(roles.LEADER,), department=city["bureau"]))
    assert client.get(reverse("records:find", args=["persons"])).status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="exchange.read").exists()


def test_a_read_needs_a_purpose_and_names_the_missing_inputs(client, persons, clerk):
    client.force_login(clerk)
    response = read(client, purpose="", key_resident_id="")
    html = response.content.decode()
    assert response.status_code == 422
    assert invalid(html, "key-purpose") and invalid(html, "key-key_resident_id")
    assert not invalid(html, "key-case_reference")
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()


def test_a_bad_key_is_named_and_a_missing_record_is_not_found(client, persons, clerk):
    client.force_login(clerk)
    response = read(client, key_resident_id="123")
    assert response.status_code == 422
    assert invalid(response.content.decode(), "key-key_resident_id")
    missing = read(client, 9)
    assert missing.status_code == 404 and 'data-refusal="not_found"' in missing.content.decode()


def test_an_approver_reveals_exactly_one_field_with_a_reason_and_a_case(client, persons, approver):
    client.force_login(approver)
    page = read(client).content.decode()
    assert set(re.findall(r'data-reveal="([a-z_]+)"', page)) == {"resident_id", "name", "phone", "birth_date"}
    assert "王小明" not in page
    assert person(1) not in page  # the forms name the record by a sealed locator, not by the full key
    located = re.search(r'name="locator" value="([^"]+)"', page).group(1)

    response = reveal(client, located, "name")
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "王小明" in html
    assert re.search(r'data-field="name"[^>]*data-revealed="true"', html)
    assert person(1) not in html and "13800138001" not in html and "1985-06-01" not in html
    assert re.findall(r'data-revealed="true"', html) == ['data-revealed="true"']

    entry = AuditEntry.objects.get(action="exchange.reveal")
    assert entry.case_reference == CASE and entry.purpose == PURPOSE
    assert entry.detail["revealed"] == ["name"] and entry.detail["reveal_reason"] == "当面核对申请人身份"
    assert entry.subjects == [subject_hash(person(1))]
    assert entry.detail["records"] == [find_record(persons, person(1)).pk]


def test_revealing_asks_for_the_reason_and_the_case_reference(client, persons, approver):
    client.force_login(approver)
    located = locator(approver, persons)
    response = reveal(client, located, "name", reason="  ", case_reference="")
    html = response.content.decode()
    assert response.status_code == 422
    assert "王小明" not in html and "王**" not in html  # the form alone, no values
    assert invalid(html, "reveal-reason") and invalid(html, "reveal-case_reference")
    assert 'name="field" value="name"' in html and f'name="locator" value="{located}"' in html
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()

    only_case_missing = reveal(client, located, "name", case_reference="")
    html = only_case_missing.content.decode()
    assert only_case_missing.status_code == 422
    assert invalid(html, "reveal-case_reference") and not invalid(html, "reveal-reason")
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()

    assert reveal(client, located, "name").status_code == 200  # the same form, completed
    assert AuditEntry.objects.filter(action="exchange.reveal").count() == 1


def test_staff_without_the_reveal_permission_get_no_reveal_action_and_are_refused(client, persons, clerk):
    client.force_login(clerk)
    page = read(client).content.decode()
    assert "data-reveal=" not in page
    located = locator(clerk, persons)
    for attempt in (reveal(client, located, "name"), reveal(client, located, "name", reason="", case_reference="")):
        html = attempt.content.decode()
        assert attempt.status_code == 403
        assert 'data-refusal="reveal_not_permitted"' in html and "王小明" not in html
    assert not AuditEntry.objects.filter(action="exchange.reveal").exists()
    assert AuditEntry.objects.filter(action="exchange.read_refused", detail__reason="reveal_not_permitted").count() == 2


def test_revealing_never_happens_on_get(client, persons, approver):
    client.force_login(approver)
    url = reverse("records:reveal", args=["persons"])
    response = client.get(url, {"locator": locator(approver, persons), "purpose": PURPOSE, "field": "name",
                                "reason": "x", "case_reference": CASE})
    assert response.status_code == 405
    assert "王小明" not in response.content.decode()
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()


def test_a_locator_works_only_for_its_reader_and_registry_and_unaltered(client, persons, approver, clerk,
                                                                         monkeypatch):
    client.force_login(approver)
    theirs = locator(clerk, persons)
    mine = locator(approver, persons)
    altered = mine[:-6] + ("AAAAAA" if not mine.endswith("AAAAAA") else "BBBBBB")
    for located in ("", "not a locator", theirs, altered):
        assert reveal(client, located, "name").status_code == 400
    assert reveal(client, mine, "name", purpose="").status_code == 400
    assert reveal(client, mine, "no_such_field").status_code == 400
    monkeypatch.setattr(records, "LOCATOR_MAX_AGE", -1)
    assert reveal(client, mine, "name").status_code == 400  # too old
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()


def test_search_lists_matching_records_masked_and_pages_through_them(client, persons, clerk, monkeypatch):
    from zhengtong.exchange.views import records

    monkeypatch.setattr(records, "SEARCH_PAGE_SIZE", 2)
    client.force_login(clerk)
    url = reverse("records:search", args=["persons"])
    response = client.post(url, {"filter_division_code": "330106", "purpose": PURPOSE, "case_reference": ""})
    html = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "3 records found" in html and "Page 1 of 2" in html
    assert "王**" in html and "李*" in html and "欧阳**" not in html  # the third is on the next page
    assert "王小明" not in html and person(1) not in html and html.count('name="locator"') == 2
    assert 'name="page" value="2"' in html
    second = client.post(url, {"filter_division_code": "330106", "purpose": PURPOSE, "page": "2"}).content.decode()
    assert "欧阳**" in second and "王**" not in second
    by_phone = client.post(url, {"filter_phone": "13800138005", "purpose": PURPOSE}).content.decode()
    assert "1 record found" in by_phone and "钱*" in by_phone and "13800138005" not in by_phone
    searches = AuditEntry.objects.filter(action="exchange.search").order_by("pk")
    assert [e.detail["page"] for e in searches] == [1, 2, 1]
    assert len(searches[0].subjects) == 2


def test_search_needs_a_value_and_a_purpose(client, persons, clerk):
    client.force_login(clerk)
    response = client.post(reverse("records:search", args=["persons"]), {"purpose": ""})
    html = response.content.decode()
    assert response.status_code == 422
    assert invalid(html, "search-purpose")
    empty = client.post(reverse("records:search", args=["persons"]), {"purpose": PURPOSE})
    assert empty.status_code == 422 and "Give at least one value to search by." in empty.content.decode()
    assert not AuditEntry.objects.filter(action="exchange.search").exists()


def test_a_search_result_opens_even_when_its_key_is_masked(client, persons, outsider, make_grant):
    make_grant(fields=("resident_id", "name", "division_code"))
    client.force_login(outsider)
    results = client.post(reverse("records:search", args=["persons"]),
                          {"filter_division_code": "330108", "purpose": PURPOSE}).content.decode()
    assert person(4) not in results and person(5) not in results and "赵*" in results
    located = re.findall(r'name="locator" value="([^"]+)"', results)
    assert len(located) == 2
    opened = client.post(reverse("records:record", args=["persons"]), {"locator": located[1], "purpose": PURPOSE})
    assert opened.status_code == 200 and "钱*" in opened.content.decode() and person(5) not in opened.content.decode()
    assert AuditEntry.objects.filter(action="exchange.read").get().subjects == [subject_hash(person(5))]


def test_the_refusal_of_a_suspended_grant_says_so(client, persons, outsider, make_grant):
    grant = make_grant(fields=("resident_id", "name"))
    actions.suspend_grant(None, grant, reason="核查中")
    client.force_login(outsider)
    response = read(client, 4)
    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-refusal="grant_suspended"' in html and "Reading another department" in html


def test_staff_of_the_consumer_need_their_own_role(client, persons, make_staff, city, make_grant):
    """A department's grant lets its record-reading staff in; staff whose roles read no records stay out."""
    make_grant(fields=("resident_id", "name"))
    leader = make_staff(role_names=(roles.LEADER,), department=city["other"])
    client.force_login(leader)
    assert read(client, 4).status_code == 403
    identity.set_roles(None, leader, (roles.WINDOW_STAFF,))
    client.force_login(leader)
    assert read(client, 4).status_code == 200
