"""Pages that show registry records to staff, through the one door: find, view (masked), reveal, export."""

from django.urls import path

from zhengtong.exchange.views import records

app_name = "records"
urlpatterns: list = [path("", records.index, name="index")]
