"""Pages of sharing: the catalog's request form, requests and grants for consumers, providers and the office."""

from django.urls import path

from zhengtong.exchange.views import sharing

app_name = "exchange"
urlpatterns: list = [path("", sharing.index, name="index")]
