"""The demo city's "who used my data": departments' systems read the demo citizens' records in the persons
registry through the one door under their grants, each with a purpose a department would state, and the
inspector hides one of those reads from the citizen persona until a date, as an investigation would.

The reads are real reads (checked, masked and audited by the door), made now. Seeding again adds nothing: a
department's system that has read a citizen already reads them no more, and a citizen who has a hidden access
gets no second one.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from zhengtong.audit.models import ActorKind
from zhengtong.exchange import door
from zhengtong.exchange.demo import CLIENT_NAMES
from zhengtong.exchange.models import Grant, GrantStatus
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED
from zhengtong.identity.models import ApiClient, User, UserKind
from zhengtong.privacy.actions.accesses import hide_access
from zhengtong.privacy.models import HiddenAccess
from zhengtong.privacy.queries.accesses import accesses_about
from zhengtong.registries import base
from zhengtong.registries.models import Registry

MAX_CITIZENS = 5
MAX_READERS = 4
HIDDEN_DAYS = 90
# What each department's system reads a resident's record for, as it would state it.
PURPOSES = {
    "YX-HRSS": "养老保险待遇资格认证",
    "YX-HSA": "医保参保登记信息核验",
    "YX-EDU": "义务教育入学资格审核",
    "YX-QL-GSC": "窗口受理预填申请表",
    "YX-HUD": "公共租赁住房申请家庭信息核对",
    "YX-JUST": "法律援助申请人身份核验",
    "YX-EMB": "自然灾害救助对象身份核验",
    "YX-FIN": "惠民惠农补贴发放对象核对",
}
HIDING_REASON = ("纪检监察机关正在核查该系统经办人员涉嫌违规查询公民信息的问题，"
                 "提前告知当事人可能妨碍核查，依规暂缓向本人显示。")
HIDING_CASE = "云纪核〔2026〕9号"


@dataclass(frozen=True)
class AccessesSeedSummary:
    reads: int
    hidden: int
    seconds: float

    def describe(self) -> str:
        return (f"Who used my data: {self.reads} reads of the demo citizens' records by departments' systems and "
                f"{self.hidden} hidden access added in {self.seconds:.1f} s.")


def _citizens() -> list[User]:
    """The demo citizen logins, the persona first."""
    users = User.objects.filter(kind=UserKind.CITIZEN, citizen__isnull=False, is_active=True)
    persona = list(users.filter(username="citizen"))
    return persona + list(users.exclude(username="citizen").order_by("username")[:MAX_CITIZENS - len(persona)])


def _readers(registry: Registry) -> list[tuple[ApiClient, str]]:
    """(demo client, purpose) of departments whose grant to the registry is in force today."""
    today = timezone.localdate()
    grants = Grant.objects.filter(resource__registry=registry, status=GrantStatus.ACTIVE, valid_from__lte=today,
                                  valid_until__gte=today).select_related("consumer").order_by("consumer__code")
    readers: list[tuple[ApiClient, str]] = []
    for grant in grants:
        code = grant.consumer.code
        client = ApiClient.objects.filter(department=grant.consumer, name=CLIENT_NAMES.get(code, ""),
                                          revoked_at__isnull=True).first()
        if client is not None and all(c.pk != client.pk for c, _purpose in readers):
            readers.append((client, PURPOSES.get(code, grant.purpose[:door.MAX_PURPOSE])))
    return readers[:MAX_READERS]


def _read(client: ApiClient, registry: Registry, user: User, purpose: str) -> bool:
    resident_id = user.citizen.resident_id
    if accesses_about(resident_id).filter(actor_kind=ActorKind.API_CLIENT, actor_id=client.key_id).exists():
        return False
    try:
        door.read_record(door.Reader.system(client), registry, resident_id, purpose=purpose)
    except door.Refused:
        return False  # outside the grant's row scope, or no such record: the door has audited the refusal
    return True


def _hide_one(user: User) -> int:
    accesses = accesses_about(user.citizen.resident_id).filter(actor_kind=ActorKind.API_CLIENT)
    inspector = User.objects.filter(groups__name=roles.AUDITOR, is_active=True).order_by("username").first()
    newest = accesses.order_by("-id").first()
    if inspector is None or newest is None or HiddenAccess.objects.filter(
            Q(entry__in=accesses.values("pk"))).exists():
        return 0
    hide_access(inspector, entry_id=newest.pk,
                hidden_until=timezone.localdate() + dt.timedelta(days=HIDDEN_DAYS),
                reason=HIDING_REASON, case_reference=HIDING_CASE)
    return 1


def seed_accesses(*, seed: int = DEFAULT_SEED) -> AccessesSeedSummary:
    """Let departments' systems read the demo citizens, and hide one read from the persona. Needs the demo city,
    its base registries, and the sharing demo's grants and clients (the seed names those clients)."""
    del seed  # the clients were made by the sharing demo with this seed; nothing here is drawn at random
    started = time.monotonic()
    registry = Registry.objects.filter(code=base.PERSONS).first()
    citizens = _citizens()
    reads = hidden = 0
    if registry is not None and citizens:
        for client, purpose in _readers(registry):
            reads += sum(_read(client, registry, user, purpose) for user in citizens)
        hidden = _hide_one(citizens[0])
    return AccessesSeedSummary(reads, hidden, time.monotonic() - started)
