"""Guards found in review: nobody raises their own powers, administrators log in with a second factor, scopes
hold for registration, and bad codes are field errors rather than crashes."""

import json

import pytest
from django.core.management import call_command
from django.test import Client

from zhengtong.conftest import PASSWORD, credit_code, resident_id
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity import actions, roles
from zhengtong.identity.models import Citizen, DataScope, User


def test_nobody_changes_their_own_roles(make_staff):
    admin = make_staff(role_names=(roles.PLATFORM_ADMIN,), data_scope=DataScope.DEPARTMENT)
    with pytest.raises(NotPermitted):
        actions.set_roles(admin, admin, [roles.PLATFORM_ADMIN, roles.AUDITOR])
    assert list(admin.groups.values_list("name", flat=True)) == [roles.PLATFORM_ADMIN]


def test_nobody_records_their_own_training(make_staff):
    admin = make_staff(role_names=(roles.PLATFORM_ADMIN,))
    with pytest.raises(NotPermitted):
        actions.record_training(admin, admin.staff, course="培训", completed_on=__import__("datetime").date.today())


def test_a_role_with_powers_the_granter_lacks_is_refused(make_staff):
    admin = make_staff(role_names=(roles.PLATFORM_ADMIN,))
    clerk = make_staff()
    with pytest.raises(NotPermitted):
        actions.set_roles(admin, clerk, [roles.AUDITOR])  # audit.export_auditentry is not the admin role's
    actions.set_roles(admin, clerk, [roles.LEADER])  # all of whose permissions the admin role holds
    assert list(clerk.groups.values_list("name", flat=True)) == [roles.LEADER]


def test_roles_are_only_for_staff(citizen_user):
    with pytest.raises(InvalidInput) as refused:
        actions.set_roles(None, citizen_user, [roles.LEADER])
    assert refused.value.details[0].field == "roles"


def test_a_superuser_made_by_django_logs_in_with_a_second_factor(db):
    call_command("createsuperuser", "--username", "root", "--email", "", "--noinput")
    root = User.objects.get(username="root")
    root.set_password(PASSWORD)
    root.save()
    response = Client().post("/login/", {"username": "root", "password": PASSWORD})
    assert response["Location"] == "/login/enrol/"


def test_window_staff_register_citizens_only_in_their_division(window_clerk):
    with pytest.raises(NotPermitted) as refused:
        actions.register_citizen(window_clerk, actions.CitizenInput("赵西", resident_id(3), division_code="330108"))
    assert refused.value.details[0].field == "division_code"
    actions.register_citizen(window_clerk, actions.CitizenInput("李东", resident_id(2), division_code="330106"))
    assert Citizen.objects.count() == 1


def test_an_unknown_business_division_is_a_field_error(window_clerk):
    actions.register_citizen(None, actions.CitizenInput("张三", resident_id(9)))
    with pytest.raises(InvalidInput) as refused:
        actions.register_businesses(window_clerk, [actions.BusinessInput(
            "云溪科技有限公司", credit_code(5, prefix="91"), resident_id(9), division_code="999999")])
    assert [p.field for p in refused.value.details] == ["division_code"]


def test_a_credit_code_with_separators_is_registered_and_answered(client, window_clerk):
    actions.register_citizen(None, actions.CitizenInput("张三", resident_id(9)))
    code = credit_code(5, prefix="91")
    client.force_login(window_clerk)
    response = client.post("/api/v1/businesses", json.dumps({
        "name": "云溪科技有限公司", "credit_code": f"{code[:8]} {code[8:]}",
        "legal_representative_id": resident_id(9).lower()}), content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["credit_code"] == code


def test_a_duplicate_employee_number_is_a_conflict(make_staff, city):
    make_staff(username="first")
    with pytest.raises(Conflict) as refused:
        actions.create_staff(None, username="second", full_name="员工", department=city["bureau"],
                             employee_number="E00001", password=PASSWORD)
    assert refused.value.details[0].field == "employee_number"


@pytest.mark.parametrize("code", ["X/EVIL", "", "有中文"])
def test_department_codes_cannot_break_the_tree(city, code):
    with pytest.raises(InvalidInput) as refused:
        actions.create_department(None, code=code, name="部门", division=city["city"], credit_code=credit_code(9))
    assert refused.value.details[0].field == "code"


def test_a_citizen_is_shown_masked_wherever_django_prints_it(citizen_user):
    assert str(Citizen.objects.get()) == "王**"


def test_api_clients_cannot_publish_the_calendar(city):
    credential = actions.create_api_client(None, department=city["bureau"], name="系统").credential
    response = Client().put("/api/v1/calendar/years/2030", json.dumps({"notice_title": "通知", "days": []}),
                            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
