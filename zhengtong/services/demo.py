"""The demo city's online services (一网通办): the shipped processes and decision table, twelve service items of
云溪市's departments, and a few hundred applications in every state, made by demo citizens and decided by demo
staff.

Every value is synthetic; the laws and regulations cited as legal bases are real. Everything goes through the
platform's own actions, so each step is checked, audited and notified as it would be in use: processes are
uploaded with `upload_process`/`upload_decision`, items defined and published with the items actions (as the
platform at the shell), applications started, answered, given their materials (or a signed commitment 告知承诺)
and submitted with the applying actions, and decided through the engine with the workbench's `claim_task` and
`decide_task` by staff who hold the task's role in its department; applicants answer corrections and withdraw
with their own actions. Staff who read the applicant's persons record on the task page do so under a grant the
governance office issues with `exchange.actions.issue_grant`.

Dates. The actions stamp the present, while the demo's applications were made over the last 60 days. Each
application's story is played move by move; afterwards, in the same transaction, every time the story's rows
carry (the application's, its tasks', comments', materials' and the notifications it caused) is moved to the
story's working day and hour, piecewise (a row stamped during move i gets move i's date plus the seconds the
move took), the clock pauses are given the days of their return and correction, and the deadlines are counted
again from the restated dates on the working-day calendar with those pauses. The workflow's own serialised state
and the audit trail are not rewritten: audit entries keep their real times, one more entry per application,
`services.demo_restate_dates`, records the dates the demo gave it, and a reminder timer counts from the seeding.
The notifications' email and SMS copies go out when the seed commits, through the configured backends.

Seeding again adds nothing twice: processes are found by their file's digest, items by code, staff and citizen
logins by user name, a department's grant by consumer and resource, and an application by its applicant and the
submission token the demo gives it (`demo-<seed>-<nnnn>`), which `start_draft` looks up itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone, translation
from faker import Faker
from reportlab.pdfgen import canvas
from tqdm import tqdm

from zhengtong.audit import actions as audit
from zhengtong.catalog.models import Resource, ResourceStatus
from zhengtong.core import calendar
from zhengtong.core.evidence import Evidence
from zhengtong.exchange import demo as sharing_demo
from zhengtong.exchange.actions import sharing
from zhengtong.exchange.models import Grant
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED, DEMO_PASSWORD, TRAINING_COURSE, totp_secret_for
from zhengtong.identity.models import Citizen, DataScope, Department, User
from zhengtong.registries import base
from zhengtong.services.actions import applications as applying
from zhengtong.services.actions import items, tasks
from zhengtong.services.actions.definitions import upload_decision, upload_process
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    ClockPause,
    DecisionDefinition,
    MaterialProvision,
    MaterialSource,
    Notification,
    ProcessDefinition,
    ServiceItem,
    TaskComment,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)

PROCESSES = Path(__file__).resolve().parent / "processes"
PROCESS_FILES = ("single_approval.bpmn", "joint_review.bpmn", "instant_approval.bpmn")
DECISION_FILES = ("senior_allowance.dmn",)
DEFAULT_APPLICATIONS = 300
SPREAD_DAYS = 60  # calendar days back from today over which applications were made
PURPOSE_OF_GRANT = "政务服务事项办理中，审批人员在办件页面核验申请人身份、户籍和家庭情况。"
GRANT_FIELDS = ("resident_id", "name", "gender", "birth_date", "household_division", "residence_address",
                "mobile_phone", "marital_status", "status")
LEGAL_BASIS_OF_GRANT = ("《国务院关于在线政务服务的若干规定》（国务院令第716号）第六条：政务服务机构应当通过共享"
                        "获取的电子证照和数据，不得要求申请人重复提交；《中华人民共和国个人信息保护法》第十三条"
                        "第一款第三项、第三十四条。")

# --- the items ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """A question of an item's form, and what the demo's applicants answer when it is asked: one of `samples`
    (or of the choices), or for a date a day `days` before (negative: after) the day they apply."""

    name: str
    label: str
    type: str = "text"
    prefill: tuple[str, str] | None = None  # (registry, field) the government holds it in
    samples: tuple[str, ...] = ()
    choices: tuple[str | tuple[str, str], ...] = ()  # (value, label), or a label that is its own value
    days: tuple[int, int] = (30, 3650)
    hint: str = ""
    required: bool = True

    @property
    def options(self) -> list[tuple[str, str]]:
        return [(c, c) if isinstance(c, str) else c for c in self.choices]

    def question(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "type": self.type, "required": self.required,
                "hint": self.hint, "choices": [{"value": value, "label": label} for value, label in self.options],
                "prefill": {"registry": self.prefill[0], "field": self.prefill[1]} if self.prefill else None}


@dataclass(frozen=True)
class Need:
    """A material: the applicant uploads it, unless the platform obtains it from a registry field about the
    applicant or from the approved result of an earlier item; `commit`: a signed commitment may replace it."""

    code: str
    name: str
    required: bool = True
    registry: tuple[str, str] | None = None
    earlier: str = ""
    commit: bool = False


@dataclass(frozen=True)
class ItemSpec:
    code: str
    name: str
    item_type: str
    department: str  # department code in the demo city
    process: str  # the BPMN process id
    summary: str
    legal_basis: str
    conditions: str
    statutory_days: int
    promised_days: int
    form: tuple[Ask, ...]
    materials: tuple[Need, ...]
    rejections: tuple[str, ...]  # reasons staff give when they reject
    corrections: tuple[str, ...]  # what staff ask the applicant to correct
    fee: str = "不收费"
    cooperating: tuple[str, ...] = ()
    decision: str = ""  # the DMN decision id for automatic approval
    channels: tuple[str, ...] = ("online", "mobile", "window")
    life_situations: tuple[str, ...] = ()
    keywords: str = ""
    share: int = 2  # the item's relative share of the demo's applications
    ages: tuple[int, int] = (18, 120)  # who applies, by age

    @property
    def commitment_allowed(self) -> bool:
        return any(need.commit for need in self.materials)


ID_CARD = Need("id_card", "居民身份证", registry=(base.PERSONS, "resident_id"))
HUKOU = Need("hukou", "居民户口簿", registry=(base.PERSONS, "household_division"))
NAME = Ask("applicant_name", "申请人姓名", prefill=(base.PERSONS, "name"), samples=("申请人",))
PHONE = Ask("phone", "联系电话", prefill=(base.PERSONS, "mobile_phone"), samples=("13908760123", "18787012345"),
            hint="审批结果和补正通知以短信发送到这个号码。")
HOUSEHOLD = Ask("household_division", "户籍所在地（行政区划代码）", prefill=(base.PERSONS, "household_division"),
                samples=("532322001", "532325101"))
ADDRESS = Ask("residence_address", "现居住地址", prefill=(base.PERSONS, "residence_address"),
              samples=("云岭省云溪市溪城区人民路18号3幢2单元502室", "云岭省云溪市东湖区建设路66号"))
BANKS = ("中国农业银行", "中国工商银行", "中国建设银行", "中国邮政储蓄银行", "云溪农村商业银行")
HOSPITALS = ("云溪市第一人民医院", "云溪市妇幼保健院", "溪城区人民医院", "东湖区妇幼保健院", "青林县人民医院")
RESULT_PERMIT = "YX-NRP-XK-0001"
RESULT_BIRTH_CERTIFICATE = "YX-HEALTH-GG-0001"
RESULT_SUBSISTENCE = "YX-MCA-JZ-0001"

ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(
        "YX-AMR-DJ-0001", "个体工商户设立登记", "registration", "YX-AMR", "single_approval",
        summary="有经营能力的公民从事工商业经营，向市场监督管理部门申请个体工商户设立登记，领取营业执照。"
                "全程网办，住所（经营场所）可以承诺代替证明。",
        legal_basis="《促进个体工商户发展条例》（国务院令第755号）第二条、第七条；《中华人民共和国市场主体登记管理"
                    "条例》（国务院令第746号）第二条、第八条、第十九条；《中华人民共和国市场主体登记管理条例实施"
                    "细则》（国家市场监督管理总局令第52号）。",
        conditions="有经营能力的公民；名称不与本辖区已登记的市场主体名称相同；经营范围不属于法律、行政法规禁止"
                   "经营的项目；有固定的经营场所。",
        statutory_days=3, promised_days=1, life_situations=("business",),
        keywords="个体户 营业执照 开店 个体工商户注册 经营者",
        form=(NAME, PHONE,
              Ask("business_name", "个体工商户名称", samples=("云溪市溪城区老李家米线店", "东湖区晓梅便利店",
                                                      "云溪市南屏区宏达汽车修理部", "青林县山泉茶叶店")),
              Ask("premises", "经营场所", samples=("云溪市溪城区人民路56号", "云溪市东湖区建设路102号商铺",
                                               "青林县松溪镇兴业街8号")),
              Ask("scope", "经营范围", "textarea", samples=("小吃服务；食品销售（仅销售预包装食品）。",
                                                       "日用百货销售；烟草制品零售。",
                                                       "机动车修理和维护；汽车零配件零售。")),
              Ask("organisation", "组成形式", "choice", choices=("个人经营", "家庭经营")),
              Ask("capital", "资金数额（万元）", "number", samples=("3", "5", "10", "20"))),
        materials=(ID_CARD, Need("premises_proof", "经营场所使用证明", commit=True),
                   Need("family_proof", "家庭成员关系证明（家庭经营的）", required=False)),
        rejections=("申请的名称与本辖区已登记的个体工商户名称相同，依《中华人民共和国市场主体登记管理条例》"
                    "第十条不予登记，请另拟名称后重新申请。",
                    "经营范围中的“烟花爆竹零售”须先取得许可，本次申请未提交许可证明，不予登记。"),
        corrections=("经营场所地址缺少门牌号，请补正到门牌号，并上传清晰的场所使用证明。",
                     "经营范围表述不规范，请按《经营范围登记规范表述目录》选择后重新填写。"),
        share=4,
    ),
    ItemSpec(
        "YX-PSB-HJ-0001", "居住证申领", "public_service", "YX-PSB", "single_approval",
        summary="离开常住户口所在地，到本市居住半年以上的公民，可以申领居住证，凭证享受本市基本公共服务和便利。",
        legal_basis="《居住证暂行条例》（国务院令第663号）第二条、第九条、第十条、第十五条。",
        conditions="离开常住户口所在地到本市居住半年以上，并符合有合法稳定就业、合法稳定住所、连续就读条件之一。",
        statutory_days=15, promised_days=7, fee="首次申领免费；换领、补领按规定收取证件工本费。",
        life_situations=("moving",), keywords="居住证 暂住证 流动人口 积分入学 随迁子女",
        form=(NAME, PHONE, ADDRESS,
              Ask("basis", "居住事由", "choice", choices=("合法稳定就业", "合法稳定住所", "连续就读")),
              Ask("since", "在本市居住起始日期", "date", days=(190, 1500)),
              Ask("employer", "工作单位或就读学校", samples=("云溪市新华书店", "云溪职业技术学院",
                                                        "云溪高新区恒达电子有限公司"), required=False)),
        materials=(ID_CARD, Need("photo", "本人近期免冠数码照片"),
                   Need("residence_proof", "居住证明（房屋租赁合同、房屋产权证明或者住宿证明）", commit=True)),
        rejections=("经核查，申请人在本市居住未满半年，不符合《居住证暂行条例》第二条规定的申领条件。",),
        corrections=("上传的照片背景不是白色，请按证件照标准重新上传。",
                     "房屋租赁合同未显示租赁期限，请补充完整的合同页面。"),
        share=4,
    ),
    ItemSpec(
        "YX-MCA-FL-0001", "高龄津贴申领", "benefit", "YX-MCA", "instant_approval", decision="senior_allowance",
        summary="本市户籍、年满80周岁的老年人申领高龄津贴。平台经统一数据通道核验户籍和年龄，符合条件的即时办结"
                "（秒批），次月起按月发放。",
        legal_basis="《中华人民共和国老年人权益保障法》第三十三条；《财政部 民政部 全国老龄办关于建立健全经济困难的"
                    "高龄 失能等老年人补贴制度的通知》（财社〔2014〕113号）。",
        conditions="具有本市户籍；年满80周岁。",
        statutory_days=20, promised_days=5, life_situations=("retirement",),
        keywords="高龄津贴 高龄补贴 老年人 80岁 秒批 养老",
        form=(NAME, PHONE, HOUSEHOLD,
              Ask("birth_date", "出生日期", "date", prefill=(base.PERSONS, "birth_date"), days=(29500, 34000)),
              # The decision table reads this answer by its name.
              Ask("receiving_allowance", "是否已在其他地方领取高龄津贴或百岁老人长寿补贴", "choice",
                  choices=(("no", "否"), ("yes", "是"))),
              Ask("bank", "发放银行", "choice", choices=BANKS),
              Ask("account", "银行账号或社会保障卡号", samples=("6228480123456789012", "6217000012345678901"))),
        materials=(ID_CARD, HUKOU, Need("agent_id", "代办人身份证明（代为申请的）", required=False)),
        rejections=("经核验，申请人未满80周岁，不符合高龄津贴发放条件；年满80周岁后可再次申请。",
                    "申请人户籍不在本市，请向户籍所在地民政部门申请。"),
        corrections=("银行账号与申请人姓名不一致，请提供申请人本人名下的银行账号。",),
        share=4, ages=(60, 120),
    ),
    ItemSpec(
        RESULT_PERMIT, "建设工程规划许可证核发", "licence", "YX-NRP", "single_approval",
        summary="在城市、镇规划区内进行建筑物、构筑物、道路、管线和其他工程建设的，建设单位或者个人申请办理建设"
                "工程规划许可证。",
        legal_basis="《中华人民共和国城乡规划法》第四十条；《中华人民共和国行政许可法》第三十二条、第四十二条。",
        conditions="已取得建设用地使用权；建设工程设计方案符合控制性详细规划和规划条件。",
        statutory_days=20, promised_days=10, life_situations=("business",),
        keywords="规划许可 建设工程规划许可证 工程建设 设计方案",
        form=(Ask("builder", "建设单位", samples=("云溪市城市建设投资有限公司", "云溪宏远房地产开发有限公司",
                                                 "云溪市第一中学")),
              Ask("project", "项目名称", samples=("溪城区人民路安置房项目", "东湖片区综合管廊工程",
                                                 "云溪市第一中学教学楼扩建工程")),
              Ask("parcel", "宗地代码", samples=("532322001001GB00012", "532323002003GB00105")),
              Ask("floor_area", "总建筑面积（平方米）", "number", samples=("12800", "45600", "8300"))),
        materials=(Need("land_title", "国有建设用地使用权证明", registry=(base.LAND_PARCELS, "parcel_code"),
                        required=False),
                   Need("design", "建设工程设计方案（总平面图、建筑单体方案）")),
        rejections=("设计方案容积率超过规划条件确定的上限，不符合控制性详细规划，不予许可。",),
        corrections=("总平面图未标注建筑退让道路红线距离，请补充后重新上传。",),
        share=2,
    ),
    ItemSpec(
        "YX-HUD-XK-0001", "建筑工程施工许可证核发", "licence", "YX-HUD", "joint_review", cooperating=("YX-NRP",),
        summary="在本市建设工程投资额30万元以上或者建筑面积300平方米以上的建筑工程开工前，建设单位申请领取施工"
                "许可证。住房和城乡建设局牵头，自然资源和规划局并联核查规划许可。",
        legal_basis="《中华人民共和国建筑法》第七条、第八条；《建筑工程施工许可管理办法》（住房和城乡建设部令"
                    "第18号发布，2021年修正）第二条、第四条、第五条。",
        conditions="已办理用地批准手续；已取得建设工程规划许可证；施工场地已具备施工条件；已确定施工企业；有满足"
                   "施工需要的资金安排、施工图纸及技术资料；有保证工程质量和安全的具体措施。",
        statutory_days=7, promised_days=3, life_situations=("business",),
        keywords="施工许可 开工 建筑工程 工程建设项目审批 并联审批",
        form=(Ask("builder", "建设单位", samples=("云溪市城市建设投资有限公司", "云溪宏远房地产开发有限公司")),
              Ask("project", "工程名称", samples=("溪城区人民路安置房项目1号楼", "东湖片区综合管廊工程一标段")),
              Ask("contractor", "施工单位", samples=("云岭建工集团有限公司", "云溪市第二建筑工程有限公司")),
              Ask("contract_price", "合同价格（万元）", "number", samples=("860", "2350", "12800")),
              Ask("start_on", "计划开工日期", "date", days=(-30, -5))),
        materials=(Need("planning_permit", "建设工程规划许可证", earlier=RESULT_PERMIT),
                   Need("contract", "施工合同"),
                   Need("funding", "建设资金已经落实承诺书", commit=True),
                   Need("quality_measures", "质量安全措施文件")),
        rejections=("建设工程规划许可证载明的建设规模与申请不一致，自然资源和规划局核查不通过，不予许可。",
                    "施工企业资质等级不满足本工程要求，不予许可。"),
        corrections=("施工合同缺少签章页，请补充完整的施工合同。",
                     "质量安全措施文件未包含深基坑专项施工方案，请补充。"),
        share=2,
    ),
    ItemSpec(
        RESULT_SUBSISTENCE, "最低生活保障申请", "benefit", "YX-MCA", "single_approval",
        summary="共同生活的家庭成员人均收入低于本市最低生活保障标准、且财产状况符合规定的本市户籍家庭，申请最低"
                "生活保障。家庭经济状况由民政部门经信息核对平台核对。",
        legal_basis="《社会救助暂行办法》（国务院令第649号）第九条至第十三条；《最低生活保障审核确认办法》"
                    "（民发〔2021〕57号）。",
        conditions="持有本市户籍；共同生活的家庭成员人均收入低于本市最低生活保障标准；家庭财产状况符合本市规定。",
        statutory_days=30, promised_days=20, keywords="低保 最低生活保障 社会救助 困难家庭",
        form=(NAME, PHONE, HOUSEHOLD,
              Ask("family_size", "共同生活的家庭成员人数", "number", samples=("1", "2", "3", "4", "5")),
              Ask("monthly_income", "家庭月收入合计（元）", "number", samples=("600", "900", "1200", "1500")),
              Ask("housing", "住房情况", "choice", choices=("自有住房", "租赁住房", "借住亲友住房")),
              Ask("hardship", "申请原因", "textarea", samples=("家庭主要劳动力患重病，无法工作，收入微薄。",
                                                        "本人残疾，独自生活，无固定收入。",
                                                        "配偶去世，抚养两个未成年子女，收入不足。"))),
        materials=(ID_CARD, HUKOU, Need("authorisation", "家庭经济状况核对授权书"),
                   Need("income", "家庭收入和财产状况申报", commit=True),
                   Need("medical", "患病、残疾等证明材料", required=False)),
        rejections=("经信息核对，申请家庭名下有机动车两辆，家庭财产状况不符合本市最低生活保障规定。",
                    "经入户调查，申请家庭人均收入高于本市最低生活保障标准。"),
        corrections=("家庭经济状况核对授权书缺少共同生活家庭成员的签字，请全部成员签字后重新上传。",),
        share=3,
    ),
    ItemSpec(
        RESULT_BIRTH_CERTIFICATE, "出生医学证明首次签发", "public_service", "YX-HEALTH", "single_approval",
        summary="新生儿在本市助产机构出生的，由父母申请签发出生医学证明，作为新生儿办理出生登记的依据。",
        legal_basis="《中华人民共和国母婴保健法》第二十三条；《中华人民共和国母婴保健法实施办法》。",
        conditions="新生儿在本市具有助产技术服务资质的医疗机构出生。",
        statutory_days=10, promised_days=3, life_situations=("birth",),
        keywords="出生医学证明 出生证 新生儿 生孩子 一件事",
        form=(NAME, PHONE,
              Ask("baby_name", "新生儿姓名", samples=("李沐阳", "王若曦", "张一诺", "杨子墨", "赵欣怡")),
              Ask("baby_gender", "新生儿性别", "choice", choices=("男", "女")),
              Ask("born_on", "出生日期", "date", days=(2, 25)),
              Ask("hospital", "出生医院", "choice", choices=HOSPITALS),
              Ask("other_parent", "父亲（母亲）姓名", samples=("李建国", "王海燕", "张伟", "杨丽"))),
        materials=(ID_CARD, Need("delivery_record", "住院分娩记录"),
                   Need("marriage", "结婚证", registry=(base.PERSONS, "marital_status"), required=False)),
        rejections=("经核查，新生儿不在本市助产机构出生，请向出生地助产机构申请。",),
        corrections=("分娩记录上的母亲姓名与申请人不一致，请核对后重新上传。",),
        share=3, ages=(20, 42),
    ),
    ItemSpec(
        "YX-PSB-HJ-0002", "出生登记（新生儿落户）", "confirmation", "YX-PSB", "single_approval",
        summary="婴儿出生后一个月以内，由户主、亲属或者抚养人向婴儿常住地户口登记机关申报出生登记。出生医学证明"
                "由平台从已办结的签发结果中调取，不需提交。",
        legal_basis="《中华人民共和国户口登记条例》第七条；《中华人民共和国民法典》第一千零一十五条。",
        conditions="婴儿出生后一个月以内申报；随父或者随母落户。",
        statutory_days=5, promised_days=1, life_situations=("birth",),
        keywords="新生儿落户 出生登记 报户口 上户口 出生一件事",
        form=(NAME, PHONE, HOUSEHOLD,
              Ask("baby_name", "新生儿姓名", samples=("李沐阳", "王若曦", "张一诺", "杨子墨", "赵欣怡")),
              Ask("baby_gender", "新生儿性别", "choice", choices=("男", "女")),
              Ask("born_on", "出生日期", "date", days=(3, 28)),
              Ask("relation", "与户主关系", "choice", choices=("子", "女", "孙子", "孙女"))),
        materials=(Need("birth_certificate", "出生医学证明", earlier=RESULT_BIRTH_CERTIFICATE), ID_CARD, HUKOU,
                   Need("marriage", "结婚证", registry=(base.PERSONS, "marital_status"), required=False)),
        rejections=("新生儿出生医学证明记载的父母信息与申请人不符，不予登记，请核实后重新申请。",),
        corrections=("请上传户主同意新生儿落户的书面意见。",),
        share=3, ages=(20, 45),
    ),
    ItemSpec(
        "YX-MCA-HY-0001", "婚姻登记预约", "public_service", "YX-MCA", "single_approval",
        summary="内地居民办理结婚登记、离婚登记或者补领婚姻登记证，网上预约登记时间和婚姻登记处，当日凭证件到场"
                "办理。",
        legal_basis="《中华人民共和国民法典》第一千零四十九条、第一千零七十六条；《婚姻登记条例》第四条、第五条、"
                    "第十条。",
        conditions="男方年满二十二周岁、女方年满二十周岁；双方自愿；双方均无配偶（结婚登记）。",
        statutory_days=3, promised_days=1, life_situations=("marriage",),
        keywords="结婚登记 离婚登记 婚姻登记 领证 预约 补领结婚证",
        form=(NAME, PHONE,
              Ask("kind", "登记类别", "choice", choices=("结婚登记", "离婚登记", "补领婚姻登记证")),
              Ask("partner_name", "对方姓名", samples=("陈晓东", "刘佳", "周敏", "黄志强")),
              Ask("appointment", "预约登记日期", "date", days=(-20, -2)),
              Ask("office", "婚姻登记处", "choice", choices=("云溪市婚姻登记处", "溪城区婚姻登记处",
                                                          "东湖区婚姻登记处"))),
        materials=(ID_CARD, HUKOU, Need("photos", "双方近期半身免冠合影照片")),
        rejections=("所选日期该登记处预约已满，本次预约未成功，请改约其他日期。",),
        corrections=("合影照片不符合要求（须为红色背景），请重新上传。",),
        share=3, ages=(22, 60),
    ),
    ItemSpec(
        "YX-MCA-CJ-0001", "困难残疾人生活补贴和重度残疾人护理补贴申请", "benefit", "YX-MCA", "single_approval",
        summary="低保家庭中的残疾人申请生活补贴，残疾等级为一级、二级且需要长期照护的重度残疾人申请护理补贴"
                "（残疾人两项补贴）。",
        legal_basis="《中华人民共和国残疾人保障法》第四十八条；《国务院关于全面建立困难残疾人生活补贴和重度残疾人"
                    "护理补贴制度的意见》（国发〔2015〕52号）。",
        conditions="持有第二代中华人民共和国残疾人证；生活补贴：低保家庭中的残疾人；护理补贴：残疾等级为一级、"
                   "二级且需要长期照护的重度残疾人。",
        statutory_days=20, promised_days=15, life_situations=("disability",),
        keywords="残疾人两项补贴 残疾人补贴 护理补贴 生活补贴 残疾人证",
        form=(NAME, PHONE,
              Ask("disability", "残疾类别", "choice", choices=("视力", "听力", "言语", "肢体", "智力", "精神",
                                                              "多重")),
              Ask("grade", "残疾等级", "choice", choices=("一级", "二级", "三级", "四级")),
              Ask("certificate", "残疾人证号", samples=("53232219560312123X44", "53232519801105234141")),
              Ask("subsidy", "申请补贴", "choice", choices=("生活补贴", "护理补贴", "两项补贴"))),
        materials=(ID_CARD, Need("disability_card", "中华人民共和国残疾人证（第二代）"),
                   Need("subsistence", "最低生活保障证明", earlier=RESULT_SUBSISTENCE, required=False)),
        rejections=("申请人残疾等级为四级，不符合重度残疾人护理补贴条件；申请人家庭不是低保家庭，不符合困难残疾人"
                    "生活补贴条件。",),
        corrections=("残疾人证照片页不清晰，请重新上传。",),
        share=2,
    ),
    ItemSpec(
        "YX-HUD-ZB-0001", "公共租赁住房申请", "benefit", "YX-HUD", "single_approval",
        summary="本市住房困难的中等偏下收入家庭、新就业无房职工和在本市稳定就业的外来务工人员申请公共租赁住房。"
                "婚姻状况和户籍由平台核验，收入和住房情况可以承诺代替证明。",
        legal_basis="《公共租赁住房管理办法》（住房和城乡建设部令第11号）第七条、第九条、第十条。",
        conditions="在本市无住房或者住房面积低于规定标准；收入、财产低于规定标准；外来务工人员在本市稳定就业达到"
                   "规定年限。",
        statutory_days=20, promised_days=15, life_situations=("housing",),
        keywords="公租房 公共租赁住房 保障房 住房保障 租房",
        form=(NAME, PHONE, ADDRESS,
              Ask("family_size", "申请家庭人数", "number", samples=("1", "2", "3", "4")),
              Ask("monthly_income", "家庭月收入（元）", "number", samples=("2400", "3600", "4800")),
              Ask("housing", "现住房情况", "choice", choices=("无自有住房", "自有住房人均低于15平方米",
                                                           "租住私房")),
              Ask("employer", "工作单位", samples=("云溪市公交集团", "云溪高新区恒达电子有限公司", "灵活就业"))),
        materials=(HUKOU, Need("marriage", "婚姻状况证明", registry=(base.PERSONS, "marital_status")),
                   Need("income", "收入证明", commit=True), Need("housing_status", "住房情况证明", commit=True),
                   Need("employment", "在本市稳定就业证明（外来务工人员）", required=False)),
        rejections=("经核查，申请家庭在本市有自有住房且人均面积高于规定标准，不符合申请条件。",),
        corrections=("收入证明未加盖单位公章，请补正或改为签署承诺书。",),
        share=3,
    ),
    ItemSpec(
        "YX-HRSS-SY-0001", "失业保险金申领", "benefit", "YX-HRSS", "single_approval",
        summary="参加失业保险、非因本人意愿中断就业的失业人员，在本市办理失业登记后申领失业保险金，同时享受代缴"
                "基本医疗保险费。",
        legal_basis="《中华人民共和国社会保险法》第四十五条、第五十条；《失业保险条例》（国务院令第258号）第十四条、"
                    "第十六条；《失业保险金申领发放办法》。",
        conditions="失业前用人单位和本人已经缴纳失业保险费满一年；非因本人意愿中断就业；已经进行失业登记，并有"
                   "求职要求。",
        statutory_days=10, promised_days=3, life_situations=("work",),
        keywords="失业金 失业保险金 失业登记 下岗 离职",
        form=(NAME, PHONE,
              Ask("employer", "原工作单位", samples=("云溪市恒达电子有限公司", "云溪宏远物流有限公司",
                                                   "云溪市百货大楼")),
              Ask("left_on", "劳动关系解除或终止日期", "date", days=(10, 60)),
              Ask("separation", "中断就业原因", "choice", choices=("劳动合同期满终止", "用人单位解除劳动合同",
                                                               "用人单位破产、关闭", "其他非本人意愿原因")),
              Ask("bank", "发放银行", "choice", choices=BANKS),
              Ask("account", "银行账号或社会保障卡号", samples=("6228480123456789012", "6217000012345678901"))),
        materials=(ID_CARD, Need("termination", "解除或者终止劳动关系的证明")),
        rejections=("经核查，申请人系本人提出辞职，不属于非因本人意愿中断就业，不符合领取条件。",
                    "申请人失业前累计缴纳失业保险费不满一年，不符合领取条件。"),
        corrections=("解除劳动关系证明未注明解除原因，请原单位补充后重新上传。",),
        share=3, ages=(18, 60),
    ),
)

# --- the applications' stories --------------------------------------------------------------------------------

# A story is the moves of one application, in order: "submit"; "approve", "reject", "return" (a staff member of
# the next waiting task's department and role claims and decides it); "claim" (claims it and leaves it);
# "correct" and "withdraw" (the applicant); "check" (the post-check of a commitment is done). A story without
# "submit" stays a draft. Moves left when the application is decided are skipped.
APPROVE_ALL = ("approve",) * 6
PLOTS: tuple[tuple[int, tuple[str, ...]], ...] = (  # (weight, moves)
    (8, ()),
    (9, ("submit",)),
    (5, ("submit", "claim")),
    (9, ("submit", "approve")),
    (5, ("submit", "approve", "claim")),
    (6, ("submit", "approve", "approve")),
    (5, ("submit", "return")),
    (4, ("submit", "approve", "return")),
    (3, ("submit", "return", "correct")),
    (6, ("submit", "approve", "return", "correct", *APPROVE_ALL)),
    (24, ("submit", *APPROVE_ALL, "check")),
    (3, ("submit", "reject")),
    (5, ("submit", "approve", "reject")),
    (2, ("submit", "approve", "approve", "reject")),
    (3, ("submit", "withdraw")),
    (2, ("submit", "approve", "withdraw")),
)
# The citizen persona's own applications: one of each kind a tester wants to see.
PERSONA_PLOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("YX-AMR-DJ-0001", ("submit", "approve", "claim")),
    ("YX-PSB-HJ-0001", ("submit", "return")),
    ("YX-MCA-FL-0001", ("submit", *APPROVE_ALL)),
    (RESULT_BIRTH_CERTIFICATE, ("submit", *APPROVE_ALL)),
    ("YX-PSB-HJ-0002", ()),
    ("YX-HRSS-SY-0001", ("submit", "approve", "reject")),
    ("YX-MCA-HY-0001", ("submit", "withdraw")),
    ("YX-HUD-ZB-0001", ("submit", "approve", "return", "correct", "approve")),
)


@dataclass(frozen=True)
class Story:
    number: int  # gives the submission token demo-<seed>-<number>
    item: ItemSpec
    applicant: str  # user name
    moves: tuple[str, ...]
    moments: tuple[dt.datetime, ...]  # when the draft began, then when each move was made


@dataclass
class _Played:
    """What a story did, for the summary."""

    statuses: dict[str, int] = field(default_factory=dict)
    automatic: int = 0


@dataclass(frozen=True)
class ServicesSeedSummary:
    """What one seeding added (nothing on a second run), and the logins a tester needs."""

    processes: int
    decisions: int
    items: int
    staff: int
    accounts: int
    grants: int
    applications: int
    statuses: dict[str, int]
    automatic: int
    seconds: float
    logins: tuple[tuple[str, str], ...]  # (who, user name)

    def describe(self) -> str:
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(self.statuses.items()))
        lines = [f"Online services: {self.processes} processes, {self.decisions} decision tables, {self.items} "
                 f"service items, {self.staff} staff, {self.accounts} citizen logins, {self.grants} grants and "
                 f"{self.applications} applications ({statuses or 'none'}; {self.automatic} approved "
                 f"automatically) added in {self.seconds:.1f} s."]
        lines += [f"  {who}: {username}" for who, username in self.logins]
        return "\n".join(lines)


# --- seeding ------------------------------------------------------------------------------------------------

# Staff each item's departments need: the processes give the responsible department's window its acceptance
# step and its approvers review and decide; a co-operating department's approvers review in parallel; a leader
# of the responsible department supervises the load (services.supervise_worktask).
RESPONSIBLE_STAFF = ((roles.WINDOW_STAFF, 2), (roles.APPROVER, 2), (roles.LEADER, 1))
COOPERATING_STAFF = ((roles.APPROVER, 2),)
STAFF_WORDS = {roles.WINDOW_STAFF: "window", roles.APPROVER: "approver", roles.LEADER: "leader"}
STAFF_TITLES = {roles.WINDOW_STAFF: "政务服务窗口受理员", roles.APPROVER: "审批科科员", roles.LEADER: "分管副局长"}
STAFF_SCOPES = {roles.WINDOW_STAFF: DataScope.DIVISION, roles.APPROVER: DataScope.DEPARTMENT,
                roles.LEADER: DataScope.DEPARTMENT_TREE}
CITIZEN_PERSONA = "citizen"
APPROVER_PERSONA = "approver"  # the identity demo's approver, of YX-AMR
SUPERVISED = "YX-AMR"

APPROVALS = {"Task_accept": "申请材料齐全、符合法定形式，予以受理。", "Task_decide": "同意，准予办理。"}
APPROVAL = "经审查，符合法定条件和标准，同意。"
COMMENTS = ("已电话联系申请人核实有关情况，与申请内容一致。", "经信息共享核验，申请人身份和户籍信息无误。",
            "本件请优先办理，申请人系老年人。", "已与协办部门沟通，意见一致。")
WITHDRAWALS = ("已在政务服务中心窗口办理。", "申请信息填写有误，撤回后重新申请。", "情况有变，不再需要办理。")
CORRECTION_NOTE = "已按一次性告知的要求补正，请审查。"
POST_CHECK_NOTE = "已核查原件并实地核实，与申请人承诺的内容一致。"


def _department_codes() -> dict[str, tuple[tuple[str, int], ...]]:
    needs: dict[str, dict[str, int]] = {}
    for spec in ITEMS:
        for code, staff in ((spec.department, RESPONSIBLE_STAFF),
                            *((cooperating, COOPERATING_STAFF) for cooperating in spec.cooperating)):
            for role, count in staff:
                needs.setdefault(code, {})[role] = max(count, needs.get(code, {}).get(role, 0))
    return {code: tuple(roles_.items()) for code, roles_ in needs.items()}


def _upload_definitions() -> tuple[dict[str, ProcessDefinition], DecisionDefinition | None, int, int]:
    """The shipped processes and decision table, uploaded as the platform (an identical file is found by its
    digest and not uploaded again)."""
    added_processes = added_decisions = 0
    decision = None
    for name in DECISION_FILES:  # first: a process's business rule task must name an uploaded table
        before = DecisionDefinition.objects.count()
        decision = upload_decision(None, dmn_xml=(PROCESSES / name).read_text(encoding="utf-8"))
        added_decisions += DecisionDefinition.objects.count() - before
    processes: dict[str, ProcessDefinition] = {}
    for name in PROCESS_FILES:
        before = ProcessDefinition.objects.count()
        definition = upload_process(None, bpmn_xml=(PROCESSES / name).read_text(encoding="utf-8"))
        added_processes += ProcessDefinition.objects.count() - before
        processes[definition.key] = definition
    return processes, decision, added_processes, added_decisions


def _define_items(processes: dict[str, ProcessDefinition], decision: DecisionDefinition | None
                  ) -> tuple[dict[str, ServiceItem], int]:
    existing = {item.code: item for item in ServiceItem.objects.filter(code__in=[s.code for s in ITEMS])}
    codes = {code for spec in ITEMS for code in (spec.department, *spec.cooperating)}
    departments = {d.code: d for d in Department.objects.filter(code__in=codes)}
    added = 0
    for spec in ITEMS:  # in order: an item whose result stands in for a material comes first
        if spec.code in existing:
            continue
        item = items.define_item(None, items.ItemInput(
            code=spec.code, name=spec.name, item_type=spec.item_type,
            responsible_department=departments[spec.department], legal_basis=spec.legal_basis,
            statutory_days=spec.statutory_days, promised_days=spec.promised_days, process=processes[spec.process],
            summary=spec.summary, conditions=spec.conditions, fee=spec.fee,
            cooperating_departments=[departments[code] for code in spec.cooperating], channels=spec.channels,
            life_situations=spec.life_situations, keywords=spec.keywords,
            commitment_allowed=spec.commitment_allowed, form=[ask.question() for ask in spec.form],
            decision=decision if spec.decision else None))
        items.set_materials(None, item, [
            items.MaterialInput(
                code=need.code, name=need.name, required=need.required,
                source=(MaterialSource.REGISTRY if need.registry else MaterialSource.RESULT if need.earlier
                        else MaterialSource.APPLICANT),
                source_registry=need.registry[0] if need.registry else "",
                source_field=need.registry[1] if need.registry else "", source_item=need.earlier,
                commitment_allowed=need.commit)
            for need in spec.materials])
        existing[spec.code] = items.publish_item(None, item)
        added += 1
    return existing, added


def _staff(seed: int) -> tuple[dict[tuple[int, str], list[User]], int]:
    """Each item department's window staff, approvers and leader, created as the identity demo creates its
    staff where the department has fewer; and every active holder of those roles, by (department, role)."""
    departments = {d.code: d for d in Department.objects.filter(code__in=_department_codes())}
    fake = Faker("zh_CN")
    password_hash: str | None = None
    today = timezone.localdate()
    added = 0
    pool: dict[tuple[int, str], list[User]] = {}
    for code, needs in _department_codes().items():
        department = departments[code]
        for role, count in needs:
            holders = list(User.objects.filter(staff__department=department, groups__name=role, is_active=True)
                           .order_by("username"))
            number = 0
            while len(holders) < count:
                number += 1
                username = f"{code.lower()}.{STAFF_WORDS[role]}{number:02d}"
                if User.objects.filter(username=username).exists():
                    continue
                password_hash = password_hash or make_password(DEMO_PASSWORD)
                fake.seed_instance(f"{seed}:{username}")
                user = identity.create_staff(
                    None, username=username, full_name=fake.name(), department=department,
                    employee_number=f"YXS-{username}"[:32], password=None, password_hash=password_hash,
                    data_scope=STAFF_SCOPES[role], title=STAFF_TITLES[role])
                identity.record_training(None, user.staff, course=TRAINING_COURSE,
                                         completed_on=today - dt.timedelta(days=30 + number),
                                         certificate_number=f"YXPX-{today:%Y}-{username}"[:64])
                identity.set_roles(None, user, [role])
                identity.mark_demo_account(user, totp_secret=totp_secret_for(seed, username))
                holders.append(user)
                added += 1
            pool[(department.pk, role)] = holders
    return pool, added


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _citizen_logins(count: int) -> tuple[dict[str, User], int]:
    """The citizen persona and `count` more demo citizen logins (citizen01, ...): a citizen without a login is
    given one, the first few old enough for the senior allowance, the next young parents, then anyone adult."""
    today = timezone.localdate()
    logins = {u.username: u for u in User.objects.filter(
        username__in=[CITIZEN_PERSONA, *(f"{CITIZEN_PERSONA}{n:02d}" for n in range(1, count + 1))],
        citizen__isnull=False).select_related("citizen")}
    missing = [f"{CITIZEN_PERSONA}{n:02d}" for n in range(1, count + 1) if f"{CITIZEN_PERSONA}{n:02d}" not in logins]
    if not missing:
        return logins, 0
    free = [c for c in Citizen.objects.filter(user__isnull=True).order_by("resident_id")
            if _age(c.birth_date, today) >= 18]
    old = [c for c in free if _age(c.birth_date, today) >= 75]
    young = [c for c in free if 22 <= _age(c.birth_date, today) <= 40]
    ordered = list(dict.fromkeys([*old[:max(2, count // 4)], *young[:max(2, count // 3)], *free]))
    for username, citizen in zip(missing, ordered, strict=False):
        user = identity.create_citizen_account(None, citizen, username=username, password=DEMO_PASSWORD)
        identity.mark_demo_account(user, totp_secret=None)
        logins[username] = user
    return logins, min(len(missing), len(ordered))


def _grants() -> int:
    """A grant of the persons registry to each item department whose staff read applicants' records on the task
    page, issued by the governance office: not to the registry's own department, nor to a department whose
    access the sharing demo's stories decide (the civil affairs bureau's grant there is suspended, and stays so)."""
    resource = Resource.objects.filter(registry__code=base.PERSONS, status=ResourceStatus.PUBLISHED).first()
    if resource is None:
        raise Resource.DoesNotExist("the catalog has not published the persons registry; seed the catalog first")
    storied = {story.consumer for story in sharing_demo.STORIES if story.resource == base.PERSONS}
    codes = {code for spec in ITEMS for code in (spec.department, *spec.cooperating)}
    officer = sharing_demo.officer_of_office()
    today = timezone.localdate()
    added = 0
    for department in Department.objects.filter(code__in=codes - storied).exclude(pk=resource.provider_id
                                                                                   ).order_by("code"):
        if Grant.objects.filter(consumer=department, resource=resource).exists():
            continue
        sharing.issue_grant(officer, consumer=department, resource=resource, purpose=PURPOSE_OF_GRANT,
                            legal_basis=LEGAL_BASIS_OF_GRANT, terms=sharing.Terms(
                                fields=list(GRANT_FIELDS), valid_from=today,
                                valid_until=dt.date(today.year + 1, 12, 31)))
        added += 1
    return added


def _working_days(today: dt.date) -> list[dt.date]:
    """The working days of the last SPREAD_DAYS days, today excluded: every move of a story is in the past."""
    days = (today - dt.timedelta(days=offset) for offset in range(SPREAD_DAYS, 0, -1))
    return [day for day in days if calendar.is_working_day(day)]


def _moments(rng: random.Random, days: list[dt.date], count: int, recent: bool) -> tuple[dt.datetime, ...]:
    """`count` moments in order on working days, office hours mostly; `recent`: the story began in the last
    three weeks (an application still waiting, so that not every open one is overdue)."""
    first = max(0, len(days) - 15) if recent else 0
    index = rng.randrange(first, len(days))
    minute = rng.randint(8 * 60 + 30, 11 * 60 + 30)
    moments = [(days[index], minute)]
    for _move in range(count - 1):
        step = rng.choice((0, 0, 1, 1, 2, 3))
        later = minute + rng.randint(5, 90)
        if step == 0 and later > 17 * 60 + 30:
            step = 1  # after hours: the next working day
        step = min(step, len(days) - 1 - index)
        if step:
            index, minute = index + step, rng.randint(8 * 60 + 30, 17 * 60)
        else:  # the same day, later (on the last day, a few minutes later: still before midnight)
            minute = later if later <= 17 * 60 + 30 else minute + rng.randint(1, 5)
        moments.append((days[index], minute))
    return tuple(timezone.make_aware(dt.datetime.combine(day, dt.time(m // 60, m % 60))) for day, m in moments)


def plan_stories(seed: int, applications: int, applicants: dict[str, dt.date], today: dt.date) -> list[Story]:
    """The stories for this seed: the persona's first, then `applications` in all, by the applicants (user name
    → birth date) old enough for each item, at most three of one item by one applicant."""
    rng = random.Random(f"{seed}:services")  # noqa: S311 - reproducible synthetic data
    days = _working_days(today)
    by_code = {spec.code: spec for spec in ITEMS}
    ages = {username: _age(born, today) for username, born in sorted(applicants.items())}
    taken: dict[tuple[str, str], int] = {}
    drafts: set[tuple[str, str]] = set()  # an applicant has one draft of an item at a time (start_draft)
    stories: list[Story] = []

    def add(spec: ItemSpec, username: str, moves: tuple[str, ...]) -> None:
        taken[(username, spec.code)] = taken.get((username, spec.code), 0) + 1
        if "submit" not in moves:
            drafts.add((username, spec.code))
        decided = "check" in moves or "reject" in moves or "withdraw" in moves or len(moves) > 6
        stories.append(Story(len(stories) + 1, spec, username, moves,
                             _moments(rng, days, len(moves) + 1, recent=not decided and rng.random() < 0.75)))

    if CITIZEN_PERSONA in ages:
        for code, moves in PERSONA_PLOTS[:applications]:
            add(by_code[code], CITIZEN_PERSONA, moves)
    others = [username for username in ages if username != CITIZEN_PERSONA] or list(ages)
    weights = [weight for weight, _moves in PLOTS]
    attempts = 0
    while len(stories) < applications and others and attempts < applications * 20:
        attempts += 1
        spec = rng.choices(ITEMS, weights=[s.share for s in ITEMS])[0]
        low, high = spec.ages
        moves = rng.choices(PLOTS, weights=weights)[0][1]
        fitting = [u for u in others if low <= ages[u] <= high and taken.get((u, spec.code), 0) < 3
                   and ("submit" in moves or (u, spec.code) not in drafts)]
        if fitting:
            add(spec, rng.choice(fitting), moves)
    # A draft of an item blocks a new draft of the same item by the same applicant: drafts are played last.
    return sorted(stories, key=lambda story: ("submit" not in story.moves, story.number))


@functools.cache
def _scan(title: str) -> bytes:
    """A one-page PDF standing in for a scanned material."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.setTitle(title)
    page.drawString(72, 760, "Zhengtong demo: a synthetic scanned material")
    page.drawString(72, 740, hashlib.sha256(title.encode()).hexdigest())
    page.showPage()
    page.save()
    return buffer.getvalue()


class _Clock:
    """The real moments at which a story's moves began, each with the story's moment for it: a time stamped
    during move i is restated as move i's moment plus the time the move had taken until then."""

    def __init__(self) -> None:
        self.marks: list[tuple[dt.datetime, dt.datetime]] = []

    def mark(self, moment: dt.datetime) -> None:
        self.marks.append((timezone.now(), moment))

    @property
    def began(self) -> dt.datetime:
        return self.marks[0][0]

    def restated(self, real: dt.datetime) -> dt.datetime:
        for began, moment in reversed(self.marks):
            if real >= began:
                return moment + (real - began)
        return real  # from before the story: not the story's

    def restated_or_none(self, real: dt.datetime | None) -> dt.datetime | None:
        return None if real is None else self.restated(real)


def _answer(rng: random.Random, ask: Ask, applied: dt.date) -> Any:
    if ask.type == "choice":
        options = [value for value, _label in ask.options]
        return options[0] if rng.random() < 0.6 else rng.choice(options)
    if ask.type == "date":
        return (applied - dt.timedelta(days=rng.randint(*ask.days))).isoformat()
    return rng.choice(ask.samples)


class _Player:
    """Plays stories through the applying and workbench actions, then restates their dates."""

    def __init__(self, seed: int, items_: dict[str, ServiceItem], users: dict[str, User],
                 staff: dict[tuple[int, str], list[User]]):
        self.seed, self.items, self.users, self.staff = seed, items_, users, staff
        self.played = _Played()

    def play(self, story: Story) -> None:
        rng = random.Random(f"{self.seed}:services:{story.number}")  # noqa: S311 - reproducible synthetic data
        user, item = self.users[story.applicant], self.items[story.item.code]
        clock = _Clock()
        clock.mark(story.moments[0])
        token = f"demo-{self.seed}-{story.number:04d}"
        if Application.objects.filter(applicant=user, item=item, status=ApplicationStatus.DRAFT).exclude(
                submission_token=token).exists():
            return  # the applicant's draft of another story (seeded before with more applications): leave it
        application = applying.start_draft(user, item, token=token)
        self._fill(rng, story, user, application, complete="submit" in story.moves)
        pauses: dict[int, list[dt.date | None]] = {}
        for move, moment in zip(story.moves, story.moments[1:], strict=True):
            application.refresh_from_db()
            if move not in ("submit", "check") and not application.is_open:
                break  # decided already (by the decision table, or the last step came early)
            clock.mark(moment)
            if not self._move(rng, move, story, user, application, token):
                break
            for pause in application.pauses.all():
                days = pauses.setdefault(pause.pk, [moment.date(), None])
                if pause.ended_on is not None and days[1] is None:
                    days[1] = moment.date()
        self._restate(application, clock, pauses)

    def _fill(self, rng: random.Random, story: Story, user: User, application: Application, *, complete: bool
              ) -> None:
        asked = [ask for ask in story.item.form if ask.name not in application.prefilled]
        if not complete:
            asked = asked[:rng.randint(1, max(1, len(asked) - 1))]
        for ask in asked:
            applying.save_answer(user, application, ask.name, _answer(rng, ask, story.moments[0].date()))
        if not complete:
            return
        given = set(application.materials.values_list("material_id", flat=True))
        for material in application.item.materials.exclude(pk__in=given).order_by("position"):
            if material.commitment_allowed and rng.random() < 0.4:
                applying.commit_instead(user, application, material)
            elif material.required or rng.random() < 0.5:
                applying.attach_material(user, application, material,
                                         Evidence(f"{material.code}.pdf", _scan(material.name)))

    def _open_tasks(self, application: Application) -> list[WorkTask]:
        return list(application.tasks.filter(kind=TaskKind.REVIEW, status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED))
                    .select_related("claimed_by").order_by("created_at", "pk"))

    def _worker(self, rng: random.Random, task: WorkTask) -> User:
        if task.claimed_by is not None:
            return task.claimed_by
        holders = self.staff.get((task.department_id, task.role)) or []
        if not holders:
            raise User.DoesNotExist(f"no {task.role} in department {task.department_id} to work task {task.pk}")
        persona = [u for u in holders if u.username == APPROVER_PERSONA]
        return persona[0] if persona and rng.random() < 0.5 else rng.choice(holders)

    def _decide(self, rng: random.Random, task: WorkTask, outcome: str, reason: str) -> None:
        worker = self._worker(rng, task)
        if task.status == TaskStatus.OPEN:
            task = tasks.claim_task(worker, task)
        if rng.random() < 0.15:
            tasks.comment_on_task(worker, task, text=rng.choice(COMMENTS))
        tasks.decide_task(worker, task, outcome=outcome, reason=reason)

    def _move(self, rng: random.Random, move: str, story: Story, user: User, application: Application,
              token: str) -> bool:
        """Make one move; False when the story cannot go on (nothing is waiting for it)."""
        if move == "submit":
            committed = application.materials.filter(provision=MaterialProvision.COMMITTED).exists()
            applying.submit_application(user, application, token=token, commitment_signed=committed)
        elif move == "correct":
            uploaded = application.materials.filter(provision=MaterialProvision.UPLOADED).select_related(
                "material").first()
            files = {uploaded.material.code: Evidence(f"{uploaded.material.code}-corrected.pdf",
                                                      _scan(f"{uploaded.material.name}（补正）"))} if uploaded else {}
            applying.answer_correction(user, application, files=files, note=CORRECTION_NOTE)
        elif move == "withdraw":
            applying.withdraw_application(user, application, reason=rng.choice(WITHDRAWALS))
        elif move == "check":
            for task in application.tasks.filter(kind=TaskKind.POST_CHECK, status=TaskStatus.OPEN):
                worker = self._worker(rng, task)
                tasks.complete_post_check(worker, tasks.claim_task(worker, task), note=POST_CHECK_NOTE)
        else:
            waiting = self._open_tasks(application)
            if not waiting:
                return False
            if move == "claim":
                if waiting[0].status == TaskStatus.OPEN:
                    tasks.claim_task(self._worker(rng, waiting[0]), waiting[0])
                return True
            if move != "approve":
                # In a joint review the other departments agree first; the last one rejects or returns.
                for task in waiting[:-1]:
                    self._decide(rng, task, TaskOutcome.APPROVE, APPROVAL)
                waiting = waiting[-1:]
            reason = {"approve": APPROVALS.get(waiting[0].element_id, APPROVAL),
                      "reject": rng.choice(story.item.rejections),
                      "return": rng.choice(story.item.corrections)}[move]
            self._decide(rng, waiting[0], move, reason)
        return True

    def _restate(self, application: Application, clock: _Clock, pauses: dict[int, list[dt.date | None]]) -> None:
        """Give the story's rows the story's dates, count the deadlines again from them, and say so in the audit
        trail (see the module's docstring)."""
        application.refresh_from_db()
        today = timezone.localdate()
        for pause in application.pauses.all():
            started, ended = pauses.get(pause.pk, [pause.started_on, pause.ended_on])
            ClockPause.objects.filter(pk=pause.pk).update(started_on=started, ended_on=ended)
        dates: dict[str, Any] = {
            name: clock.restated_or_none(getattr(application, name))
            for name in ("created_at", "updated_at", "submitted_at", "decided_at", "commitment_signed_at")}
        due = None
        if dates["submitted_at"] is not None:
            stopped = [(p.started_on, p.ended_on or max(today, p.started_on)) for p in application.pauses.all()]
            due = calendar.add_working_days(timezone.localdate(dates["submitted_at"]),
                                            application.item.promised_days, stopped)
            dates.update(due=due.date, due_provisional=due.provisional)
        Application.objects.filter(pk=application.pk).update(**dates)
        work = list(application.tasks.all())
        for task in work:
            task.created_at = clock.restated(task.created_at)
            task.completed_at = clock.restated_or_none(task.completed_at)
            if task.kind == TaskKind.POST_CHECK:
                task.due = calendar.add_working_days(timezone.localdate(task.created_at),
                                                     applying.POST_CHECK_DAYS).date
            elif due is not None:
                task.due = due.date
        WorkTask.objects.bulk_update(work, ["created_at", "completed_at", "due"])
        for comment in (comments := list(TaskComment.objects.filter(task__application=application))):
            comment.created_at = clock.restated(comment.created_at)
        TaskComment.objects.bulk_update(comments, ["created_at"])
        for given in (materials := list(application.materials.all())):
            given.added_at = clock.restated(given.added_at)
            given.post_checked_at = clock.restated_or_none(given.post_checked_at)
        ApplicationMaterial.objects.bulk_update(materials, ["added_at", "post_checked_at"])
        # Nothing else runs while a story plays: the notifications since it began are the ones it caused.
        for note in (notes := list(Notification.objects.filter(created_at__gte=clock.began))):
            note.created_at = clock.restated(note.created_at)
        Notification.objects.bulk_update(notes, ["created_at"])
        application.refresh_from_db()
        audit.record("services.demo_restate_dates", audit.SYSTEM,
                     object_type="application" if application.reference else "application_draft",
                     object_id=application.reference or application.pk,
                     subjects=[application.applicant.citizen.resident_id],
                     detail={"created_at": application.created_at.isoformat(),
                             "submitted_at": application.submitted_at.isoformat() if application.submitted_at
                             else None,
                             "due": application.due.isoformat() if application.due else None})
        self.played.statuses[application.status] = self.played.statuses.get(application.status, 0) + 1
        if application.status == ApplicationStatus.APPROVED and application.decision_trace and \
                not application.tasks.filter(kind=TaskKind.REVIEW).exclude(status=TaskStatus.CANCELLED).exists():
            self.played.automatic += 1


def _logins(staff: dict[tuple[int, str], list[User]]) -> tuple[tuple[str, str], ...]:
    """Who a tester logs in as; the seed has just made sure the supervised department has each of them."""
    supervised = Department.objects.get(code=SUPERVISED)
    window, leader = (staff[(supervised.pk, role)][0].username for role in (roles.WINDOW_STAFF, roles.LEADER))
    return (("citizen with applications in every state 办事群众", CITIZEN_PERSONA),
            (f"window staff 窗口受理 ({supervised.name})", window),
            (f"approver with a full queue 审批人员 ({supervised.name})", APPROVER_PERSONA),
            (f"supervisor of the department's load 分管领导 ({supervised.name})", leader))


def seed_services(seed: int = DEFAULT_SEED, *, applications: int = DEFAULT_APPLICATIONS,
                  progress: bool = False) -> ServicesSeedSummary:
    """Upload the shipped processes, define and publish the items, give their departments the staff and grants
    they need, and play the applications' stories whose application is not there yet. All of it or nothing.
    Needs the demo city, its base registries, its catalog, and best the sharing demo before it (see
    `_grants`). Notifications are written in the platform's language."""
    started = time.monotonic()
    today = timezone.localdate()
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        processes, decision, added_processes, added_decisions = _upload_definitions()
        items_, added_items = _define_items(processes, decision)
        staff, added_staff = _staff(seed)
        users, added_accounts = _citizen_logins(max(4, min(15, applications // 20)))
        grants = _grants()
        stories = plan_stories(seed, applications, {u: user.citizen.birth_date for u, user in users.items()},
                               today)
        done = set(Application.objects.filter(submission_token__startswith=f"demo-{seed}-")
                   .values_list("submission_token", flat=True))
        player = _Player(seed, items_, users, staff)
        to_play = [story for story in stories if f"demo-{seed}-{story.number:04d}" not in done]
        # Each story runs its process for real, a fraction of a second each: show how far it is.
        with tqdm(total=len(to_play), desc="applications", unit="application", disable=not progress,
                  file=sys.stderr, leave=True) as bar:
            for story in to_play:
                player.play(story)
                bar.update()
    return ServicesSeedSummary(
        processes=added_processes, decisions=added_decisions, items=added_items, staff=added_staff,
        accounts=added_accounts, grants=grants, applications=sum(player.played.statuses.values()),
        statuses=dict(player.played.statuses), automatic=player.played.automatic,
        seconds=time.monotonic() - started, logins=_logins(staff))
