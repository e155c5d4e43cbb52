"""Who is who: divisions, departments, staff, citizens, businesses, API clients, login history."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengtong.core.masking import mask_name


@dataclass(frozen=True)
class ScopePaths:
    """ORM paths from a row to its Department, Division and owning User ("" is the row itself).

    Models holding scoped data set `data_scope_paths`; identity.scope turns it into filters.
    """

    department: str | None = None
    division: str | None = None
    owner: str | None = None


class DivisionLevel(models.IntegerChoices):
    PROVINCE = 1, _("province")
    CITY = 2, _("city")
    COUNTY = 3, _("county")
    TOWNSHIP = 4, _("township")
    VILLAGE = 5, _("village")


# Significant leading digits of a GB/T 2260 (and statistical) division code at each level: a code at a level
# is the prefix of every code below it.
DIVISION_PREFIX_LENGTH = {
    DivisionLevel.PROVINCE: 2,
    DivisionLevel.CITY: 4,
    DivisionLevel.COUNTY: 6,
    DivisionLevel.TOWNSHIP: 9,
    DivisionLevel.VILLAGE: 12,
}


class Division(models.Model):
    """An administrative division. Codes are 6 digits down to county level, 9 for townships, 12 for villages."""

    code = models.CharField(_("division code"), max_length=12, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    level = models.PositiveSmallIntegerField(_("level"), choices=DivisionLevel.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )

    class Meta:
        verbose_name = _("administrative division")
        verbose_name_plural = _("administrative divisions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def prefix(self) -> str:
        """The leading digits that every division inside this one shares."""
        return self.code[: DIVISION_PREFIX_LENGTH[DivisionLevel(self.level)]]


class Department(models.Model):
    code = models.CharField(_("department code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    division = models.ForeignKey(Division, on_delete=models.PROTECT, verbose_name=_("division"))
    functions = models.TextField(_("functions"), blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    # Materialised path of department codes ("/CITY/CITY-PSB/"), so "this department and below" is one
    # prefix match. Kept by the create_department action.
    tree_path = models.CharField(max_length=1000, db_index=True, editable=False)
    data_scope_paths = ScopePaths(department="", division="division")
    is_governance_office = models.BooleanField(
        _("data governance office"), default=False, help_text=_("The office that runs the data catalog.")
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class UserKind(models.TextChoices):
    STAFF = "staff", _("staff")
    CITIZEN = "citizen", _("citizen")


class User(AbstractUser):
    """A person who logs in. Staff have a StaffProfile; citizens are linked to their Citizen record."""

    kind = models.CharField(_("kind"), max_length=16, choices=UserKind.choices, default=UserKind.CITIZEN)
    failed_login_count = models.PositiveSmallIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    # TOTP secret (base32). Confirmed once the person has entered a valid code from their authenticator.
    totp_secret = models.CharField(max_length=64, blank=True, editable=False)
    totp_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    totp_last_step = models.BigIntegerField(default=0, editable=False)
    elder_mode = models.BooleanField(_("elder-friendly mode"), default=False)
    # Accounts of the synthetic demo city; only these can have their current code printed (`zhengtong totp`).
    is_demo = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def is_locked(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.locked_until is not None and self.locked_until > moment  # type: ignore[operator]


class DataScope(models.TextChoices):
    SELF = "self", _("own records only")
    DEPARTMENT = "department", _("own department")
    DEPARTMENT_TREE = "department_tree", _("own department and below")
    DIVISION = "division", _("own division")
    ALL = "all", _("all")


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="staff")
    title = models.CharField(_("post"), max_length=100, blank=True)
    employee_number = models.CharField(_("employee number"), max_length=32, unique=True)
    data_scope = models.CharField(
        _("data scope"), max_length=20, choices=DataScope.choices, default=DataScope.DEPARTMENT
    )
    data_scope_paths = ScopePaths(department="department", division="department__division", owner="user")

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return f"{self.user.display_name} · {self.department}"


class TrainingRecord(models.Model):
    """A completed data-protection training; roles that reveal personal data need one under 12 months old."""

    staff = models.ForeignKey(StaffProfile, on_delete=models.CASCADE, related_name="training_records")
    course = models.CharField(_("course"), max_length=200)
    completed_on = models.DateField(_("completed on"))
    certificate_number = models.CharField(_("certificate number"), max_length=64, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    data_scope_paths = ScopePaths(
        department="staff__department", division="staff__department__division", owner="staff__user"
    )

    class Meta:
        verbose_name = _("training record")
        verbose_name_plural = _("training records")
        ordering = ["-completed_on"]

    def __str__(self) -> str:
        return f"{self.course} ({self.completed_on})"


class Gender(models.TextChoices):
    MALE = "M", _("male")
    FEMALE = "F", _("female")


class Citizen(models.Model):
    """A natural person known by real name and resident ID."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="citizen"
    )
    name = models.CharField(_("full name"), max_length=100)
    resident_id = models.CharField(_("resident ID number"), max_length=18, unique=True)
    phone = models.CharField(_("mobile phone"), max_length=11, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices)
    birth_date = models.DateField(_("date of birth"))
    division = models.ForeignKey(
        Division, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("household registration")
    )
    registered_at = models.DateTimeField(auto_now_add=True)
    data_scope_paths = ScopePaths(division="division", owner="user")

    class Meta:
        verbose_name = _("citizen")
        verbose_name_plural = _("citizens")
        permissions = [("reveal_personal_data", _("Can reveal unmasked personal data"))]

    def __str__(self) -> str:
        return mask_name(self.name)  # shown in admin titles and breadcrumbs, so masked


class Business(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="business"
    )
    name = models.CharField(_("name"), max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    legal_representative = models.ForeignKey(
        Citizen, on_delete=models.PROTECT, related_name="represented_businesses", verbose_name=_("legal representative")
    )
    division = models.ForeignKey(Division, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("division"))
    registered_at = models.DateTimeField(auto_now_add=True)
    data_scope_paths = ScopePaths(division="division", owner="user")

    class Meta:
        verbose_name = _("business")
        verbose_name_plural = _("businesses")

    def __str__(self) -> str:
        return self.name


class ApiClient(models.Model):
    """A department system that calls the platform. Only a hash of its secret is kept."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="api_clients")
    name = models.CharField(_("name"), max_length=200)
    key_id = models.CharField(_("key id"), max_length=32, unique=True)
    secret_hash = models.CharField(max_length=128, editable=False)
    hash_algorithm = models.CharField(max_length=16, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    data_scope_paths = ScopePaths(department="department", division="department__division")

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["department__code", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginEventKind(models.TextChoices):
    """Login events, recorded in the audit trail under these action names."""

    LOGIN = "identity.login", _("logged in")
    LOGOUT = "identity.logout", _("logged out")
    FAILURE = "identity.login_failed", _("wrong password")
    UNKNOWN_USER = "identity.login_unknown_user", _("unknown user name")
    LOCKED = "identity.account_locked", _("account locked")
    REFUSED_LOCKED = "identity.login_refused_locked", _("refused: account locked")
    SECOND_FACTOR_FAILURE = "identity.second_factor_failed", _("wrong second-factor code")
    SECOND_FACTOR_ENROLLED = "identity.second_factor_enrolled", _("second factor enrolled")
    TIMEOUT = "identity.session_timeout", _("session timed out")
