"""Admin pages for identity. Records are shown read-only unless an action exists for the change; personal
numbers are masked in lists; logging in to the admin goes through the platform's login with its second factor."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from zhengtong.core import masking
from zhengtong.core.admin import ReadOnly
from zhengtong.identity import actions
from zhengtong.identity.models import (
    ApiClient,
    Business,
    Citizen,
    Department,
    Division,
    StaffProfile,
    TrainingRecord,
    User,
)


def _login_through_platform(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    return redirect_to_login(request.GET.get("next") or request.get_full_path())


admin.site.login = _login_through_platform  # type: ignore[method-assign]


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    """For records whose changes belong to actions with their own pages, commands or API."""


@admin.register(Division)
class DivisionAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]


@admin.register(Department)
class DepartmentAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "division", "parent", "credit_code", "is_governance_office"]
    search_fields = ["code", "name"]
    list_select_related = ["division", "parent"]


class StaffInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    fields = readonly_fields = ("department", "title", "employee_number", "data_scope")


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["username", "first_name", "kind", "is_active", "last_login", "locked_until"]
    list_filter = ["kind", "is_active", "groups"]
    search_fields = ["username", "first_name"]
    fields = ["username", "first_name", "kind", "is_active", "groups", "elder_mode", "last_login", "locked_until"]
    # Only roles change here, through set_roles; other account changes are actions with their own trail.
    readonly_fields = ["username", "first_name", "kind", "is_active", "elder_mode", "last_login", "locked_until"]
    filter_horizontal = ["groups"]
    inlines = [StaffInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are created by `zhengtong createadmin`, the seed and (later) staff onboarding

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Roles go through set_roles, which refuses reveal roles to staff without current training.
        actions.set_roles(request.user, form.instance, [g.name for g in form.cleaned_data["groups"]])  # type: ignore[arg-type]
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(TrainingRecord)
class TrainingRecordAdmin(admin.ModelAdmin):
    list_display = ["staff", "course", "completed_on", "certificate_number"]
    list_filter = ["completed_on"]
    fields = ["staff", "course", "completed_on", "certificate_number"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: TrainingRecord, form: Any, change: bool) -> None:
        recorded = actions.record_training(
            request.user, obj.staff, course=obj.course, completed_on=obj.completed_on,  # type: ignore[arg-type]
            certificate_number=obj.certificate_number,
        )
        obj.pk = recorded.pk


@admin.register(Citizen)
class CitizenAdmin(ReadOnlyAdmin):
    list_display = ["masked_name", "masked_resident_id", "gender", "division"]
    list_filter = ["gender"]
    fields = readonly_fields = ("masked_name", "masked_resident_id", "gender", "division", "registered_at")

    @admin.display(description=_("full name"))
    def masked_name(self, citizen: Citizen) -> str:
        return masking.mask_name(citizen.name)

    @admin.display(description=_("resident ID number"))
    def masked_resident_id(self, citizen: Citizen) -> str:
        return masking.keep_ends(citizen.resident_id, 6, 4)


@admin.register(Business)
class BusinessAdmin(ReadOnlyAdmin):
    list_display = ["name", "credit_code", "division"]
    search_fields = ["name", "credit_code"]
    fields = readonly_fields = ("name", "credit_code", "division", "registered_at")


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    list_display = ["name", "department", "key_id", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["department"]
