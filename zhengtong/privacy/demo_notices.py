"""The demo city's first privacy notice (隐私政策) and public-data disclosure policy (公共数据开放政策), published
by its data governance office.

Notice texts are data, as an operator would publish them: the official text in Chinese with an English version
(the model's `*_en` fields), not translatable strings of the code. The laws cited are real; the city, its
office and its contact details are the demo's.

Seeding again adds nothing: a kind that has any published version is left as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.privacy.actions.notices import PUBLISH_PERMISSION, NoticeInput, publish_notice
from zhengtong.privacy.models.notices import NoticeKind, NoticeVersion

PRIVACY_TITLE = "云溪市政务服务平台隐私政策"
PRIVACY_BODY = """\
云溪市数据管理局（以下简称“我们”）运营云溪市政务服务平台。我们依照《中华人民共和国个人信息保护法》《中华人民共和国数据安全法》\
和《中华人民共和国网络安全法》处理您的个人信息。请您仔细阅读本政策；同意后即可使用网上办事服务。

# 一、我们处理哪些个人信息
- 实名认证信息：姓名、公民身份号码、手机号码。
- 办事信息：您提交的申请、材料和办理结果。
- 政府部门依法已掌握的信息：如户籍、社保、不动产登记等，仅在办理您申请的事项或依法履行职责时使用。
- 使用记录：登录时间、访问地址，用于保障账号安全。

# 二、我们为什么处理、依据什么
我们只为办理您申请的事项、依法履行法定职责、保障平台安全而处理个人信息。除法律、行政法规另有规定外，\
部门之间共享您的个人信息须有法定依据，或事先取得您的同意。

# 三、谁可以使用您的信息
各部门只能在共享授权的范围内、为登记的用途使用您的信息，每一次使用都会记录在不可篡改的审计日志中。\
您可以在“我的数据”中查看哪个部门、在什么时间、为什么使用了您的信息。

# 四、同意与撤回
以同意为依据的数据使用，您可以在“我的授权”中随时给予或撤回同意。撤回后，相关部门依据该同意的调用将被拒绝；\
撤回不影响撤回前基于同意已进行的处理。

# 五、保存期限与安全措施
个人信息按照法律法规规定的期限保存，期满后删除或匿名化。敏感信息加密存储、脱敏展示，工作人员按岗位和数据范围授权访问。

# 六、您的权利
- 查阅、复制您的个人信息。
- 对不准确的信息申请更正。
- 对他人使用您信息的情况提出异议。
- 就个人信息处理规则要求我们解释说明。

# 七、联系我们
云溪市数据管理局个人信息保护负责人，电话 12345，我们将在15个工作日内答复。"""

PRIVACY_TITLE_EN = "Privacy notice of the Yunxi City government services platform"
PRIVACY_BODY_EN = """\
The Yunxi City Data Administration ("we") runs the Yunxi City government services platform. We handle your personal \
information under the Personal Information Protection Law, the Data Security Law and the Cybersecurity Law of the \
People's Republic of China. Please read this notice; once you accept it you can use the online services.

# 1. What personal information we handle
- Real-name identity: your name, resident ID number and mobile number.
- Your applications: what you submit, your documents and the outcome.
- What departments already hold by law, such as household registration, social security and property records, used \
only to handle what you apply for or to carry out their legal duties.
- Records of use: when you logged in and from which address, to keep your account safe.

# 2. Why we handle it, and on what basis
Only to handle what you apply for, to carry out duties set by law, and to keep the platform secure. Unless a law or \
administrative regulation provides otherwise, departments share your personal information only with a legal basis \
or with your consent given beforehand.

# 3. Who may use your information
A department uses your information only within its sharing grant and for the purpose registered, and every use is \
written to an audit trail that cannot be altered. Under "My data" you can see which department used your \
information, when, and why.

# 4. Consent and withdrawing it
Where a use relies on your consent, you can give or withdraw it at any time under "My consents". Once you withdraw \
it, a department's calls relying on that consent are refused; what was done before you withdrew stays lawful.

# 5. How long we keep it, and how we protect it
Personal information is kept for the periods laws and regulations set, then deleted or anonymised. Sensitive \
information is stored encrypted and shown masked; staff reach it only as their post and data scope allow.

# 6. Your rights
- See and copy your personal information.
- Ask for wrong information to be corrected.
- Object to a use of your information by others.
- Ask us to explain how we handle your personal information.

# 7. Contact
The personal information protection officer of the Yunxi City Data Administration, telephone 12345. We answer \
within 15 working days."""

DISCLOSURE_TITLE = "云溪市公共数据开放政策"
DISCLOSURE_BODY = """\
为促进公共数据依法有序开放利用，云溪市数据管理局依照《中华人民共和国数据安全法》《中华人民共和国政府信息公开条例》制定本政策。

# 一、开放什么
列入公共数据开放目录的数据向社会开放。开放数据分为无条件开放和有条件开放；涉及国家秘密、商业秘密、个人隐私的数据不予开放，\
确需开放的须经脱敏或匿名化处理并依法审查。

# 二、如何获取
- 无条件开放的数据，任何人可在开放数据栏目直接下载或通过标准接口调用，无需注册。
- 有条件开放的数据，需提出申请、说明用途，经数据提供部门同意并签订利用协议后获取。

# 三、利用者的义务
利用者应当按照协议约定的用途和范围使用数据，注明数据来源，不得试图重新识别个人身份，不得用于违法活动。

# 四、质量与异议
数据提供部门对开放数据的准确性、及时性负责。发现数据错误或侵犯合法权益的，可以通过平台提出异议，\
我们在10个工作日内处理并答复。

# 五、联系我们
云溪市数据管理局数据开放科，电话 12345。"""

DISCLOSURE_TITLE_EN = "Public data opening policy of Yunxi City"
DISCLOSURE_BODY_EN = """\
To open public data for lawful and orderly use, the Yunxi City Data Administration sets this policy under the Data \
Security Law of the People's Republic of China and the Regulations on the Disclosure of Government Information.

# 1. What is opened
Data listed in the public data opening catalog is open to the public, either unconditionally or on conditions. Data \
touching state secrets, trade secrets or personal privacy is not opened; where it must be, it is masked or \
anonymised and reviewed as the law requires first.

# 2. How to get it
- Unconditionally open data: anyone downloads it from the open data section or calls the standard APIs, without \
registering.
- Conditionally open data: apply and say what it is for; you get it once the providing department agrees and a \
use agreement is signed.

# 3. What users must do
Use the data only for the purpose and within the scope agreed, name its source, never try to re-identify people, \
and never use it unlawfully.

# 4. Quality and objections
The providing department answers for the accuracy and timeliness of open data. If you find an error or an \
infringement of lawful rights, object through the platform: we handle it and answer within 10 working days.

# 5. Contact
The data opening section of the Yunxi City Data Administration, telephone 12345."""

FIRST_PUBLICATION = "首次发布。"
FIRST_PUBLICATION_EN = "First publication."


@dataclass(frozen=True)
class NoticesSeedSummary:
    """What one seeding published (nothing on a second run)."""

    published: int
    seconds: float

    def describe(self) -> str:
        return f"Notices: {self.published} notice versions published in {self.seconds:.1f} s."


def _publisher() -> User | None:
    """The governance office's first governance officer, as the other demo seeds pick their officers; the
    platform itself when the demo city has none."""
    officer = User.objects.filter(staff__department__is_governance_office=True,
                                  groups__name=roles.GOVERNANCE_OFFICER, is_active=True).order_by("username").first()
    return officer if officer is not None and officer.has_perm(PUBLISH_PERMISSION) else None


def seed_notices(*, seed: int = 0) -> NoticesSeedSummary:
    """Publish the first privacy notice and disclosure policy, in effect from today, where none exists. The
    texts do not depend on the seed."""
    del seed  # the texts are fixed; the argument keeps the demo seeds' common signature
    started = time.monotonic()
    texts = {
        NoticeKind.PRIVACY: (PRIVACY_TITLE, PRIVACY_BODY, PRIVACY_TITLE_EN, PRIVACY_BODY_EN),
        NoticeKind.DISCLOSURE: (DISCLOSURE_TITLE, DISCLOSURE_BODY, DISCLOSURE_TITLE_EN, DISCLOSURE_BODY_EN),
    }
    published = 0
    with transaction.atomic():
        publisher = _publisher()
        for kind, (title, body, title_en, body_en) in texts.items():
            if NoticeVersion.objects.filter(kind=kind).exists():
                continue
            publish_notice(publisher, NoticeInput(
                kind=kind, title=title, body=body, changes=FIRST_PUBLICATION, effective_on=timezone.localdate(),
                title_en=title_en, body_en=body_en, changes_en=FIRST_PUBLICATION_EN))
            published += 1
    return NoticesSeedSummary(published=published, seconds=time.monotonic() - started)
