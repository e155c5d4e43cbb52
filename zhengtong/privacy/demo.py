"""The demo city's data agreements and consent: two uses of the persons registry that rest on the citizen's
consent rather than on a statutory duty, each with its consent-based grant, its agreement published by the data
governance office under the city's data policy, and the demo citizen's answers.

* 市住房和城乡建设局 (YX-HUD) — 人才住房申请: the applicant lets the housing system read their education and
  household registration instead of uploading certificates. The demo citizen has consented.
* 市医疗保障局 (YX-HSA) — 长期护理保险上门服务: the insured person lets the care system read their mobile phone
  and residence address to book home visits. The demo citizen consented; the agreement was then revised (the
  marital status added, to find the family carer), so their consent needs renewal: the door refuses the care
  system's calls about them until they consent again on their consent page.

Every change goes through the actions (exchange.actions.issue_grant, privacy.actions.consent) as the
governance office's officer or the citizen, so each is checked, revisioned and audited as in use. The purposes
and the law cited are real in kind; the city and its people are synthetic.

Seeding again adds nothing: an agreement that exists (live, for the same resource and consumer) is left as it is,
with its grant and consents, whatever happened to them since.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from zhengtong.catalog.demo import PIPL
from zhengtong.catalog.models import Resource, ResourceStatus
from zhengtong.exchange import actions as exchange
from zhengtong.exchange.models import Basis, Grant, MaskingLevel
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED
from zhengtong.identity.models import Department, User
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.models import DataAgreement, Policy
from zhengtong.registries import base

POLICY = actions.PolicyInput(
    name="云溪市政务数据共享个人信息保护政策", url="https://www.yunxi.gov.cn/privacy/data-sharing-policy/v1",
    jurisdiction="云溪市", industry_sector="政务服务", data_retention_days=1095,
    geographic_restriction="中华人民共和国境内", storage_location="云溪市政务云")
CONSENT_LAW = f"{PIPL}第十三条第一款第一项、第十四条（取得个人的同意）"
CITIZEN = "citizen"  # the demo citizen's login


@dataclass(frozen=True)
class DemoAgreement:
    consumer: str
    purpose: str
    description: str
    elements: tuple[str, ...]
    consent_days: int | None
    retention_days: int
    revised_elements: tuple[str, ...] = ()  # a later version asking for more, after the citizen consented


AGREEMENTS: tuple[DemoAgreement, ...] = (
    DemoAgreement(
        "YX-HUD", "人才住房申请中核验申请人学历和户籍",
        "您申请人才住房时，住房保障信息系统经您同意读取您在人口基础信息库中的学历和户籍地，您无需再上传学历证书"
        "和户口簿。未经同意的，请按原方式提交材料。",
        ("resident_id", "name", "education", "household_division"), consent_days=365, retention_days=1095),
    DemoAgreement(
        "YX-HSA", "长期护理保险上门服务预约",
        "您享受长期护理保险待遇期间，护理服务管理系统经您同意读取您的手机号码和现居住地址，用于预约和安排上门"
        "护理服务。",
        ("resident_id", "name", "mobile_phone", "residence_address"), consent_days=None, retention_days=730,
        revised_elements=("resident_id", "name", "mobile_phone", "residence_address", "marital_status")),
)


@dataclass(frozen=True)
class ConsentSeedSummary:
    """What one seeding added (nothing on a second run)."""

    agreements: int
    grants: int
    consents: int
    seconds: float

    def describe(self) -> str:
        return (f"Consent: {self.agreements} data agreements, {self.grants} consent-based grants and "
                f"{self.consents} consents added in {self.seconds:.1f} s.")


def _office_officer() -> User:
    officer = (User.objects.filter(staff__department__is_governance_office=True,
                                   groups__name=roles.GOVERNANCE_OFFICER, is_active=True)
               .order_by("username").first())
    if officer is None:
        raise User.DoesNotExist("the demo city has no data governance officer; seed the demo city first")
    return officer


def _persons() -> Resource:
    resource = Resource.objects.filter(registry__code=base.PERSONS, status=ResourceStatus.PUBLISHED).first()
    if resource is None:
        raise Resource.DoesNotExist("the catalog has not published the persons registry; seed the catalog first")
    return resource


def _policy(officer: User) -> Policy:
    policy = Policy.objects.filter(name=POLICY.name, deleted_at__isnull=True).first()
    return policy if policy is not None else actions.create_policy(officer, POLICY)[0]


def _grant(officer: User, spec: DemoAgreement, consumer: Department, resource: Resource) -> bool:
    """The consumer's consent-based grant for the agreement's fields; returns whether it was issued now."""
    if Grant.objects.filter(consumer=consumer, resource=resource, basis=Basis.CONSENT).exists():
        return False
    today = timezone.localdate()
    fields = list(dict.fromkeys(spec.elements + spec.revised_elements))
    exchange.issue_grant(officer, consumer=consumer, resource=resource, purpose=spec.purpose, basis=Basis.CONSENT,
                         legal_basis=CONSENT_LAW, terms=exchange.Terms(
                             fields=fields, masking_level=MaskingLevel.CLEAR, valid_from=today,
                             valid_until=today + dt.timedelta(days=730), daily_quota=5000, rate_per_minute=300))
    return True


def _terms(spec: DemoAgreement, consumer: Department, resource: Resource, policy: Policy,
           elements: tuple[str, ...]) -> actions.AgreementInput:
    return actions.AgreementInput(
        resource=resource, consumer=consumer, purpose=spec.purpose, purpose_description=spec.description,
        data_elements=list(elements), consent_days=spec.consent_days, retention_days=spec.retention_days,
        policy=policy, dpia="已完成个人信息保护影响评估：仅读取所列信息项，按同意的用途使用，期满删除。",
        data_use="data_using_service")


def _play(officer: User, citizen: User | None, spec: DemoAgreement, resource: Resource, policy: Policy) -> int:
    """Publish the agreement and let the demo citizen answer it; returns the consents given."""
    consumer = Department.objects.get(code=spec.consumer)
    agreement, _ = actions.publish_agreement(officer, _terms(spec, consumer, resource, policy, spec.elements))
    if citizen is None:
        return 0
    actions.give_consent(citizen, agreement, actions.individual_for(citizen.citizen))
    if spec.revised_elements:
        actions.revise_agreement(officer, agreement, _terms(spec, consumer, resource, policy, spec.revised_elements))
    return 1


def seed_consent(*, seed: int = DEFAULT_SEED) -> ConsentSeedSummary:
    """Publish each demo agreement not there yet, with its consent-based grant and the demo citizen's answer.
    All of it or nothing. Needs the demo city, its base registries and its catalog. (`seed` is the demo's; the
    agreements are the same for every seed.)"""
    started = time.monotonic()
    agreements = grants = consents = 0
    with transaction.atomic():
        officer, resource = _office_officer(), _persons()
        citizen = User.objects.filter(username=CITIZEN, citizen__isnull=False).first()
        policy = _policy(officer)
        for spec in AGREEMENTS:
            consumer = Department.objects.get(code=spec.consumer)
            grants += _grant(officer, spec, consumer, resource)
            if DataAgreement.objects.filter(resource=resource, consumer=consumer, deleted_at__isnull=True).exists():
                continue
            consents += _play(officer, citizen, spec, resource, policy)
            agreements += 1
    return ConsentSeedSummary(agreements, grants, consents, time.monotonic() - started)
