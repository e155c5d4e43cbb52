"""The synthetic demo city 云溪市 (Yunxi): divisions, departments, staff, citizens and businesses.

Everything is generated from one seed (`random.Random(seed)` and Faker zh_CN seeded with it), so the same seed
always gives the same city, and every write goes through `zhengtong.identity.actions` with `actor=None` (the
platform acting at the shell). Seeding again adds nothing twice: each row is looked up by its natural key
(division code, department code, user name, resident ID, credit code) and skipped when it exists.

The names of the city, its districts and townships are invented. The county-level codes are real ones (楚雄,
532322–532327, unchanged from 1940 to 2010) only because a resident ID is valid only when its first six digits
name a county that existed in the holder's birth year; nothing else about those places is used.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from faker import Faker
from stdnum.cn import ric, uscc
from tqdm import tqdm

from zhengtong.identity import actions, roles
from zhengtong.identity.models import (
    Citizen,
    DataScope,
    Department,
    Division,
    DivisionLevel,
    User,
)

DEMO_PASSWORD = "Yunxi#2026"
DEFAULT_SEED = 2026
CITIZEN_BATCH = 2000
BUSINESS_BATCH = 1000

PROVINCE = ("530000", "云岭省", "Yunling Province")
CITY = ("532300", "云溪市", "Yunxi City")
CITY_PREFIX = "YX"


@dataclass(frozen=True)
class DistrictSpec:
    code: str  # a real county code (valid in resident IDs for births 1940–2010); the name is invented
    key: str  # used in department codes: YX-<key>-GOV
    name: str
    name_en: str
    head_title: str  # 区长 or 县长


DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec("532322", "XC", "溪城区", "Xicheng District", "区长"),
    DistrictSpec("532323", "DH", "东湖区", "Donghu District", "区长"),
    DistrictSpec("532324", "NP", "南屏区", "Nanping District", "区长"),
    DistrictSpec("532325", "QL", "青林县", "Qinglin County", "县长"),
    DistrictSpec("532326", "BS", "白沙县", "Baisha County", "县长"),
    DistrictSpec("532327", "BC", "碧川县", "Bichuan County", "县长"),
)

# Township names are drawn from these syllables (with their pinyin for the English names).
_PLACE_FIRST = (
    ("桃", "Tao"), ("柳", "Liu"), ("松", "Song"), ("梅", "Mei"), ("竹", "Zhu"), ("石", "Shi"), ("龙", "Long"),
    ("凤", "Feng"), ("金", "Jin"), ("银", "Yin"), ("清", "Qing"), ("泉", "Quan"), ("花", "Hua"), ("平", "Ping"),
    ("和", "He"), ("兴", "Xing"), ("福", "Fu"), ("鹤", "He"), ("枫", "Feng"), ("杏", "Xing"), ("茶", "Cha"),
    ("雾", "Wu"), ("翠", "Cui"), ("丰", "Feng"), ("永", "Yong"), ("新", "Xin"), ("马", "Ma"), ("黄", "Huang"),
)
_PLACE_SECOND = (
    ("溪", "xi"), ("坪", "ping"), ("湾", "wan"), ("塘", "tang"), ("岭", "ling"), ("桥", "qiao"), ("源", "yuan"),
    ("坝", "ba"), ("口", "kou"), ("冲", "chong"), ("山", "shan"), ("河", "he"), ("林", "lin"), ("田", "tian"),
    ("阳", "yang"), ("谷", "gu"), ("峰", "feng"), ("洲", "zhou"),
)
# (code suffix, Chinese suffix, English suffix) of each county's townships: 街道 001–, 镇 101–, 乡 201–.
_TOWNSHIP_KINDS = (
    ("001", "街道", "Subdistrict"), ("002", "街道", "Subdistrict"), ("101", "镇", "Town"),
    ("102", "镇", "Town"), ("103", "镇", "Town"), ("201", "乡", "Township"),
)


@dataclass(frozen=True)
class DepartmentSpec:
    key: str
    name: str
    name_en: str
    functions: str
    parent: str | None = "GOV"  # key of the parent department at the same level
    approvers: int = 0
    window_staff: int = 0
    is_governance_office: bool = False


CITY_DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("GOV", "云溪市人民政府", "Yunxi Municipal People's Government",
                   "全市行政工作的领导机关，执行市人民代表大会的决议，统筹全市经济社会发展和政务服务。", parent=None),
    DepartmentSpec("PSB", "云溪市公安局", "Yunxi Public Security Bureau",
                   "负责全市户籍与居民身份证管理、出入境、交通管理和社会治安。", approvers=3),
    DepartmentSpec("MCA", "云溪市民政局", "Yunxi Civil Affairs Bureau",
                   "负责婚姻登记、社会救助、养老服务、社会组织登记和殡葬管理。", approvers=2),
    DepartmentSpec("HRSS", "云溪市人力资源和社会保障局", "Yunxi Human Resources and Social Security Bureau",
                   "负责就业创业、社会保险、人才服务和劳动关系，办理社保参保和待遇核定。", approvers=2),
    DepartmentSpec("HEALTH", "云溪市卫生健康委员会", "Yunxi Health Commission",
                   "负责医疗卫生服务体系、出生医学证明、医师和医疗机构执业许可、疾病预防控制。", approvers=2),
    DepartmentSpec("AMR", "云溪市市场监督管理局", "Yunxi Administration for Market Regulation",
                   "负责市场主体登记注册、食品药品安全监管、质量和计量监督、知识产权保护。", approvers=3),
    DepartmentSpec("NRP", "云溪市自然资源和规划局", "Yunxi Natural Resources and Planning Bureau",
                   "负责国土空间规划、不动产登记、土地供应和自然资源确权。", approvers=2),
    DepartmentSpec("HUD", "云溪市住房和城乡建设局", "Yunxi Housing and Urban-Rural Development Bureau",
                   "负责建设工程许可、住房保障、房地产市场监管和城乡建设。", approvers=2),
    DepartmentSpec("TRANS", "云溪市交通运输局", "Yunxi Transport Bureau",
                   "负责道路运输经营许可、公共交通、交通基础设施建设和养护。", approvers=2),
    DepartmentSpec("EDU", "云溪市教育局", "Yunxi Education Bureau",
                   "负责学前和义务教育入学、学籍管理、教师资格认定和办学许可。", approvers=2),
    DepartmentSpec("FIN", "云溪市财政局", "Yunxi Finance Bureau",
                   "负责财政预算编制与执行、政府采购、国有资产和非税收入管理。"),
    DepartmentSpec("JUST", "云溪市司法局", "Yunxi Justice Bureau",
                   "负责公共法律服务、法律援助、公证和人民调解，审核行政规范性文件。", approvers=2),
    DepartmentSpec("EEB", "云溪市生态环境局", "Yunxi Ecology and Environment Bureau",
                   "负责环境影响评价审批、排污许可、生态环境监测和执法。", approvers=2),
    DepartmentSpec("EMB", "云溪市应急管理局", "Yunxi Emergency Management Bureau",
                   "负责应急预案、安全生产监管、危险化学品经营许可和防灾减灾救灾。"),
    DepartmentSpec("HSA", "云溪市医疗保障局", "Yunxi Healthcare Security Bureau",
                   "负责医疗保险参保和待遇、异地就医备案、医药价格和医保基金监管。", approvers=2),
    DepartmentSpec("STATS", "云溪市统计局", "Yunxi Statistics Bureau",
                   "负责统计调查、人口和经济普查，发布全市统计数据。"),
    DepartmentSpec("AUDIT", "云溪市审计局", "Yunxi Audit Bureau",
                   "依法审计财政收支、政府投资项目和领导干部经济责任，监督信息系统和数据使用。"),
    DepartmentSpec("AGRI", "云溪市农业农村局", "Yunxi Agriculture and Rural Affairs Bureau",
                   "负责农村土地承包、农业生产经营许可、乡村振兴和农产品质量安全。", approvers=2),
    DepartmentSpec("COMM", "云溪市商务局", "Yunxi Commerce Bureau",
                   "负责内外贸易、招商引资、对外贸易经营者备案和市场运行监测。", approvers=2),
    DepartmentSpec("GSO", "云溪市政务服务管理办公室", "Yunxi Government Services Administration Office",
                   "统筹全市政务服务和一网通办，管理政务服务事项清单、政务服务中心和便民热线。"),
    DepartmentSpec("GSC", "云溪市政务服务中心", "Yunxi Government Services Centre",
                   "集中受理市级政务服务事项，提供一窗受理、帮办代办和好差评服务。", parent="GSO",
                   approvers=2, window_staff=8),
    DepartmentSpec("12345", "云溪市12345政务服务便民热线中心", "Yunxi 12345 Government Service Hotline Centre",
                   "受理群众和企业诉求，派单、督办、回访，实行接诉即办。", parent="GSO"),
    DepartmentSpec("DATA", "云溪市数据资源管理局", "Yunxi Data Resources Administration",
                   "负责政务数据资源目录、数据共享开放和数据治理，统筹数据安全。", is_governance_office=True),
    DepartmentSpec("CDI", "中共云溪市纪律检查委员会 云溪市监察委员会",
                   "Yunxi Commission for Discipline Inspection and Supervision",
                   "监督执纪问责和监督调查处置，检查公职人员依法履职和数据使用情况。", parent=None),
)

DISTRICT_DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("GOV", "{d}人民政府", "{e} People's Government",
                   "{d}行政工作的领导机关，统筹本辖区经济社会发展、基层治理和政务服务。", parent=None),
    DepartmentSpec("GSC", "{d}政务服务中心", "{e} Government Services Centre",
                   "集中受理{d}政务服务事项，指导乡镇（街道）便民服务中心，提供帮办代办。",
                   approvers=2, window_staff=8),
    DepartmentSpec("AMR", "{d}市场监督管理局", "{e} Administration for Market Regulation",
                   "负责{d}市场主体登记、个体工商户注册、食品经营许可和市场监管执法。", approvers=1),
)

# Posts (职务) for each role.
_TITLES = {
    roles.WINDOW_STAFF: "综合窗口受理员",
    roles.APPROVER: "审批科科员",
    roles.DATA_OFFICER: "部门数据专员",
    roles.GOVERNANCE_OFFICER: "数据治理科科员",
    roles.AUDITOR: "审计员",
    roles.PLATFORM_ADMIN: "平台管理员",
}
_DATA_SCOPES = {
    roles.WINDOW_STAFF: DataScope.DIVISION,
    roles.APPROVER: DataScope.DEPARTMENT,
    roles.DATA_OFFICER: DataScope.DEPARTMENT,
    roles.GOVERNANCE_OFFICER: DataScope.ALL,
    roles.AUDITOR: DataScope.ALL,
    roles.LEADER: DataScope.DEPARTMENT_TREE,
    roles.PLATFORM_ADMIN: DataScope.ALL,
}
_USERNAME_ROLE = {
    roles.WINDOW_STAFF: "window",
    roles.APPROVER: "approver",
    roles.DATA_OFFICER: "data",
    roles.GOVERNANCE_OFFICER: "governance",
    roles.AUDITOR: "auditor",
    roles.LEADER: "leader",
    roles.PLATFORM_ADMIN: "admin",
}
TRAINING_COURSE = "数据安全与个人信息保护培训"


@dataclass(frozen=True)
class PersonaSpec:
    persona: str  # a role code, or "citizen"
    label: str
    username: str
    department_key: str | None  # full department code, e.g. "YX-GSC"


PERSONAS: tuple[PersonaSpec, ...] = (
    PersonaSpec("citizen", "办事群众 citizen", "citizen", None),
    PersonaSpec(roles.WINDOW_STAFF, "窗口人员 window staff", "window", "YX-GSC"),
    PersonaSpec(roles.APPROVER, "审批人员 approver", "approver", "YX-AMR"),
    PersonaSpec(roles.DATA_OFFICER, "部门数据专员 data officer", "dataofficer", "YX-PSB"),
    PersonaSpec(roles.GOVERNANCE_OFFICER, "数据治理 governance officer", "governance", "YX-DATA"),
    PersonaSpec(roles.AUDITOR, "审计纪检 auditor", "auditor", "YX-AUDIT"),
    PersonaSpec(roles.LEADER, "领导 leader", "leader", "YX-GOV"),
    PersonaSpec(roles.PLATFORM_ADMIN, "平台管理员 platform admin", "admin", "YX-DATA"),
)


# --- identity numbers ------------------------------------------------------------------------------------

_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# Characters allowed in an organisation code that also fit a unified social credit code (no I, O, S, V, Z).
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def organisation_check_digit(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    total = sum(int(char, 36) * weight for char, weight in zip(body, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code(prefix: str, division_code: str, organisation_body: str) -> str:
    """A unified social credit code: registration authority and type, division, organisation code, check."""
    body = prefix + division_code + organisation_body + organisation_check_digit(organisation_body)
    return body + uscc.calc_check_digit(body)


def resident_id(county_code: str, birth_date: datetime.date, order: int) -> str:
    """A resident ID number; `order` (1–999) is odd for men, even for women."""
    body = f"{county_code}{birth_date:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def totp_secret_for(seed: int, username: str) -> str:
    """The demo account's TOTP secret (base32): derived from the seed, so a re-seeded city keeps its codes."""
    digest = hmac.new(f"zhengtong-demo-{seed}".encode(), username.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


# --- the plan: the whole city, computed from the seed without touching the database ----------------------


@dataclass(frozen=True)
class DivisionPlan:
    code: str
    name: str
    name_en: str
    level: int
    parent_code: str | None


@dataclass(frozen=True)
class DepartmentPlan:
    code: str
    name: str
    name_en: str
    division_code: str
    parent_code: str | None
    functions: str
    credit_code: str
    is_governance_office: bool = False


@dataclass(frozen=True)
class StaffPlan:
    username: str
    full_name: str
    department_code: str
    employee_number: str
    role: str
    data_scope: str
    title: str
    trained_days_ago: int | None  # a data-protection training this many days before seeding, or none


@dataclass
class DemoPlan:
    seed: int
    divisions: list[DivisionPlan] = field(default_factory=list)
    departments: list[DepartmentPlan] = field(default_factory=list)
    staff: list[StaffPlan] = field(default_factory=list)
    citizens: list[actions.CitizenInput] = field(default_factory=list)
    businesses: list[actions.BusinessInput] = field(default_factory=list)

    @property
    def townships(self) -> list[DivisionPlan]:
        return [d for d in self.divisions if d.level == DivisionLevel.TOWNSHIP]


def _place_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    # One name per pinyin spelling, so English names do not repeat either (和/鹤 are both "He").
    by_pinyin = {pa + pb: a + b for a, pa in _PLACE_FIRST for b, pb in _PLACE_SECOND}
    return [(name, pinyin) for pinyin, name in rng.sample(sorted(by_pinyin.items()), count)]


def _plan_divisions(plan: DemoPlan, rng: random.Random) -> None:
    province_code, province_name, province_en = PROVINCE
    city_code, city_name, city_en = CITY
    plan.divisions.append(DivisionPlan(province_code, province_name, province_en, DivisionLevel.PROVINCE, None))
    plan.divisions.append(DivisionPlan(city_code, city_name, city_en, DivisionLevel.CITY, province_code))
    names = iter(_place_names(rng, len(DISTRICTS) * (len(_TOWNSHIP_KINDS) + 4)))
    for district in DISTRICTS:
        plan.divisions.append(DivisionPlan(district.code, district.name, district.name_en, DivisionLevel.COUNTY,
                                           city_code))
        for suffix, kind, kind_en in _TOWNSHIP_KINDS:
            name, name_en = next(names)
            township = DivisionPlan(district.code + suffix, name + kind, f"{name_en} {kind_en}",
                                    DivisionLevel.TOWNSHIP, district.code)
            plan.divisions.append(township)
            # Two residents' communities (社区, 0xx) in the first subdistrict, two villages (村, 2xx) in the
            # first town.
            if suffix in ("001", "101"):
                village_kind, village_en, first = (
                    ("社区", "Community", 1) if suffix == "001" else ("村", "Village", 201))
                for offset in range(2):
                    village_name, village_name_en = next(names)
                    plan.divisions.append(DivisionPlan(
                        f"{township.code}{first + offset:03d}", village_name + village_kind,
                        f"{village_name_en} {village_en}", DivisionLevel.VILLAGE, township.code))


def _plan_departments(plan: DemoPlan, rng: random.Random) -> None:
    used: set[str] = set()

    def organisation_body() -> str:
        while True:
            body = f"{rng.randrange(10_000_000, 100_000_000):08d}"
            if body not in used:
                used.add(body)
                return body

    city_code = CITY[0]
    for spec in CITY_DEPARTMENTS:
        plan.departments.append(DepartmentPlan(
            code=f"{CITY_PREFIX}-{spec.key}", name=spec.name, name_en=spec.name_en, division_code=city_code,
            parent_code=f"{CITY_PREFIX}-{spec.parent}" if spec.parent else None, functions=spec.functions,
            credit_code=credit_code("11", city_code, organisation_body()),
            is_governance_office=spec.is_governance_office,
        ))
    for district in DISTRICTS:
        for spec in DISTRICT_DEPARTMENTS:
            parent = (f"{CITY_PREFIX}-{district.key}-{spec.parent}" if spec.parent
                      else f"{CITY_PREFIX}-GOV")
            plan.departments.append(DepartmentPlan(
                code=f"{CITY_PREFIX}-{district.key}-{spec.key}",
                name=spec.name.format(d=district.name), name_en=spec.name_en.format(e=district.name_en),
                division_code=district.code, parent_code=parent,
                functions=spec.functions.format(d=district.name),
                credit_code=credit_code("11", district.code, organisation_body()),
            ))


def _plan_staff(plan: DemoPlan, rng: random.Random, fake: Faker) -> None:
    specs = {f"{CITY_PREFIX}-{s.key}": s for s in CITY_DEPARTMENTS}
    for district in DISTRICTS:
        specs.update({f"{CITY_PREFIX}-{district.key}-{s.key}": s for s in DISTRICT_DEPARTMENTS})
    # (department code, role, how many, post)
    posts: list[tuple[str, str, int, str]] = []
    for department in plan.departments:
        spec = specs[department.code]
        posts.append((department.code, roles.DATA_OFFICER, 1, _TITLES[roles.DATA_OFFICER]))
        if spec.window_staff:
            posts.append((department.code, roles.WINDOW_STAFF, spec.window_staff, _TITLES[roles.WINDOW_STAFF]))
        if spec.approvers:
            posts.append((department.code, roles.APPROVER, spec.approvers, _TITLES[roles.APPROVER]))
    posts += [
        ("YX-DATA", roles.GOVERNANCE_OFFICER, 5, _TITLES[roles.GOVERNANCE_OFFICER]),
        ("YX-AUDIT", roles.AUDITOR, 4, "审计员"),
        ("YX-CDI", roles.AUDITOR, 3, "纪检监察员"),
        ("YX-GOV", roles.LEADER, 1, "市长"),
        ("YX-GOV", roles.LEADER, 1, "常务副市长"),
        ("YX-GOV", roles.LEADER, 1, "副市长"),
        *((f"{CITY_PREFIX}-{d.key}-GOV", roles.LEADER, 1, d.head_title) for d in DISTRICTS),
        ("YX-DATA", roles.PLATFORM_ADMIN, 1, _TITLES[roles.PLATFORM_ADMIN]),
    ]
    personas = {(p.department_key, p.persona): p.username for p in PERSONAS if p.department_key}
    counters: dict[tuple[str, str], int] = {}
    for department_code, role, count, title in posts:
        for _index in range(count):
            key = (department_code, role)
            counters[key] = counters.get(key, 0) + 1
            username = personas.pop(key, None) or (
                f"{department_code.lower()}.{_USERNAME_ROLE[role]}{counters[key]:02d}")
            if role in (roles.APPROVER, roles.DATA_OFFICER, roles.GOVERNANCE_OFFICER, roles.AUDITOR):
                trained: int | None = rng.randrange(7, 330)
            elif role == roles.WINDOW_STAFF:
                # Some window staff trained more than a year ago: their training has lapsed.
                trained = rng.randrange(30, 600)
            else:
                trained = None
            plan.staff.append(StaffPlan(
                username=username, full_name=fake.name(), department_code=department_code,
                employee_number=f"YXD{len(plan.staff) + 1:04d}", role=role, data_scope=_DATA_SCOPES[role],
                title=title, trained_days_ago=trained,
            ))
    assert not personas, f"personas without a post: {personas}"


_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "177", "180", "181", "182", "183", "186", "187", "188", "189", "191", "198",
)
_BIRTH_FIRST = datetime.date(1940, 1, 1)
_BIRTH_DAYS = (datetime.date(2008, 12, 31) - _BIRTH_FIRST).days + 1


def _plan_citizens(plan: DemoPlan, rng: random.Random, fake: Faker, count: int) -> None:
    townships_by_county: dict[str, list[str]] = {}
    for township in plan.townships:
        townships_by_county.setdefault(township.code[:6], []).append(township.code)
    counties = [d.code for d in DISTRICTS]
    seen: set[str] = set()
    while len(plan.citizens) < count:
        male = rng.random() < 0.5
        birth_county = rng.choice(counties)
        born = _BIRTH_FIRST + datetime.timedelta(days=rng.randrange(_BIRTH_DAYS))
        order = rng.randrange(1, 1000, 2) if male else rng.randrange(2, 1000, 2)
        number = resident_id(birth_county, born, order)
        # Most people live in the county they were born in.
        home_county = birth_county if rng.random() < 0.7 else rng.choice(counties)
        home = rng.choice(townships_by_county[home_county])
        phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        name = fake.name_male() if male else fake.name_female()
        if number in seen:
            continue
        seen.add(number)
        plan.citizens.append(actions.CitizenInput(name=name, resident_id=number, phone=phone, division_code=home))


_INDUSTRIES = (
    "农业科技", "食品", "茶业", "商贸", "物流", "餐饮管理", "文化传媒", "信息技术", "医药", "旅游开发", "电子商务",
    "机械制造", "生物科技", "新能源", "环保科技", "家政服务", "教育咨询", "装饰工程", "建筑工程", "汽车服务",
    "农产品加工", "中药材种植", "建材", "印务", "酒店管理", "物业服务",
)
_BUSINESS_FORMS = ("有限公司",) * 6 + ("有限责任公司",) * 3 + ("股份有限公司",)


def _plan_businesses(plan: DemoPlan, rng: random.Random, fake: Faker, count: int) -> None:
    if count and not plan.citizens:
        raise ValueError("businesses need at least one citizen to be their legal representative")
    townships = plan.townships
    used_bodies: set[str] = set()
    used_names: set[str] = set()
    while len(plan.businesses) < count:
        body = "MA" + "".join(rng.choice(_ORG_ALPHABET) for _ in range(6))
        township = rng.choice(townships)
        district = next(d for d in DISTRICTS if d.code == township.code[:6])
        place = CITY[1][:2] if rng.random() < 0.7 else district.name[:2]
        name = f"{place}{fake.company_prefix()}{rng.choice(_INDUSTRIES)}{rng.choice(_BUSINESS_FORMS)}"
        # The first business belongs to the citizen persona, so their portal shows one.
        representative = plan.citizens[0] if not plan.businesses else rng.choice(plan.citizens)
        if body in used_bodies or name in used_names:
            continue
        used_bodies.add(body)
        used_names.add(name)
        plan.businesses.append(actions.BusinessInput(
            name=name, credit_code=credit_code("91", district.code, body),
            legal_representative_id=representative.resident_id, division_code=township.code,
        ))


def plan_demo_city(*, citizens: int = 20000, businesses: int = 3000, seed: int = DEFAULT_SEED) -> DemoPlan:
    """The demo city for this seed, in memory. The same seed gives the same plan; the counts only decide how
    many citizens and businesses are drawn after everything else, so the first ones do not depend on them."""
    if citizens < 0 or businesses < 0:
        raise ValueError("citizens and businesses must not be negative")
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    plan = DemoPlan(seed=seed)
    _plan_divisions(plan, rng)
    _plan_departments(plan, rng)
    _plan_staff(plan, rng, fake)
    _plan_citizens(plan, rng, fake, citizens)
    _plan_businesses(plan, rng, fake, businesses)
    return plan


# --- seeding ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    persona: str
    label: str
    username: str
    department: str
    second_factor: str  # how to get the code, or "" when the persona has none


@dataclass(frozen=True)
class DemoSummary:
    """What one seeding added (zero everywhere on a re-run) and the persona logins."""

    seed: int
    divisions: int
    departments: int
    staff: int
    citizens: int
    businesses: int
    accounts: int  # citizens' logins
    password: str
    logins: tuple[DemoLogin, ...]
    seconds: float


@contextmanager
def _bar(progress: bool, total: int, desc: str, unit: str) -> Iterator[Any]:
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not progress, file=sys.stderr, leave=True,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _batches(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _seed_divisions(plan: DemoPlan) -> int:
    existing = set(Division.objects.filter(code__in=[d.code for d in plan.divisions])
                   .values_list("code", flat=True))
    made: dict[str, Division] = {}
    added = 0
    for item in plan.divisions:
        parent = None
        if item.parent_code:
            parent = made.get(item.parent_code) or Division.objects.get(code=item.parent_code)
        made[item.code] = actions.create_division(None, code=item.code, name=item.name, level=item.level,
                                                  parent=parent, name_en=item.name_en)
        added += item.code not in existing
    return added


def _seed_departments(plan: DemoPlan) -> int:
    known = {d.code: d for d in Department.objects.filter(code__in=[d.code for d in plan.departments])}
    divisions = {d.code: d for d in Division.objects.filter(code__in={d.division_code for d in plan.departments})}
    added = 0
    for item in plan.departments:
        if item.code in known:
            continue
        known[item.code] = actions.create_department(
            None, code=item.code, name=item.name, name_en=item.name_en, division=divisions[item.division_code],
            parent=known[item.parent_code] if item.parent_code else None, functions=item.functions,
            credit_code=item.credit_code, is_governance_office=item.is_governance_office,
        )
        added += 1
    return added


@functools.cache
def _demo_password_hash(hashers: tuple[str, ...]) -> str:
    """The demo password hashed once per process (for the configured hashers): Argon2 for each of 170 accounts
    would take a minute."""
    return make_password(DEMO_PASSWORD)


def _seed_staff(plan: DemoPlan, progress: bool) -> int:
    actions.ensure_roles()
    existing = set(User.objects.filter(username__in=[s.username for s in plan.staff])
                   .values_list("username", flat=True))
    departments = {d.code: d for d in Department.objects.filter(code__in={s.department_code for s in plan.staff})}
    password_hash = _demo_password_hash(tuple(settings.PASSWORD_HASHERS))
    today = timezone.localdate()
    added = 0
    with _bar(progress, len(plan.staff), "staff", "person") as bar:
        for item in plan.staff:
            if item.username not in existing:
                user = actions.create_staff(
                    None, username=item.username, full_name=item.full_name,
                    department=departments[item.department_code], employee_number=item.employee_number,
                    password=None, password_hash=password_hash, data_scope=item.data_scope, title=item.title,
                    is_superuser=item.role == roles.PLATFORM_ADMIN,
                )
                if item.trained_days_ago is not None:
                    completed = today - datetime.timedelta(days=item.trained_days_ago)
                    actions.record_training(None, user.staff, course=TRAINING_COURSE, completed_on=completed,
                                            certificate_number=f"YXPX-{completed:%Y}-{item.employee_number}")
                actions.set_roles(None, user, [item.role])
                actions.mark_demo_account(user, totp_secret=totp_secret_for(plan.seed, item.username))
                added += 1
            bar.update(1)
    return added


def _seed_citizens(plan: DemoPlan, progress: bool) -> int:
    added = 0
    with _bar(progress, len(plan.citizens), "citizens", "person") as bar:
        for batch in _batches(plan.citizens, CITIZEN_BATCH):
            added += actions.register_citizens(None, batch)
            bar.update(len(batch))
    return added


def _seed_businesses(plan: DemoPlan, progress: bool) -> int:
    added = 0
    with _bar(progress, len(plan.businesses), "businesses", "business") as bar:
        for batch in _batches(plan.businesses, BUSINESS_BATCH):
            added += actions.register_businesses(None, batch)
            bar.update(len(batch))
    return added


def _seed_citizen_persona(plan: DemoPlan) -> int:
    if not plan.citizens or User.objects.filter(username="citizen").exists():
        return 0
    citizen = Citizen.objects.get(resident_id=plan.citizens[0].resident_id)
    if citizen.user_id is not None:
        return 0
    user = actions.create_citizen_account(None, citizen, username="citizen", password=DEMO_PASSWORD)
    actions.mark_demo_account(user, totp_secret=None)
    return 1


def _logins(plan: DemoPlan) -> tuple[DemoLogin, ...]:
    names = {d.code: d.name for d in plan.departments}
    logins = []
    for persona in PERSONAS:
        if persona.department_key is None and not plan.citizens:
            continue
        logins.append(DemoLogin(
            persona=persona.persona, label=persona.label, username=persona.username,
            department=names[persona.department_key] if persona.department_key else "",
            second_factor=f"zhengtong totp {persona.username}" if persona.department_key else "",
        ))
    return tuple(logins)


def seed_demo_city(*, citizens: int = 20000, businesses: int = 3000, seed: int = DEFAULT_SEED,
                   progress: bool = True) -> DemoSummary:
    """Create the demo city for this seed, adding only what is not there yet; all of it or nothing."""
    started = timezone.now()
    plan = plan_demo_city(citizens=citizens, businesses=businesses, seed=seed)
    with transaction.atomic():
        divisions = _seed_divisions(plan)
        departments = _seed_departments(plan)
        staff = _seed_staff(plan, progress)
        citizens_added = _seed_citizens(plan, progress)
        businesses_added = _seed_businesses(plan, progress)
        accounts = _seed_citizen_persona(plan)
    return DemoSummary(
        seed=seed, divisions=divisions, departments=departments, staff=staff, citizens=citizens_added,
        businesses=businesses_added, accounts=accounts, password=DEMO_PASSWORD, logins=_logins(plan),
        seconds=(timezone.now() - started).total_seconds(),
    )
