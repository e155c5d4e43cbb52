"""The demo city's data sharing: sharing requests in every state between its departments, the grants they led
to, and a demo API client for each consuming department.

The requests tell the stories a data governance office sees in its first weeks: the public security bureau's
persons registry asked for by social security, civil affairs, education, a county's service centre, healthcare
security, emergency management, justice, commerce, finance and transport; the land parcels of natural
resources and planning asked for by agriculture and a county government; standard addresses (shared
unconditionally) by housing; two departments' APIs; and a resource the catalog does not share at all. Among
them: one awaiting the governance office's check, one awaiting its provider's answer due the next working day
and one overdue, grants masked, pseudonymised and in clear, with row scopes and quotas, one suspended and one
revoked, refusals by the provider, by the office and by the catalog, an open dispute, a settled one and a
withdrawn request. Purposes, scenarios and legal bases are written as a department would write them; the laws
cited are real, everything else is synthetic.

Every change goes through exchange.actions as the officer whose step it is (the consumer's and the provider's
data officers, the governance office), so each is checked and audited as it would be in use. The actions stamp
the present, while the stories began weeks ago: after a story's steps, the same transaction restates its dates
(submitted, checked, answered, disputed, settled; the grant's creation and last change) to the working days the
story gives, and keeps every deadline as many working days after its step as the action counted. The audit
trail is not rewritten: its entries keep their real times, and one more entry for each request whose dates were
restated, `exchange.demo_restate_dates`, records the dates the demo gave it.

A consuming department's API client has a credential derived from the seed, as the staff's second factors are,
so `zhengtong demo` can print it on every run; like the demo password, it is public and for the demo only.

Seeding again adds and changes nothing: a story whose request exists (same consumer, resource and purpose) is
left as it is, whatever happened to it since, and a client is looked up by its department and name.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.db import transaction
from django.utils import timezone

from zhengtong.audit import actions as audit
from zhengtong.catalog import actions as catalog
from zhengtong.catalog import demo as catalog_demo
from zhengtong.catalog.actions import ItemInput, ResourceInput, ServiceInput
from zhengtong.catalog.demo import PIPL, PROVINCIAL
from zhengtong.catalog.models import (
    OpeningType,
    Resource,
    ResourceFormat,
    ResourceKind,
    ResourceStatus,
    SharingType,
    UpdateCycle,
)
from zhengtong.core import calendar
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED
from zhengtong.identity.models import ApiClient, Citizen, Department, User
from zhengtong.registries import base
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity

from . import actions
from .models import Basis, Grant, MaskingLevel, RequestStatus, SharingRequest

PERSONS_FIELDS = ("resident_id", "name", "gender", "ethnicity", "birth_date", "household_division",
                  "residence_address", "mobile_phone", "marital_status", "education", "status")
LAW_DUTY = f"{PIPL}第十三条第一款第三项、第三十四条"  # processing necessary for a statutory duty, within it

# --- the resource the catalog does not share ----------------------------------------------------------------

NOT_SHARED = "mental-health"
NOT_SHARED_PROVIDER = "YX-HEALTH"


def _sensitive(name: str, label: str, label_en: str, masking: str, type: str = FieldType.TEXT) -> ItemInput:
    return ItemInput(name, label, type, label_en, "", Sensitivity.SENSITIVE_PERSONAL, Grade.IMPORTANT, Level.L4,
                     masking)


NOT_SHARED_METADATA = ResourceInput(
    name="严重精神障碍患者管理信息", kind=ResourceKind.DEPARTMENTAL, format=ResourceFormat.API, item_code="07",
    category_code="001", update_cycle=UpdateCycle.DAILY,
    summary="在册严重精神障碍患者的身份、诊断、危险性评估等级和随访管理情况。由市卫生健康委员会依严重精神障碍"
            "发病报告和社区随访管理维护，仅供精神卫生医疗机构和基层随访管理使用。",
    sharing_type=SharingType.NONE, opening_type=OpeningType.CLOSED,
    legal_basis="《中华人民共和国精神卫生法》第四条第三款：有关单位和个人应当对精神障碍患者的姓名、肖像、住址、"
                "工作单位、病历资料以及其他可能推断出其身份的信息予以保密；但是，依法履行职责需要公开的除外。"
                "需要核实患病情况的，由本人或监护人提供诊断证明。",
)
NOT_SHARED_SERVICE = ServiceInput(
    endpoint_url="https://wjw.yunxi.example.gov.cn/api/mental-health/v1/patients", http_method="POST",
    service_description="仅供本系统内精神卫生医疗机构和基层随访人员按患者公民身份号码查询随访管理信息，"
                        "不对其他部门提供。",
    items=[
        _sensitive("resident_id", "患者公民身份号码", "patient's resident ID number", "keep:6:4"),
        _sensitive("name", "患者姓名", "patient's name", "name"),
        _sensitive("diagnosis", "诊断", "diagnosis", "null"),
        _sensitive("risk_level", "危险性评估等级", "risk assessment level", "null", FieldType.ENUMERATION),
        _sensitive("management_status", "管理状态", "management status", "null", FieldType.ENUMERATION),
    ],
)

# --- the stories ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """The governance office's conformity check."""

    days_ago: int  # working days before the day of seeding
    at: str  # the time of day, HH:MM
    conforms: bool = True
    note: str = ""


@dataclass(frozen=True)
class Answer:
    """The provider's answer: a grant on these terms (fields None: as requested), or a refusal with reasons."""

    days_ago: int
    at: str
    grant: bool = True
    reasons: str = ""
    fields: tuple[str, ...] | None = None
    masking_level: str = MaskingLevel.MASKED
    field_rules: Mapping[str, str] = field(default_factory=dict)
    daily_quota: int | None = None
    rate_per_minute: int | None = None


@dataclass(frozen=True)
class Dispute:
    days_ago: int
    at: str
    grounds: str


@dataclass(frozen=True)
class Settle:
    days_ago: int
    at: str
    grant: bool
    settlement: str


@dataclass(frozen=True)
class Withdraw:
    days_ago: int
    at: str


@dataclass(frozen=True)
class Suspend:
    """The governance office suspends the grant, watching how it is used."""

    days_ago: int
    at: str
    reason: str


@dataclass(frozen=True)
class Revoke:
    """The provider revokes the grant."""

    days_ago: int
    at: str
    reason: str


Step = Check | Answer | Dispute | Settle | Withdraw | Suspend | Revoke


@dataclass(frozen=True)
class Story:
    consumer: str  # department code
    resource: str  # a base registry's code, a catalog demo API's key, or NOT_SHARED
    purpose: str
    scenario: str
    legal_basis: str
    fields: tuple[str, ...]
    expected_daily_calls: int
    days_ago: int  # when it was submitted, in working days before the day of seeding
    at: str
    steps: tuple[Step, ...] = ()
    row_filter: Mapping[str, Any] = field(default_factory=dict)


STORIES: tuple[Story, ...] = (
    Story(
        "YX-HRSS", base.PERSONS,
        purpose="社会保险参保登记和待遇领取资格认证中核验参保人身份，及时发现死亡、迁出人员并停发待遇，"
                "防止冒领社会保险基金。",
        scenario="社会保险经办管理信息系统在办理参保登记时按公民身份号码核验姓名、性别和出生日期；每月将"
                 "养老金领取人员与人口状态比对，死亡、迁出人员暂停发放并转人工复核。",
        legal_basis=f"《中华人民共和国社会保险法》第七十四条；《社会保险经办条例》；{LAW_DUTY}。",
        fields=("resident_id", "name", "gender", "birth_date", "household_division", "mobile_phone", "status"),
        expected_daily_calls=30000, days_ago=24, at="09:42",
        steps=(Check(23, "14:20", note="用途、依据明确，申请信息项与参保核验相符，符合条件共享要求，转市公安局答复。"),
               Answer(20, "16:05", fields=("resident_id", "name", "gender", "birth_date", "household_division",
                                           "status"),
                      # Verifying a name means comparing it whole; the resident ID stays masked (it is the key).
                      field_rules={"name": "none"}, daily_quota=50000, rate_per_minute=1200)),
    ),
    Story(
        "YX-MCA", base.PERSONS,
        purpose="最低生活保障和特困人员救助供养审核确认中核对申请家庭成员的户籍、人口状态、婚姻状况和居住地址，"
                "认定共同生活的家庭成员。",
        scenario="社会救助信息系统在受理低保、特困申请和年度复核时，按申请人及其家庭成员的公民身份号码逐人核对；"
                 "乡镇（街道）经办人员入户调查前查看核对结果。",
        legal_basis=f"《社会救助暂行办法》第十一条；《最低生活保障审核确认办法》；{LAW_DUTY}。",
        fields=("resident_id", "name", "gender", "birth_date", "household_division", "residence_address",
                "marital_status", "status"),
        expected_daily_calls=2000, days_ago=30, at="10:15",
        steps=(Check(29, "15:32", note="符合条件共享要求，转市公安局答复。"),
               Answer(26, "11:08", masking_level=MaskingLevel.CLEAR, daily_quota=20000, rate_per_minute=300),
               Suspend(2, "17:26", reason="共享监测发现该授权近三日在夜间（22时至次日6时）批量调用，日调用量超过"
                                         "申请时预计量的十倍，与救助审核的业务规律不符。暂停授权，请市民政局核查"
                                         "调用系统和账号、书面说明情况后申请恢复。")),
    ),
    Story(
        "YX-EDU", base.PERSONS,
        purpose="编制义务教育学校布局和学位供给规划，按乡镇（街道）和出生年份统计今后六年的适龄儿童人数。",
        scenario="教育事业统计与招生入学管理平台每学期批量读取一次，按户籍地和出生年份汇总；个人以假名标识，"
                 "只用于去重计数，不保存身份信息。",
        legal_basis=f"《中华人民共和国义务教育法》第十五条；{LAW_DUTY}。",
        fields=("resident_id", "gender", "birth_date", "household_division"),
        expected_daily_calls=200, days_ago=18, at="15:50",
        steps=(Check(17, "10:02", note="统计用途，申请以假名方式使用，符合最小必要原则，转市公安局答复。"),
               # Counting needs the birth year and the township, not who the child is.
               Answer(14, "09:37", masking_level=MaskingLevel.PSEUDONYMISED,
                      field_rules={"gender": "none", "birth_date": "date_year", "household_division": "none"},
                      daily_quota=5000, rate_per_minute=600)),
    ),
    Story(
        "YX-QL-GSC", base.PERSONS,
        purpose="青林县政务服务中心综合窗口受理户籍、社保、医保等事项时核验办事群众身份并预填申请表，"
                "群众不再重复提交身份材料。",
        scenario="一窗受理平台在窗口人员录入公民身份号码后调用一次，回填姓名、性别、出生日期、户籍地和现居住"
                 "地址；只读取本县户籍人口。",
        legal_basis=f"《国务院关于在线政务服务的若干规定》（国务院令第716号）；{LAW_DUTY}。",
        fields=("resident_id", "name", "gender", "birth_date", "household_division", "residence_address"),
        row_filter={"household_division": {"prefix": "532325"}},
        expected_daily_calls=800, days_ago=15, at="11:20",
        steps=(Check(14, "16:45", note="限本县户籍人口，符合条件共享要求，转市公安局答复。"),
               Answer(12, "10:30", daily_quota=3000, rate_per_minute=120)),
    ),
    Story(
        "YX-AGRI", base.LAND_PARCELS,
        purpose="耕地地力保护补贴发放前核对承包地的面积、用途和承包户，防止重复申报和虚报面积。",
        scenario="农村土地承包经营管理信息系统每年春耕前按宗地批量比对一次补贴申报面积；只读取土地承包经营权"
                 "和林地承包经营权宗地。",
        legal_basis=f"《中华人民共和国农村土地承包法》；《不动产登记暂行条例》第二十四条；{LAW_DUTY}。",
        fields=("parcel_code", "division_code", "land_use", "area", "right_type", "holder_name",
                "holder_resident_id", "registered_on"),
        row_filter={"right_type": {"in": ["land_contract", "forest_contract"]}},
        expected_daily_calls=5000, days_ago=22, at="09:05",
        steps=(Check(21, "11:40", note="限承包经营权宗地，符合条件共享要求，转市自然资源和规划局答复。"),
               Answer(17, "15:15", daily_quota=10000, rate_per_minute=600)),
    ),
    Story(
        "YX-BS-GOV", base.LAND_PARCELS,
        purpose="白沙县高标准农田建设项目选址和竣工验收中核查项目区宗地的用途、面积和权利类型。",
        scenario="乡村振兴项目管理平台在项目选址和竣工验收时按乡镇查询项目区宗地；只读取本县宗地，不读取权利人"
                 "信息。",
        legal_basis="《农田建设项目管理办法》（农业农村部令2019年第4号）；《不动产登记暂行条例》第二十四条。",
        fields=("parcel_code", "division_code", "land_use", "area", "right_type", "registered_on"),
        row_filter={"division_code": {"prefix": "532326"}},
        expected_daily_calls=300, days_ago=35, at="14:10",
        steps=(Check(34, "09:55", note="限本县宗地、不含个人信息，符合条件共享要求，转市自然资源和规划局答复。"),
               Answer(30, "16:20", daily_quota=1000),
               Revoke(4, "10:05", reason="高标准农田建设项目已通过竣工验收，申请用途已经完成。依最小必要原则收回"
                                        "授权；后续管护需要时请重新申请。")),
    ),
    Story(
        "YX-HUD", base.STANDARD_ADDRESSES,
        purpose="住房保障和商品房网签备案中统一使用标准地址，核验房屋坐落。",
        scenario="住房保障信息系统和网签备案系统在录入房屋坐落时按地址编码或街路巷查询标准地址并回填。",
        legal_basis=f"《地名管理条例》；{PROVINCIAL}。",
        fields=("address_code", "division_code", "road", "house_number", "building", "full_address", "postcode"),
        expected_daily_calls=3000, days_ago=12, at="10:48",
        steps=(Check(11, "14:03", note="无条件共享资源，用途明确，予以通过。"),),
    ),
    Story(
        "YX-HSA", base.PERSONS,
        purpose="城乡居民基本医疗保险参保登记和异地就医备案中核验参保人身份、户籍和人口状态。",
        scenario="医疗保障信息平台在参保登记、异地就医备案时按公民身份号码核验姓名、性别、出生日期、户籍地和"
                 "人口状态。",
        legal_basis=f"《中华人民共和国社会保险法》第二十五条；《医疗保障基金使用监督管理条例》；{LAW_DUTY}。",
        fields=("resident_id", "name", "gender", "birth_date", "household_division", "status"),
        expected_daily_calls=6000, days_ago=0, at="",
    ),
    Story(
        "YX-EDU", catalog_demo.SOCIAL_INSURANCE,
        purpose="随迁子女义务教育入学资格审核中核验父母在本市参加社会保险的情况，替代群众打印参保证明。",
        scenario="招生入学管理平台在家长网上报名后，按父母的公民身份号码核验参保状态和累计缴费月数；"
                 "报名期内逐人核验。",
        legal_basis=f"《中华人民共和国义务教育法》第十二条第二款；{LAW_DUTY}。",
        fields=("insurance_type", "insured_status", "first_paid_period", "last_paid_period", "paid_months"),
        expected_daily_calls=1500, days_ago=5, at="15:26",
        steps=(Check(4, "09:18", note="不含缴费基数，符合条件共享要求，转市人力资源和社会保障局答复。"),),
    ),
    Story(
        "YX-HUD", catalog_demo.MARRIAGE,
        purpose="公共租赁住房和保障性租赁住房申请审核中核验申请人婚姻状况，认定申请家庭成员。",
        scenario="住房保障信息系统受理配租申请时按申请人的公民身份号码和姓名核验婚姻登记状态，替代群众开具"
                 "婚姻状况证明。",
        legal_basis=f"《公共租赁住房管理办法》（住房和城乡建设部令第11号）；{LAW_DUTY}。",
        fields=("marital_status", "registered_on", "registration_authority", "spouse_name", "spouse_resident_id"),
        expected_daily_calls=400, days_ago=10, at="16:12",
        steps=(Check(9, "10:40", note="符合条件共享要求，转市民政局答复。"),),
    ),
    Story(
        "YX-COMM", base.PERSONS,
        purpose="为重点招商引资企业匹配用工需求，向企业推荐本市适龄劳动力。",
        scenario="招商引资服务平台按年龄、学历和居住地筛选人员，形成名单推送给有用工需求的企业。",
        legal_basis="《优化营商环境条例》。",
        fields=("name", "gender", "birth_date", "residence_address", "mobile_phone", "education"),
        expected_daily_calls=100, days_ago=16, at="09:30",
        steps=(Check(15, "15:05", note="形式要件齐备，转市公安局审核答复。"),
               Answer(12, "11:52", grant=False,
                      reasons=f"申请用途是向企业推荐人员，属于向第三方提供个人信息，既不是履行法定职责所必需，"
                              f"也没有取得个人同意，不符合{PIPL}第十三条、第三十四条的规定；申请的手机号码、"
                              "现居住地址等信息项也超出最小必要范围。企业用工对接请通过人力资源和社会保障部门的"
                              "公共就业服务平台，由求职者本人自愿登记。")),
    ),
    Story(
        "YX-FIN", base.PERSONS,
        purpose="惠民惠农财政补贴资金“一卡通”发放前核对补贴对象身份。",
        scenario="惠民惠农补贴一卡通发放系统在每批补贴发放前批量核对补贴对象。",
        legal_basis="《关于进一步加强惠民惠农财政补贴资金“一卡通”管理的指导意见》。",
        fields=("resident_id", "name", "residence_address", "mobile_phone", "marital_status"),
        expected_daily_calls=10000, days_ago=8, at="10:05",
        steps=(Check(7, "16:30", conforms=False,
                     note="补贴对象由各业务主管部门认定并提供名单，财政部门发放时核对姓名和公民身份号码即可；申请的"
                          "现居住地址、手机号码和婚姻状况与发放核对无关，不符合最小必要原则。请只申请公民身份号码、"
                          "姓名和人口状态后重新提交。"),),
    ),
    Story(
        "YX-EMB", base.PERSONS,
        purpose="自然灾害发生后核实受灾人员身份，组织转移安置并发放受灾人员生活救助。",
        scenario="自然灾害救助管理系统在灾情核查、转移安置和救助发放时，按乡镇批量读取受灾区域人口的联系方式和"
                 "居住地址。",
        legal_basis=f"《中华人民共和国突发事件应对法》；《自然灾害救助条例》；{PIPL}第十三条第一款第四项。",
        fields=("resident_id", "name", "household_division", "residence_address", "mobile_phone", "status"),
        expected_daily_calls=20000, days_ago=13, at="08:55",
        steps=(Check(12, "11:15", note="符合条件共享要求，转市公安局答复。"),
               Answer(9, "17:02", grant=False,
                      reasons="申请拟按乡镇批量读取全部人口的手机号码和现居住地址，范围明显超出受灾区域和受灾"
                              "人员，也未说明应急响应结束后的数据删除安排，不符合最小必要原则。"),
               Dispute(3, "09:40",
                       grounds="汛期转移安置须在数小时内联系到受灾区域的每一户，逐人申请无法满足应急时效；"
                               "《自然灾害救助条例》要求灾情发生后及时组织转移安置。本局同意将行范围限定于启动"
                               "应急响应的乡镇、仅在应急响应期间调用，并在响应结束后删除，请市数据资源管理局协调。")),
    ),
    Story(
        "YX-JUST", base.PERSONS,
        purpose="法律援助申请审查中核查申请人的身份、户籍和人口状态，认定经济困难状况。",
        scenario="法律援助管理系统受理线上申请和代为申请后，按申请人公民身份号码核验身份、户籍地和人口状态。",
        legal_basis=f"《中华人民共和国法律援助法》第四十一条；{LAW_DUTY}。",
        fields=("resident_id", "name", "household_division", "status"),
        expected_daily_calls=150, days_ago=26, at="14:35",
        steps=(Check(25, "10:20", note="符合条件共享要求，转市公安局答复。"),
               Answer(22, "15:48", grant=False, reasons="法律援助申请人可以现场出示居民身份证，无需通过共享核验身份。"),
               Dispute(20, "09:12",
                       grounds="《中华人民共和国法律援助法》第四十一条规定，法律援助机构核查申请人的经济困难状况，"
                               "可以通过信息共享查询。线上申请和代为申请时申请人无法出示证件，共享核验是法定方式；"
                               "申请的信息项已限于最小必要。"),
               Settle(16, "16:40", grant=True,
                      settlement="经审查，《中华人民共和国法律援助法》第四十一条明确法律援助机构可以通过信息共享"
                                 "查询核查申请人情况，申请用途合法，信息项符合最小必要原则。撤销提供部门的拒绝"
                                 "决定，按申请授权。")),
    ),
    Story(
        "YX-TRANS", base.PERSONS,
        purpose="网络预约出租汽车驾驶员证核发前核验申请人身份和户籍。",
        scenario="道路运输管理信息系统在受理网约车驾驶员证申请时按公民身份号码核验申请人身份。",
        legal_basis=f"《网络预约出租汽车经营服务管理暂行办法》；{LAW_DUTY}。",
        fields=("resident_id", "name", "gender", "birth_date", "household_division"),
        expected_daily_calls=60, days_ago=11, at="11:03",
        steps=(Check(10, "14:50", note="符合条件共享要求，转市公安局答复。"),
               Withdraw(6, "10:25")),
    ),
    Story(
        "YX-MCA", NOT_SHARED,
        purpose="落实严重精神障碍患者的最低生活保障和临时救助政策，核实救助申请人的患病和管理情况。",
        scenario="社会救助信息系统在审核申请人提交的患病证明时，核对其是否纳入严重精神障碍患者管理。",
        legal_basis=f"《社会救助暂行办法》；{LAW_DUTY}。",
        fields=("resident_id", "name", "management_status"),
        expected_daily_calls=50, days_ago=19, at="15:02",
    ),
)

# --- the consumers' systems -----------------------------------------------------------------------------------

# Each consuming department's system that calls the gateway, by department code.
CLIENT_NAMES: dict[str, str] = {
    "YX-HRSS": "社会保险经办管理信息系统",
    "YX-MCA": "社会救助信息系统",
    "YX-EDU": "教育事业统计与招生入学管理平台",
    "YX-QL-GSC": "青林县一窗受理平台",
    "YX-AGRI": "农村土地承包经营管理信息系统",
    "YX-BS-GOV": "白沙县乡村振兴项目管理平台",
    "YX-HUD": "住房保障信息系统",
    "YX-HSA": "医疗保障信息平台",
    "YX-COMM": "招商引资服务平台",
    "YX-FIN": "惠民惠农补贴一卡通发放系统",
    "YX-EMB": "自然灾害救助管理系统",
    "YX-JUST": "法律援助管理系统",
    "YX-TRANS": "道路运输管理信息系统",
}


@dataclass(frozen=True)
class Example:
    """A gateway call to print for one client, and what it shows."""

    consumer: str
    registry: str
    purpose: str
    expect: str
    search: Mapping[str, str] = field(default_factory=dict)  # a search by these filters, else a read by key
    resident_of: str = ""  # read the record of a resident of this county (else of the citizen persona)


EXAMPLES: tuple[Example, ...] = (
    Example("YX-HRSS", base.PERSONS, "养老保险待遇资格认证",
            "200: the record, name in full (the grant's rule), resident ID masked, no mobile phone"),
    Example("YX-QL-GSC", base.PERSONS, "窗口受理预填申请表", "200 inside the row scope (a resident of 青林县)",
            resident_of="532325"),
    Example("YX-EDU", base.PERSONS, "学位供需预测",
            "200: a pseudonym for the resident ID; birth year and township kept"),
    Example("YX-MCA", base.PERSONS, "低保家庭成员核对", "403 grant_suspended"),
    Example("YX-AGRI", base.LAND_PARCELS, "耕地地力保护补贴面积核对", "200: contracted parcels only, holders masked",
            search={"right_type": "land_contract", "page_size": "5"}),
    Example("YX-COMM", base.PERSONS, "企业用工对接", "403 no_grant: the request was refused"),
)

# --- seeding ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoClient:
    department: str
    department_name: str
    name: str
    credential: str


@dataclass(frozen=True)
class SharingSeedSummary:
    """What one seeding added (nothing on a second run), and the demo clients' credentials."""

    requests: int
    grants: int
    clients: int
    seconds: float
    demo_clients: tuple[DemoClient, ...]

    def describe(self) -> str:
        return (f"Sharing: {self.requests} sharing requests, {self.grants} grants and {self.clients} API clients "
                f"added in {self.seconds:.1f} s.")


def demo_credential(seed: int, department_code: str) -> tuple[str, str]:
    """The key id and secret of a department's demo client, derived from the seed like the staff's TOTP
    secrets, in the shapes `identity.actions.create_api_client` gives (16 hex digits; 43 URL-safe characters)."""
    def derive(label: str) -> bytes:
        return hmac.new(f"zhengtong-demo-{seed}".encode(), f"{label}:{department_code}".encode(),
                        hashlib.sha256).digest()

    key_id = derive("api-client-key").hex()[:16]
    secret = base64.urlsafe_b64encode(derive("api-client-secret")).decode().rstrip("=")
    return key_id, secret


def _seed_clients(seed: int) -> tuple[int, tuple[DemoClient, ...]]:
    departments = {d.code: d for d in Department.objects.filter(code__in=CLIENT_NAMES)}
    added = 0
    clients = []
    for code, name in CLIENT_NAMES.items():
        department = departments[code]
        key_id, secret = demo_credential(seed, code)
        client = ApiClient.objects.filter(department=department, name=name).first()
        if client is None:
            client = identity.create_api_client(None, department=department, name=name).client
            identity.mark_demo_api_client(client, key_id=key_id, secret=secret)
            added += 1
        elif client.key_id != key_id:
            continue  # made with another seed: its secret is not this seed's to print
        clients.append(DemoClient(code, department.name, name, f"{key_id}.{secret}"))
    return added, tuple(clients)


def demo_officer(department: str, role: str) -> User:
    """The first active officer of the role in the department, as the catalog's demo picks its officers."""
    officer = User.objects.filter(staff__department__code=department, groups__name=role, is_active=True
                                  ).order_by("username").first()
    if officer is None:
        raise User.DoesNotExist(f"{department} has no active {role} to act in the demo's sharing stories; "
                                "seed the demo city first")
    return officer


def _not_shared_resource() -> Resource:
    """The resource the catalog does not share, described and published by the platform once."""
    provider = Department.objects.get(code=NOT_SHARED_PROVIDER)
    resource = Resource.objects.filter(provider=provider, name=NOT_SHARED_METADATA.name, registry=None).first()
    if resource is not None:
        return resource
    data = dataclasses.replace(NOT_SHARED_METADATA, subcategory_code=provider.credit_code)
    created = catalog.create_api_resource(None, provider=provider, data=data, service=NOT_SHARED_SERVICE)
    return catalog.publish_resource(None, created)


def _resources() -> dict[str, Resource]:
    """Every resource the stories ask for, by registry code or catalog demo key."""
    found = {code: r for code in (base.PERSONS, base.LAND_PARCELS, base.STANDARD_ADDRESSES)
             if (r := Resource.objects.filter(registry__code=code, status=ResourceStatus.PUBLISHED).first())}
    for api in catalog_demo.API_RESOURCES:
        resource = Resource.objects.filter(provider__code=api.provider_code, name=api.metadata.name,
                                           status=ResourceStatus.PUBLISHED).first()
        if resource is not None:
            found[api.key] = resource
    missing = sorted({s.resource for s in STORIES if s.resource != NOT_SHARED} - set(found))
    if missing:
        raise Resource.DoesNotExist(f"the catalog has not published {', '.join(missing)}; seed the catalog first")
    found[NOT_SHARED] = _not_shared_resource()
    return found


class DemoClock:
    """The story's days: working days before the day of seeding, on the platform's calendar. Seeding on a rest
    day counts back from the last working day, so that a deadline a story puts on "the next working day" or
    "four working days ago" falls there whatever day the demo is seeded."""

    def __init__(self, today: dt.date, days: int):
        self.today = today
        self._working: list[dt.date] = []
        day = today
        while not calendar.is_working_day(day):
            day -= dt.timedelta(days=1)
        while len(self._working) < days:
            day -= dt.timedelta(days=1)
            if calendar.is_working_day(day):
                self._working.append(day)

    def day(self, days_ago: int) -> dt.date:
        return self.today if days_ago == 0 else self._working[days_ago - 1]

    def moment(self, days_ago: int, at: str) -> dt.datetime:
        hour, minute = (int(part) for part in at.split(":"))
        return timezone.make_aware(dt.datetime.combine(self.day(days_ago), dt.time(hour, minute)))

    def shifted(self, due: dt.date | None, step_day: dt.date) -> dt.date | None:
        """The deadline `due`, set by an action today, moved to count the same working days from `step_day`."""
        if due is None:
            return None
        return calendar.add_working_days(step_day, calendar.working_days_between(self.today, due).days).date


@dataclass
class _Dates:
    """When the story's steps happened, as restated after they ran."""

    request: dict[str, Any] = field(default_factory=dict)
    grant: dict[str, Any] = field(default_factory=dict)


def _run_story(story: Story, resource: Resource, clock: DemoClock) -> SharingRequest:
    consumer = demo_officer(story.consumer, roles.DATA_OFFICER)
    provider = resource.provider.code
    valid_from = clock.day(story.days_ago)
    terms = actions.Terms(fields=list(story.fields), row_filter=dict(story.row_filter), valid_from=valid_from,
                          valid_until=dt.date(valid_from.year + 1, 12, 31))
    request = actions.submit_request(consumer, actions.RequestInput(
        resource=resource, purpose=story.purpose, scenario=story.scenario, basis=Basis.LEGAL,
        legal_basis=story.legal_basis, expected_daily_calls=story.expected_daily_calls, terms=terms))
    dates = _Dates()
    if story.days_ago:
        dates.request["submitted_at"] = clock.moment(story.days_ago, story.at)
        dates.request["check_due"] = clock.shifted(request.check_due, valid_from)
    for step in story.steps:
        request = _run_step(step, request, terms, consumer, provider, clock, dates)
    _restate(request, dates)
    return request


def _run_step(step: Step, request: SharingRequest, terms: actions.Terms, consumer: User, provider: str,
              clock: DemoClock, dates: _Dates) -> SharingRequest:
    when, day = clock.moment(step.days_ago, step.at), clock.day(step.days_ago)
    governance = officer_of_office()
    granted_before = request.status == RequestStatus.GRANTED
    if isinstance(step, Check):
        request = actions.check_request(governance, request, conforms=step.conforms, note=step.note)
        dates.request.update(checked_at=when, answer_due=clock.shifted(request.answer_due, day))
    elif isinstance(step, Answer):
        answer_terms = actions.Terms(
            fields=list(step.fields or terms.fields), row_filter=dict(terms.row_filter), valid_from=terms.valid_from,
            valid_until=terms.valid_until, masking_level=step.masking_level, field_rules=dict(step.field_rules),
            daily_quota=step.daily_quota, rate_per_minute=step.rate_per_minute)
        request = actions.answer_request(demo_officer(provider, roles.DATA_OFFICER), request, grant=step.grant,
                                         reasons=step.reasons, terms=answer_terms if step.grant else None)
        dates.request["answered_at"] = when
    elif isinstance(step, Dispute):
        request = actions.dispute_refusal(consumer, request, grounds=step.grounds)
        dates.request.update(disputed_at=when, settle_due=clock.shifted(request.settle_due, day))
    elif isinstance(step, Settle):
        request = actions.settle_dispute(governance, request, grant=step.grant, settlement=step.settlement)
        dates.request["settled_at"] = when
    elif isinstance(step, Withdraw):
        request = actions.withdraw_request(consumer, request)
    elif isinstance(step, Suspend):
        actions.suspend_grant(governance, Grant.objects.get(request=request), reason=step.reason)
        dates.grant["updated_at"] = when
    else:
        actions.revoke_grant(demo_officer(provider, roles.DATA_OFFICER), Grant.objects.get(request=request),
                             reason=step.reason)
        dates.grant["updated_at"] = when
    if not granted_before and request.status == RequestStatus.GRANTED:
        dates.grant.update(created_at=when, updated_at=when)
    return request


def officer_of_office() -> User:
    office = Department.objects.filter(is_governance_office=True).order_by("code").first()
    if office is None:
        raise Department.DoesNotExist("the demo city has no data governance office; seed the demo city first")
    return demo_officer(office.code, roles.GOVERNANCE_OFFICER)


def _restate(request: SharingRequest, dates: _Dates) -> None:
    """Give the request and its grant the story's dates, and say so in the audit trail (see the module's
    docstring): the actions stamped the present, and their own audit entries keep it."""
    restated = {name: value for name, value in dates.request.items() if value is not None}
    if not restated:
        return
    SharingRequest.objects.filter(pk=request.pk).update(**restated)
    if dates.grant:
        Grant.objects.filter(request=request).update(**dates.grant)
    audit.record("exchange.demo_restate_dates", audit.SYSTEM, object_type="sharing_request",
                 object_id=request.number,
                 detail={"request": {name: value.isoformat() for name, value in restated.items()},
                         "grant": {name: value.isoformat() for name, value in dates.grant.items()}})


def seed_sharing(*, seed: int = DEFAULT_SEED) -> SharingSeedSummary:
    """Play every story whose request is not there yet, and give each consuming department its demo client.
    All of it or nothing. Needs the demo city, its base registries and its catalog."""
    started = time.monotonic()
    with transaction.atomic():
        resources = _resources()
        clock = DemoClock(timezone.localdate(), max(day for story in STORIES
                                                 for day in (story.days_ago, *(s.days_ago for s in story.steps))))
        grants_before = Grant.objects.count()
        played = 0
        for story in STORIES:
            resource = resources[story.resource]
            if SharingRequest.objects.filter(consumer__code=story.consumer, resource=resource,
                                             purpose=story.purpose).exists():
                continue
            _run_story(story, resource, clock)
            played += 1
        clients_added, clients = _seed_clients(seed)
        grants = Grant.objects.count() - grants_before
    return SharingSeedSummary(played, grants, clients_added, time.monotonic() - started, clients)


# --- what `zhengtong demo` prints -------------------------------------------------------------------------------


def _resident_for(example: Example) -> str | None:
    """A resident ID to put in an example call: the citizen persona's, or the first of a county's residents.
    Taken from identity's citizens, which the persons registry mirrors, never from registry records."""
    citizens = Citizen.objects.order_by("resident_id")
    if example.resident_of:
        citizen = citizens.filter(division__code__startswith=example.resident_of).first()
    else:
        citizen = citizens.filter(user__username="citizen").first() or citizens.first()
    return citizen.resident_id if citizen is not None else None


def example_calls(summary: SharingSeedSummary, base_url: str) -> list[tuple[Example, str]]:
    """(example, curl command line) for each example whose client and record are there."""
    credentials = {client.department: client.credential for client in summary.demo_clients}
    calls = []
    for example in EXAMPLES:
        credential = credentials.get(example.consumer)
        if credential is None:
            continue
        registry = quote(example.registry, safe="")
        if example.search:
            path = f"/api/v1/gateway/registries/{registry}/records"
            query = {"purpose": example.purpose, **example.search}
        else:
            resident = _resident_for(example)
            if resident is None:
                continue
            path = f"/api/v1/gateway/registries/{registry}/records/{quote(resident, safe='')}"
            query = {"purpose": example.purpose}
        url = f"{base_url.rstrip('/')}{path}?{urlencode(query)}"
        calls.append((example, f"curl -s -H {shlex.quote(f'Authorization: Bearer {credential}')} "
                               f"{shlex.quote(url)}"))
    return calls


def clients_text(summary: SharingSeedSummary, base_url: str) -> str:
    """The demo clients' credentials and ready-to-run gateway calls, for the end of `zhengtong demo`."""
    lines = ["Demo API clients 演示接口调用方 (credentials for the demo only):"]
    width = max((len(c.department) for c in summary.demo_clients), default=0)
    for client in summary.demo_clients:
        lines.append(f"  {client.department.ljust(width)}  {client.credential}  {client.department_name}"
                     f" {client.name}")
    calls = example_calls(summary, base_url)
    if calls:
        lines.append("")
        lines.append("Gateway calls to try 网关调用示例:")
    for example, command in calls:
        lines.append(f"  # {example.consumer}: {example.expect}")
        lines.append(f"  {command}")
    return "\n".join(lines)
