"""The demo city's citizens' cases: for each demo citizen login, objections to accesses to their data (one open,
one upheld, one dismissed) and correction requests of their persons record (one waiting and overdue, one
accepted, one refused).

The accesses objected to are real reads through the one door by the persons registry's own department, with
the purposes a public security bureau would give; every step goes through privacy.actions as the person whose
step it is (the citizen, the governance office, the registry's data officer), so each is checked and audited.
The waiting correction was made today by the action; its dates are then restated to seven working days ago,
so the queues show an overdue case, and the audit trail says so (`privacy.demo_restate_dates`).

Seeding again adds nothing: a citizen who has any objection keeps them as they are, and likewise corrections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from reportlab.pdfgen import canvas

from zhengtong.audit import actions as audit
from zhengtong.audit.models import AuditEntry
from zhengtong.core import calendar
from zhengtong.exchange import door
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED
from zhengtong.identity.models import Department, User, UserKind
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.models import CorrectionRequest, Objection
from zhengtong.registries.base import PERSONS
from zhengtong.registries.models import Registry

DEMO_CITIZENS = 3  # the first demo citizen logins, by user name
OVERDUE_BY = 7  # working days since the waiting correction was made

# (purpose of the access, the citizen's reason, the office's answer or "" to leave it open, upheld?)
OBJECTIONS = (
    ("治安管理：核查暂住人员身份", "我一直在本市户籍地居住，从未登记暂住，也未接到任何核查通知。", "", False),
    ("协查：涉案人员身份核验", "我与任何案件无关，请说明为何查询我的户籍信息。",
     "经核查，该次查询所依据的协查函未列明您的身份信息，查询缺乏依据。已责令市公安局整改并对经办人员批评教育。", True),
    ("户籍业务：办理居住证签注", "我没有申请居住证签注。",
     "经核查，该次查询系您家属代为办理居住证签注时依法核验同户人员信息，查询有据。如有疑问可致电12345。", False),
)


@dataclass(frozen=True)
class CasesSeedSummary:
    objections: int
    corrections: int
    seconds: float

    def describe(self) -> str:
        return (f"Citizens' cases: {self.objections} objections and {self.corrections} correction requests added "
                f"in {self.seconds:.1f} s.")


def _officer(department: Department, role: str) -> User:
    officer = User.objects.filter(staff__department=department, groups__name=role, is_active=True
                                  ).order_by("username").first()
    if officer is None:
        raise User.DoesNotExist(f"{department.code} has no active {role}; seed the demo city first")
    return officer


def _office_officer() -> User:
    office = Department.objects.filter(is_governance_office=True).order_by("code").first()
    if office is None:
        raise Department.DoesNotExist("the demo city has no data governance office; seed the demo city first")
    return _officer(office, roles.GOVERNANCE_OFFICER)


def evidence_pdf(title: str) -> bytes:
    """A one-page PDF standing in for a scanned document."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.setTitle(title)
    page.drawString(72, 760, title)
    page.drawString(72, 740, "Zhengtong demo: synthetic evidence for a correction request.")
    page.showPage()
    page.save()
    return buffer.getvalue()


def _demo_phone(seed: int, citizen: User, n: int) -> str:
    digits = int(hashlib.sha256(f"{seed}:{citizen.pk}:{n}".encode()).hexdigest(), 16) % 10**8
    return f"139{digits:08d}"


def _seed_objections(citizen: User, registry: Registry, office: User) -> int:
    reader = door.Reader.staff(_officer(registry.department, roles.DATA_OFFICER))
    resident_id = citizen.citizen.resident_id
    for purpose, reason, answer, upheld in OBJECTIONS:
        door.read_record(reader, registry, resident_id, purpose=purpose)
        entry = audit_entry_of_read(reader, purpose)
        objection = actions.object_to_access(citizen, entry_id=entry, reason=reason)
        if answer:
            actions.answer_objection(office, objection, upheld=upheld, answer=answer)
    return len(OBJECTIONS)


def audit_entry_of_read(reader: door.Reader, purpose: str) -> int:
    """The id of the reader's latest read with this purpose (the one the seed just made)."""
    return AuditEntry.objects.filter(action="exchange.read", actor_id=str(reader.user.pk), purpose=purpose
                                     ).values_list("pk", flat=True).latest("pk")


def _seed_corrections(citizen: User, registry: Registry, seed: int) -> int:
    [reading] = [r for r in door.read_own_records(door.Reader.citizen(citizen), purpose="查看本人数据")
                 if r.registry == registry.code]
    officer = _officer(registry.department, roles.DATA_OFFICER)

    def ask(field: str, value: str, reason: str, document: str) -> CorrectionRequest:
        return actions.request_correction(citizen, registry=registry, record_id=reading.record_id, field=field,
                                          value=value, reason=reason,
                                          evidence=actions.Evidence(f"{document}.pdf", evidence_pdf(document)))

    accepted = ask("mobile_phone", _demo_phone(seed, citizen, 1), "原手机号已停用，已在运营商办理新号码。",
                   "mobile-contract")
    actions.decide_correction(officer, accepted, accept=True)
    married = reading.values.get("marital_status") == "20"  # GB/T 2261.2: 20 married, 40 divorced
    refused = ask("marital_status", "40" if married else "20",
                  "已于去年办理离婚登记。" if married else "已于去年登记结婚。", "marriage-registry-certificate")
    actions.decide_correction(officer, refused, accept=False,
                              reason="所附证件照片不清晰，无法核对证号。请上传清晰的扫描件后重新申请。")
    waiting = ask("residence_address", f"云溪市东湖区湖滨路{seed % 90 + 10}号{citizen.pk % 9 + 1}单元",
                  "已搬家，现居住地址变更。", "tenancy-agreement")
    _restate_overdue(waiting)
    return 3


def _restate_overdue(correction: CorrectionRequest) -> None:
    """Move a waiting correction back so that it is overdue today, and say so in the audit trail."""
    today = timezone.localdate()
    submitted = today
    while calendar.working_days_between(submitted, today).days < actions.DECIDE_DAYS + OVERDUE_BY:
        submitted -= dt.timedelta(days=1)
    due = calendar.add_working_days(submitted, actions.DECIDE_DAYS)
    moment = timezone.now() - (timezone.localdate() - submitted)
    CorrectionRequest.objects.filter(pk=correction.pk).update(submitted_at=moment, due=due.date,
                                                              due_provisional=due.provisional)
    audit.record("privacy.demo_restate_dates", audit.SYSTEM, object_type="correction", object_id=correction.number,
                 detail={"submitted_at": moment.isoformat(), "due": due.date.isoformat()})


def seed_cases(*, seed: int = DEFAULT_SEED) -> CasesSeedSummary:
    """Cases for the first demo citizen logins that hold a persons record. All of it or nothing. Needs the demo
    city and its base registries."""
    started = time.monotonic()
    objections = corrections = 0
    registry = Registry.objects.select_related("department").get(code=PERSONS)
    citizens = User.objects.filter(kind=UserKind.CITIZEN, is_demo=True, citizen__isnull=False, is_active=True
                                   ).select_related("citizen").order_by("username")[:DEMO_CITIZENS]
    with transaction.atomic():
        office = _office_officer()
        for citizen in citizens:
            if not Objection.objects.filter(citizen=citizen).exists():
                objections += _seed_objections(citizen, registry, office)
            if not CorrectionRequest.objects.filter(citizen=citizen).exists():
                corrections += _seed_corrections(citizen, registry, seed)
    return CasesSeedSummary(objections, corrections, time.monotonic() - started)
