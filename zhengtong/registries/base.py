"""The four base registries (四库): persons, legal entities, natural resources and spatial geography (land
parcels, standard addresses), and macro-economic indicators.

Grading follows the governance office's rule of taking the higher grade when in doubt (就高从严):

- identity numbers of natural persons, and ethnicity, are sensitive personal information: level L4, important
  data, encrypted at rest and masked by default; a resident ID key is found through the blind index;
- personal information that singles out or reaches a person (name, phone, address) is level L3, important data,
  encrypted and masked;
- other personal attributes (gender, birth date, marital status, education, household division) are L3 and
  general data; they stay in clear so they can be indexed and counted, and are masked where they narrow a person
  down;
- a legal representative's name is published by law but still personal: L2, masked by default;
- what the law already makes public (a business's registration as shown in the enterprise credit publicity
  system, published statistics) is public, L1, general data;
- cadastral boundaries and coordinates are internal, L2, and important data (precise geographic information).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from zhengtong.identity.models import Department, Gender, User
from zhengtong.registries import actions
from zhengtong.registries.models import FieldType, Grade, Level, Registry, Sensitivity, Validator
from zhengtong.registries.schema import FieldSpec

PERSONS = "persons"
LEGAL_ENTITIES = "legal-entities"
LAND_PARCELS = "land-parcels"
STANDARD_ADDRESSES = "standard-addresses"
MACRO_INDICATORS = "macro-indicators"

# 宗地代码 (GB/T 37346): county code, cadastral district and sub-district, feature code, sequence number.
PARCEL_CODE_PATTERN = r"\d{12}[GJZ][ABCDEFHLNSWXY]\d{5}"
# Our address code: township code, road, door number, building (000 when the door has no separate buildings).
ADDRESS_CODE_PATTERN = r"\d{19}"
POSTCODE_PATTERN = r"\d{6}"
# A year, a quarter or a month: 2025, 2025-Q3, 2025-07.
PERIOD_PATTERN = r"\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?"


def _choices(*items: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"value": value, "label": label, "label_en": label_en} for value, label, label_en in items]


GENDERS = _choices((Gender.MALE.value, "男", "male"), (Gender.FEMALE.value, "女", "female"))

# GB/T 3304 民族代码.
ETHNICITIES = _choices(
    ("01", "汉族", "Han"), ("02", "蒙古族", "Mongol"), ("03", "回族", "Hui"), ("04", "藏族", "Tibetan"),
    ("05", "维吾尔族", "Uyghur"), ("06", "苗族", "Miao"), ("07", "彝族", "Yi"), ("08", "壮族", "Zhuang"),
    ("09", "布依族", "Bouyei"), ("10", "朝鲜族", "Korean"), ("11", "满族", "Manchu"), ("12", "侗族", "Dong"),
    ("13", "瑶族", "Yao"), ("14", "白族", "Bai"), ("15", "土家族", "Tujia"), ("16", "哈尼族", "Hani"),
    ("17", "哈萨克族", "Kazakh"), ("18", "傣族", "Dai"), ("19", "黎族", "Li"), ("20", "傈僳族", "Lisu"),
    ("21", "佤族", "Va"), ("22", "畲族", "She"), ("23", "高山族", "Gaoshan"), ("24", "拉祜族", "Lahu"),
    ("25", "水族", "Sui"), ("26", "东乡族", "Dongxiang"), ("27", "纳西族", "Naxi"), ("28", "景颇族", "Jingpo"),
    ("29", "柯尔克孜族", "Kyrgyz"), ("30", "土族", "Tu"), ("31", "达斡尔族", "Daur"), ("32", "仫佬族", "Mulao"),
    ("33", "羌族", "Qiang"), ("34", "布朗族", "Blang"), ("35", "撒拉族", "Salar"), ("36", "毛南族", "Maonan"),
    ("37", "仡佬族", "Gelao"), ("38", "锡伯族", "Xibe"), ("39", "阿昌族", "Achang"), ("40", "普米族", "Pumi"),
    ("41", "塔吉克族", "Tajik"), ("42", "怒族", "Nu"), ("43", "乌孜别克族", "Uzbek"), ("44", "俄罗斯族", "Russian"),
    ("45", "鄂温克族", "Evenki"), ("46", "德昂族", "De'ang"), ("47", "保安族", "Bonan"), ("48", "裕固族", "Yugur"),
    ("49", "京族", "Gin"), ("50", "塔塔尔族", "Tatar"), ("51", "独龙族", "Derung"), ("52", "鄂伦春族", "Oroqen"),
    ("53", "赫哲族", "Hezhen"), ("54", "门巴族", "Monpa"), ("55", "珞巴族", "Lhoba"), ("56", "基诺族", "Jino"),
    ("97", "其他", "other"), ("98", "外国血统中国籍人士", "Chinese citizen of foreign origin"),
)

# GB/T 2261.2 婚姻状况 (first-level codes).
MARITAL_STATUSES = _choices(
    ("10", "未婚", "never married"), ("20", "已婚", "married"), ("30", "丧偶", "widowed"), ("40", "离婚", "divorced"),
    ("90", "未说明的婚姻状况", "not stated"),
)

# GB/T 4658 学历 (first-level codes).
EDUCATION_LEVELS = _choices(
    ("10", "研究生教育", "postgraduate"), ("20", "大学本科教育", "undergraduate"),
    ("30", "大学专科教育", "junior college"), ("40", "中等职业教育", "secondary vocational"),
    ("60", "普通高级中学教育", "senior secondary"), ("70", "初级中学教育", "junior secondary"),
    ("80", "小学教育", "primary"), ("90", "其他", "other"),
)

PERSON_STATUSES = _choices(("active", "正常", "active"), ("moved_out", "迁出", "moved out"),
                           ("deceased", "死亡", "deceased"))

ENTITY_TYPES = _choices(
    ("limited_liability", "有限责任公司", "limited liability company"),
    ("joint_stock", "股份有限公司", "company limited by shares"),
    ("sole_proprietorship", "个人独资企业", "sole proprietorship"),
    ("partnership", "合伙企业", "partnership"),
    ("branch", "分支机构", "branch"),
    ("individual_business", "个体工商户", "individual business"),
    ("farmer_cooperative", "农民专业合作社", "farmers' cooperative"),
)

ENTITY_STATUSES = _choices(
    ("active", "存续（在营、开业、在册）", "active"), ("revoked", "吊销", "licence revoked"),
    ("deregistered", "注销", "deregistered"), ("moved_out", "迁出", "moved out"),
)

# GB/T 21010-2017 土地利用现状分类, first-level classes.
LAND_USES = _choices(
    ("01", "耕地", "cultivated land"), ("02", "园地", "garden land"), ("03", "林地", "woodland"),
    ("04", "草地", "grassland"), ("05", "商服用地", "commercial and service land"),
    ("06", "工矿仓储用地", "industrial, mining and storage land"), ("07", "住宅用地", "residential land"),
    ("08", "公共管理与公共服务用地", "public administration and public service land"),
    ("09", "特殊用地", "special-use land"), ("10", "交通运输用地", "transport land"),
    ("11", "水域及水利设施用地", "water and water-conservancy land"), ("12", "其他土地", "other land"),
)

LAND_RIGHTS = _choices(
    ("collective_ownership", "集体土地所有权", "collective land ownership"),
    ("state_construction", "国有建设用地使用权", "state-owned construction land use right"),
    ("collective_construction", "集体建设用地使用权", "collective construction land use right"),
    ("homestead", "宅基地使用权", "homestead use right"),
    ("land_contract", "土地承包经营权", "land contract management right"),
    ("forest_contract", "林地承包经营权", "woodland contract management right"),
)

# (value, label, English label, unit): the unit is repeated in each record, so a value never travels without it.
INDICATORS = (
    ("gdp", "地区生产总值", "gross domestic product", "亿元"),
    ("industrial_value_added", "规模以上工业增加值", "value added of industry above designated size", "亿元"),
    ("retail_sales", "社会消费品零售总额", "retail sales of consumer goods", "亿元"),
    ("fixed_asset_investment", "固定资产投资", "fixed-asset investment", "亿元"),
    ("budget_revenue", "一般公共预算收入", "general public budget revenue", "亿元"),
    ("disposable_income", "居民人均可支配收入", "per-capita disposable income of residents", "元"),
    ("resident_population", "年末常住人口", "year-end resident population", "万人"),
    ("urbanization_rate", "常住人口城镇化率", "urbanisation rate of the resident population", "%"),
)
INDICATOR_UNITS = {value: unit for value, _label, _label_en, unit in INDICATORS}


def _public(spec: FieldSpec) -> FieldSpec:
    """A field the law already makes public, or published statistics."""
    return dataclasses.replace(spec, sensitivity=Sensitivity.PUBLIC, grade=Grade.GENERAL, level=Level.L1,
                               masking="none")


def person_fields() -> list[FieldSpec]:
    """人口基础信息: one record per resident, keyed by the resident ID (consistent with identity.Citizen)."""
    return [
        FieldSpec("resident_id", FieldType.TEXT, "公民身份号码", "resident ID number",
                  description="GB 11643 公民身份号码；加密存储，按盲索引精确查找。", required=True, is_key=True,
                  unique=True, validator=Validator.RESIDENT_ID, sensitivity=Sensitivity.SENSITIVE_PERSONAL,
                  grade=Grade.IMPORTANT, level=Level.L4, masking="keep:6:4", encrypted=True),
        FieldSpec("name", FieldType.TEXT, "姓名", "full name", required=True, max_length=100,
                  sensitivity=Sensitivity.PERSONAL, grade=Grade.IMPORTANT, level=Level.L3, masking="name",
                  encrypted=True),
        FieldSpec("gender", FieldType.ENUMERATION, "性别", "gender", description="GB/T 2261.1", required=True,
                  choices=GENDERS, sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="none"),
        FieldSpec("ethnicity", FieldType.ENUMERATION, "民族", "ethnicity", description="GB/T 3304 民族代码。",
                  choices=ETHNICITIES, sensitivity=Sensitivity.SENSITIVE_PERSONAL, grade=Grade.IMPORTANT,
                  level=Level.L4, masking="null", encrypted=True),
        FieldSpec("birth_date", FieldType.DATE, "出生日期", "date of birth", required=True,
                  sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="date_year"),
        FieldSpec("household_division", FieldType.TEXT, "户籍地行政区划", "division of household registration",
                  description="户籍所在乡镇（街道）的行政区划代码。", validator=Validator.DIVISION_CODE,
                  indexed=True, sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="none"),
        FieldSpec("residence_address", FieldType.TEXT, "现居住地址", "residential address", max_length=200,
                  sensitivity=Sensitivity.PERSONAL, grade=Grade.IMPORTANT, level=Level.L3,
                  masking="address_district", encrypted=True),
        FieldSpec("mobile_phone", FieldType.TEXT, "手机号码", "mobile phone", validator=Validator.PHONE,
                  indexed=True, sensitivity=Sensitivity.PERSONAL, grade=Grade.IMPORTANT, level=Level.L3,
                  masking="keep:3:4", encrypted=True),
        FieldSpec("marital_status", FieldType.ENUMERATION, "婚姻状况", "marital status", description="GB/T 2261.2",
                  choices=MARITAL_STATUSES, sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="null"),
        FieldSpec("education", FieldType.ENUMERATION, "学历", "education", description="GB/T 4658",
                  choices=EDUCATION_LEVELS, sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="null"),
        FieldSpec("status", FieldType.ENUMERATION, "人口状态", "registration status", required=True,
                  choices=PERSON_STATUSES, sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="none"),
    ]


def legal_entity_fields() -> list[FieldSpec]:
    """法人单位基础信息: one record per registered market entity, keyed by its credit code (identity.Business)."""
    return [
        _public(FieldSpec("credit_code", FieldType.TEXT, "统一社会信用代码", "unified social credit code",
                          description="GB 32100", required=True, is_key=True, unique=True,
                          validator=Validator.CREDIT_CODE)),
        _public(FieldSpec("name", FieldType.TEXT, "名称", "name", required=True, max_length=200, indexed=True)),
        _public(FieldSpec("entity_type", FieldType.ENUMERATION, "市场主体类型", "type of entity", required=True,
                          choices=ENTITY_TYPES)),
        FieldSpec("legal_representative", FieldType.TEXT, "法定代表人", "legal representative", required=True,
                  description="依法公示，但仍是个人信息，默认脱敏。", max_length=100,
                  sensitivity=Sensitivity.PERSONAL, level=Level.L2, masking="name"),
        FieldSpec("legal_representative_id", FieldType.TEXT, "法定代表人公民身份号码",
                  "legal representative's resident ID number", validator=Validator.RESIDENT_ID, indexed=True,
                  sensitivity=Sensitivity.SENSITIVE_PERSONAL, grade=Grade.IMPORTANT, level=Level.L4,
                  masking="keep:6:4", encrypted=True),
        _public(FieldSpec("registered_capital", FieldType.DECIMAL, "注册资本（万元）",
                          "registered capital (10,000 yuan)")),
        _public(FieldSpec("established_on", FieldType.DATE, "成立日期", "date of establishment", required=True)),
        _public(FieldSpec("division_code", FieldType.TEXT, "住所所在行政区划", "division of the domicile",
                          required=True, validator=Validator.DIVISION_CODE, indexed=True)),
        _public(FieldSpec("address", FieldType.TEXT, "住所", "domicile", max_length=200)),
        _public(FieldSpec("business_scope", FieldType.TEXT, "经营范围", "business scope")),
        _public(FieldSpec("registration_authority", FieldType.TEXT, "登记机关", "registration authority",
                          max_length=200)),
        _public(FieldSpec("status", FieldType.ENUMERATION, "登记状态", "registration status", required=True,
                          choices=ENTITY_STATUSES)),
    ]


def _geographic(spec: FieldSpec) -> FieldSpec:
    """Precise cadastral geometry and coordinates: internal and important data."""
    return dataclasses.replace(spec, sensitivity=Sensitivity.INTERNAL, grade=Grade.IMPORTANT, level=Level.L2,
                               masking="null")


def land_parcel_fields() -> list[FieldSpec]:
    """宗地: a parcel of land with its boundary, use and right, keyed by its parcel code."""
    return [
        FieldSpec("parcel_code", FieldType.TEXT, "宗地代码", "parcel code",
                  description="GB/T 37346：县级行政区划代码6位、地籍区3位、地籍子区3位、宗地特征码2位、宗地顺序号5位。",
                  required=True, is_key=True, unique=True, validator=Validator.PATTERN, pattern=PARCEL_CODE_PATTERN,
                  masking="none"),
        FieldSpec("division_code", FieldType.TEXT, "所在乡镇（街道）", "township", required=True,
                  validator=Validator.DIVISION_CODE, indexed=True, masking="none"),
        FieldSpec("land_use", FieldType.ENUMERATION, "土地用途", "land use", description="GB/T 21010-2017 一级类。",
                  required=True, choices=LAND_USES, indexed=True, masking="none"),
        FieldSpec("area", FieldType.DECIMAL, "宗地面积（平方米）", "area (m²)", required=True, masking="none"),
        _geographic(FieldSpec("boundary", FieldType.GEOMETRY, "宗地界址", "boundary", required=True,
                              description="GeoJSON Polygon，CGCS2000 经纬度（与 WGS 84 相差在米级以内）。")),
        _geographic(FieldSpec("centroid", FieldType.POINT, "中心点", "centroid", required=True)),
        FieldSpec("right_type", FieldType.ENUMERATION, "权利类型", "type of right", required=True,
                  choices=LAND_RIGHTS, masking="none"),
        FieldSpec("holder_name", FieldType.TEXT, "权利人", "right holder", required=True, max_length=200,
                  description="自然人、法人或农民集体的名称；自然人姓名属个人信息。",
                  sensitivity=Sensitivity.PERSONAL, grade=Grade.IMPORTANT, level=Level.L3, masking="name",
                  encrypted=True),
        FieldSpec("holder_resident_id", FieldType.TEXT, "权利人公民身份号码", "right holder's resident ID number",
                  description="权利人为自然人时填写。", validator=Validator.RESIDENT_ID, indexed=True,
                  sensitivity=Sensitivity.SENSITIVE_PERSONAL, grade=Grade.IMPORTANT, level=Level.L4,
                  masking="keep:6:4", encrypted=True),
        FieldSpec("holder_credit_code", FieldType.TEXT, "权利人统一社会信用代码", "right holder's credit code",
                  description="权利人为法人或其他组织时填写。", validator=Validator.CREDIT_CODE, indexed=True,
                  masking="none"),
        FieldSpec("registered_on", FieldType.DATE, "登簿日期", "date registered", required=True, masking="none"),
    ]


def standard_address_fields() -> list[FieldSpec]:
    """标准地址: a door (and building) with its coordinates, keyed by the address code."""
    return [
        _public(FieldSpec("address_code", FieldType.TEXT, "地址编码", "address code", required=True, is_key=True,
                          unique=True, validator=Validator.PATTERN, pattern=ADDRESS_CODE_PATTERN,
                          description="乡镇（街道）代码9位、街路巷3位、门牌号4位、楼栋3位（无楼栋为000）。")),
        _public(FieldSpec("division_code", FieldType.TEXT, "所在乡镇（街道）", "township", required=True,
                          validator=Validator.DIVISION_CODE, indexed=True)),
        _public(FieldSpec("road", FieldType.TEXT, "街路巷", "road or street", required=True, max_length=50,
                          indexed=True)),
        _public(FieldSpec("house_number", FieldType.TEXT, "门牌号", "door number", required=True, max_length=20)),
        _public(FieldSpec("building", FieldType.TEXT, "楼栋", "building", max_length=20)),
        _public(FieldSpec("full_address", FieldType.TEXT, "标准地址", "full address", required=True,
                          max_length=200, unique=True)),
        FieldSpec("location", FieldType.POINT, "坐标", "coordinates", required=True,
                  description="门牌或楼栋的经纬度（CGCS2000）。", masking="none"),
        _public(FieldSpec("postcode", FieldType.TEXT, "邮政编码", "postcode", validator=Validator.PATTERN,
                          pattern=POSTCODE_PATTERN)),
    ]


def macro_indicator_fields() -> list[FieldSpec]:
    """宏观经济: one value of one indicator for one division and period (a year, quarter or month)."""
    indicators = _choices(*((value, label, label_en) for value, label, label_en, _unit in INDICATORS))
    return [
        _public(FieldSpec("indicator", FieldType.ENUMERATION, "指标", "indicator", required=True, is_key=True,
                          choices=indicators)),
        _public(FieldSpec("division_code", FieldType.TEXT, "行政区划", "division", required=True, is_key=True,
                          validator=Validator.DIVISION_CODE)),
        _public(FieldSpec("period", FieldType.TEXT, "统计期", "period", required=True, is_key=True,
                          validator=Validator.PATTERN, pattern=PERIOD_PATTERN,
                          description="年（2025）、季度（2025-Q3，当季值）或月份（2025-07）。")),
        _public(FieldSpec("value", FieldType.DECIMAL, "数值", "value", required=True)),
        _public(FieldSpec("unit", FieldType.TEXT, "计量单位", "unit", required=True, max_length=20)),
        _public(FieldSpec("source", FieldType.TEXT, "数据来源", "source", max_length=200)),
    ]


@dataclass(frozen=True)
class BaseRegistry:
    code: str
    name: str
    name_en: str
    description: str
    department_code: str  # the provider in the demo city
    fields: Callable[[], list[FieldSpec]]


BASE_REGISTRIES: tuple[BaseRegistry, ...] = (
    BaseRegistry(PERSONS, "人口基础信息", "Persons (population base registry)",
                 "全市户籍和常住人口的基础信息，由公安机关依户籍登记维护，是各部门核验身份、预填表单的依据。",
                 "YX-PSB", person_fields),
    BaseRegistry(LEGAL_ENTITIES, "法人单位基础信息", "Legal entities",
                 "在本市登记的市场主体的登记信息，由市场监管部门依登记注册维护。", "YX-AMR", legal_entity_fields),
    BaseRegistry(LAND_PARCELS, "自然资源和空间地理基础信息：宗地",
                 "Natural resources and spatial geography: land parcels",
                 "不动产登记的宗地：界址、面积、用途和权利，由自然资源部门维护。", "YX-NRP", land_parcel_fields),
    BaseRegistry(STANDARD_ADDRESSES, "自然资源和空间地理基础信息：标准地址",
                 "Natural resources and spatial geography: standard addresses",
                 "全市标准地址（街路巷、门牌、楼栋）及其坐标，各部门登记地址时以此为准。", "YX-NRP",
                 standard_address_fields),
    BaseRegistry(MACRO_INDICATORS, "宏观经济基础信息", "Macro-economy: indicators",
                 "全市及各县（市、区）主要经济指标的年度和季度数据，由统计部门发布。", "YX-STATS",
                 macro_indicator_fields),
)


def define_base_registries(actor: User | None = None) -> dict[str, Registry]:
    """The base registries by code, defining those not there yet; an existing registry is left as it is."""
    existing = {r.code: r for r in Registry.objects.filter(code__in=[b.code for b in BASE_REGISTRIES])}
    missing = [b for b in BASE_REGISTRIES if b.code not in existing]
    departments = {d.code: d for d in Department.objects.filter(code__in={b.department_code for b in missing})}
    with transaction.atomic():
        for base in missing:
            department = departments.get(base.department_code)
            if department is None:
                raise Department.DoesNotExist(
                    f"the {base.code} registry is provided by department {base.department_code}, which does not "
                    "exist; seed the demo city first")
            existing[base.code] = actions.define_registry(
                actor, code=base.code, name=base.name, name_en=base.name_en, description=base.description,
                department=department, fields=base.fields(), is_base=True)
    return {base.code: existing[base.code] for base in BASE_REGISTRIES}
