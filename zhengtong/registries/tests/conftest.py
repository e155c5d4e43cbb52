"""Fixtures of the registries' page, API and browser tests: data officers in and out of a registry's department,
and a person registry of the city bureau."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries import actions
from zhengtong.registries.models import Registry
from zhengtong.registries.tests.factories import person_fields


@pytest.fixture
def data_officer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """A data officer of the city bureau (department scope)."""
    return make_staff(role_names=(roles.DATA_OFFICER,), department=city["bureau"])


@pytest.fixture
def outside_officer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """A data officer of another district's department: the bureau's registries are outside their scope."""
    return make_staff(role_names=(roles.DATA_OFFICER,), department=city["other"])


@pytest.fixture
def person_registry(city: dict[str, Any]) -> Registry:
    return actions.define_registry(None, code="persons", name="人口", name_en="persons", department=city["bureau"],
                                   fields=person_fields(), description="人口基础信息")
