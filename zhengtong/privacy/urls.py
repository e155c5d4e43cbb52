"""Pages of the privacy center (我的数据) under /privacy/: notices and policies, consent, my data and who used it,
objections and correction requests."""

from zhengtong.privacy.views import accesses, case_steps, cases, consent, notices

app_name = "privacy"
urlpatterns: list = [
    *notices.urlpatterns,
    *consent.urlpatterns,
    *accesses.urlpatterns,
    *case_steps.urlpatterns,  # before the cases' own: see there
    *cases.urlpatterns,
]
