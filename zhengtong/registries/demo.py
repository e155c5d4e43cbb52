"""The base registries of the demo city 云溪市, filled with synthetic data that agrees with the identity demo.

Every value here is synthetic demo data: no person, business, parcel, address or statistic is real. The
economic figures only have plausible magnitudes and trends for a prefecture-level city of about 2.6 million
people in the hills of central Yunnan (云岭省 is the identity demo's name for the province), placed fictionally
around 101.55°E, 25.05°N, where the division codes it borrows so that resident IDs validate also lie.

- persons: one per identity Citizen (the same resident ID, name, gender, birth date, phone and household
  division), with ethnicity, marital status, education and a residential address (a standard address in the
  household township) drawn from a generator seeded with the seed and the person's resident ID, so one
  person's values do not depend on who else exists;
- legal entities: one per identity Business, the legal representative's name and ID from the linked Citizen;
- standard addresses along roads around each township's centre, and land parcels packed in rows around it
  (non-overlapping convex polygons whose area and centroid are computed from the stored coordinates), held by
  the city's citizens, businesses, departments or village collectives according to their use;
- macro-economic indicators for the city and each county-level division, yearly and quarterly for 2019–2025;
  a year's value is the sum of its quarters and the city's the sum (or population-weighted mean) of its
  counties', so the series agree with each other.

Each registry is written by one import (one named action, one audit entry); the import upserts by key, so
seeding again with the same seed and counts adds and changes nothing.
"""

from __future__ import annotations

import datetime
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from tqdm import tqdm

from zhengtong.identity.demo import CITY, CITY_PREFIX, DEFAULT_SEED, DISTRICTS
from zhengtong.identity.models import Business, Citizen, Department, Division, DivisionLevel
from zhengtong.registries import base
from zhengtong.registries.importing import ImportOutcome, ProgressCallback, import_rows

DEFAULT_PARCELS = 3000
DEFAULT_ADDRESSES = 5000
YEARS = range(2019, 2026)
# Ages, marital status and the like are as of the end of the last year with statistics.
REFERENCE_DATE = datetime.date(YEARS[-1], 12, 31)

Row = dict[str, Any]
Point = tuple[float, float]  # longitude, latitude

# --- the city's geography and economy -------------------------------------------------------------------------


@dataclass(frozen=True)
class CountyProfile:
    """Where a county-level division lies and its synthetic economy in the base year 2019."""

    centre: Point
    radius_km: float  # townships lie up to this far from the centre
    postcode: str
    population: float  # year-end resident population, 10,000 people
    gdp_per_capita: float  # 10,000 yuan
    population_growth: float  # a year
    growth_bias: float  # added to the city's nominal growth rate of every flow indicator
    income_factor: float  # per-capita disposable income against the city's
    urbanization: float  # %
    urbanization_step: float  # percentage points a year
    retail_ratio: float  # retail sales / GDP
    investment_ratio: float  # fixed-asset investment / GDP
    industry_ratio: float  # industrial value added / GDP
    revenue_ratio: float  # budget revenue / GDP


# By identity.demo DISTRICTS key: three urban districts around the city seat, three hill counties further out.
# Fields in order: centre, radius, postcode; population, GDP per head, population growth, growth bias, income
# factor, urbanisation and its yearly step; retail, investment, industry and revenue ratios to GDP.
PROFILES: dict[str, CountyProfile] = {
    "XC": CountyProfile((101.550, 25.050), 5.0, "675000", 76.0, 10.5, 0.009, 0.000, 1.18, 86.5, 0.3,
                        0.48, 0.62, 0.24, 0.085),
    "DH": CountyProfile((101.695, 25.070), 5.5, "675100", 54.5, 12.0, 0.011, 0.008, 1.12, 78.0, 0.6,
                        0.36, 0.78, 0.38, 0.080),
    "NP": CountyProfile((101.540, 24.925), 5.5, "675200", 41.0, 9.0, 0.005, 0.003, 1.05, 72.0, 0.8,
                        0.40, 0.80, 0.30, 0.075),
    "QL": CountyProfile((101.310, 25.230), 12.0, "675300", 37.5, 7.1, -0.004, -0.003, 0.86, 55.0, 1.1,
                        0.42, 0.85, 0.31, 0.068),
    "BS": CountyProfile((101.810, 25.270), 12.0, "675400", 29.8, 7.8, -0.005, -0.002, 0.84, 52.5, 1.0,
                        0.40, 0.82, 0.34, 0.070),
    "BC": CountyProfile((101.330, 24.810), 13.0, "675500", 24.2, 6.4, -0.008, -0.006, 0.80, 49.0, 1.0,
                        0.44, 0.90, 0.27, 0.065),
}
CITY_DISPOSABLE_INCOME_2019 = 45_000  # yuan a year

# Township kinds by the code's last three digits (GB/T 10114): 街道 001–099, 镇 100–199, 乡 200–399.
SUBDISTRICT, TOWN, TOWNSHIP = "subdistrict", "town", "township"


def township_kind(code: str) -> str:
    number = int(code[6:9])
    return SUBDISTRICT if number < 100 else TOWN if number < 200 else TOWNSHIP


# How far out a township lies (of the county's radius) and how many addresses and parcels it gets (relative).
_TOWNSHIP_DISTANCE = {SUBDISTRICT: 0.45, TOWN: 0.75, TOWNSHIP: 0.95}
_ADDRESS_WEIGHT = {SUBDISTRICT: 4, TOWN: 2, TOWNSHIP: 1}
_PARCEL_WEIGHT = {SUBDISTRICT: 3, TOWN: 3, TOWNSHIP: 2}

METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0


def to_lon_lat(origin: Point, x: float, y: float) -> Point:
    """A point `x` metres east and `y` metres north of `origin` (equirectangular; exact enough over a city)."""
    lon0, lat0 = origin
    return (round(lon0 + x / (METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0))), 7),
            round(lat0 + y / METRES_PER_DEGREE_LAT, 7))


def to_metres(origin: Point, point: Sequence[float]) -> tuple[float, float]:
    lon0, lat0 = origin
    return ((point[0] - lon0) * METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0)),
            (point[1] - lat0) * METRES_PER_DEGREE_LAT)


@dataclass(frozen=True)
class Township:
    code: str
    name: str
    county_code: str
    kind: str
    centre: Point
    postcode: str
    address_prefix: str  # province, city, county and township names, as a full address begins


@dataclass(frozen=True)
class City:
    division: Division
    counties: list[Division]
    townships: list[Township]
    profiles: dict[str, CountyProfile]  # by county code


def load_city() -> City:
    """The demo city's divisions from the database, with each township placed around its county's centre."""
    divisions = {d.code: d for d in Division.objects.filter(code__startswith=CITY[0][:4])}
    city = divisions.get(CITY[0])
    if city is None:
        raise Division.DoesNotExist(f"the demo city {CITY[1]} ({CITY[0]}) is not there; seed the demo city first")
    province = Division.objects.get(code=city.parent_id) if city.parent_id else None
    prefix = (province.name if province else "") + city.name
    keys = {district.code: district.key for district in DISTRICTS}
    counties = sorted((d for d in divisions.values() if d.level == DivisionLevel.COUNTY and d.parent_id == city.code),
                      key=lambda d: d.code)
    profiles = {county.code: PROFILES[keys[county.code]] for county in counties}
    townships = []
    for county_index, county in enumerate(counties):
        profile = profiles[county.code]
        members = sorted((d for d in divisions.values()
                          if d.level == DivisionLevel.TOWNSHIP and d.parent_id == county.code), key=lambda d: d.code)
        for index, division in enumerate(members):
            kind = township_kind(division.code)
            # Spread evenly around the centre, each county turned a little so the rings do not line up.
            angle = 2 * math.pi * index / len(members) + county_index * 0.7
            distance = profile.radius_km * 1000 * _TOWNSHIP_DISTANCE[kind]
            postcode = profile.postcode if kind == SUBDISTRICT else f"{profile.postcode[:4]}{10 + index:02d}"
            townships.append(Township(
                code=division.code, name=division.name, county_code=county.code, kind=kind,
                centre=to_lon_lat(profile.centre, distance * math.cos(angle), distance * math.sin(angle)),
                postcode=postcode, address_prefix=prefix + county.name + division.name,
            ))
    return City(division=city, counties=counties, townships=townships, profiles=profiles)


def _allocate(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), so the parts add up exactly."""
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    shares = [total * weight / whole for weight in weights]
    parts = [int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - shares[i], i))
    for i in by_remainder[:total - sum(parts)]:
        parts[i] += 1
    return parts


# --- standard addresses ---------------------------------------------------------------------------------------

_ROAD_STEMS = (
    "人民", "解放", "中山", "建设", "文化", "新华", "胜利", "和平", "青年", "环城", "府前", "学院", "工业", "滨江",
    "迎宾", "东风", "朝阳", "振兴", "光明", "育才", "健康", "兴业", "商贸", "康宁", "幸福", "长春", "金湖", "望江",
    "华光", "春晖", "园林", "翠竹", "观澜", "凤鸣", "龙腾", "明珠", "锦绣", "丰收", "广源", "桂花",
)
_ROAD_KINDS = ("路", "街", "大道", "巷")
_ROADS_PER_TOWNSHIP = 20
_DOORS_PER_ROAD = {SUBDISTRICT: 12, TOWN: 15, TOWNSHIP: 12}
_DOOR_SPACING = 25.0  # metres between doors on one side of a road


def _buildings_at_door(kind: str, rng: random.Random) -> int:
    """How many numbered buildings (幢) stand behind one door: 0 means a single house without numbers."""
    if kind == SUBDISTRICT:
        return rng.randint(1, 6)
    if kind == TOWN:
        return 0 if rng.random() < 0.7 else rng.randint(2, 3)
    return 0


def plan_addresses(city: City, count: int, seed: int) -> list[Row]:
    """`count` standard addresses: roads radiating from each township's centre, doors numbered odd on one side
    and even on the other, and in towns and subdistricts numbered buildings behind the doors."""
    rng = random.Random(f"{seed}:addresses")  # noqa: S311 - reproducible synthetic data
    road_names: dict[str, list[str]] = {}
    for county in city.counties:
        names = [stem + kind for stem in _ROAD_STEMS for kind in _ROAD_KINDS]
        rng.shuffle(names)
        road_names[county.code] = names
    rows: list[Row] = []
    quotas = _allocate(count, [_ADDRESS_WEIGHT[t.kind] for t in city.townships])
    for township, quota in zip(city.townships, quotas, strict=True):
        if not quota:
            continue
        roads = min(math.ceil(quota / (_DOORS_PER_ROAD[township.kind] * 2)), _ROADS_PER_TOWNSHIP)
        pool = road_names[township.county_code]
        if len(pool) < roads:
            raise ValueError(f"{count} addresses need more road names than the demo has; ask for fewer")
        names = [pool.pop() for _ in range(roads)]
        road_quotas = _allocate(quota, [1] * roads)
        for road_index, (road, road_quota) in enumerate(zip(names, road_quotas, strict=True), start=1):
            rows.extend(_addresses_on_road(township, road_index, road, road_quota, rng))
    return rows


def _addresses_on_road(township: Township, road_index: int, road: str, quota: int, rng: random.Random
                       ) -> Iterator[Row]:
    start = (rng.uniform(-300, 300), rng.uniform(-300, 300))
    bearing = rng.uniform(0, 2 * math.pi)
    along = (math.cos(bearing), math.sin(bearing))
    left = (-along[1], along[0])
    made = 0
    number = 0
    while made < quota:
        number += 1
        side = 1 if number % 2 else -1  # odd numbers on the left, even on the right
        distance = 12 + _DOOR_SPACING * ((number - 1) // 2)
        door = (start[0] + along[0] * distance + left[0] * side * 15,
                start[1] + along[1] * distance + left[1] * side * 15)
        buildings = min(_buildings_at_door(township.kind, rng), quota - made)
        for building in range(1, buildings + 1) if buildings else (0,):
            # Buildings stand in two columns behind the door, away from the road.
            depth = 40 + 30 * ((building - 1) // 2) if building else 0
            offset = (building % 2 * 2 - 1) * 12 if building else 0
            x = door[0] + left[0] * side * depth + along[0] * offset
            y = door[1] + left[1] * side * depth + along[1] * offset
            lon, lat = to_lon_lat(township.centre, x, y)
            yield {
                "address_code": f"{township.code}{road_index:03d}{number:04d}{building:03d}",
                "division_code": township.code,
                "road": road,
                "house_number": f"{number}号",
                "building": f"{building}幢" if building else None,
                "full_address": f"{township.address_prefix}{road}{number}号" + (f"{building}幢" if building else ""),
                "location": [lon, lat],
                "postcode": township.postcode,
            }
            made += 1


def _addresses_by_township(rows: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["division_code"]].append(row)
    return grouped


def _floors(address: Row) -> int:
    return 18 if township_kind(address["division_code"]) == SUBDISTRICT else 6


def _home(address: Row, rng: random.Random) -> str:
    """Where someone lives at a standard address: a unit and flat in a numbered building, else the house."""
    if not address["building"]:
        return str(address["full_address"])
    unit, floor, flat = rng.randint(1, 4), rng.randint(1, _floors(address)), rng.randint(1, 4)
    return f"{address['full_address']}{unit}单元{floor}{flat:02d}室"


def _office(address: Row, rng: random.Random) -> str:
    """A business's premises at a standard address: a room in a numbered building, else the house."""
    if not address["building"]:
        return str(address["full_address"])
    return f"{address['full_address']}{rng.randint(1, _floors(address))}{rng.randint(1, 20):02d}室"


# --- persons ----------------------------------------------------------------------------------------------------

# GB/T 3304 codes and shares of the residents: mostly Han, with the Yi, Bai, Miao, Hui, Lisu, Dai, Hani and Zhuang
# peoples of central Yunnan's hills.
_ETHNICITIES = ("01", "07", "14", "06", "03", "20", "18", "16", "08")
_ETHNICITY_WEIGHTS = (70.0, 20.0, 3.0, 2.0, 1.5, 1.5, 1.0, 0.5, 0.5)
# GB/T 2261.2 never married, married, widowed, divorced: shares for ages below each limit.
_MARITAL_STATUSES = ("10", "20", "30", "40")
_MARITAL_BY_AGE = (
    (20, (100, 0, 0, 0)), (25, (75, 24, 0, 1)), (30, (42, 55, 0, 3)), (40, (12, 80, 1, 7)),
    (60, (4, 85, 3, 8)), (70, (2, 80, 12, 6)), (200, (1, 60, 35, 4)),
)
# GB/T 4658 postgraduate, undergraduate, junior college, vocational, senior, junior, primary, other: shares for
# people born before each year.
_EDUCATION = ("10", "20", "30", "40", "60", "70", "80", "90")
_EDUCATION_BY_COHORT = (
    (1960, (0.2, 3, 4, 5, 12, 30, 41, 4.8)),
    (1980, (0.8, 6, 8, 10, 20, 40, 14, 1.2)),
    (1995, (4, 20, 20, 15, 15, 25, 1, 0)),
    (10_000, (5, 25, 25, 15, 20, 10, 0, 0)),
)


def _age(born: datetime.date) -> int:
    return REFERENCE_DATE.year - born.year - ((REFERENCE_DATE.month, REFERENCE_DATE.day) < (born.month, born.day))


def _by_limit(table: Sequence[tuple[int, tuple[float, ...]]], value: int) -> tuple[float, ...]:
    return next(weights for limit, weights in table if value < limit)


def person_rows(citizens: Iterable[Citizen], addresses: Mapping[str, list[Row]], seed: int) -> Iterator[Row]:
    """A persons record for each citizen: the citizen's own values, and the rest drawn for that person."""
    for citizen in citizens:
        rng = random.Random(f"{seed}:person:{citizen.resident_id}")  # noqa: S311 - reproducible synthetic data
        homes = addresses.get((citizen.division_id or "")[:9])
        yield {
            "resident_id": citizen.resident_id,
            "name": citizen.name,
            "gender": citizen.gender,
            "ethnicity": rng.choices(_ETHNICITIES, _ETHNICITY_WEIGHTS)[0],
            "birth_date": citizen.birth_date,
            "household_division": citizen.division_id,
            "residence_address": _home(rng.choice(homes), rng) if homes else None,
            "mobile_phone": citizen.phone or None,
            "marital_status": rng.choices(_MARITAL_STATUSES, _by_limit(_MARITAL_BY_AGE, _age(citizen.birth_date)))[0],
            "education": rng.choices(_EDUCATION, _by_limit(_EDUCATION_BY_COHORT, citizen.birth_date.year))[0],
            "status": "active",
        }


# --- legal entities -------------------------------------------------------------------------------------------

# Entity types by the end of the name, checked in order.
_TYPE_BY_ENDING = (
    ("分公司", "branch"), ("股份有限公司", "joint_stock"), ("有限公司", "limited_liability"),
    ("有限责任公司", "limited_liability"), ("合伙企业", "partnership"), ("（有限合伙）", "partnership"),
    ("专业合作社", "farmer_cooperative"),
)
# The credit code's second character (organisation type under registration authority 9, market regulation).
_TYPE_BY_CREDIT_CODE = {"2": "individual_business", "3": "farmer_cooperative"}
# Registered capital in 10,000 yuan: the round amounts founders choose.
_CAPITAL = (10, 20, 30, 50, 100, 200, 300, 500, 800, 1000, 2000, 5000)
_CAPITAL_WEIGHTS = (8, 8, 10, 18, 20, 12, 8, 7, 3, 3, 2, 1)
_JOINT_STOCK_CAPITAL = (1000, 2000, 3000, 5000, 8000, 10000, 20000)
# Codes whose organisation part starts with MA were issued after the unified credit code began (October 2015).
_UNIFIED_CODES_FROM = datetime.date(2015, 10, 1)
_FIRST_ESTABLISHED = datetime.date(1995, 1, 1)
# Business scope by a word of the name (longest first, so the most specific word wins).
_SCOPES = sorted((
    ("农业科技", "农业科学研究和试验发展；农作物种子经营；农业技术推广服务；农产品的生产、销售、加工、运输、贮藏。"),
    ("农产品加工", "农产品初加工服务；食用农产品批发、零售；粮油、茶叶、干果加工。"),
    ("中药材种植", "中草药种植；中药材收购、初加工与销售；林下种植。"),
    ("食品", "食品生产；食品销售；预包装食品批发与零售。"),
    ("茶业", "茶叶种植、加工与销售；茶具销售；组织茶文化交流活动。"),
    ("商贸", "日用百货、五金交电、针纺织品、建筑材料销售；货物进出口。"),
    ("物流", "道路货物运输（不含危险货物）；普通货物仓储服务；国内货物运输代理。"),
    ("餐饮管理", "餐饮服务；餐饮管理；食品销售。"),
    ("文化传媒", "广告设计、制作、代理、发布；组织文化艺术交流活动；影视节目制作。"),
    ("信息技术", "软件开发；信息系统集成服务；信息技术咨询服务；数据处理和存储支持服务。"),
    ("医药", "药品零售；医疗器械销售；保健食品销售。"),
    ("旅游开发", "旅游开发项目策划咨询；游览景区管理；住宿服务。"),
    ("电子商务", "互联网销售（除销售需要许可的商品）；电子商务平台运营；供应链管理服务。"),
    ("机械制造", "通用设备制造；机械零部件加工；机械设备销售与维修。"),
    ("生物科技", "生物技术研发、技术服务与技术转让；生物基材料销售。"),
    ("新能源", "太阳能发电技术服务；光伏设备及元器件销售；储能技术服务。"),
    ("环保科技", "环保咨询服务；污水处理及其再生利用；固体废物治理。"),
    ("家政服务", "家政服务；养老服务；保洁服务。"),
    ("教育咨询", "教育咨询服务（不含涉许可审批的教育培训活动）；组织文化艺术交流活动。"),
    ("装饰工程", "住宅室内装饰装修；建筑装饰材料销售。"),
    ("建筑工程", "建设工程施工；土石方工程施工；园林绿化工程施工。"),
    ("汽车服务", "汽车零配件零售；机动车修理和维护；汽车租赁。"),
    ("建材", "建筑材料销售；水泥制品制造；砼结构构件销售。"),
    ("印务", "包装装潢印刷品和其他印刷品印刷；文具用品零售。"),
    ("酒店管理", "住宿服务；酒店管理；会议及展览服务。"),
    ("物业服务", "物业管理；停车场服务；城市绿化管理。"),
), key=lambda item: -len(item[0]))
_GENERAL_SCOPE = "企业管理咨询；技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广。"


def entity_type(name: str, credit_code: str) -> str:
    by_code = _TYPE_BY_CREDIT_CODE.get(credit_code[1])
    if by_code:
        return by_code
    return next((kind for ending, kind in _TYPE_BY_ENDING if name.endswith(ending)), "sole_proprietorship")


def _established(credit_code: str, rng: random.Random) -> datetime.date:
    first = _UNIFIED_CODES_FROM if credit_code[8:10] == "MA" else _FIRST_ESTABLISHED
    # More businesses were founded in recent years than long ago.
    return first + datetime.timedelta(days=int((REFERENCE_DATE - first).days * rng.random() ** 0.7))


def registration_authorities() -> dict[str, str]:
    """The registering market regulator's name by county code, "" for the city's own (joint-stock companies)."""
    codes = {f"{CITY_PREFIX}-{district.key}-AMR": district.code for district in DISTRICTS}
    return {codes.get(d.code, ""): d.name
            for d in Department.objects.filter(code__in=[*codes, f"{CITY_PREFIX}-AMR"])}


def legal_entity_rows(businesses: Iterable[Business], addresses: Mapping[str, list[Row]],
                      authorities: Mapping[str, str], seed: int) -> Iterator[Row]:
    """A legal-entities record for each business, its legal representative taken from the linked citizen."""
    for business in businesses:
        code = business.credit_code
        rng = random.Random(f"{seed}:business:{code}")  # noqa: S311 - reproducible synthetic data
        kind = entity_type(business.name, code)
        division = business.division_id or code[2:8]
        offices = addresses.get(division[:9])
        capital = (rng.choice(_JOINT_STOCK_CAPITAL) if kind == "joint_stock"
                   else rng.choices(_CAPITAL, _CAPITAL_WEIGHTS)[0])
        representative = business.legal_representative
        yield {
            "credit_code": code,
            "name": business.name,
            "entity_type": kind,
            "legal_representative": representative.name,
            "legal_representative_id": representative.resident_id,
            "registered_capital": str(capital),
            "established_on": _established(code, rng),
            "division_code": division,
            "address": _office(rng.choice(offices), rng) if offices else None,
            "business_scope": next((scope for word, scope in _SCOPES if word in business.name), _GENERAL_SCOPE),
            "registration_authority": (authorities.get("" if kind == "joint_stock" else division[:6])
                                       or authorities.get("")),
            "status": "active",
        }


# --- land parcels ---------------------------------------------------------------------------------------------

# GB/T 21010 land uses and their shares of the parcels, by township kind.
_LAND_USE_SHARES = {
    SUBDISTRICT: {"07": 34, "05": 15, "06": 10, "08": 14, "10": 8, "11": 3, "02": 2, "01": 6, "03": 5, "12": 3},
    TOWN: {"01": 25, "02": 12, "03": 18, "07": 20, "06": 8, "05": 5, "08": 5, "10": 3, "11": 2, "04": 1, "12": 1},
    TOWNSHIP: {"01": 30, "02": 15, "03": 30, "07": 15, "04": 3, "11": 2, "08": 2, "12": 2, "09": 1},
}
# Area ranges in m² (drawn log-uniformly) by land use; homesteads are the small plots of rural houses.
_AREA_RANGE = {
    "01": (400, 8_000), "02": (800, 15_000), "03": (5_000, 150_000), "04": (2_000, 30_000),
    "05": (2_000, 40_000), "06": (8_000, 120_000), "07": (8_000, 60_000), "08": (2_000, 60_000),
    "09": (2_000, 30_000), "10": (5_000, 80_000), "11": (5_000, 100_000), "12": (1_000, 20_000),
}
_HOMESTEAD_AREA = (120, 260)
# GB/T 37346 feature codes: G/J state or collective land ownership; A ownership, B construction use, C homestead,
# D contracted (cultivated) land, L contracted woodland.
_FEATURE_CODES = {
    "collective_ownership": "JA", "state_construction": "GB", "collective_construction": "JB", "homestead": "JC",
    "land_contract": "JD", "forest_contract": "JL",
}
# Years in which each kind of right was registered (the confirmation campaigns for rural rights among them).
_REGISTERED_YEARS = {
    "state_construction": (1998, 2025), "collective_construction": (2010, 2025), "homestead": (2016, 2023),
    "land_contract": (2015, 2019), "forest_contract": (2008, 2020), "collective_ownership": (2012, 2016),
}
CITIZEN, BUSINESS, DEPARTMENT, COLLECTIVE = "citizen", "business", "department", "collective"
_PARCEL_GAP = 8.0  # metres of road, ditch or path between parcels
_ALL = "*"  # the pool of holders anywhere in the city, when a county has none of its own


def _right(land_use: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """The right registered on a parcel of this use, and who holds that kind of right."""
    if land_use in ("01", "02"):
        return "land_contract", CITIZEN
    if land_use == "03":
        return ("forest_contract", CITIZEN) if rng.random() < 0.6 else ("collective_ownership", COLLECTIVE)
    if land_use in ("04", "12"):
        return "collective_ownership", COLLECTIVE
    if land_use == "07":
        return ("state_construction", BUSINESS) if kind == SUBDISTRICT else ("homestead", CITIZEN)
    if land_use in ("05", "06"):
        if kind != SUBDISTRICT and rng.random() < 0.4:
            return "collective_construction", BUSINESS
        return "state_construction", BUSINESS
    return "state_construction", DEPARTMENT  # public services, special use, transport, water


@dataclass(frozen=True)
class Holders:
    """Who can hold land, by county code (and _ALL): (name, resident ID or credit code)."""

    citizens: dict[str, list[tuple[str, str]]]
    businesses: dict[str, list[tuple[str, str]]]
    departments: dict[str, list[tuple[str, str]]]

    @classmethod
    def load(cls, city: City) -> Holders:
        def pools(rows: Iterable[tuple[str, str, str | None]]) -> dict[str, list[tuple[str, str]]]:
            grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for name, number, division in rows:
                grouped[(division or "")[:6]].append((name, number))
                grouped[_ALL].append((name, number))
            return grouped

        citizens = Citizen.objects.order_by("resident_id").values_list("name", "resident_id", "division_id")
        businesses = Business.objects.order_by("credit_code").values_list("name", "credit_code", "division_id")
        departments = pools(Department.objects.order_by("code").values_list("name", "credit_code", "division_id"))
        # Public land in a county is held by its own departments or the city's.
        city_departments = departments.get(city.division.code[:6], [])
        for county in city.counties:
            departments[county.code] = departments.get(county.code, []) + city_departments
        return cls(pools(citizens), pools(businesses), departments)

    def pick(self, holder_kind: str, county: str, rng: random.Random) -> tuple[str, str, str] | None:
        """(holder kind, name, number) of a holder in the county (or the city), or None when there is none."""
        pool = {CITIZEN: self.citizens, BUSINESS: self.businesses, DEPARTMENT: self.departments}[holder_kind]
        candidates = pool.get(county) or pool.get(_ALL)
        if not candidates:
            return None
        name, number = rng.choice(candidates)
        return holder_kind, name, number


def _pack(sizes: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Lower-left corners for boxes of these sizes (metres), laid left to right in rows, centred on (0, 0), so
    that no two boxes overlap."""
    row_width = math.sqrt(sum((w + _PARCEL_GAP) * (h + _PARCEL_GAP) for w, h in sizes)) * 1.1
    corners = []
    x = y = row_height = 0.0
    for width, height in sizes:
        if x > 0 and x + width > row_width:
            x, y, row_height = 0.0, y + row_height + _PARCEL_GAP, 0.0
        corners.append((x, y))
        x += width + _PARCEL_GAP
        row_height = max(row_height, height)
    total_height = y + row_height
    return [(cx - row_width / 2, cy - total_height / 2) for cx, cy in corners]


def _outline(x0: float, y0: float, width: float, height: float, rng: random.Random) -> list[tuple[float, float]]:
    """A convex quadrilateral inside the box, its corners pulled in a little, sometimes with one corner cut off;
    counter-clockwise, as GeoJSON wants exterior rings."""
    dx, dy = width * 0.12, height * 0.12
    corners = [
        (x0 + rng.uniform(0, dx), y0 + rng.uniform(0, dy)),
        (x0 + width - rng.uniform(0, dx), y0 + rng.uniform(0, dy)),
        (x0 + width - rng.uniform(0, dx), y0 + height - rng.uniform(0, dy)),
        (x0 + rng.uniform(0, dx), y0 + height - rng.uniform(0, dy)),
    ]
    if rng.random() < 0.3:
        i = rng.randrange(4)
        corner, before, after = corners[i], corners[i - 1], corners[(i + 1) % 4]
        cut = rng.uniform(0.2, 0.4)
        corners[i:i + 1] = [(corner[0] + (before[0] - corner[0]) * cut, corner[1] + (before[1] - corner[1]) * cut),
                            (corner[0] + (after[0] - corner[0]) * cut, corner[1] + (after[1] - corner[1]) * cut)]
    return corners


def area_and_centroid(origin: Point, ring: Sequence[Sequence[float]]) -> tuple[float, Point]:
    """Area in m² and centroid of a closed ring of longitude/latitude positions (shoelace, in metres)."""
    points = [to_metres(origin, position) for position in ring]
    twice_area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        cross = x1 * y2 - x2 * y1
        twice_area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    return abs(twice_area) / 2, to_lon_lat(origin, cx / (3 * twice_area), cy / (3 * twice_area))


def plan_parcels(city: City, count: int, seed: int, holders: Holders) -> list[Row]:
    """`count` land parcels, packed in rows around each township's centre, each with the right its use implies."""
    rng = random.Random(f"{seed}:parcels")  # noqa: S311 - reproducible synthetic data
    rows: list[Row] = []
    quotas = _allocate(count, [_PARCEL_WEIGHT[t.kind] for t in city.townships])
    for township, quota in zip(city.townships, quotas, strict=True):
        uses = _LAND_USE_SHARES[township.kind]
        plans = []
        for _ in range(quota):
            land_use = rng.choices(list(uses), list(uses.values()))[0]
            right, holder_kind = _right(land_use, township.kind, rng)
            low, high = _HOMESTEAD_AREA if right == "homestead" else _AREA_RANGE[land_use]
            area = math.exp(rng.uniform(math.log(low), math.log(high)))
            width = math.sqrt(area * rng.uniform(0.5, 2.0))
            plans.append((land_use, right, holder_kind, width, area / width))
        corners = _pack([(width, height) for *_rest, width, height in plans])
        for sequence, ((land_use, right, holder_kind, width, height), (x0, y0)) in enumerate(
                zip(plans, corners, strict=True), start=1):
            rows.append(_parcel(township, sequence, land_use, right, holder_kind,
                                _outline(x0, y0, width, height, rng), holders, rng))
    return rows


def _parcel(township: Township, sequence: int, land_use: str, right: str, holder_kind: str,
            outline: list[tuple[float, float]], holders: Holders, rng: random.Random) -> Row:
    holder = holders.pick(holder_kind, township.county_code, rng) if holder_kind != COLLECTIVE else None
    if holder is None:
        # Land that nobody has contracted, bought or taken over stays with the collective that owns it.
        right = "collective_ownership"
    ring = [to_lon_lat(township.centre, x, y) for x, y in outline]
    ring.append(ring[0])
    area, centroid = area_and_centroid(township.centre, ring)
    first, last = _REGISTERED_YEARS[right]
    registered = datetime.date(first, 1, 1) + datetime.timedelta(
        days=rng.randrange((datetime.date(last, 12, 31) - datetime.date(first, 1, 1)).days + 1))
    kind, name, number = holder or (COLLECTIVE, f"{township.name}农民集体", "")
    return {
        # Cadastral district = the township's own three digits; one cadastral sub-district per township.
        "parcel_code": f"{township.code}001{_FEATURE_CODES[right]}{sequence:05d}",
        "division_code": township.code,
        "land_use": land_use,
        "area": f"{area:.2f}",
        "boundary": {"type": "Polygon", "coordinates": [[list(position) for position in ring]]},
        "centroid": list(centroid),
        "right_type": right,
        "holder_name": name,
        "holder_resident_id": number if kind == CITIZEN else None,
        "holder_credit_code": number if kind in (BUSINESS, DEPARTMENT) else None,
        "registered_on": registered,
    }


# --- macro-economic indicators ----------------------------------------------------------------------------------

# Nominal growth on the year before, 2020–2025, in the shape of a prefecture-level city's published series: the dip of
# 2020, the rebound of 2021, investment slowing since.
_GROWTH = {
    "gdp": (0.030, 0.125, 0.055, 0.065, 0.055, 0.050),
    "industrial_value_added": (0.020, 0.140, 0.045, 0.060, 0.075, 0.065),
    "retail_sales": (-0.045, 0.110, 0.015, 0.075, 0.045, 0.048),
    "fixed_asset_investment": (0.040, 0.100, 0.090, 0.060, 0.030, -0.015),
    "budget_revenue": (0.025, 0.130, -0.025, 0.080, 0.015, 0.025),
    "disposable_income": (0.048, 0.095, 0.050, 0.063, 0.054, 0.052),
}
# Each quarter's share of the year (quarterly values are the quarter's own, not the year to date).
_QUARTER_SHARES = {
    "gdp": (0.225, 0.245, 0.245, 0.285),
    "industrial_value_added": (0.225, 0.255, 0.250, 0.270),
    "retail_sales": (0.235, 0.240, 0.245, 0.280),
    "fixed_asset_investment": (0.170, 0.280, 0.260, 0.290),
    "budget_revenue": (0.310, 0.270, 0.200, 0.220),
    "disposable_income": (0.285, 0.225, 0.235, 0.255),
}
# The epidemic stopped much of the economy in the first quarter of 2020; the later quarters made up for it.
_FIRST_QUARTER_2020 = 0.85
# The CountyProfile attribute that gives each indicator's 2019 value as a share of GDP.
_SHARE_OF_GDP = {
    "industrial_value_added": "industry_ratio", "retail_sales": "retail_ratio",
    "fixed_asset_investment": "investment_ratio", "budget_revenue": "revenue_ratio",
}
_DECIMALS = {"亿元": 2, "元": 0, "万人": 2, "%": 1}
_QUARTERLY = tuple(_GROWTH)
_ADDITIVE = ("gdp", "industrial_value_added", "retail_sales", "fixed_asset_investment", "budget_revenue",
             "resident_population")


def _decimals(indicator: str) -> int:
    return _DECIMALS[base.INDICATOR_UNITS[indicator]]


def _quarter_shares(indicator: str, year: int, rng: random.Random) -> list[float]:
    shares = [share * rng.uniform(0.99, 1.01) for share in _QUARTER_SHARES[indicator]]
    if year == 2020:
        shares[0] *= _FIRST_QUARTER_2020
    total = sum(shares)
    return [share / total for share in shares]


def _county_series(profile: CountyProfile, rng: random.Random) -> dict[tuple[str, str], float]:
    """(indicator, period) → value for one county, rounded as published; a year is the sum of its quarters."""
    values: dict[tuple[str, str], float] = {}
    gdp = profile.population * profile.gdp_per_capita  # 10,000 people × 10,000 yuan = 100 million yuan
    for indicator in _QUARTERLY:
        if indicator == "gdp":
            level = gdp
        elif indicator == "disposable_income":
            level = CITY_DISPOSABLE_INCOME_2019 * profile.income_factor
        else:
            level = gdp * getattr(profile, _SHARE_OF_GDP[indicator])
        digits = _decimals(indicator)
        for year in YEARS:
            if year > YEARS[0]:
                bias = profile.growth_bias / 2 if indicator == "disposable_income" else profile.growth_bias
                level *= 1 + _GROWTH[indicator][year - YEARS[1]] + bias + rng.uniform(-0.008, 0.008)
            quarters = [round(level * share, digits) for share in _quarter_shares(indicator, year, rng)]
            for quarter, value in enumerate(quarters, start=1):
                values[indicator, f"{year}-Q{quarter}"] = value
            values[indicator, str(year)] = round(sum(quarters), digits)
    for year in YEARS:
        years = year - YEARS[0]
        values["resident_population", str(year)] = round(
            profile.population * (1 + profile.population_growth) ** years + rng.uniform(-0.05, 0.05), 2)
        values["urbanization_rate", str(year)] = round(
            min(95.0, profile.urbanization + profile.urbanization_step * years + rng.uniform(-0.1, 0.1)), 1)
    return values


def _city_series(counties: Sequence[dict[tuple[str, str], float]]) -> dict[tuple[str, str], float]:
    """The city's values from its counties': sums, or means weighted by the year's resident population."""
    values: dict[tuple[str, str], float] = {}
    for indicator, period in counties[0]:
        digits = _decimals(indicator)
        if indicator in _ADDITIVE:
            values[indicator, period] = round(sum(c[indicator, period] for c in counties), digits)
            continue
        weights = [c["resident_population", period[:4]] for c in counties]
        mean = sum(c[indicator, period] * w for c, w in zip(counties, weights, strict=True)) / sum(weights)
        values[indicator, period] = round(mean, digits)
    for indicator in _QUARTERLY:
        digits = _decimals(indicator)
        for year in YEARS:
            values[indicator, str(year)] = round(sum(values[indicator, f"{year}-Q{q}"] for q in range(1, 5)), digits)
    return values


def plan_indicators(city: City, publisher: str, seed: int) -> list[Row]:
    """Every indicator for the city and each of its counties, for each year and (flows) quarter of YEARS."""
    rng = random.Random(f"{seed}:indicators")  # noqa: S311 - reproducible synthetic data
    series = {county.code: _county_series(city.profiles[county.code], rng) for county in city.counties}
    series[city.division.code] = _city_series(list(series.values()))
    rows = []
    for division_code, values in series.items():
        for (indicator, period), value in sorted(values.items()):
            year, _sep, quarter = period.partition("-Q")
            source = (f"{publisher}《{city.division.name}{year}年第{quarter}季度主要经济指标》" if quarter
                      else f"{publisher}《{year}年{city.division.name}国民经济和社会发展统计公报》")
            rows.append({
                "indicator": indicator, "division_code": division_code, "period": period,
                "value": f"{value:.{_decimals(indicator)}f}", "unit": base.INDICATOR_UNITS[indicator],
                "source": source,
            })
    return rows


# --- seeding --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrySeedSummary:
    """What one seeding of the base registries did to each (nothing on a second run with the same arguments)."""

    outcomes: dict[str, ImportOutcome]  # by registry code
    seconds: float

    def describe(self) -> str:
        done = ", ".join(f"{code} {outcome.created} added / {outcome.updated} changed"
                         for code, outcome in self.outcomes.items())
        return f"Base registries: {done} in {self.seconds:.1f} s."


@contextmanager
def _bar(progress: bool, total: int | None, desc: str) -> Iterator[ProgressCallback]:
    bar = tqdm(total=total, desc=desc, unit="record", disable=not progress, file=sys.stderr, leave=True,
               dynamic_ncols=True)

    def report(done: int, _total: int | None) -> None:
        bar.update(done - bar.n)

    try:
        yield report
    finally:
        bar.close()


def seed_registries(*, parcels: int = DEFAULT_PARCELS, addresses: int = DEFAULT_ADDRESSES, seed: int = DEFAULT_SEED,
                    progress: bool = True) -> RegistrySeedSummary:
    """Define the base registries where they are missing and fill them: persons and legal entities from whatever
    citizens and businesses the demo city has, `addresses` standard addresses and `parcels` land parcels, and the
    indicators. All of it or nothing."""
    if parcels < 0 or addresses < 0:
        raise ValueError("parcels and addresses must not be negative")
    started = time.monotonic()
    with transaction.atomic():
        registries = base.define_base_registries()
        city = load_city()
        address_rows = plan_addresses(city, addresses, seed)
        homes = _addresses_by_township(address_rows)
        citizens = Citizen.objects.order_by("resident_id")
        businesses = Business.objects.select_related("legal_representative").order_by("credit_code")
        publisher = registries[base.MACRO_INDICATORS].department.name
        plans: list[tuple[str, Iterable[Row], int | None]] = [
            (base.STANDARD_ADDRESSES, address_rows, len(address_rows)),
            (base.PERSONS, person_rows(citizens.iterator(chunk_size=2000), homes, seed), citizens.count()),
            (base.LEGAL_ENTITIES, legal_entity_rows(businesses.iterator(chunk_size=2000), homes,
                                                    registration_authorities(), seed), businesses.count()),
            (base.LAND_PARCELS, plan_parcels(city, parcels, seed, Holders.load(city)), parcels),
            (base.MACRO_INDICATORS, plan_indicators(city, publisher, seed), None),
        ]
        outcomes = {}
        for code, rows, total in plans:
            with _bar(progress, total, code) as report:
                outcome = import_rows(None, registries[code], rows, source_name=f"zhengtong demo --seed {seed}",
                                      progress=report)
            if not outcome.written:
                # The plan is meant to be valid: a refused row is a bug here, and nothing of the seed stays.
                raise RuntimeError(f"the demo data for {code} was refused: {outcome.problems[:5]}")
            outcomes[code] = outcome
    return RegistrySeedSummary(outcomes, time.monotonic() - started)
