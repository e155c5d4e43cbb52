"""Fixtures shared by every app's tests: a small city, staff with roles, citizens with valid IDs."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from stdnum.cn import ric, uscc

from zhengtong.audit import triggers
from zhengtong.identity import actions, roles, totp
from zhengtong.identity.models import DataScope, Department, DivisionLevel, User

# Chromium, Playwright pages and axe-core for every app's browser tests: one browser per test process.
pytest_plugins = ["zhengtong.portal.tests.browser"]

PASSWORD = "Test#pass2026"
COMMITTING_FIXTURES = {"transactional_db", "live_server"}


@pytest.fixture(autouse=True)
def _audit_tables_append_only(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs with the audit triggers in place. Tests that commit (live server, transactional
    tests) are emptied by truncating every table afterwards, which the triggers refuse; they are lifted just
    for that cleanup, and only in the test database."""
    marker = request.node.get_closest_marker("django_db")
    committing = bool(COMMITTING_FIXTURES & set(request.fixturenames)) or bool(
        marker and marker.kwargs.get("transaction"))
    if not committing and "db" not in request.fixturenames and marker is None:
        yield
        return
    request.getfixturevalue("transactional_db" if committing else "db")
    triggers.install(connection)
    yield
    if committing:
        triggers.remove(connection)


def resident_id(serial: int, *, county: str = "330106", born: datetime.date = datetime.date(1985, 6, 1),
                male: bool = True) -> str:
    """A valid resident ID number: real county code, birth date, serial with gender digit, check digit."""
    order = (serial % 50) * 2 + (1 if male else 0)
    body = f"{county}{born:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def credit_code(serial: int, *, division: str = "330100", prefix: str = "11") -> str:
    body = f"{prefix}{division}{serial:09d}"
    return body + uscc.calc_check_digit(body + "0")


@pytest.fixture
def city(db: Any) -> dict[str, Any]:
    """A city with two districts; a city bureau with a district branch; and a department in another district."""
    province = actions.create_division(None, code="330000", name="浙江省", level=DivisionLevel.PROVINCE, parent=None)
    city_division = actions.create_division(None, code="330100", name="云溪市", level=DivisionLevel.CITY,
                                            parent=province)
    east = actions.create_division(None, code="330106", name="东湖区", level=DivisionLevel.COUNTY,
                                   parent=city_division)
    west = actions.create_division(None, code="330108", name="西山区", level=DivisionLevel.COUNTY,
                                   parent=city_division)
    bureau = actions.create_department(None, code="CITY-CA", name="市民政局", division=city_division,
                                       credit_code=credit_code(1))
    branch = actions.create_department(None, code="EAST-CA", name="东湖区民政局", division=east, parent=bureau,
                                       credit_code=credit_code(2, division="330106"))
    other = actions.create_department(None, code="WEST-PSB", name="西山区公安分局", division=west,
                                      credit_code=credit_code(3, division="330108"))
    actions.ensure_roles()
    return {"city": city_division, "east": east, "west": west, "bureau": bureau, "branch": branch, "other": other}


@pytest.fixture
def make_staff(city: dict[str, Any]) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(*, role_names: tuple[str, ...] = (), department: Department | None = None,
             data_scope: str = DataScope.DEPARTMENT, trained: bool = False, username: str | None = None,
             enrolled: bool = True) -> User:
        number = next(counter)
        user = actions.create_staff(
            None, username=username or f"staff{number}", full_name=f"员工{number}",
            department=department or city["bureau"], employee_number=f"E{number:05d}", password=PASSWORD,
            data_scope=data_scope,
        )
        if trained:
            actions.record_training(None, user.staff, course="个人信息保护培训",
                                    completed_on=datetime.date.today() - datetime.timedelta(days=30))
        if role_names:
            actions.set_roles(None, user, role_names)
        if enrolled:
            User.objects.filter(pk=user.pk).update(totp_secret=totp.new_secret(),
                                                   totp_confirmed_at=datetime.datetime.now(datetime.UTC))
            user.refresh_from_db()
        return user

    return make


@pytest.fixture
def window_clerk(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.WINDOW_STAFF,), department=city["branch"], data_scope=DataScope.DIVISION)


@pytest.fixture
def citizen_user(city: dict[str, Any]) -> User:
    citizen = actions.register_citizen(None, actions.CitizenInput(
        name="王小明", resident_id=resident_id(1), phone="13800138000", division_code="330106"))
    return actions.create_citizen_account(None, citizen, username="xiaoming", password=PASSWORD)

