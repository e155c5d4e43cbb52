"""The demo's proxied department API: the civil affairs bureau's marriage verification, served by the platform
itself, so that the gateway's service calls work in a demo without any network.

`seed_proxy` catalogues a copy of the demo catalog's marriage verification API (same data items, masking and
sharing conditions) whose endpoint is `<base_url>/demo-upstream/marriage/v1/verify` on the demo's own server,
and grants the housing bureau (YX-HUD, whose demo client already exists) access to it: the status in clear,
everything else masked by the items' rules, with a quota.
The view `marriage_verify` is that API: it answers a POST of {"resident_id", "name"} with a synthetic, stable
registration made up from the number (never from the registries, which only the one door reads), wrapped as
many departments' APIs wrap theirs ({"code": 0, "message": ..., "data": {...}}) and with an internal key the
catalog does not declare, which the gateway drops. The view answers 404 unless the demo resource exists, so
a platform that never ran the demo serves nothing there.

The gateway refuses loopback addresses unless ZHENGTONG_PROXY_ALLOWED_NETWORKS lists them: the demo runs with
127.0.0.1/32 there. Seeding again adds nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from stdnum.cn import ric

from zhengtong.catalog import actions as catalog
from zhengtong.catalog import demo as catalog_demo
from zhengtong.catalog.models import Resource
from zhengtong.identity.models import Department
from zhengtong.identity.validation import check_resident_id

from . import actions
from .models import Grant, MaskingLevel

PATH = "/demo-upstream/marriage/v1/verify"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
NAME = "婚姻登记信息核验（演示接口）"
PROVIDER, CONSUMER = "YX-MCA", "YX-HUD"
AUTHORITIES = ("云溪市民政局婚姻登记处", "云溪市西山区民政局婚姻登记处", "云溪市东湖区民政局婚姻登记处")
SPOUSE_NAMES = ("李娜", "张伟", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄磊")


@dataclass(frozen=True)
class ProxySeedSummary:
    resources: int
    grants: int
    endpoint: str

    def describe(self) -> str:
        return (f"Proxied API: {self.resources} demo department API and {self.grants} grant added; it answers at "
                f"{self.endpoint}.")


def _marriage_api() -> catalog_demo.ApiResource:
    return next(api for api in catalog_demo.API_RESOURCES if api.key == catalog_demo.MARRIAGE)


def demo_resource() -> Resource | None:
    return Resource.objects.filter(provider__code=PROVIDER, name=NAME).first()


def seed_proxy(*, seed: int, base_url: str = DEFAULT_BASE_URL) -> ProxySeedSummary:
    """Catalogue the demo API at `base_url` and grant it to the housing bureau. Needs the demo city."""
    del seed  # the answers are made up from the resident ID alone, the same for every seed
    endpoint = base_url.rstrip("/") + PATH
    resources = grants = 0
    with transaction.atomic():
        provider = Department.objects.get(code=PROVIDER)
        consumer = Department.objects.get(code=CONSUMER)
        resource = demo_resource()
        if resource is None:
            api = _marriage_api()
            metadata = dataclasses.replace(api.metadata, name=NAME, subcategory_code=provider.credit_code)
            service = dataclasses.replace(api.service, endpoint_url=endpoint)
            resource = catalog.publish_resource(None, catalog.create_api_resource(
                None, provider=provider, data=metadata, service=service))
            resources += 1
        if not Grant.objects.filter(consumer=consumer, resource=resource).exists():
            today = timezone.localdate()
            actions.issue_grant(None, consumer=consumer, resource=resource, terms=actions.Terms(
                fields=[item.name for item in resource.items.all()], masking_level=MaskingLevel.MASKED,
                field_rules={"marital_status": "none"},  # what housing needs to see; the rest stays masked
                valid_from=today, valid_until=today + dt.timedelta(days=365), daily_quota=500, rate_per_minute=60),
                purpose="公共租赁住房和保障性租赁住房申请审核中核验申请人婚姻状况，认定申请家庭成员。",
                legal_basis="《公共租赁住房管理办法》（住房和城乡建设部令第11号）")
            grants += 1
    return ProxySeedSummary(resources, grants, resource.endpoint_url)


def _spouse_id(digest: bytes, male: bool) -> str:
    born = dt.date(1980, 1, 1) + dt.timedelta(days=digest[3] * 40 + digest[4])
    order = digest[5] % 50 * 2 + (1 if male else 0)  # the 17th digit is odd for men
    body = f"330106{born:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


@csrf_exempt
@require_POST
def marriage_verify(request: HttpRequest) -> JsonResponse:
    """The demo department API (see the module's docstring)."""
    if demo_resource() is None:
        return JsonResponse({"code": 404, "message": "not found"}, status=404)
    try:
        asked = json.loads(request.body or b"{}")
        resident_id = str(asked.get("resident_id", "")).strip().upper()
    except (ValueError, AttributeError):
        resident_id = ""
    if check_resident_id(resident_id)[1] is not None:
        return JsonResponse({"code": 400, "message": "resident_id 不是有效的公民身份号码"}, status=400)
    data: dict[str, object] = {**marriage_answer(resident_id),
                               "operator_note": "演示数据，系统自动核验"}  # not a declared item: the gateway drops it
    return JsonResponse({"code": 0, "message": "ok", "data": data}, json_dumps_params={"ensure_ascii": False})


def marriage_answer(resident_id: str) -> dict[str, str | None]:
    """The demo's made-up latest marriage registration of a person: the same for the same number."""
    digest = hashlib.sha256(f"zhengtong demo marriage {resident_id}".encode()).digest()
    if digest[0] % 5 == 0:
        return {"marital_status": "无登记记录", "registered_on": None, "registration_authority": None,
                "certificate_number": None, "spouse_name": None, "spouse_resident_id": None}
    divorced = digest[0] % 5 == 1
    registered = dt.date(2008, 1, 1) + dt.timedelta(days=digest[1] * 20 + digest[2])
    return {"marital_status": "离婚" if divorced else "已婚", "registered_on": registered.isoformat(),
            "registration_authority": AUTHORITIES[digest[6] % len(AUTHORITIES)],
            "certificate_number": f"{'L' if divorced else 'J'}330100-{registered.year}-{digest[7] * 97:06d}",
            "spouse_name": SPOUSE_NAMES[digest[8] % len(SPOUSE_NAMES)],
            "spouse_resident_id": _spouse_id(digest, male=int(resident_id[16]) % 2 == 0)}  # the other gender
