"""Pages that show registry records to staff, through the one door: find, view (masked), reveal, export.

Reading and revealing are POSTs: keys and search values stay out of URLs, and nothing is revealed on a GET."""

from django.urls import path

from zhengtong.exchange.views import records

app_name = "records"
urlpatterns = [
    path("", records.index, name="index"),
    path("<slug:code>/", records.find, name="find"),
    path("<slug:code>/record/", records.record, name="record"),
    path("<slug:code>/record/reveal/", records.reveal, name="reveal"),
    path("<slug:code>/search/", records.search, name="search"),
    path("<slug:code>/export/", records.export, name="export"),
]
