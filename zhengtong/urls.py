from django.contrib import admin
from django.urls import include, path, re_path

from zhengtong.api import api, unknown_endpoint
from zhengtong.core import views as core_views
from zhengtong.exchange import demo_proxy
from zhengtong.exchange.directory import api as govstack_im_api
from zhengtong.exchange.govstack import api as govstack_dr_api
from zhengtong.privacy.govstack_consent import api as govstack_consent_api
from zhengtong.services.govstack_registration import api as govstack_registration_api

admin.site.site_header = admin.site.site_title = "政通 Zhengtong"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics_view, name="metrics"),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<path>.*)$", unknown_endpoint),
    path("govstack/dr/", govstack_dr_api.urls),
    path("govstack/im/", govstack_im_api.urls),
    path("govstack/consent/", govstack_consent_api.urls),
    path("govstack/registration/", govstack_registration_api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The demo's department API for the gateway to proxy; it answers 404 unless the demo was seeded.
    path(demo_proxy.PATH.lstrip("/"), demo_proxy.marriage_verify, name="demo-upstream"),
    path("admin/", admin.site.urls),
    path("audit/", include("zhengtong.audit.urls")),
    path("registries/", include("zhengtong.registries.urls")),
    path("catalog/", include("zhengtong.catalog.urls")),
    path("sharing/", include("zhengtong.exchange.urls")),
    path("records/", include("zhengtong.exchange.records_urls")),
    path("privacy/", include("zhengtong.privacy.urls")),
    path("services/", include("zhengtong.services.urls")),
    path("", include("zhengtong.identity.urls")),
    path("", include("zhengtong.portal.urls")),
]
