"""Fixtures of the online-services tests: the exchange's small city and persons registry, staff of the two
departments that review jointly (CITY-CA responsible, WEST-PSB co-operating), the shipped processes uploaded,
and factories for published service items and submitted applications.

`import *` skips names with an underscore, so the autouse fixtures (own key files, English messages) are named.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from zhengtong.exchange.tests.conftest import *  # noqa: F403
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys  # noqa: F401
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry
from zhengtong.services.actions.definitions import upload_decision, upload_process
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    DecisionDefinition,
    ItemStatus,
    ItemType,
    ProcessDefinition,
    ServiceItem,
)
from zhengtong.services.workflow import engine

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
# The reference alphabet of Application.reference: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def shipped(name: str) -> str:
    """A file from services/processes/, as a modeler saved it."""
    return (PROCESSES / name).read_text(encoding="utf-8")


@pytest.fixture
def approver(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.APPROVER,), department=city["bureau"], trained=True, username="approver")


@pytest.fixture
def window_clerk_ca(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"], username="window_ca")


@pytest.fixture
def co_reviewer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """An approver of the co-operating department (WEST-PSB)."""
    return make_staff(role_names=(roles.APPROVER,), department=city["other"], trained=True, username="co_reviewer")


@pytest.fixture
def applicant(citizen_user: User, persons: Registry) -> User:
    """The citizen who applies; their record is person(1) of the persons registry."""
    return citizen_user


@pytest.fixture
def single_process(db: Any) -> ProcessDefinition:
    return upload_process(None, bpmn_xml=shipped("single_approval.bpmn"))


@pytest.fixture
def joint_process(db: Any) -> ProcessDefinition:
    return upload_process(None, bpmn_xml=shipped("joint_review.bpmn"))


@pytest.fixture
def instant_process(db: Any, senior_decision: DecisionDefinition) -> ProcessDefinition:
    return upload_process(None, bpmn_xml=shipped("instant_approval.bpmn"))


@pytest.fixture
def senior_decision(db: Any) -> DecisionDefinition:
    return upload_decision(None, dmn_xml=shipped("senior_allowance.dmn"))


@pytest.fixture
def make_item(city: dict[str, Any], single_process: ProcessDefinition) -> Callable[..., ServiceItem]:
    """A published service item of CITY-CA (by ORM); `cooperating=[departments]` sets the co-operating ones."""
    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> ServiceItem:
        number = next(counter)
        cooperating = overrides.pop("cooperating", ())
        now = timezone.now()
        values: dict[str, Any] = {
            "code": f"TEST-{number:04d}", "name": f"测试事项{number}", "item_type": ItemType.CONFIRMATION,
            "status": ItemStatus.PUBLISHED, "responsible_department": city["bureau"],
            "legal_basis": "《测试条例》第一条", "promised_days": 5, "statutory_days": 20,
            "form": [
                {"name": "name", "label": "姓名", "type": "text", "required": True, "hint": "", "choices": [],
                 "prefill": {"registry": "persons", "field": "name"}},
                {"name": "reason", "label": "申请事由", "type": "text", "required": True, "hint": "",
                 "choices": [], "prefill": None},
            ],
            "process": single_process, "created_at": now, "updated_at": now,
        }
        values.update(overrides)
        item = ServiceItem.objects.create(**values)
        if cooperating:
            item.cooperating_departments.set(cooperating)
        return item

    return make


def new_reference() -> str:
    """A fresh application reference (the applying actions have the real generator)."""
    while True:
        reference = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        if not Application.objects.filter(reference=reference).exists():
            return reference


@pytest.fixture
def make_application(db: Any) -> Callable[..., Application]:
    """A SUBMITTED application (by ORM) whose process the engine has started, as submit_application does."""
    def make(item: ServiceItem, applicant: User, answers: dict[str, Any] | None = None,
             **overrides: Any) -> Application:
        now = timezone.now()
        values: dict[str, Any] = {
            "item": item, "applicant": applicant, "status": ApplicationStatus.SUBMITTED,
            "reference": new_reference(), "answers": {"reason": "测试"} if answers is None else answers,
            "prefilled": {"name": {"value": "王小明", "source": "persons.name", "label": "人口基础信息库"}},
            "created_at": now, "updated_at": now, "submitted_at": now, "process": item.process,
        }
        values.update(overrides)
        with transaction.atomic():
            application = Application.objects.create(**values)
            engine.start(application, applicant)
        application.refresh_from_db()
        return application

    return make


def run_together(*calls: Callable[[], None]) -> None:
    """Run the calls in threads at the same moment (each on its own database connection, closed after), for
    race tests on PostgreSQL."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        try:
            barrier.wait()
            call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
