"""The site shell end to end: every page renders, navigation fits the persona, elder mode and language stick,
personal data is masked on the server, and the government-site metadata is in every page's head."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from zhengtong.core.context import RequestContext, reset_current_request, set_current_request
from zhengtong.core.masking import keep_ends, mask_name
from zhengtong.identity import actions, roles
from zhengtong.identity.actions import record_login_event
from zhengtong.identity.models import (
    ApiClient,
    Citizen,
    DataScope,
    Department,
    Division,
    DivisionLevel,
    LoginEventKind,
    StaffProfile,
    User,
)
from zhengtong.portal import navigation

RESIDENT_ID = "330106198506010015"
PHONE = "13912345678"


# ---- fixtures, built with the ORM ------------------------------------------------------------------------


@pytest.fixture
def divisions(db: Any) -> dict[str, Division]:
    province = Division.objects.create(code="330000", name="浙江省", level=DivisionLevel.PROVINCE)
    city = Division.objects.create(code="330100", name="云溪市", name_en="Yunxi", level=DivisionLevel.CITY,
                                   parent=province)
    east = Division.objects.create(code="330106", name="东湖区", name_en="Donghu District",
                                   level=DivisionLevel.COUNTY, parent=city)
    west = Division.objects.create(code="330108", name="西山区", level=DivisionLevel.COUNTY, parent=city)
    east_town = Division.objects.create(code="330106001", name="湖滨街道", level=DivisionLevel.TOWNSHIP,
                                        parent=east)
    return {"province": province, "city": city, "east": east, "west": west, "east_town": east_town}


def _department(code: str, name: str, division: Division, serial: int, **extra: Any) -> Department:
    return Department.objects.create(code=code, name=name, division=division,
                                     credit_code=f"11330100{serial:010d}", tree_path=f"/{code}/", **extra)


@pytest.fixture
def departments(divisions: dict[str, Division]) -> dict[str, Department]:
    return {
        "bureau": _department("CITY-CA", "市民政局", divisions["city"], 1, name_en="Civil Affairs Bureau",
                              functions="负责社会救助。\n负责婚姻登记。"),
        "east": _department("EAST-CA", "东湖区民政局", divisions["east"], 2),
        "west": _department("WEST-PSB", "西山区公安分局", divisions["west"], 3, functions="负责户籍管理。"),
    }


@pytest.fixture
def make_staff(departments: dict[str, Department]) -> Callable[..., User]:
    counter = iter(range(1, 10_000))
    actions.ensure_roles()  # the shipped roles, with their permissions

    def make(*groups: str, department: str = "bureau", is_staff: bool = False, is_superuser: bool = False,
             kind: str = "staff", profile: bool = True, data_scope: str = DataScope.DEPARTMENT_TREE) -> User:
        number = next(counter)
        user = User.objects.create_user(username=f"staff{number}", first_name=f"员工{number}", kind=kind,
                                        is_staff=is_staff, is_superuser=is_superuser)
        if profile:
            staff = StaffProfile.objects.create(user=user, department=departments[department], title="科员",
                                                employee_number=f"E{number:05d}", data_scope=data_scope)
            # Trained, so that roles revealing personal data may be given.
            actions.record_training(None, staff, course="个人信息保护培训",
                                    completed_on=timezone.localdate() - datetime.timedelta(days=30))
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return user

    return make


@pytest.fixture
def citizen_user(divisions: dict[str, Division]) -> User:
    user = User.objects.create_user(username="xiaoming", first_name="欧阳小明", kind="citizen")
    Citizen.objects.create(user=user, name="欧阳小明", resident_id=RESIDENT_ID, phone=PHONE, gender="M",
                           birth_date=datetime.date(1985, 6, 1), division=divisions["east_town"])
    return user


def html_of(response: Any) -> str:
    return response.content.decode()


def nav_html(response: Any) -> str:
    match = re.search(r'<nav class="primary-nav".*?</nav>', html_of(response), re.S)
    assert match, "the page has no primary navigation"
    return match.group(0)


def json_block(html: str, element_id: str) -> Any:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no JSON block {element_id}"
    return json.loads(match.group(1))


def nav_hrefs(response: Any) -> list[str]:
    return re.findall(r'href="([^"]+)"', nav_html(response))


# ---- pages render ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_page_renders_for_visitors(client: Client) -> None:
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    html = html_of(response)
    assert settings.SITE_NAME in html
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert 'role="status"' in html
    assert reverse("identity:login") in html
    assert reverse("portal:accessibility") in html
    assert settings.SITE_ID_CODE in html
    # htmx comes from our own static files, deferred, with the CSRF header for its requests.
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in html
    assert "hx-headers:inherited='{\"X-CSRFToken\": \"" in html
    assert "cdn" not in html.lower()


@pytest.mark.django_db
def test_page_metadata_follows_the_government_website_guideline(client: Client) -> None:
    html = html_of(client.get(reverse("portal:departments")))
    assert '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert f'<meta name="SiteName" content="{settings.SITE_NAME}">' in html
    assert '<meta name="SiteDomain" content="testserver">' in html
    assert f'<meta name="SiteIDCode" content="{settings.SITE_ID_CODE}">' in html
    for name in ("ColumnName", "ColumnType", "Description", "Keywords"):
        match = re.search(rf'<meta name="{name}" content="([^"]*)">', html)
        assert match and match.group(1).strip(), f"{name} is missing or empty"


@pytest.mark.django_db
def test_accessibility_statement_renders(client: Client) -> None:
    response = client.get(reverse("portal:accessibility"))
    assert response.status_code == 200
    assert "WCAG 2.1" in html_of(response)


@pytest.mark.django_db
def test_departments_are_listed_by_division_with_their_functions(client: Client,
                                                                 departments: dict[str, Department]) -> None:
    response = client.get(reverse("portal:departments"))
    assert response.status_code == 200
    html = html_of(response)
    for name in ("云溪市", "东湖区", "西山区", "市民政局", "东湖区民政局", "西山区公安分局",
                 "负责婚姻登记", "负责户籍管理"):
        assert name in html
    # Grouped: the city's bureau comes before the districts' departments.
    assert html.index("市民政局") < html.index("东湖区民政局") < html.index("西山区公安分局")


@pytest.mark.django_db
def test_departments_are_paginated(client: Client, divisions: dict[str, Division]) -> None:
    for serial in range(25):
        _department(f"D{serial:02d}", f"部门{serial:02d}", divisions["city"], 100 + serial)
    first = html_of(client.get(reverse("portal:departments")))
    assert "部门00" in first and "部门24" not in first
    assert "?page=2" in first
    second = html_of(client.get(reverse("portal:departments"), {"page": 2}))
    assert "部门24" in second and "部门00" not in second


@pytest.mark.django_db
def test_department_names_follow_the_language(client: Client, departments: dict[str, Department]) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = html_of(client.get(reverse("portal:departments")))
    assert "Civil Affairs Bureau" in html
    assert "Donghu District" in html


@pytest.mark.django_db
def test_calendar_shows_holidays_and_make_up_days(client: Client) -> None:
    response = client.get(reverse("portal:calendar-year", args=[2025]))
    assert response.status_code == 200
    html = html_of(response)
    # 2025-01-26 (a Sunday) and 2025-02-08 (a Saturday) were make-up working days for the Spring Festival;
    # 2025-01-28 to 2025-02-04 were the holiday.
    assert re.search(r'class="day day--makeup"><time datetime="2025-01-26">', html)
    assert re.search(r'class="day day--holiday"><time datetime="2025-01-29">', html)
    assert re.search(r'class="day day--workday"><time datetime="2025-01-27">', html)
    assert re.search(r'class="day day--weekend"><time datetime="2025-03-01">', html)
    assert "badge-provisional" not in html
    assert reverse("portal:calendar-year", args=[2024]) in html
    assert reverse("portal:calendar-year", args=[2026]) in html


@pytest.mark.django_db
def test_calendar_defaults_to_this_year(client: Client) -> None:
    response = client.get(reverse("portal:calendar"))
    assert response.status_code == 200
    assert response.context["year"] == timezone.localdate().year


@pytest.mark.django_db
def test_calendar_marks_a_year_without_an_official_arrangement_as_provisional(client: Client) -> None:
    response = client.get(reverse("portal:calendar-year", args=[2090]))
    assert response.status_code == 200
    html = html_of(response)
    assert response.context["provisional"] is True
    assert "badge badge-provisional" in html
    assert 'class="notice notice--warning"' in html
    # Statutory holidays still show: New Year's Day.
    assert re.search(r'class="day day--holiday"><time datetime="2090-01-01">', html)


@pytest.mark.django_db
def test_calendar_refuses_years_far_out_of_range(client: Client) -> None:
    assert client.get(reverse("portal:calendar-year", args=[1800])).status_code == 404
    assert client.get(reverse("portal:calendar-year", args=[3000])).status_code == 404


@pytest.mark.django_db
def test_admin_header_carries_the_site_name(client: Client, make_staff: Callable[..., User]) -> None:
    client.force_login(make_staff(roles.PLATFORM_ADMIN, is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert settings.SITE_NAME in html_of(response)


# ---- dashboards ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_dashboard_redirects_to_login(client: Client) -> None:
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("identity:login"))
    assert "next=/dashboard/" in response["Location"]


@pytest.mark.django_db
def test_citizen_dashboard_masks_personal_data_on_the_server(client: Client, citizen_user: User) -> None:
    client.force_login(citizen_user)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    names = [template.name for template in response.templates]
    assert names[:2] == ["portal/dashboard_citizen.html", "portal/dashboard.html"]
    html = html_of(response)
    assert RESIDENT_ID not in html
    assert PHONE not in html
    assert "330106********0015" in html
    assert "139****5678" in html
    assert "欧阳**" in html
    assert "欧阳小明" not in html  # not even in the header's user menu
    assert "湖滨街道" in html


@pytest.mark.django_db
def test_citizen_without_a_resident_record_is_told_so(client: Client, divisions: Any) -> None:
    user = User.objects.create_user(username="lonely", kind="citizen")
    client.force_login(user)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert response.context["profile"] is None


@pytest.mark.django_db
def test_staff_dashboard_shows_post_roles_scope_and_own_logins(client: Client,
                                                               make_staff: Callable[..., User]) -> None:
    clerk = make_staff(roles.WINDOW_STAFF, roles.APPROVER)
    other = make_staff()
    for user, address in ((clerk, "10.1.2.3"), (other, "10.9.9.9")):
        token = set_current_request(RequestContext("r", address))
        try:
            record_login_event(RequestFactory().get("/"), LoginEventKind.LOGIN, user=user)
        finally:
            reset_current_request(token)
    client.force_login(clerk)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert response.templates[0].name == "portal/dashboard_staff.html"
    html = html_of(response)
    assert "市民政局" in html
    assert str(roles.ROLE_LABELS[roles.WINDOW_STAFF]) in html
    assert str(roles.ROLE_LABELS[roles.APPROVER]) in html
    assert str(DataScope.DEPARTMENT_TREE.label) in html
    assert "10.1.2.3" in html
    assert "10.9.9.9" not in html


@pytest.mark.django_db
def test_leader_dashboard_charts_citizens_per_county_and_staff_per_department(
    client: Client, make_staff: Callable[..., User], citizen_user: User, divisions: dict[str, Division]
) -> None:
    Citizen.objects.create(name="李四", resident_id="330108199001010012", gender="M",
                           birth_date=datetime.date(1990, 1, 1), division=divisions["west"])
    Citizen.objects.create(name="赵五", resident_id="330106199001010013", gender="M",
                           birth_date=datetime.date(1990, 1, 1), division=divisions["east"])
    leader = make_staff(roles.LEADER)
    make_staff(department="west")
    client.force_login(leader)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    html = html_of(response)
    # Chart data for ECharts in JSON blocks, and the same numbers in tables beside the charts.
    citizens = json_block(html, "citizens-chart-data")
    # The township's citizen is counted in its county.
    assert dict(zip(citizens["categories"], citizens["values"], strict=True)) == {"东湖区": 2, "西山区": 1}
    staff = json_block(html, "staff-chart-data")
    assert dict(zip(staff["categories"], staff["values"], strict=True)) == {
        "市民政局": 1, "东湖区民政局": 0, "西山区公安分局": 1}
    assert re.search(r'<th scope="row">东湖区</th><td class="numeric">2</td>', html)
    assert '<script src="/static/vendor/echarts.min.js" defer></script>' in html
    assert '<script src="/static/portal/charts.js" defer></script>' in html


@pytest.mark.django_db
def test_auditor_dashboard_counts_login_events_of_the_last_week(client: Client,
                                                                make_staff: Callable[..., User]) -> None:
    auditor = make_staff(roles.AUDITOR, data_scope=DataScope.ALL)
    for _ in range(3):
        record_login_event(RequestFactory().get("/"), LoginEventKind.FAILURE, username="x")
    record_login_event(RequestFactory().get("/"), LoginEventKind.LOGIN, username="x")
    with time_machine.travel(timezone.now() - datetime.timedelta(days=8)):
        record_login_event(RequestFactory().get("/"), LoginEventKind.LOGIN, username="x")
    client.force_login(auditor)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    counts = {row["kind"]: row["total"] for row in response.context["login_counts"]}
    assert counts[LoginEventKind.FAILURE] == 3
    assert counts[LoginEventKind.LOGIN] == 1
    assert response.context["login_total"] == 4
    assert reverse("identity:login-events") in html_of(response)


@pytest.mark.django_db
def test_data_officer_dashboard_counts_the_department_api_clients(
    client: Client, make_staff: Callable[..., User], departments: dict[str, Department]
) -> None:
    officer = make_staff(roles.DATA_OFFICER)
    ApiClient.objects.create(department=departments["bureau"], name="A", key_id="k1", secret_hash="x",
                             hash_algorithm="sha256")
    ApiClient.objects.create(department=departments["bureau"], name="B", key_id="k2", secret_hash="x",
                             hash_algorithm="sha256", revoked_at=timezone.now())
    ApiClient.objects.create(department=departments["west"], name="C", key_id="k3", secret_hash="x",
                             hash_algorithm="sha256")
    client.force_login(officer)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert response.context["api_clients"] == {"total": 2, "active": 1}
    assert reverse("identity:api-clients") in html_of(response)


@pytest.mark.django_db
def test_admin_dashboard_shows_platform_counts(client: Client, make_staff: Callable[..., User],
                                               citizen_user: User) -> None:
    admin = make_staff(roles.PLATFORM_ADMIN, is_staff=True)
    client.force_login(admin)
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    with translation.override("en"):
        counts = {str(label): value for label, value in response.context["platform_counts"]}
    assert counts["departments"] == 3
    assert counts["citizens"] == 1
    assert counts["staff members"] == 1
    assert reverse("admin:index") in html_of(response)


# ---- navigation per persona ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_visitor_navigation_has_only_public_pages(client: Client) -> None:
    hrefs = nav_hrefs(client.get(reverse("portal:home")))
    assert hrefs[:4] == [reverse("portal:home"), reverse("services:guide"), reverse("portal:departments"),
                         reverse("portal:calendar")]
    assert reverse("portal:dashboard") not in hrefs
    assert reverse("services:inbox") not in hrefs
    assert reverse("services:workbench") not in hrefs
    assert reverse("identity:login-events") not in hrefs
    assert reverse("identity:api-clients") not in hrefs
    assert reverse("admin:index") not in hrefs


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("groups", "is_staff", "login_events", "api_clients", "admin"),
    [
        ((), False, False, False, False),
        ((roles.WINDOW_STAFF,), True, False, False, True),
        ((roles.LEADER,), False, False, False, False),
        ((roles.AUDITOR,), False, True, False, False),
        ((roles.DATA_OFFICER,), False, False, True, False),
        ((roles.GOVERNANCE_OFFICER,), False, False, True, False),
        ((roles.PLATFORM_ADMIN,), True, True, True, True),
    ],
)
def test_staff_navigation_fits_the_role(client: Client, make_staff: Callable[..., User],
                                        groups: tuple[str, ...], is_staff: bool, login_events: bool,
                                        api_clients: bool, admin: bool) -> None:
    client.force_login(make_staff(*groups, is_staff=is_staff))
    hrefs = nav_hrefs(client.get(reverse("portal:home")))
    assert reverse("portal:dashboard") in hrefs
    assert (reverse("identity:login-events") in hrefs) is login_events
    assert (reverse("identity:api-clients") in hrefs) is api_clients
    assert (reverse("admin:index") in hrefs) is admin


@pytest.mark.django_db
def test_citizen_navigation_has_no_staff_pages(client: Client, citizen_user: User) -> None:
    client.force_login(citizen_user)
    hrefs = nav_hrefs(client.get(reverse("portal:home")))
    assert reverse("portal:dashboard") in hrefs
    for name in ("identity:login-events", "identity:api-clients", "admin:index"):
        assert reverse(name) not in hrefs


@pytest.mark.django_db
def test_navigation_marks_the_current_page(client: Client) -> None:
    nav = nav_html(client.get(reverse("portal:calendar-year", args=[2025])))
    assert f'<a href="{reverse("portal:calendar")}" aria-current="page">' in nav
    assert nav.count('aria-current="page"') == 1


@pytest.mark.django_db
def test_navigation_leaves_out_pages_that_do_not_exist(rf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert navigation.reverse_or_none("identity:no-such-page") is None
    request = rf.get("/")
    request.user = AnonymousUser()
    assert "/api/v1/docs" in [item.url for item in navigation.navigation_for(request)]
    monkeypatch.setattr(navigation, "API_DOCS_PATH", "/no/such/docs")
    request = rf.get("/")
    request.user = AnonymousUser()
    urls = [item.url for item in navigation.navigation_for(request)]
    assert "/no/such/docs" not in urls
    assert reverse("portal:home") in urls


@pytest.mark.django_db
def test_personas(make_staff: Callable[..., User], citizen_user: User) -> None:
    assert navigation.persona_of(None) == navigation.PUBLIC
    assert navigation.persona_of(citizen_user) == navigation.CITIZEN
    assert navigation.persona_of(make_staff()) == navigation.STAFF
    assert navigation.persona_of(make_staff(roles.WINDOW_STAFF)) == navigation.STAFF
    assert navigation.persona_of(make_staff(roles.APPROVER, roles.AUDITOR)) == navigation.AUDITOR
    assert navigation.persona_of(make_staff(roles.LEADER)) == navigation.LEADER
    assert navigation.persona_of(make_staff(roles.DATA_OFFICER)) == navigation.DATA_OFFICER
    assert navigation.persona_of(make_staff(roles.GOVERNANCE_OFFICER)) == navigation.DATA_OFFICER
    assert navigation.persona_of(make_staff(roles.PLATFORM_ADMIN, roles.AUDITOR)) == navigation.ADMIN
    # createsuperuser leaves the default kind (citizen); a superuser is still an administrator.
    superuser = make_staff(kind="citizen", is_superuser=True, profile=False)
    assert navigation.persona_of(superuser) == navigation.ADMIN


# ---- elder-friendly mode ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_elder_mode_toggle_sets_and_clears_the_cookie(client: Client) -> None:
    assert '<html lang="zh-hans" class="">' in html_of(client.get("/"))
    response = client.post(reverse("portal:elder-mode"), {"next": "/departments/"})
    assert response.status_code == 302
    assert response["Location"] == "/departments/"
    cookie = response.cookies["elder"]
    assert cookie.value == "1"
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    html = html_of(client.get("/"))
    assert 'class="elder"' in html
    assert 'aria-pressed="true"' in html

    response = client.post(reverse("portal:elder-mode"), {"next": "/"})
    assert response.cookies["elder"].value == ""
    assert 'aria-pressed="false"' in html_of(client.get("/"))


@pytest.mark.django_db
def test_elder_mode_is_saved_on_the_account(client: Client, citizen_user: User) -> None:
    client.force_login(citizen_user)
    client.post(reverse("portal:elder-mode"), {"next": "/"})
    citizen_user.refresh_from_db()
    assert citizen_user.elder_mode is True
    # Another browser, no cookie: the account's choice applies.
    other = Client()
    other.force_login(citizen_user)
    assert 'class="elder"' in html_of(other.get("/"))
    # Turning it off there clears it on the account too.
    other.post(reverse("portal:elder-mode"), {"next": "/"})
    citizen_user.refresh_from_db()
    assert citizen_user.elder_mode is False


@pytest.mark.django_db
def test_elder_mode_never_redirects_off_site(client: Client) -> None:
    response = client.post(reverse("portal:elder-mode"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("portal:home")


@pytest.mark.django_db
def test_elder_mode_accepts_only_post(client: Client) -> None:
    assert client.get(reverse("portal:elder-mode")).status_code == 405


# ---- language ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_language_switch_changes_the_page_language(client: Client) -> None:
    html = html_of(client.get("/"))
    assert '<html lang="zh-hans"' in html
    assert f'action="{reverse("set_language")}"' in html
    assert 'name="language" value="en"' in html
    response = client.post(reverse("set_language"), {"language": "en", "next": "/departments/"})
    assert response.status_code == 302
    assert response["Location"] == "/departments/"
    html = html_of(client.get("/"))
    assert '<html lang="en"' in html
    assert "Skip to main content" in html


# ---- masking helpers used by the pages ---------------------------------------------------------------------


def test_keep_ends_masks_the_middle() -> None:
    assert keep_ends(RESIDENT_ID, 6, 4) == "330106********0015"
    assert keep_ends(PHONE, 3, 4) == "139****5678"
    assert keep_ends("abc", 0, 0, mask_char="#") == "###"
    assert keep_ends("ab", 1, 1) == "**"  # too short to keep both ends: nothing shows
    assert keep_ends("", 3, 4) == ""
    assert keep_ends(None, 3, 4) == ""
    with pytest.raises(ValueError):
        keep_ends("abc", -1, 0)
    with pytest.raises(ValueError):
        keep_ends("abc", 1, 1, mask_char="**")


def test_mask_name_keeps_the_surname() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("王小明") == "王**"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("欧阳") == "欧*"
    assert mask_name("李") == "*"
    assert mask_name(" 张三 ") == "张*"
    assert mask_name("") == ""
