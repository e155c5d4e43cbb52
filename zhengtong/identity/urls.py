from django.urls import path

from zhengtong.identity import views

app_name = "identity"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code_view, name="login-code"),
    path("login/enrol/", views.enrol_view, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("staff/login-events/", views.login_events_view, name="login-events"),
    path("staff/api-clients/", views.api_clients_view, name="api-clients"),
    path("staff/api-clients/<str:key_id>/revoke/", views.revoke_api_client_view, name="revoke-api-client"),
]
