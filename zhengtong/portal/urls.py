from django.urls import path

from zhengtong.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("elder-mode/", views.elder_mode, name="elder-mode"),
    path("departments/", views.departments, name="departments"),
    path("calendar/", views.calendar_year, name="calendar"),
    path("calendar/<int:year>/", views.calendar_year, name="calendar-year"),
    path("calendar/<int:year>/record/", views.calendar_publish, name="calendar-publish"),
    path("accessibility/", views.accessibility, name="accessibility"),
]
