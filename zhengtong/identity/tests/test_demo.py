"""The demo city 云溪市: its shape, valid identity numbers, personas who can log in, second factors the `totp`
command can show, reproducibility from the seed, and a second seeding that adds nothing.

Check digits are computed here independently of the code under test: GB 11714 (weights 3 7 9 10 5 8 4 2,
c = 11 - sum mod 11, 10 → X, 11 → 0) for organisation codes; python-stdnum for resident IDs and credit codes.
"""

from __future__ import annotations

import datetime
import io
import re

import pyotp
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from stdnum.cn import ric, uscc

from zhengtong.identity import actions, demo, roles
from zhengtong.identity.models import (
    Business,
    Citizen,
    DataScope,
    Department,
    Division,
    DivisionLevel,
    StaffProfile,
    User,
)

pytestmark = pytest.mark.django_db

CITIZENS = 300
BUSINESSES = 40


@pytest.fixture
def demo_city() -> demo.DemoSummary:
    return demo.seed_demo_city(citizens=CITIZENS, businesses=BUSINESSES, progress=False)


def gb11714_check(body: str) -> str:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body]
    c = 11 - sum(v * w for v, w in zip(values, weights)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def counts() -> dict[str, int]:
    return {
        "divisions": Division.objects.count(), "departments": Department.objects.count(),
        "users": User.objects.count(), "staff": StaffProfile.objects.count(), "citizens": Citizen.objects.count(),
        "businesses": Business.objects.count(),
    }


def test_the_city_has_districts_townships_and_villages(demo_city):
    city = Division.objects.get(name="云溪市", level=DivisionLevel.CITY)
    districts = Division.objects.filter(parent=city, level=DivisionLevel.COUNTY)
    assert districts.count() >= 5
    townships = Division.objects.filter(parent__in=districts, level=DivisionLevel.TOWNSHIP)
    assert townships.count() >= 30
    for township in townships:
        assert len(township.code) == 9 and township.code.startswith(township.parent.code)
        assert township.name_en
    villages = Division.objects.filter(level=DivisionLevel.VILLAGE)
    assert villages.exists()
    assert all(len(v.code) == 12 and v.code.startswith(v.parent.code) for v in villages)
    assert all(d.name_en for d in Division.objects.all())


def test_departments_have_parents_functions_and_valid_organ_credit_codes(demo_city):
    departments = list(Department.objects.select_related("division"))
    assert len(departments) >= 25
    names = {d.name for d in departments}
    for bureau in ("公安局", "民政局", "人力资源和社会保障局", "卫生健康委员会", "市场监督管理局", "审计局",
                   "数据资源管理局", "政务服务管理办公室", "12345"):
        assert any(bureau in name for name in names), bureau
    assert sum(1 for d in departments if d.parent_id is not None) >= 25
    governance = [d for d in departments if d.is_governance_office]
    assert [d.name for d in governance] == ["云溪市数据资源管理局"]
    for department in departments:
        code = department.credit_code
        assert uscc.validate(code) == code
        assert code[:2] == "11", "a government organ registered by the staffing authority"
        assert code[2:8] == department.division.code[:6]
        assert code[16] == gb11714_check(code[8:16]), department.name
        assert department.functions and department.name_en
        if department.parent_id:
            assert department.tree_path == department.parent.tree_path + department.code + "/"
    service_centres = [d for d in departments if d.name.endswith("政务服务中心")]
    assert len(service_centres) >= 6


def test_staff_hold_every_role_with_sensible_data_scopes(demo_city):
    staff = list(StaffProfile.objects.select_related("user", "department").prefetch_related("user__groups"))
    assert len(staff) >= 150
    by_role: dict[str, list[StaffProfile]] = {}
    for profile in staff:
        groups = [g.name for g in profile.user.groups.all()]
        assert len(groups) == 1, profile.user.username
        by_role.setdefault(groups[0], []).append(profile)
    assert set(by_role) == set(roles.ROLE_PERMISSIONS)
    expected_scope = {
        roles.WINDOW_STAFF: DataScope.DIVISION, roles.APPROVER: DataScope.DEPARTMENT,
        roles.DATA_OFFICER: DataScope.DEPARTMENT, roles.GOVERNANCE_OFFICER: DataScope.ALL,
        roles.AUDITOR: DataScope.ALL, roles.LEADER: DataScope.DEPARTMENT_TREE, roles.PLATFORM_ADMIN: DataScope.ALL,
    }
    for role, profiles in by_role.items():
        assert {p.data_scope for p in profiles} == {expected_scope[role]}, role
    assert {p.department.code for p in by_role[roles.DATA_OFFICER]} == set(
        Department.objects.values_list("code", flat=True)), "one data officer per department"
    assert all(p.department.is_governance_office for p in by_role[roles.GOVERNANCE_OFFICER])
    assert {p.department.code for p in by_role[roles.AUDITOR]} == {"YX-AUDIT", "YX-CDI"}
    assert all(p.department.name.endswith("政务服务中心") for p in by_role[roles.WINDOW_STAFF])
    for approver in by_role[roles.APPROVER]:
        assert actions.has_current_training(approver), approver.user.username
    (admin,) = by_role[roles.PLATFORM_ADMIN]
    assert admin.user.is_superuser and admin.user.is_staff


def test_every_resident_id_and_credit_code_is_valid(demo_city):
    city_townships = set(Division.objects.filter(level=DivisionLevel.TOWNSHIP, code__startswith="5323")
                         .values_list("code", flat=True))
    citizens = list(Citizen.objects.all())
    assert len(citizens) == CITIZENS
    for citizen in citizens:
        assert ric.validate(citizen.resident_id) == citizen.resident_id
        assert citizen.birth_date == ric.get_birth_date(citizen.resident_id)
        assert datetime.date(1940, 1, 1) <= citizen.birth_date <= datetime.date(2008, 12, 31)
        assert citizen.gender == ("M" if int(citizen.resident_id[16]) % 2 else "F")
        assert citizen.division_id in city_townships
        assert citizen.resident_id[:4] == "5323", "born in one of the city's counties"
        assert re.fullmatch(r"1[3-9]\d{9}", citizen.phone)
        assert citizen.name
    businesses = list(Business.objects.select_related("legal_representative"))
    assert len(businesses) == BUSINESSES
    for business in businesses:
        code = business.credit_code
        assert uscc.validate(code) == code
        assert code[:2] == "91"
        assert code[2:8] == business.division_id[:6]
        assert code[16] == gb11714_check(code[8:16])
        assert business.legal_representative.resident_id
        assert business.division_id in city_townships


def test_seeding_again_adds_nothing(demo_city):
    before = counts()
    again = demo.seed_demo_city(citizens=CITIZENS, businesses=BUSINESSES, progress=False)
    assert counts() == before
    assert (again.divisions, again.departments, again.staff, again.citizens, again.businesses,
            again.accounts) == (0, 0, 0, 0, 0, 0)
    assert demo_city.staff == before["staff"] and demo_city.citizens == CITIZENS
    assert again.logins == demo_city.logins


def test_the_same_seed_gives_the_same_city(demo_city):
    first = Citizen.objects.order_by("pk").first()
    plan = demo.plan_demo_city(citizens=CITIZENS, businesses=BUSINESSES, seed=demo.DEFAULT_SEED)
    assert (first.name, first.resident_id, first.phone) == (
        plan.citizens[0].name, plan.citizens[0].resident_id, plan.citizens[0].phone)
    assert demo.plan_demo_city(citizens=CITIZENS, businesses=BUSINESSES, seed=demo.DEFAULT_SEED) == plan
    # The counts only decide how many are drawn; the first citizen does not depend on them.
    assert demo.plan_demo_city(citizens=5, businesses=0).citizens[0] == plan.citizens[0]
    other = demo.plan_demo_city(citizens=5, businesses=0, seed=7)
    assert other.citizens[0] != plan.citizens[0]
    assert other.departments != plan.departments  # other credit codes


def test_every_persona_logs_in_with_the_demo_password(demo_city):
    personas = {login.persona: login for login in demo_city.logins}
    assert set(personas) == {"citizen", *roles.ROLE_PERMISSIONS}
    for login in demo_city.logins:
        user = User.objects.get(username=login.username)
        assert user.check_password(demo_city.password), login.username
        assert user.is_demo
        if login.persona == "citizen":
            assert user.citizen.resident_id
            assert user.citizen.represented_businesses.exists()
            assert login.second_factor == ""
        else:
            assert user.groups.filter(name=login.persona).exists()
            assert user.staff.department.name == login.department
            assert login.second_factor == f"zhengtong totp {login.username}"


def test_staff_have_confirmed_second_factors_the_totp_command_shows(demo_city):
    staff_users = User.objects.filter(staff__isnull=False)
    assert staff_users.count() >= 150
    assert not staff_users.filter(totp_confirmed_at__isnull=True).exists()
    assert not staff_users.filter(is_demo=False).exists()
    assert staff_users.filter(totp_confirmed_at__lte=timezone.now()).count() == staff_users.count()
    secrets = list(staff_users.values_list("totp_secret", flat=True))
    assert len(set(secrets)) == len(secrets)
    for username in ("window", "approver", "admin"):
        user = User.objects.get(username=username)
        assert re.fullmatch(r"[A-Z2-7]{32}", user.totp_secret)
        assert user.totp_secret == demo.totp_secret_for(demo.DEFAULT_SEED, username)
        before = pyotp.TOTP(user.totp_secret).now()
        out = io.StringIO()
        call_command("totp", username, stdout=out)
        after = pyotp.TOTP(user.totp_secret).now()
        code = out.getvalue().strip()
        assert re.fullmatch(r"\d{6}", code)
        assert code in (before, after)


def test_the_totp_command_refuses_an_account_not_from_the_demo(demo_city):
    user = actions.create_staff(None, username="real.person", full_name="真实员工",
                                department=Department.objects.get(code="YX-PSB"), employee_number="REAL-1",
                                password="Real#pass2026")
    User.objects.filter(pk=user.pk).update(totp_secret=pyotp.random_base32(), totp_confirmed_at=timezone.now())
    with pytest.raises(CommandError, match="not a demo account"):
        call_command("totp", "real.person", stdout=io.StringIO())


def test_the_demo_command_migrates_seeds_and_prints_the_logins(settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the keys the seed creates (signing, key encryption) are this test's own
    out = io.StringIO()
    call_command("demo", "--no-serve", "--citizens", "300", "--businesses", "40", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "Added 68 divisions" in text and "300 citizens, 40 businesses" in text
    assert demo.DEMO_PASSWORD in text
    for username in ("citizen", "window", "approver", "dataofficer", "governance", "auditor", "leader", "admin"):
        assert re.search(rf"^\S.*\s{username}\s+{re.escape(demo.DEMO_PASSWORD)}\s", text, re.MULTILINE), username
    assert "zhengtong totp window" in text
    assert Citizen.objects.count() == 300 and Business.objects.count() == 40

    again = io.StringIO()
    call_command("demo", "--no-serve", "--citizens", "300", "--businesses", "40", "-v", "0", stdout=again)
    assert "Added 0 divisions, 0 departments, 0 staff, 0 citizens, 0 businesses" in again.getvalue()


def test_the_demo_command_names_a_bad_count():
    with pytest.raises(CommandError, match="--businesses"):
        call_command("demo", "--no-serve", "--citizens", "0", "--businesses", "5", stdout=io.StringIO())
