"""The sharing pages end to end, without JavaScript: a department requests a resource from the catalog, the
governance office checks it, the provider answers (on narrower terms, or refusing with reasons), the consumer
disputes, the office settles; grants are changed, suspended, resumed and revoked with their history. Other
departments get 404 for what they may not see, 403 for a step they may not take."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from zhengtong.exchange import actions
from zhengtong.exchange.models import Grant, GrantStatus, MaskingLevel, RequestStatus, SharingRequest
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _english(client):
    """Pages are asked for in English, the msgids the assertions read."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def outsider(make_staff, city):
    """A data officer of the east district civil affairs office: neither consumer nor provider."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["branch"],
                      username="outsider")


def submit(officer, resource, **changes: Any) -> SharingRequest:
    values: dict[str, Any] = {
        "resource": resource, "purpose": "核查辖区户籍人口", "scenario": "户籍核查业务系统", "basis": "legal",
        "legal_basis": "《治安管理处罚法》", "expected_daily_calls": 300,
        "terms": actions.Terms(fields=["name", "division_code", "birth_date"],
                               row_filter={"division_code": {"prefix": "330108"}},
                               valid_from=dt.date.today(), valid_until=dt.date.today() + dt.timedelta(days=365)),
    }
    values.update(changes)
    return actions.submit_request(officer, actions.RequestInput(**values))


def reviewed(consumer_officer, governance, resource) -> SharingRequest:
    return actions.check_request(governance, submit(consumer_officer, resource), conforms=True)


def body(response) -> str:
    return response.content.decode()


def request_form(**changes: Any) -> dict[str, Any]:
    today = dt.date.today()
    data: dict[str, Any] = {
        "purpose": "核查辖区户籍人口", "scenario": "户籍核查业务系统", "basis": "legal",
        "legal_basis": "《治安管理处罚法》第十二条", "field_names": ["name", "division_code"],
        "expected_daily_calls": "500", "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=180)).isoformat(),
        "scope-TOTAL_FORMS": "3", "scope-INITIAL_FORMS": "0",
        "scope-0-field": "division_code", "scope-0-test": "prefix", "scope-0-value": "330108",
        "scope-1-field": "", "scope-1-test": "prefix", "scope-1-value": "",
        "scope-2-field": "", "scope-2-test": "prefix", "scope-2-value": "",
    }
    data.update(changes)
    return data


def answer_form(request: SharingRequest, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "decision": "grant", "reasons": "", "field_names": list(request.fields), "masking_level": "masked",
        "valid_from": request.valid_from.isoformat(), "valid_until": request.valid_until.isoformat(),
        "daily_quota": "", "rate_per_minute": "", "rule_name": "", "rule_division_code": "", "rule_birth_date": "",
        "scope-TOTAL_FORMS": "1", "scope-INITIAL_FORMS": "0",
        "scope-0-field": "division_code", "scope-0-test": "prefix", "scope-0-value": "330108",
    }
    data.update(changes)
    return data


# --- requesting from the catalog ---------------------------------------------------------------------------


def test_the_catalog_offers_the_request_to_other_departments_only(client, persons_resource, consumer_officer,
                                                                  provider_officer):
    link = reverse("exchange:new-request", args=[persons_resource.pk])
    client.force_login(consumer_officer)
    assert link in body(client.get(reverse("catalog:resource", args=[persons_resource.pk])))
    client.force_login(provider_officer)
    assert link not in body(client.get(reverse("catalog:resource", args=[persons_resource.pk])))
    assert client.get(link).status_code == 403


def test_the_request_form_shows_items_with_sensitivity_and_masking_and_suggests_the_division(
        client, persons_resource, consumer_officer):
    client.force_login(consumer_officer)
    content = body(client.get(reverse("exchange:new-request", args=[persons_resource.pk])))
    assert 'name="field_names" value="resident_id"' in content
    assert "sensitive personal" in content and "keep:6:4" in content and "date_year" in content
    # West district police: its division's code is offered on the registry's division field.
    assert re.search(r'name="scope-0-value"[^>]*value="330108"', content)
    assert '<option value="division_code" selected>' in content
    # Encrypted fields cannot scope rows, so they are not offered as conditions.
    assert '<option value="resident_id"' not in content


def test_a_data_officer_requests_a_resource_without_javascript(client, persons_resource, consumer_officer):
    client.force_login(consumer_officer)
    response = client.post(reverse("exchange:new-request", args=[persons_resource.pk]), request_form())
    request = SharingRequest.objects.get()
    assert response.status_code == 302 and response.url == reverse("exchange:request", args=[request.number])
    assert request.consumer.code == "WEST-PSB" and request.status == RequestStatus.CHECKING
    assert request.fields == ["name", "division_code"] and request.expected_daily_calls == 500
    assert request.row_filter == {"division_code": {"prefix": "330108"}}
    content = body(client.get(response.url))
    assert request.number in content and "division_code" in content and "starts with 330108" in content
    assert "Withdraw the request" in content and request.check_due.isoformat() in content


def test_wrong_answers_are_shown_next_to_their_fields(client, persons_resource, consumer_officer):
    client.force_login(consumer_officer)
    response = client.post(reverse("exchange:new-request", args=[persons_resource.pk]), request_form(
        legal_basis="", field_names=[], **{"scope-1-field": "birth_date", "scope-1-test": "eq"}))
    content = body(response)
    assert response.status_code == 200 and not SharingRequest.objects.exists()
    assert 'class="form-errors"' in content
    assert re.search(r'<textarea name="legal_basis"[^>]*aria-invalid="true"', content)
    assert "Choose at least one field." in content and 'href="#id_field_names"' in content
    assert "Give the value the field is compared with." in content and 'id="id_scope-1-value_error"' in content


def test_the_action_s_own_checks_come_back_next_to_the_field(client, persons_resource, consumer_officer):
    client.force_login(consumer_officer)
    today = dt.date.today()
    response = client.post(reverse("exchange:new-request", args=[persons_resource.pk]), request_form(
        valid_until=(today - dt.timedelta(days=3)).isoformat()))
    assert response.status_code == 200 and not SharingRequest.objects.exists()
    assert re.search(r'<input type="date" name="valid_until"[^>]*aria-invalid="true"', body(response))
    assert "The last day is before the first." in body(response)


# --- lists and deadlines -----------------------------------------------------------------------------------


def test_lists_show_each_side_its_requests_with_deadlines_flagged(client, persons_resource, consumer_officer,
                                                                  provider_officer, governance):
    with time_machine.travel(dt.datetime(2025, 9, 26, 10, tzinfo=SHANGHAI), tick=False):
        late = submit(consumer_officer, persons_resource)
    with time_machine.travel(dt.datetime(2025, 9, 30, 10, tzinfo=SHANGHAI), tick=False):
        soon = submit(consumer_officer, persons_resource)  # due 10 October, the next working day but one
        for user, side in ((consumer_officer, "ours"), (provider_officer, "incoming"), (governance, "queue")):
            client.force_login(user)
            content = body(client.get(reverse("exchange:requests"), {"side": side}))
            assert re.search(rf'data-request="{late.number}" data-deadline="overdue"', content), side
            assert soon.number in content and "Overdue" in content
        detail = body(client.get(reverse("exchange:request", args=[late.number])))
        assert 'data-deadline="overdue"' in detail and "the deadline was 2025-09-29" in detail
    with time_machine.travel(dt.datetime(2025, 10, 9, 10, tzinfo=SHANGHAI), tick=False):
        client.force_login(governance)  # the session before the holidays has gone idle
        content = body(client.get(reverse("exchange:requests"), {"side": "queue"}))
        assert re.search(rf'data-request="{soon.number}" data-deadline="due_soon"', content)


def test_the_status_filter_narrows_the_list(client, persons_resource, consumer_officer, governance):
    kept = submit(consumer_officer, persons_resource)
    withdrawn = actions.withdraw_request(consumer_officer, submit(consumer_officer, persons_resource))
    client.force_login(consumer_officer)
    content = body(client.get(reverse("exchange:requests"), {"status": "withdrawn"}))
    assert withdrawn.number in content and kept.number not in content


# --- the path on its pages ---------------------------------------------------------------------------------


def test_the_office_checks_conformity_and_a_refusal_needs_its_reasons(client, persons_resource, consumer_officer,
                                                                      governance):
    request = submit(consumer_officer, persons_resource)
    client.force_login(governance)
    assert reverse("exchange:check", args=[request.number]) in body(client.get(reverse("exchange:requests")))
    assert reverse("exchange:check", args=[request.number]) in body(
        client.get(reverse("exchange:request", args=[request.number])))
    response = client.post(reverse("exchange:check", args=[request.number]), {"decision": "refuse", "note": ""})
    assert response.status_code == 200 and "Give the reasons for refusing." in body(response)
    response = client.post(reverse("exchange:check", args=[request.number]), {"decision": "conforms", "note": ""})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVIDER_REVIEW and request.checked_by_name == governance.display_name


def test_the_provider_grants_on_narrower_terms(client, persons_resource, consumer_officer, governance,
                                               provider_officer):
    request = reviewed(consumer_officer, governance, persons_resource)
    client.force_login(provider_officer)
    listed = body(client.get(reverse("exchange:requests"), {"side": "incoming"}))
    assert reverse("exchange:answer", args=[request.number]) in listed
    page = body(client.get(reverse("exchange:answer", args=[request.number])))
    assert 'name="field_names" value="birth_date"' in page and 'value="resident_id"' not in page  # asked only
    response = client.post(reverse("exchange:answer", args=[request.number]), answer_form(
        request, field_names=["name", "division_code"], masking_level="pseudonymised", rule_name="null",
        daily_quota="100", rate_per_minute="10", **{"scope-0-value": "33010801"}))
    assert response.status_code == 302, body(response)
    grant = Grant.objects.get(request=request)
    assert grant.fields == ["name", "division_code"] and grant.masking_level == MaskingLevel.PSEUDONYMISED
    assert grant.field_rules == {"name": "null"} and (grant.daily_quota, grant.rate_per_minute) == (100, 10)
    assert grant.row_filter == {"division_code": {"prefix": "33010801"}}
    assert grant.number in body(client.get(reverse("exchange:request", args=[request.number])))


def test_a_bad_masking_rule_is_refused_next_to_its_field(client, persons_resource, consumer_officer, governance,
                                                         provider_officer):
    request = reviewed(consumer_officer, governance, persons_resource)
    client.force_login(provider_officer)
    response = client.post(reverse("exchange:answer", args=[request.number]),
                           answer_form(request, rule_name="keep:two"))
    assert response.status_code == 200 and not Grant.objects.exists()
    assert re.search(r'name="rule_name"[^>]*aria-invalid="true"', body(response))


def test_a_refusal_is_disputed_and_settled(client, persons_resource, consumer_officer, governance,
                                           provider_officer):
    request = reviewed(consumer_officer, governance, persons_resource)
    client.force_login(provider_officer)
    response = client.post(reverse("exchange:answer", args=[request.number]),
                           answer_form(request, decision="refuse", reasons="", field_names=[]))
    assert response.status_code == 200 and "Give the reasons for refusing." in body(response)
    assert "Choose at least one field." not in body(response)  # the terms do not matter to a refusal
    client.post(reverse("exchange:answer", args=[request.number]),
                answer_form(request, decision="refuse", reasons="出生日期不对外共享。", field_names=[]))
    request.refresh_from_db()
    assert request.status == RequestStatus.REFUSED

    client.force_login(consumer_officer)
    listed = body(client.get(reverse("exchange:requests"), {"side": "ours"}))
    assert "出生日期不对外共享。" in listed and reverse("exchange:dispute", args=[request.number]) in listed
    detail = body(client.get(reverse("exchange:request", args=[request.number])))
    assert "出生日期不对外共享。" in detail and reverse("exchange:dispute", args=[request.number]) in detail
    client.post(reverse("exchange:dispute", args=[request.number]), {"grounds": "户籍核查依法需要出生日期。"})
    request.refresh_from_db()
    assert request.status == RequestStatus.DISPUTED

    client.force_login(governance)
    client.post(reverse("exchange:settle", args=[request.number]), {"decision": "grant", "settlement": "依法应共享。"})
    request.refresh_from_db()
    assert request.status == RequestStatus.GRANTED and Grant.objects.filter(request=request).exists()
    history = body(client.get(reverse("exchange:request", args=[request.number])))
    for step in ("Request submitted", "Conformity check", "Provider&#x27;s answer", "Refusal disputed",
                 "Dispute settled"):
        assert step in history


def test_the_consumer_withdraws_a_request(client, persons_resource, consumer_officer):
    request = submit(consumer_officer, persons_resource)
    client.force_login(consumer_officer)
    assert client.get(reverse("exchange:withdraw", args=[request.number])).status_code == 405
    client.post(reverse("exchange:withdraw", args=[request.number]))
    request.refresh_from_db()
    assert request.status == RequestStatus.WITHDRAWN


# --- grants ------------------------------------------------------------------------------------------------


def test_the_provider_changes_a_grant_and_the_history_shows_from_and_to(client, make_grant, provider_officer,
                                                                        consumer_officer):
    grant = make_grant(fields=("name", "division_code"), daily_quota=50)
    client.force_login(provider_officer)
    page = body(client.get(reverse("exchange:change-grant", args=[grant.number])))
    assert re.search(r'name="daily_quota"[^>]*value="50"', page)
    data = {
        "field_names": ["name", "division_code"], "masking_level": "masked",
        "valid_from": grant.valid_from.isoformat(), "valid_until": grant.valid_until.isoformat(),
        "daily_quota": "100", "rate_per_minute": "", "may_write": "", "rule_name": "", "rule_division_code": "",
        "rule_resident_id": "", "rule_phone": "", "rule_birth_date": "", "reason": "",
        "scope-TOTAL_FORMS": "1", "scope-INITIAL_FORMS": "0", "scope-0-field": "", "scope-0-test": "prefix",
        "scope-0-value": "",
    }
    response = client.post(reverse("exchange:change-grant", args=[grant.number]), data)
    assert response.status_code == 200 and "This field is required." in body(response)  # the reason
    response = client.post(reverse("exchange:change-grant", args=[grant.number]), {**data, "reason": "业务量增加"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.daily_quota == 100
    client.force_login(consumer_officer)  # the consumer reads the history too
    content = body(client.get(reverse("exchange:grant", args=[grant.number])))
    assert "Terms changed" in content and "calls per day: 50 → 100" in content and "业务量增加" in content


def test_a_grant_is_suspended_resumed_and_revoked_with_reasons(client, make_grant, provider_officer):
    grant = make_grant()
    client.force_login(provider_officer)
    for change, status in (("suspend", GrantStatus.SUSPENDED), ("resume", GrantStatus.ACTIVE),
                           ("revoke", GrantStatus.REVOKED)):
        url = reverse(f"exchange:{change}-grant", args=[grant.number])
        assert client.post(url, {"reason": ""}).status_code == 200  # a reason is needed
        assert client.post(url, {"reason": f"{change} 理由"}).status_code == 302
        grant.refresh_from_db()
        assert grant.status == status and grant.status_reason == f"{change} 理由"
    content = body(client.get(reverse("exchange:grant", args=[grant.number])))
    assert "Grant suspended" in content and "Grant resumed" in content and "Grant revoked" in content
    assert reverse("exchange:change-grant", args=[grant.number]) not in content
    assert client.get(reverse("exchange:change-grant", args=[grant.number])).status_code == 403


# --- who sees what -----------------------------------------------------------------------------------------


def test_other_departments_get_404_and_steps_not_theirs_403(client, persons_resource, consumer_officer,
                                                            provider_officer, governance, outsider, make_grant,
                                                            make_staff):
    request = submit(consumer_officer, persons_resource)
    grant = make_grant()
    client.force_login(outsider)
    for url in (reverse("exchange:request", args=[request.number]), reverse("exchange:check", args=[request.number]),
                reverse("exchange:grant", args=[grant.number]),
                reverse("exchange:change-grant", args=[grant.number])):
        assert client.get(url).status_code == 404, url
    assert request.number not in body(client.get(reverse("exchange:requests")))
    assert grant.number not in body(client.get(reverse("exchange:grants")))

    client.force_login(consumer_officer)  # sees its own request and grant, takes none of the others' steps
    assert client.get(reverse("exchange:request", args=[request.number])).status_code == 200
    assert client.get(reverse("exchange:check", args=[request.number])).status_code == 403
    assert client.get(reverse("exchange:grant", args=[grant.number])).status_code == 200
    assert client.get(reverse("exchange:suspend-grant", args=[grant.number])).status_code == 403
    client.force_login(provider_officer)
    assert client.get(reverse("exchange:check", args=[request.number])).status_code == 403
    assert client.post(reverse("exchange:withdraw", args=[request.number])).status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.CHECKING

    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,), data_scope=DataScope.DEPARTMENT))
    assert client.get(reverse("exchange:requests")).status_code == 403
    assert client.get(reverse("exchange:grants")).status_code == 403


def test_data_officers_find_the_sharing_pages_in_the_navigation(client, consumer_officer, window_clerk):
    client.force_login(consumer_officer)
    content = body(client.get(reverse("portal:dashboard")))
    assert f'href="{reverse("exchange:requests")}"' in content and f'href="{reverse("exchange:grants")}"' in content
    client.force_login(window_clerk)
    assert f'href="{reverse("exchange:requests")}"' not in body(client.get(reverse("portal:dashboard")))
