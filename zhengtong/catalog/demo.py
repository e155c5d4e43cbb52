"""The demo city's data resource catalog: the base resources completed and published, four departments' APIs
and one thematic resource derived from the base, rights registrations with signed certificates, and one open
dispute for the governance office to settle.

Every change goes through catalog.actions as the platform (actor None), except the dispute, which the
agriculture bureau's data officer raises. The platform's rules are followed, not bent: what holds sensitive
personal information is shared on conditions with its legal basis, and only general L1 public data is open.

Codes follow the national 政务信息资源目录编制指南: base items 01 人口, 02 法人单位, 03 自然资源和空间地理 as in
the guideline (which goes on with 04 社会信用 and 05 电子证照), so 宏观经济, the fourth of the four databases,
takes the next item, 06; thematic item 10 is the guideline's 社区治理; departmental resources use item 07 (省及其下
各级政务部门), the department's own category, and its unified social credit code as the sub-category, so that two
departments' codes never meet. All values are synthetic demo data; the laws cited are real.

Seeding again changes nothing: a base resource that has been published once belongs to its officers, an API
resource is looked up by provider and name, a resource with a registration is not registered again, and a
registration that has had a dispute gets no second one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from django.db import transaction

from zhengtong.catalog import actions
from zhengtong.catalog.actions import HolderInput, ItemInput, ResourceInput, RightsInput, ServiceInput
from zhengtong.catalog.models import (
    OpeningType,
    Resource,
    ResourceFormat,
    ResourceKind,
    ResourceStatus,
    RightKind,
    RightsDispute,
    RightsRegistration,
    SharingType,
    UpdateCycle,
)
from zhengtong.identity import roles
from zhengtong.identity.demo import CITY, credit_code
from zhengtong.identity.models import Department, User
from zhengtong.registries import base
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity

# The city's state-owned data operating company (数据集团), holder of product-operation rights where the
# catalog grants them. Its organisation code begins MA like those given out since the credit-code reform.
OPERATOR_NAME = "云溪市数据集团有限公司"
OPERATOR_CREDIT_CODE = credit_code("91", CITY[0], "MA6KQ7N2")

PIPL = "《中华人民共和国个人信息保护法》"
# The province is fictional, so its public data regulation is named generically.
PROVINCIAL = "本省公共数据条例关于公共数据共享的规定"
SHARING_MEASURES = "《政务信息资源共享管理暂行办法》（国发〔2016〕51号）"

# --- data items of the APIs -----------------------------------------------------------------------------------


def _public(name: str, label: str, label_en: str, type: str = FieldType.TEXT, description: str = "") -> ItemInput:
    return ItemInput(name, label, type, label_en, description, Sensitivity.PUBLIC, Grade.GENERAL, Level.L1, "none")


def _internal(name: str, label: str, label_en: str, type: str = FieldType.TEXT, description: str = "") -> ItemInput:
    return ItemInput(name, label, type, label_en, description, Sensitivity.INTERNAL, Grade.GENERAL, Level.L2,
                     "none")


def _personal(name: str, label: str, label_en: str, type: str = FieldType.TEXT, *, masking: str = "none",
              grade: int = Grade.GENERAL, description: str = "") -> ItemInput:
    return ItemInput(name, label, type, label_en, description, Sensitivity.PERSONAL, grade, Level.L3, masking)


def _sensitive(name: str, label: str, label_en: str, type: str = FieldType.TEXT, *, masking: str = "null",
               description: str = "") -> ItemInput:
    """Graded as the base registries grade sensitive personal information: L4, important, masked."""
    return ItemInput(name, label, type, label_en, description, Sensitivity.SENSITIVE_PERSONAL, Grade.IMPORTANT,
                     Level.L4, masking)


# --- the base resources ---------------------------------------------------------------------------------------

_NAMES = {registry.code: registry.name for registry in base.BASE_REGISTRIES}

BASE_METADATA: dict[str, ResourceInput] = {
    base.PERSONS: ResourceInput(
        name=_NAMES[base.PERSONS], kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="01", category_code="001", update_cycle=UpdateCycle.DAILY,
        summary="全市户籍人口的公民身份号码、姓名、性别、民族、出生日期、户籍地、现居住地址、联系电话、婚姻状况、"
                "学历和人口状态。由市公安局依户口登记和居民身份证管理维护，每日更新；是各部门核验身份、"
                "办理政务服务时预填表单的依据。",
        sharing_type=SharingType.CONDITIONAL,
        sharing_condition="限于依法履行职责或办理政务服务事项需要核验、使用人口信息的政务部门，按最小必要原则"
                          "申请所需信息项，经市公安局审核同意后通过共享平台按次核验或比对使用；公民身份号码、"
                          "民族等敏感个人信息默认脱敏，需要明文的须说明理由并留痕；不得超出申请用途使用，"
                          "不得向第三方提供。",
        legal_basis=f"《中华人民共和国居民身份证法》第六条、第十三条；《中华人民共和国户口登记条例》；{PIPL}"
                    f"第十三条、第二十八条、第三十四条；{SHARING_MEASURES}；{PROVINCIAL}。",
        opening_type=OpeningType.CLOSED,
    ),
    base.LEGAL_ENTITIES: ResourceInput(
        name=_NAMES[base.LEGAL_ENTITIES], kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="02", category_code="001", update_cycle=UpdateCycle.DAILY,
        summary="在本市登记的市场主体的统一社会信用代码、名称、类型、法定代表人、注册资本、成立日期、住所、"
                "经营范围、登记机关和登记状态。由市市场监督管理局依登记注册维护，每日更新；登记信息同时经"
                "国家企业信用信息公示系统向社会公示。",
        sharing_type=SharingType.CONDITIONAL,
        sharing_condition="依法公示的登记信息项向各政务部门共享，申请即可使用，用于政务服务、市场监管和信用"
                          "管理；法定代表人姓名和公民身份号码属个人信息，仅向需要核验法定代表人身份的部门"
                          "提供，默认脱敏。",
        legal_basis=f"《中华人民共和国市场主体登记管理条例》；《企业信息公示暂行条例》第六条；{PIPL}第十三条、"
                    f"第二十八条、第三十四条；{PROVINCIAL}。",
        opening_type=OpeningType.CLOSED,
    ),
    base.LAND_PARCELS: ResourceInput(
        name=_NAMES[base.LAND_PARCELS], kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="03", category_code="001", update_cycle=UpdateCycle.DAILY,
        summary="不动产登记的宗地：宗地代码、所在乡镇（街道）、土地用途、面积、界址和中心点坐标、权利类型、"
                "权利人和登簿日期。由市自然资源和规划局依不动产登记维护，登簿后次日更新。",
        sharing_type=SharingType.CONDITIONAL,
        sharing_condition="限于不动产交易、住房保障、征地补偿、农村土地管理和税费征收等依法履职需要；"
                          "权利人姓名和公民身份号码默认脱敏；宗地界址和坐标属重要数据，仅在政务外网内使用，"
                          "不得对外提供。",
        legal_basis=f"《不动产登记暂行条例》第二十四条、第二十八条；《中华人民共和国数据安全法》第二十一条；"
                    f"{PIPL}第十三条、第二十八条、第三十四条；{PROVINCIAL}。",
        opening_type=OpeningType.CLOSED,
    ),
    base.STANDARD_ADDRESSES: ResourceInput(
        name=_NAMES[base.STANDARD_ADDRESSES], kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="03", category_code="002", update_cycle=UpdateCycle.MONTHLY,
        summary="全市标准地址：地址编码、所在乡镇（街道）、街路巷、门牌号、楼栋、完整地址、坐标和邮政编码。"
                "由市自然资源和规划局会同公安、民政部门依地名和门楼牌编制成果维护，每月更新；各部门登记地址时"
                "以此为准。",
        sharing_type=SharingType.UNCONDITIONAL,
        legal_basis=f"《地名管理条例》；{PROVINCIAL}。",
        opening_type=OpeningType.CONDITIONAL,
        opening_condition="经申请并签订数据利用协议后开放，用于地图导航、物流配送和公共服务设施规划；"
                          "坐标按测绘地理信息管理规定处理后提供。",
    ),
    base.MACRO_INDICATORS: ResourceInput(
        name=_NAMES[base.MACRO_INDICATORS], kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="06", category_code="001", update_cycle=UpdateCycle.QUARTERLY,
        summary="全市及各县（市、区）地区生产总值、规模以上工业增加值、社会消费品零售总额、固定资产投资、"
                "一般公共预算收入、居民人均可支配收入、年末常住人口和城镇化率，年度和季度数据。由市统计局"
                "依统计公报和季度主要经济指标发布，每季度更新。",
        sharing_type=SharingType.UNCONDITIONAL,
        legal_basis="《中华人民共和国统计法》第二十三条；《中华人民共和国政府信息公开条例》第二十条。",
        opening_type=OpeningType.OPEN,
    ),
}

# --- departments' APIs and the thematic resource --------------------------------------------------------------

MARRIAGE = "marriage"
SOCIAL_INSURANCE = "social-insurance"
ENROLMENT = "enrolment"
BIRTH = "birth"
POPULATION_THEME = "population-theme"


@dataclass(frozen=True)
class ApiResource:
    key: str
    provider_code: str
    metadata: ResourceInput  # the sub-category (credit code), related resources and sources are filled in
    service: ServiceInput
    sources: tuple[str, ...] = ()  # keys of the resources it is derived from


def _departmental(category_code: str, *, name: str, summary: str, sharing_condition: str,
                  legal_basis: str) -> ResourceInput:
    """A department's verification API: answered in real time, shared on conditions, not open."""
    return ResourceInput(name=name, summary=summary, kind=ResourceKind.DEPARTMENTAL, item_code="07",
                         category_code=category_code, format=ResourceFormat.API, update_cycle=UpdateCycle.REALTIME,
                         sharing_type=SharingType.CONDITIONAL, sharing_condition=sharing_condition,
                         legal_basis=legal_basis, opening_type=OpeningType.CLOSED)


API_RESOURCES: tuple[ApiResource, ...] = (
    ApiResource(MARRIAGE, "YX-MCA", _departmental(
        "001", name="婚姻登记信息核验",
        summary="按当事人公民身份号码和姓名核验其最近一次婚姻登记：婚姻登记状态、登记日期、登记机关、"
                "结婚证或离婚证字号和配偶信息。用于不动产登记、住房保障、公积金提取、生育登记和社会救助等"
                "需要核验婚姻状况的事项，替代群众开具婚姻状况证明。",
        sharing_condition="限于办理需要核验婚姻状况的政务服务事项，按次核验，须有申请人授权或法定职责依据；"
                          "配偶姓名和公民身份号码默认脱敏。",
        legal_basis=f"《婚姻登记条例》；《婚姻登记档案管理办法》；{PIPL}第十三条、第二十八条、第三十四条；"
                    f"{PROVINCIAL}。"),
        ServiceInput(
            endpoint_url="https://mca.yunxi.example.gov.cn/api/marriage/v1/verify", http_method="POST",
            service_description="POST 提交当事人公民身份号码和姓名（JSON），返回其最近一次婚姻登记的状态、"
                                "登记日期、登记机关、证件字号和配偶信息；没有登记记录时状态为“无登记记录”。",
            items=[
                _personal("marital_status", "婚姻登记状态", "marriage registration status", FieldType.ENUMERATION,
                          masking="null", description="已婚、离婚、丧偶或无登记记录。"),
                _personal("registered_on", "登记日期", "date registered", FieldType.DATE, masking="date_year"),
                _internal("registration_authority", "登记机关", "registration authority"),
                _personal("certificate_number", "证件字号", "certificate number", masking="keep:2:4"),
                _personal("spouse_name", "配偶姓名", "spouse's name", masking="name", grade=Grade.IMPORTANT),
                _sensitive("spouse_resident_id", "配偶公民身份号码", "spouse's resident ID number",
                           masking="keep:6:4"),
            ])),
    ApiResource(SOCIAL_INSURANCE, "YX-HRSS", _departmental(
        "001", name="社会保险参保缴费信息查询",
        summary="按公民身份号码查询个人参加企业职工基本养老、失业和工伤保险的参保状态、参保单位、首次参保"
                "和最近缴费年月、累计缴费月数和缴费基数。用于就业创业补贴、人才认定、购房资格、随迁子女入学"
                "等事项核验参保缴费情况，替代群众打印参保证明。",
        sharing_condition="限于需要核验参保缴费情况的政务服务和依法履职；缴费基数反映个人收入，只向需要核定"
                          "待遇或补贴金额的部门提供，默认不返回。",
        legal_basis=f"《中华人民共和国社会保险法》第七十四条、第八十一条；{PIPL}第十三条、第二十八条、"
                    f"第三十四条；{PROVINCIAL}。"),
        ServiceInput(
            endpoint_url="https://hrss.yunxi.example.gov.cn/api/social-insurance/v1/contributions",
            http_method="POST",
            service_description="POST 提交公民身份号码（JSON）和险种，返回每个险种一条参保缴费记录；"
                                "缴费年月为 YYYY-MM。",
            items=[
                _personal("insurance_type", "险种", "type of insurance", FieldType.ENUMERATION),
                _personal("insured_status", "参保状态", "insurance status", FieldType.ENUMERATION,
                          description="参保缴费、暂停缴费或终止参保。"),
                _personal("employer_name", "参保单位名称", "employer"),
                _personal("employer_credit_code", "参保单位统一社会信用代码", "employer's credit code"),
                _personal("first_paid_period", "首次参保年月", "first month insured"),
                _personal("last_paid_period", "最近缴费年月", "last month paid"),
                _personal("paid_months", "累计缴费月数", "months paid", FieldType.INTEGER),
                _sensitive("contribution_base", "缴费基数（元）", "contribution base (yuan)", FieldType.DECIMAL,
                           description="反映个人工资收入，属个人财产信息。"),
            ])),
    ApiResource(ENROLMENT, "YX-EDU", _departmental(
        "001", name="义务教育阶段学生学籍信息核验",
        summary="按学生公民身份号码核验其在本市中小学的学籍：学籍状态、就读学校、年级和入学日期。用于学生"
                "资助、随迁子女升学和户籍迁移等事项，替代学校开具在读证明。",
        sharing_condition="限于学生资助、升学和户籍迁移等事项，按次核验；学生多为不满十四周岁的未成年人，"
                          "其信息全部按敏感个人信息处理，默认只返回学籍状态核验结论。",
        legal_basis=f"《中华人民共和国义务教育法》第十二条；《中华人民共和国未成年人保护法》第七十二条；"
                    f"{PIPL}第二十八条、第三十一条、第三十四条；{PROVINCIAL}。"),
        ServiceInput(
            endpoint_url="https://edu.yunxi.example.gov.cn/api/student-status/v1/verify", http_method="POST",
            service_description="POST 提交学生公民身份号码和姓名（JSON），返回学籍状态；经授权的调用方同时"
                                "得到就读学校、年级和入学日期。",
            items=[
                _sensitive("student_status", "学籍状态", "student status", FieldType.ENUMERATION,
                           description="在读、休学、转出、毕业或无学籍。"),
                _sensitive("school_name", "就读学校", "school"),
                _sensitive("grade_level", "年级", "grade"),
                _sensitive("enrolled_on", "入学日期", "date enrolled", FieldType.DATE, masking="date_year"),
            ])),
    ApiResource(BIRTH, "YX-HEALTH", _departmental(
        "001", name="出生医学证明信息核验",
        summary="按出生医学证明编号核验新生儿姓名、性别、出生日期、签发机构和父母信息。用于“出生一件事”中的"
                "新生儿户口登记、医保参保和社会保障卡申领，群众不再提交纸质证明。",
        sharing_condition="限于新生儿落户、参保和社会保障卡申领，按次核验；新生儿信息按不满十四周岁未成年人"
                          "的敏感个人信息处理，父母公民身份号码默认脱敏。",
        legal_basis=f"《中华人民共和国母婴保健法》第二十三条；{PIPL}第十三条、第二十八条、第三十一条、"
                    f"第三十四条；{PROVINCIAL}。"),
        ServiceInput(
            endpoint_url="https://wjw.yunxi.example.gov.cn/api/birth-certificate/v1/verify", http_method="POST",
            service_description="POST 提交出生医学证明编号和新生儿姓名（JSON），返回证明记载的信息；编号不存在"
                                "或已作废时返回未通过核验。",
            items=[
                _sensitive("certificate_number", "出生医学证明编号", "birth certificate number", masking="keep:1:4"),
                _sensitive("newborn_name", "新生儿姓名", "newborn's name", masking="name"),
                _sensitive("newborn_gender", "新生儿性别", "newborn's gender", FieldType.ENUMERATION),
                _sensitive("birth_date", "出生日期", "date of birth", FieldType.DATE, masking="date_year"),
                _internal("issuing_institution", "签发机构", "issuing institution"),
                _personal("mother_name", "母亲姓名", "mother's name", masking="name", grade=Grade.IMPORTANT),
                _sensitive("mother_resident_id", "母亲公民身份号码", "mother's resident ID number",
                           masking="keep:6:4"),
                _personal("father_name", "父亲姓名", "father's name", masking="name", grade=Grade.IMPORTANT),
                _sensitive("father_resident_id", "父亲公民身份号码", "father's resident ID number",
                           masking="keep:6:4"),
            ])),
    ApiResource(POPULATION_THEME, "YX-DATA", ResourceInput(
        name="人口与地址分布专题（按乡镇街道）", kind=ResourceKind.THEMATIC, item_code="10", category_code="001",
        format=ResourceFormat.API, update_cycle=UpdateCycle.MONTHLY,
        summary="由人口、标准地址和宏观经济基础信息汇总：各乡镇（街道）的户籍人口、60岁及以上户籍人口和标准"
                "地址数量，县级以上区划另附年末常住人口。供养老服务设施布局、基层治理网格划分和公共服务规划"
                "使用。只含汇总数，不含个人信息；人数少于10人的统计单元不单列。",
        sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.CONDITIONAL,
        opening_condition="经申请并签订数据利用协议后向科研机构和社会开放，仅用于研究和公共服务规划。"),
        ServiceInput(
            endpoint_url="https://data.yunxi.example.gov.cn/api/themes/population-distribution/v1",
            http_method="GET",
            service_description="GET ?division_code=&period= 返回该区划及其下级乡镇（街道）的汇总数据；"
                                "统计期为月份（YYYY-MM）。",
            items=[
                _public("division_code", "行政区划代码", "division code"),
                _public("division_name", "行政区划名称", "division name"),
                _public("period", "统计期", "period"),
                _internal("household_population", "户籍人口数", "registered population", FieldType.INTEGER),
                _internal("elderly_population", "60岁及以上户籍人口数", "registered population aged 60 and over",
                          FieldType.INTEGER),
                _internal("address_count", "标准地址数", "standard addresses", FieldType.INTEGER),
                _public("resident_population", "年末常住人口（万人）", "year-end resident population (10,000)",
                        FieldType.DECIMAL, "县级以上区划取自宏观经济基础信息，乡镇（街道）为空。"),
            ]),
        sources=(base.PERSONS, base.STANDARD_ADDRESSES, base.MACRO_INDICATORS)),
)

# Pairs of resources that a reader of one should also know about (the relation goes both ways).
RELATED: tuple[tuple[str, str], ...] = (
    (base.PERSONS, base.STANDARD_ADDRESSES),
    (base.LEGAL_ENTITIES, base.STANDARD_ADDRESSES),
    (base.LAND_PARCELS, base.STANDARD_ADDRESSES),
    (MARRIAGE, base.PERSONS),
    (SOCIAL_INSURANCE, base.PERSONS),
    (SOCIAL_INSURANCE, base.LEGAL_ENTITIES),
    (ENROLMENT, base.PERSONS),
    (ENROLMENT, base.STANDARD_ADDRESSES),
    (BIRTH, base.PERSONS),
)

# --- rights ---------------------------------------------------------------------------------------------------


def _processing(*department_codes: str) -> list[HolderInput]:
    return [HolderInput(RightKind.PROCESSING, department_code=code) for code in department_codes]


OPERATOR = HolderInput(RightKind.OPERATION, name=OPERATOR_NAME, credit_code=OPERATOR_CREDIT_CODE)

# The persons and land-parcel registries hold individuals' identity numbers: nobody is given the right to
# operate products on them.
RIGHTS: dict[str, RightsInput] = {
    base.PERSONS: RightsInput(
        holder_code="YX-PSB", source_system="公安人口信息管理系统",
        collection_legal_basis="《中华人民共和国户口登记条例》；《中华人民共和国居民身份证法》。",
        provenance_note="户籍民警在办理户口登记和居民身份证申领时采集、审核，由省公安厅人口信息系统每日同步至"
                        "市人口基础信息库。",
        holders=_processing("YX-GSC", "YX-HRSS", "YX-MCA", "YX-HSA")),
    base.LEGAL_ENTITIES: RightsInput(
        holder_code="YX-AMR", source_system="市场主体登记注册系统",
        collection_legal_basis="《中华人民共和国市场主体登记管理条例》。",
        provenance_note="市场主体申请设立、变更和注销登记时提交，经登记机关审核后入库；公示信息同步推送国家企业"
                        "信用信息公示系统。",
        holders=[*_processing("YX-GSC", "YX-HRSS", "YX-COMM"), OPERATOR]),
    base.LAND_PARCELS: RightsInput(
        holder_code="YX-NRP", source_system="不动产登记信息管理平台",
        collection_legal_basis="《不动产登记暂行条例》；《中华人民共和国民法典》物权编。",
        provenance_note="不动产登记机构依申请登簿时形成；宗地界址来自地籍调查测量成果，土地承包经营权部分承接"
                        "农村土地承包经营权确权登记颁证成果。",
        holders=_processing("YX-HUD", "YX-AGRI")),
    base.STANDARD_ADDRESSES: RightsInput(
        holder_code="YX-NRP", source_system="标准地址管理系统",
        collection_legal_basis="《地名管理条例》。",
        provenance_note="依地名命名和门楼牌编制成果采集，坐标经实地测量，公安、民政部门核对后入库。",
        holders=[*_processing("YX-PSB", "YX-GSC", "YX-12345", "YX-EMB"), OPERATOR]),
    base.MACRO_INDICATORS: RightsInput(
        holder_code="YX-STATS", source_system="统计联网直报和数据处理系统",
        collection_legal_basis="《中华人民共和国统计法》；《中华人民共和国统计法实施条例》。",
        provenance_note="由统计调查和联网直报汇总形成，经市统计局审定后随统计公报和季度主要经济指标发布。",
        holders=[*_processing("YX-GOV", "YX-FIN", "YX-COMM"), OPERATOR]),
    SOCIAL_INSURANCE: RightsInput(
        holder_code="YX-HRSS", source_system="社会保险信息系统（金保工程）",
        collection_legal_basis="《中华人民共和国社会保险法》第七十四条。",
        provenance_note="用人单位和个人办理参保登记、缴费申报时形成；缴费数据每日与税务部门征收数据对账。"
                        "产品经营权限于经本人授权、原始数据不出域的普惠金融授信评估产品。",
        holders=[*_processing("YX-GSC", "YX-HUD", "YX-EDU"), OPERATOR]),
}

DISPUTED = base.LAND_PARCELS
DISPUTE_RAISED_BY = "YX-AGRI"
DISPUTE_REASON = ("宗地数据中权利类型为土地承包经营权的部分，来源于本局组织的农村土地承包经营权确权登记颁证成果，"
                  "依《中华人民共和国农村土地承包法》由农业农村主管部门负责管理。本局认为该部分数据应登记为本局"
                  "持有或两局共同持有，而不仅是本局享有加工使用权。请市数据资源管理局协调认定。")

# --- seeding --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogSeedSummary:
    """What one seeding did (nothing on a second run)."""

    published: int
    registrations: int
    disputes: int
    seconds: float

    def describe(self) -> str:
        return (f"Catalog: {self.published} resources published, {self.registrations} rights registrations, "
                f"{self.disputes} dispute(s) raised in {self.seconds:.1f} s.")


def _related_ids(key: str, resources: dict[str, Resource]) -> list[int]:
    """Every resource already there that is related to `key`, so setting them keeps the links made before."""
    others = [b if a == key else a for a, b in RELATED if key in (a, b)]
    return [resources[other].pk for other in others if other in resources]


def _publish_base(resources: dict[str, Resource]) -> int:
    published = 0
    for code, metadata in BASE_METADATA.items():
        resource = resources[code]
        if resource.published_on is not None:
            continue
        data = dataclasses.replace(metadata, related=_related_ids(code, resources))
        resources[code] = actions.publish_resource(None, actions.update_resource(None, resource, data))
        published += 1
    return published


def _publish_apis(resources: dict[str, Resource]) -> int:
    providers = {d.code: d for d in Department.objects.filter(code__in=[a.provider_code for a in API_RESOURCES])}
    published = 0
    for api in API_RESOURCES:
        provider = providers[api.provider_code]
        existing = Resource.objects.filter(provider=provider, name=api.metadata.name, registry=None).first()
        if existing is not None:
            resources[api.key] = existing
            continue
        data = dataclasses.replace(
            api.metadata, related=_related_ids(api.key, resources),
            sources=[resources[source].pk for source in api.sources],
            subcategory_code=provider.credit_code if api.metadata.kind == ResourceKind.DEPARTMENTAL else "")
        created = actions.create_api_resource(None, provider=provider, data=data, service=api.service)
        resources[api.key] = actions.publish_resource(None, created)
        published += 1
    return published


def _register(resources: dict[str, Resource]) -> int:
    registered = 0
    for key, rights in RIGHTS.items():
        resource = resources[key]
        if resource.status != ResourceStatus.PUBLISHED or resource.rights_registrations.exists():
            continue
        actions.register_rights(None, resource, rights)
        registered += 1
    return registered


def _raise_dispute(resources: dict[str, Resource]) -> int:
    registration = RightsRegistration.objects.filter(resource=resources[DISPUTED]).order_by("registered_at").first()
    if registration is None or RightsDispute.objects.filter(registration=registration).exists():
        return 0
    officer = User.objects.filter(staff__department__code=DISPUTE_RAISED_BY, groups__name=roles.DATA_OFFICER,
                                  is_active=True).order_by("username").first()
    if officer is None:  # the dispute is the agriculture bureau's, never the platform's
        raise User.DoesNotExist(f"{DISPUTE_RAISED_BY} has no active data officer to raise the demo dispute; "
                                "seed the demo city first")
    actions.raise_dispute(officer, registration, reason=DISPUTE_REASON)
    return 1


def seed_catalog() -> CatalogSeedSummary:
    """Complete and publish the base resources, add the departments' APIs and the thematic resource, register
    rights and raise the dispute, each only where it is not done yet. All of it or nothing."""
    started = time.monotonic()
    with transaction.atomic():
        resources = {code: resource for code in BASE_METADATA
                     if (resource := Resource.objects.filter(registry__code=code).first()) is not None}
        missing = [code for code in BASE_METADATA if code not in resources]
        if missing:
            raise Resource.DoesNotExist(f"the base registries {', '.join(missing)} have no catalog resource; "
                                        "seed the base registries first")
        published = _publish_base(resources) + _publish_apis(resources)
        registrations = _register(resources)
        disputes = _raise_dispute(resources)
    return CatalogSeedSummary(published, registrations, disputes, time.monotonic() - started)
