from django.urls import path

from zhengtong.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.resource_list, name="list"),
    path("new/", views.create_resource, name="create"),
    path("<int:resource_id>/", views.resource_detail, name="resource"),
    path("<int:resource_id>/edit/", views.edit_resource, name="edit"),
    path("<int:resource_id>/publish/", views.publish_resource, name="publish"),
    path("<int:resource_id>/rights/new/", views.register_rights, name="register-rights"),
    path("rights/<str:number>/", views.registration_detail, name="registration"),
    path("rights/<str:number>/amend/", views.amend_rights, name="amend-rights"),
    path("rights/<str:number>/dispute/", views.raise_dispute, name="raise-dispute"),
    path("disputes/<int:dispute_id>/settle/", views.settle_dispute, name="settle-dispute"),
]
