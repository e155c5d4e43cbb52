"""Data scope and role rules: who reaches which rows, and who may hold a role that reveals personal data."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import resident_id
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.identity import actions, roles, scope
from zhengtong.identity.models import ApiClient, Citizen, DataScope, StaffProfile, User


@pytest.fixture
def clients(city):
    made = {}
    for key in ("bureau", "branch", "other"):
        made[key] = actions.create_api_client(None, department=city[key], name=f"{key} system").client
    return made


@pytest.mark.parametrize(
    ("data_scope", "visible"),
    [
        (DataScope.SELF, set()),
        (DataScope.DEPARTMENT, {"bureau"}),
        (DataScope.DEPARTMENT_TREE, {"bureau", "branch"}),
        (DataScope.ALL, {"bureau", "branch", "other"}),
    ],
)
def test_data_scope_decides_which_api_clients_a_data_officer_reaches(make_staff, clients, data_scope, visible):
    officer = make_staff(role_names=(roles.DATA_OFFICER,), data_scope=data_scope)
    reached = scope.filter_by_scope(officer, ApiClient.objects.all())
    assert {c.name.split()[0] for c in reached} == visible
    for key, client in clients.items():
        assert officer.has_perm("identity.view_apiclient", client) is (key in visible)


def test_division_scope_follows_the_division_tree(make_staff, city, clients):
    # A window clerk of the east district reaches citizens registered in the east district only.
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["branch"], data_scope=DataScope.DIVISION)
    east = actions.register_citizen(None, actions.CitizenInput("李东", resident_id(2), division_code="330106"))
    west = actions.register_citizen(None, actions.CitizenInput("赵西", resident_id(3), division_code="330108"))
    assert list(scope.filter_by_scope(clerk, Citizen.objects.all())) == [east]
    assert clerk.has_perm("identity.view_citizen", east)
    assert not clerk.has_perm("identity.view_citizen", west)


def test_city_level_division_scope_covers_its_districts(make_staff, city):
    officer = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"], data_scope=DataScope.DIVISION)
    actions.register_citizen(None, actions.CitizenInput("李东", resident_id(2), division_code="330106"))
    actions.register_citizen(None, actions.CitizenInput("赵西", resident_id(3), division_code="330108"))
    assert scope.filter_by_scope(officer, Citizen.objects.all()).count() == 2


def test_a_permission_without_the_model_permission_is_refused_whatever_the_scope(make_staff, clients):
    leader = make_staff(role_names=(roles.LEADER,), data_scope=DataScope.ALL)
    assert not leader.has_perm("identity.view_apiclient", clients["bureau"])
    assert not scope.permitted(leader, "identity.add_apiclient")


def test_own_records_are_in_every_scope(make_staff):
    staff = make_staff(data_scope=DataScope.SELF)
    assert list(scope.filter_by_scope(staff, StaffProfile.objects.all())) == [staff.staff]


def test_inactive_staff_reach_nothing(make_staff, clients):
    officer = make_staff(role_names=(roles.DATA_OFFICER,), data_scope=DataScope.ALL)
    User.objects.filter(pk=officer.pk).update(is_active=False)
    officer.refresh_from_db()
    assert not scope.permitted(officer, "identity.view_apiclient", clients["bureau"])
    assert scope.filter_by_scope(officer, ApiClient.objects.all()).count() == 0


def test_actions_check_scope_not_only_pages(make_staff, city):
    officer = make_staff(role_names=(roles.DATA_OFFICER,), department=city["branch"])
    with pytest.raises(NotPermitted):
        actions.create_api_client(officer, department=city["other"], name="not mine")
    refusal = AuditEntry.objects.get(action="identity.permission_denied")
    assert (refusal.actor_id, refusal.result, refusal.object_type, refusal.object_id) == (
        str(officer.pk), "denied", "department", str(city["other"].pk))
    assert refusal.detail == {"permission": "identity.add_apiclient"}
    issued = actions.create_api_client(officer, department=city["branch"], name="mine")
    assert issued.client.department == city["branch"]


def test_reveal_role_refused_without_training(make_staff):
    staff = make_staff()
    with pytest.raises(InvalidInput) as refused:
        actions.set_roles(None, staff, [roles.APPROVER])
    assert refused.value.details[0].field == "roles"
    assert "12" in refused.value.details[0].reason
    assert not staff.groups.exists()


def test_reveal_role_granted_with_recent_training(make_staff):
    staff = make_staff(trained=True)
    actions.set_roles(None, staff, [roles.APPROVER])
    assert staff.has_perm(roles.REVEAL_PERSONAL_DATA)


def test_training_older_than_twelve_months_does_not_count(make_staff):
    staff = make_staff()
    actions.record_training(None, staff.staff, course="个人信息保护培训",
                            completed_on=datetime.date.today() - datetime.timedelta(days=366))
    with pytest.raises(InvalidInput):
        actions.set_roles(None, staff, [roles.APPROVER])


def test_reveal_role_refused_through_the_group_side_too(make_staff):
    # The admin and any other path that adds users to a group meet the same rule.
    staff = make_staff()
    with pytest.raises(InvalidInput), transaction.atomic():
        Group.objects.get(name=roles.APPROVER).user_set.add(staff)
    assert not staff.groups.exists()


def test_roles_without_reveal_need_no_training(make_staff):
    staff = make_staff()
    actions.set_roles(None, staff, [roles.WINDOW_STAFF, roles.LEADER])
    assert set(staff.groups.values_list("name", flat=True)) == {roles.WINDOW_STAFF, roles.LEADER}


def test_unknown_role_names_the_field(make_staff):
    with pytest.raises(InvalidInput) as refused:
        actions.set_roles(None, make_staff(), ["chief_wizard"])
    assert refused.value.details[0].field == "roles"


def test_future_training_date_is_refused(make_staff):
    staff = make_staff()
    with pytest.raises(InvalidInput) as refused:
        actions.record_training(None, staff.staff, course="培训",
                                completed_on=datetime.date.today() + datetime.timedelta(days=1))
    assert refused.value.details[0].field == "completed_on"
