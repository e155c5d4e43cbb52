"""The demo city's data objections: values in the persons registry that consuming departments report as wrong,
at every step: one awaiting the public security bureau's answer and overdue (so the governance office sees the
flag), one the bureau corrected (the record's history names the objection), one answered and accepted, and one
escalated to the data governance office.

Each objection is raised through exchange.actions as the consumer's data officer, against a record the officer
finds through the one door under the grant the sharing demo made, and each step is taken by the officer whose
step it is. Like the sharing demo, the actions stamp the present: an objection whose story began earlier gets the
story's dates in the same transaction, and one `exchange.demo_restate_dates` audit entry says so.

Seeding again adds nothing: a story whose objection exists (same consumer, registry, field and description) is
left as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from zhengtong.audit import actions as audit
from zhengtong.core import calendar
from zhengtong.exchange import actions, door
from zhengtong.exchange.demo import DemoClock, demo_officer, officer_of_office
from zhengtong.exchange.models import DataObjection
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries import base
from zhengtong.registries.models import Registry

PURPOSE = "核实数据异议所涉记录"


@dataclass(frozen=True)
class ObjectionStory:
    consumer: str  # department code
    field: str
    proposed_value: str
    description: str
    record_index: int  # which of the records the consumer's grant lets it see, in the order they were made
    days_ago: int  # when it was raised, in working days before the day of seeding
    steps: tuple[str, ...] = ()  # "correct", "answer", "accept", "escalate"


STORIES: tuple[ObjectionStory, ...] = (
    ObjectionStory(
        "YX-QL-GSC", "residence_address", "青林县城关镇文庙街18号3幢2单元501室",
        "群众在窗口办理居住证明时出示的不动产权证书和社区证明显示，其已于今年迁入新居，现居住地址与人口库"
        "不一致，预填申请表时带出旧地址。", 0, days_ago=8),
    ObjectionStory(
        "YX-QL-GSC", "residence_address", "青林县永安镇新街村三组27号",
        "办事群众反映现居住地址门牌号有误，村委会出具了门牌证明，请核实更正。", 1, days_ago=3,
        steps=("correct",)),
    ObjectionStory(
        "YX-HRSS", "name", "王建国",
        "养老金领取资格认证时本人称已于2019年依法变更姓名，现用名与人口库不一致，请核实。", 2, days_ago=6,
        steps=("answer", "accept")),
    ObjectionStory(
        "YX-HRSS", "name", "李秀兰",
        "参保人提交的户口簿首页姓名为“李秀兰”，人口库为同音字，导致社保卡制卡信息核验不通过。", 3, days_ago=4,
        steps=("answer", "escalate")),
)

STEP_TEXT = {
    "answer": "经查户籍档案和办理记录，库中数据与户籍登记一致，无需更正。",
    "escalate": "户口簿首页为公安机关签发，与库中数据不一致，请数据管理局协调认定。",
}


@dataclass(frozen=True)
class ObjectionSeedSummary:
    objections: int
    seconds: float

    def describe(self) -> str:
        return f"Data objections: {self.objections} added in {self.seconds:.1f} s."


def _record(officer: User, registry: Registry, index: int) -> door.RecordId:
    """The consumer's `index`-th record, found through the door as the officer who reports it."""
    page = door.search(door.Reader.staff(officer), registry, filters={}, purpose=PURPOSE, page=index + 1,
                       page_size=1)
    if not page.readings:
        raise Registry.DoesNotExist(f"{registry.code} has too few records the demo's grant covers; seed the "
                                    "registries and the sharing demo first")
    return door.RecordId(page.readings[0].record_id)


def _run(story: ObjectionStory, registry: Registry, clock: DemoClock) -> DataObjection:
    consumer = demo_officer(story.consumer, roles.DATA_OFFICER)
    provider = demo_officer(registry.department.code, roles.DATA_OFFICER)
    objection = actions.raise_objection(consumer, actions.ObjectionInput(
        registry=registry, key=_record(consumer, registry, story.record_index), field=story.field,
        proposed_value=story.proposed_value, description=story.description))
    for step in story.steps:
        if step == "correct":
            objection = actions.correct_objection(provider, objection, note="已核对证明材料并更正。")
        elif step == "answer":
            objection = actions.answer_objection(provider, objection, explanation=STEP_TEXT["answer"])
        elif step == "accept":
            objection = actions.accept_answer(consumer, objection)
        else:
            objection = actions.escalate_objection(consumer, objection, grounds=STEP_TEXT["escalate"])
    _restate(objection, clock, story.days_ago)
    return objection


def _restate(objection: DataObjection, clock: DemoClock, days_ago: int) -> None:
    """Raised `days_ago` working days ago, and due 5 working days after that; the audit trail says so."""
    raised_at = clock.moment(days_ago, "10:00")
    answer_due = calendar.add_working_days(raised_at.date(), actions.OBJECTION_ANSWER_DAYS).date
    DataObjection.objects.filter(pk=objection.pk).update(raised_at=raised_at, answer_due=answer_due)
    audit.record("exchange.demo_restate_dates", audit.SYSTEM, object_type="data_objection",
                 object_id=objection.number,
                 detail={"raised_at": raised_at.isoformat(), "answer_due": answer_due.isoformat()})


def seed_objections(*, seed: int = 0) -> ObjectionSeedSummary:
    """Play every story whose objection is not there yet; all of it or nothing. Needs the demo city, its base
    registries, its catalog and the sharing demo (whose grants the consumers report under). The seed is taken
    for the demo's common signature: nothing here is random."""
    started = time.monotonic()
    with transaction.atomic():
        registry = Registry.objects.get(code=base.PERSONS)
        officer_of_office()  # the office must be there to settle escalations
        clock = DemoClock(timezone.localdate(), max(story.days_ago for story in STORIES))
        added = 0
        for story in STORIES:
            if DataObjection.objects.filter(consumer__code=story.consumer, registry=registry, field=story.field,
                                            description=story.description).exists():
                continue
            _run(story, registry, clock)
            added += 1
    return ObjectionSeedSummary(added, time.monotonic() - started)
