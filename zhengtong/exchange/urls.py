"""Pages of sharing: the catalog's request form, requests and grants for consumers, providers and the office; data
objections, subscriptions and usage statistics."""

from django.urls import path

from zhengtong.exchange.views import objections, sharing, subscriptions, usage

app_name = "exchange"
urlpatterns: list = [
    path("", sharing.index, name="index"),
    path("requests/", sharing.request_list, name="requests"),
    path("request/<int:resource_id>/", sharing.new_request, name="new-request"),
    path("requests/<str:number>/", sharing.request_detail, name="request"),
    path("requests/<str:number>/check/", sharing.check_request, name="check"),
    path("requests/<str:number>/answer/", sharing.answer_request, name="answer"),
    path("requests/<str:number>/dispute/", sharing.dispute_request, name="dispute"),
    path("requests/<str:number>/settle/", sharing.settle_request, name="settle"),
    path("requests/<str:number>/withdraw/", sharing.withdraw_request, name="withdraw"),
    path("grants/", sharing.grant_list, name="grants"),
    path("grants/<str:number>/", sharing.grant_detail, name="grant"),
    path("grants/<str:number>/change/", sharing.change_grant, name="change-grant"),
    path("grants/<str:number>/suspend/", sharing.grant_status, {"change": "suspend"}, name="suspend-grant"),
    path("grants/<str:number>/resume/", sharing.grant_status, {"change": "resume"}, name="resume-grant"),
    path("grants/<str:number>/revoke/", sharing.grant_status, {"change": "revoke"}, name="revoke-grant"),
    *objections.urlpatterns,
    *subscriptions.urlpatterns,
    *usage.urlpatterns,
]
