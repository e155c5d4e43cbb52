"""Every change to identity data, as a named verb.

Views, the API, the admin and commands call these; none of them changes identity models itself. Each action
checks the actor's permission (through identity.scope) and changes state in one transaction. `actor=None`
means the platform itself acting for an operator at the shell (commands, the demo seed).
"""

from __future__ import annotations

import datetime
import enum
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import password_validation as django_password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import ric

from zhengtong.audit import actions as audit
from zhengtong.audit.models import ActorKind, Result
from zhengtong.core import crypto, metrics
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.identity import roles, scope, totp, validation
from zhengtong.identity.models import (
    ApiClient,
    Business,
    Citizen,
    DataScope,
    Department,
    Division,
    LoginEventKind,
    StaffProfile,
    TrainingRecord,
    User,
    UserKind,
)

BACKEND = "zhengtong.identity.backends.ScopedPermissionBackend"
# Department codes are segments of the tree path ("/CITY/CITY-PSB/"), so they cannot contain its separator.
DEPARTMENT_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
PENDING_USER_KEY = "identity.pending_user"
PENDING_SINCE_KEY = "identity.pending_since"
PENDING_SECONDS = 5 * 60
# Last-used times are written at most this often, so busy clients do not write on every call.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)


# What an API client may do is decided by what its department was granted, which the exchange app knows and
# identity must not import: exchange registers a checker (client, permission, object) -> bool at start-up. With
# none registered, clients may do nothing.
ClientPermissionChecker = Callable[[ApiClient, str, Model | None], bool]
CLIENT_PERMISSION_CHECKERS: list[ClientPermissionChecker] = []


def register_client_permission_checker(checker: ClientPermissionChecker) -> None:
    if checker not in CLIENT_PERMISSION_CHECKERS:
        CLIENT_PERMISSION_CHECKERS.append(checker)


def require_permission(actor: User | ApiClient | None, perm: str, obj: Model | None = None) -> None:
    if actor is None:
        return
    if isinstance(actor, ApiClient):
        allowed = actor.is_active and any(check(actor, perm, obj) for check in CLIENT_PERMISSION_CHECKERS)
    else:
        allowed = scope.permitted(actor, perm, obj)
    if not allowed:
        # A refusal is a use of the platform too: auditors see who tried what.
        audit.record_alone("identity.permission_denied", actor_of(actor), result=Result.DENIED,
                           object_type=obj._meta.model_name if obj is not None else "",
                           object_id=obj.pk if obj is not None else "", detail={"permission": perm})
        raise NotPermitted(_("You do not have permission to do this."))


def actor_of(who: User | ApiClient | None) -> audit.Actor:
    """The audit trail's plain description of who acts; None is the platform acting at the shell."""
    if isinstance(who, ApiClient):
        return audit.Actor(ActorKind.API_CLIENT, who.key_id, who.name, who.department.code)
    return audit.actor_of_user(who)


# --- divisions and departments ---------------------------------------------------------------------------


def create_division(actor: User | None, *, code: str, name: str, level: int, parent: Division | None,
                    name_en: str = "") -> Division:
    require_permission(actor, "identity.add_division")
    problems = []
    if not (code.isdigit() and len(code) in (6, 9, 12)):
        problems.append(FieldProblem("code", _("A division code has 6, 9 or 12 digits.")))
    elif parent is not None and not code.startswith(parent.prefix):
        problems.append(FieldProblem("code", _("The code must start with the parent's code %(prefix)s.")
                                     % {"prefix": parent.prefix}))
    if parent is not None and parent.level >= level:
        problems.append(FieldProblem("level", _("The level must be below the parent's level.")))
    raise_if_problems(problems)
    with transaction.atomic():
        division, created = Division.objects.get_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "level": level, "parent": parent}
        )
        if created:
            audit.record("identity.create_division", actor_of(actor), object_type="division", object_id=code)
    return division


def create_department(actor: User | None, *, code: str, name: str, division: Division, credit_code: str,
                      parent: Department | None = None, functions: str = "", name_en: str = "",
                      is_governance_office: bool = False) -> Department:
    require_permission(actor, "identity.add_department")
    credit_code, problem = validation.check_credit_code(credit_code)
    problems = [problem] if problem else []
    if not DEPARTMENT_CODE.fullmatch(code):
        problems.append(FieldProblem("code", _("Use letters, digits, - and _ only.")))
    raise_if_problems(problems)
    if parent is not None:
        require_permission(actor, "identity.add_department", parent)
    tree_path = (parent.tree_path if parent else "/") + code + "/"
    try:
        with transaction.atomic():
            department = Department.objects.create(
                code=code, name=name, name_en=name_en, parent=parent, division=division, functions=functions,
                credit_code=credit_code, tree_path=tree_path, is_governance_office=is_governance_office,
            )
            audit.record("identity.create_department", actor_of(actor), object_type="department", object_id=code)
            return department
    except IntegrityError:
        raise Conflict(_("A department with this code or credit code exists already."),
                       [FieldProblem("code", _("already registered"))]) from None


# --- citizens and businesses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CitizenInput:
    name: str
    resident_id: str
    phone: str = ""
    division_code: str | None = None


def _citizen_from_input(data: CitizenInput, field_prefix: str = "") -> tuple[Citizen | None, list[FieldProblem]]:
    name, name_problem = validation.check_required(data.name, field_prefix + "name")
    resident_id, id_problem = validation.check_resident_id(data.resident_id.strip(), field_prefix + "resident_id")
    phone, phone_problem = validation.check_mobile(data.phone, field_prefix + "phone")
    problems = [p for p in (name_problem, id_problem, phone_problem) if p]
    if problems:
        return None, problems
    birth_date, gender = validation.birth_date_and_gender(resident_id)
    citizen = Citizen(name=name, resident_id=resident_id, phone=phone, gender=gender, birth_date=birth_date,
                      division_id=data.division_code)
    return citizen, []


def register_citizen(actor: User | None, data: CitizenInput) -> Citizen:
    """Record a natural person by real name; the resident ID is checked (length, date, place, check digit)."""
    require_permission(actor, "identity.add_citizen")
    citizen, problems = _citizen_from_input(data)
    raise_if_problems(problems)
    assert citizen is not None
    if actor is not None and citizen.division_id:
        division = Division.objects.filter(code=citizen.division_id).first()
        raise_if_problems([] if division else [FieldProblem("division_code", _("No such division."))])
        # Staff register people in the divisions they serve (the whole tree for scope "all").
        if scope.scope_of(actor) != DataScope.ALL and not citizen.division_id.startswith(
                actor.staff.department.division.prefix):
            raise NotPermitted(_("This division is outside your data scope."),
                               [FieldProblem("division_code", _("outside your data scope"))])
    with transaction.atomic():
        if Citizen.objects.filter(resident_id=citizen.resident_id).exists():
            raise Conflict(_("A citizen with this resident ID is registered already."),
                           [FieldProblem("resident_id", _("already registered"))])
        citizen.save()
        audit.record("identity.register_citizen", actor_of(actor), object_type="citizen", object_id=citizen.pk,
                     subjects=[citizen.resident_id])
    return citizen


def register_citizens(actor: User | None, rows: Iterable[CitizenInput], *, batch_size: int = 2000) -> int:
    """Register many citizens at once, all or nothing; rows already registered (same ID) are skipped.

    Returns how many were added.
    """
    require_permission(actor, "identity.add_citizen")
    citizens: list[Citizen] = []
    problems: list[FieldProblem] = []
    for index, row in enumerate(rows):
        citizen, row_problems = _citizen_from_input(row, field_prefix=f"rows[{index}].")
        problems.extend(row_problems)
        if citizen is not None:
            citizens.append(citizen)
    raise_if_problems(problems)
    with transaction.atomic():
        ids = [c.resident_id for c in citizens]
        existing: set[str] = set()
        for start in range(0, len(ids), 1000):
            existing.update(Citizen.objects.filter(resident_id__in=ids[start:start + 1000])
                            .values_list("resident_id", flat=True))
        new = [c for c in citizens if c.resident_id not in existing]
        Citizen.objects.bulk_create(new, batch_size=batch_size)
        if new:
            # One entry for the batch; every person registered is a data subject of it.
            audit.record("identity.register_citizens", actor_of(actor), object_type="citizen",
                         subjects=[c.resident_id for c in new], detail={"count": len(new)})
    return len(new)


@dataclass(frozen=True)
class BusinessInput:
    name: str
    credit_code: str
    legal_representative_id: str  # the representative's resident ID
    division_code: str | None = None


def register_businesses(actor: User | None, rows: Sequence[BusinessInput]) -> int:
    """Register businesses, all or nothing; the legal representative must be a registered citizen."""
    require_permission(actor, "identity.add_business")
    problems: list[FieldProblem] = []
    representatives = {
        c.resident_id: c.pk for c in Citizen.objects.filter(
            resident_id__in=[ric.compact(row.legal_representative_id) for row in rows]).only("pk", "resident_id")
    }
    known_divisions = set(Division.objects.filter(
        code__in={row.division_code for row in rows if row.division_code}).values_list("code", flat=True))
    businesses = []
    for index, row in enumerate(rows):
        prefix = f"rows[{index}]." if len(rows) > 1 else ""
        name, name_problem = validation.check_required(row.name, prefix + "name")
        code, code_problem = validation.check_credit_code(row.credit_code.strip(), prefix + "credit_code")
        representative = representatives.get(ric.compact(row.legal_representative_id))
        row_problems = [p for p in (name_problem, code_problem) if p]
        if representative is None:
            row_problems.append(FieldProblem(prefix + "legal_representative_id",
                                             _("No citizen with this resident ID is registered.")))
        if row.division_code and row.division_code not in known_divisions:
            row_problems.append(FieldProblem(prefix + "division_code", _("No such division.")))
        problems.extend(row_problems)
        if representative is not None and not row_problems:
            businesses.append(Business(name=name, credit_code=code, legal_representative_id=representative,
                                       division_id=row.division_code))
    raise_if_problems(problems)
    with transaction.atomic():
        existing = set(Business.objects.filter(credit_code__in=[b.credit_code for b in businesses])
                       .values_list("credit_code", flat=True))
        new = [b for b in businesses if b.credit_code not in existing]
        if len(rows) == 1 and not new:
            raise Conflict(_("A business with this credit code is registered already."),
                           [FieldProblem("credit_code", _("already registered"))])
        Business.objects.bulk_create(new, batch_size=2000)
        if new:
            audit.record("identity.register_businesses", actor_of(actor), object_type="business",
                         object_id=new[0].credit_code if len(new) == 1 else "",
                         subjects=[b.credit_code for b in new], detail={"count": len(new)})
    return len(new)


# --- accounts and roles ----------------------------------------------------------------------------------


def _check_password(password: str, user: User) -> None:
    try:
        django_password_validation.validate_password(password, user)
    except ValidationError as error:
        raise_if_problems([FieldProblem("password", " ".join(error.messages))])


def create_citizen_account(actor: User | None, citizen: Citizen, *, username: str, password: str) -> User:
    """Give a registered citizen a login."""
    require_permission(actor, "identity.add_user")
    user = User(username=username, first_name=citizen.name, kind=UserKind.CITIZEN)
    _check_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise Conflict(_("This user name is taken."), [FieldProblem("username", _("already taken"))])
        user.save()
        citizen.user = user
        citizen.save(update_fields=["user"])
        audit.record("identity.create_citizen_account", actor_of(actor), object_type="user", object_id=user.pk,
                     subjects=[citizen.resident_id])
    return user


def create_staff(actor: User | None, *, username: str, full_name: str, department: Department,
                 employee_number: str, password: str | None, data_scope: str = DataScope.DEPARTMENT,
                 title: str = "", is_superuser: bool = False, password_hash: str | None = None) -> User:
    """Create a staff account. `password_hash` lets the demo seed reuse one hash instead of hashing 150 times."""
    require_permission(actor, "identity.add_staffprofile", department)
    if data_scope not in DataScope.values:
        raise_if_problems([FieldProblem("data_scope", _("Unknown data scope."))])
    user = User(username=username, first_name=full_name, kind=UserKind.STAFF, is_superuser=is_superuser,
                is_staff=is_superuser)
    if password_hash is not None:
        user.password = password_hash
    elif password is not None:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise Conflict(_("This user name is taken."), [FieldProblem("username", _("already taken"))])
        if StaffProfile.objects.filter(employee_number=employee_number).exists():
            raise Conflict(_("This employee number is taken."),
                           [FieldProblem("employee_number", _("already taken"))])
        user.save()
        StaffProfile.objects.create(user=user, department=department, employee_number=employee_number,
                                    data_scope=data_scope, title=title)
        audit.record("identity.create_staff", actor_of(actor), object_type="user", object_id=user.pk,
                     detail={"username": username, "department": department.code, "data_scope": data_scope,
                             "superuser": is_superuser})
    return user


def mark_demo_account(user: User, *, totp_secret: str | None) -> None:
    """Flag an account of the synthetic demo city; staff get a confirmed second factor from the seed.

    Only such accounts can have their current code printed (`zhengtong totp`).
    """
    changes: dict[str, object] = {"is_demo": True}
    if totp_secret is not None:
        changes.update(totp_secret=totp_secret, totp_confirmed_at=timezone.now())
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(**changes)
        audit.record("identity.mark_demo_account", audit.SYSTEM, object_type="user", object_id=user.pk)


def mark_demo_api_client(client: ApiClient, *, key_id: str, secret: str) -> None:
    """Give a demo client the credential derived from the seed, in place of the random one it was issued: the
    demo prints it on every run, while only the secret's hash is kept."""
    with transaction.atomic():
        ApiClient.objects.filter(pk=client.pk).update(
            key_id=key_id, secret_hash=crypto.digest_named(secret.encode(), client.hash_algorithm).hex())
        audit.record("identity.mark_demo_api_client", audit.SYSTEM, object_type="api_client", object_id=key_id,
                     detail={"department": client.department.code, "issued_key_id": client.key_id})


def ensure_roles() -> dict[str, Group]:
    """Create or refresh the shipped roles (groups) and their permissions. Safe to call repeatedly."""
    groups = {}
    with transaction.atomic():
        for name, perms in roles.ROLE_PERMISSIONS.items():
            group, _created = Group.objects.get_or_create(name=name)
            wanted = []
            for perm in perms:
                app_label, codename = perm.split(".")
                wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            group.permissions.set(wanted)
            groups[name] = group
    return groups


def has_current_training(staff: StaffProfile, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    cutoff = today - datetime.timedelta(days=settings.TRAINING_VALID_DAYS)
    return staff.training_records.filter(completed_on__gt=cutoff, completed_on__lte=today).exists()


def reveals_personal_data(group: Group) -> bool:
    app_label, codename = roles.REVEAL_PERSONAL_DATA.split(".")
    return group.permissions.filter(content_type__app_label=app_label, codename=codename).exists()


def check_role_grant(user: User, groups: Iterable[Group]) -> None:
    """Refuse a role that can reveal unmasked personal data unless training is under 12 months old."""
    for group in groups:
        if not reveals_personal_data(group):
            continue
        staff = getattr(user, "staff", None)
        if staff is None or not has_current_training(staff):
            raise InvalidInput.for_field(
                "roles",
                _("The role %(role)s can reveal unmasked personal data; %(user)s has no data-protection "
                  "training record from the last 12 months.") % {
                    "role": roles.ROLE_LABELS.get(group.name, group.name), "user": user.display_name},
            )


def set_roles(actor: User | None, user: User, role_names: Iterable[str]) -> None:
    """Give a staff member exactly these roles. Nobody sets their own roles or grants powers they lack."""
    staff = getattr(user, "staff", None)
    if staff is None:
        raise_if_problems([FieldProblem("roles", _("Roles are for staff members; this account is not one."))])
    require_permission(actor, "identity.change_staffprofile", staff)
    names = list(role_names)
    groups = list(Group.objects.filter(name__in=names).prefetch_related("permissions__content_type"))
    unknown = set(names) - {g.name for g in groups}
    if unknown:
        raise_if_problems([FieldProblem("roles", _("Unknown role: %(names)s") % {"names": ", ".join(sorted(unknown))})])
    if actor is not None:
        if actor.pk == user.pk:
            raise NotPermitted(_("Nobody can change their own roles."))
        held = actor.get_all_permissions()
        for group in groups:
            if not actor.is_superuser and any(f"{p.content_type.app_label}.{p.codename}" not in held
                                              for p in group.permissions.all()):
                raise NotPermitted(_("You cannot grant the role %(role)s: it holds permissions you do not have.")
                                   % {"role": roles.ROLE_LABELS.get(group.name, group.name)})
    check_role_grant(user, groups)
    with transaction.atomic():
        user.groups.set(groups)
        audit.record("identity.set_roles", actor_of(actor), object_type="user", object_id=user.pk,
                     detail={"roles": sorted(names)})


def record_training(actor: User | None, staff: StaffProfile, *, course: str, completed_on: datetime.date,
                    certificate_number: str = "") -> TrainingRecord:
    require_permission(actor, "identity.add_trainingrecord", staff)
    if actor is not None and actor.pk == staff.user_id:
        raise NotPermitted(_("Nobody can record their own training."))
    problems = []
    if not course.strip():
        problems.append(FieldProblem("course", _("This field is required.")))
    if completed_on > timezone.localdate():
        problems.append(FieldProblem("completed_on", _("The date cannot be in the future.")))
    raise_if_problems(problems)
    with transaction.atomic():
        record = TrainingRecord.objects.create(staff=staff, course=course.strip(), completed_on=completed_on,
                                               certificate_number=certificate_number, recorded_by=actor)
        audit.record("identity.record_training", actor_of(actor), object_type="user", object_id=staff.user_id,
                     detail={"course": record.course, "completed_on": completed_on.isoformat()})
        return record


def set_elder_mode(user: User, enabled: bool) -> None:
    """Remember a person's choice of the elder-friendly mode."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(elder_mode=enabled)
        audit.record("identity.set_elder_mode", actor_of(user), object_type="user", object_id=user.pk,
                     detail={"enabled": enabled})
    user.elder_mode = enabled


# --- API clients -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCredential:
    client: ApiClient
    credential: str  # "<key id>.<secret>", shown once and never stored


def _hash_secret(secret: str, algorithm: str) -> str:
    return crypto.digest_named(secret.encode(), algorithm).hex()


def create_api_client(actor: User | None, *, department: Department, name: str) -> IssuedCredential:
    require_permission(actor, "identity.add_apiclient", department)
    raise_if_problems([] if name.strip() else [FieldProblem("name", _("This field is required."))])
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    algorithm = crypto.hash_name()
    with transaction.atomic():
        client = ApiClient.objects.create(
            department=department, name=name.strip(), key_id=key_id, secret_hash=_hash_secret(secret, algorithm),
            hash_algorithm=algorithm, created_by=actor,
        )
        audit.record("identity.create_api_client", actor_of(actor), object_type="api_client", object_id=key_id,
                     detail={"department": department.code, "name": client.name})
    return IssuedCredential(client, f"{key_id}.{secret}")


def revoke_api_client(actor: User | None, client: ApiClient) -> None:
    require_permission(actor, "identity.change_apiclient", client)
    with transaction.atomic():
        revoked = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            audit.record("identity.revoke_api_client", actor_of(actor), object_type="api_client",
                         object_id=client.key_id)
    client.refresh_from_db()


def authenticate_api_client(credential: str) -> ApiClient | None:
    """The active client owning this credential, its last-used time brought up to date; None otherwise."""
    key_id, _sep, secret = credential.strip().partition(".")
    if not key_id or not secret:
        return None
    client = ApiClient.objects.select_related("department").filter(key_id=key_id).first()
    if client is None or client.revoked_at is not None:
        return None
    if not secrets.compare_digest(_hash_secret(secret, client.hash_algorithm), client.secret_hash):
        return None
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


# --- logging in and out ----------------------------------------------------------------------------------


class LoginOutcome(enum.Enum):
    LOGGED_IN = "logged_in"
    NEEDS_SECOND_FACTOR = "needs_second_factor"
    NEEDS_ENROLMENT = "needs_enrolment"
    LOCKED = "locked"
    INVALID = "invalid"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    locked_until: datetime.datetime | None = None


_LOGIN_RESULTS = {
    LoginEventKind.LOGIN: Result.OK, LoginEventKind.LOGOUT: Result.OK, LoginEventKind.TIMEOUT: Result.OK,
    LoginEventKind.SECOND_FACTOR_ENROLLED: Result.OK, LoginEventKind.LOCKED: Result.OK,
    LoginEventKind.REFUSED_LOCKED: Result.DENIED,
}


def record_login_event(request: HttpRequest, kind: str, *, user: User | None = None, username: str = "") -> None:
    """Logins, logouts and failures go to the audit trail (inside the caller's transaction when there is one)."""
    actor = actor_of(user) if user is not None else audit.Actor(ActorKind.ANONYMOUS)
    values = {"object_type": "user", "object_id": user.pk if user else "",
              "result": _LOGIN_RESULTS.get(LoginEventKind(kind), Result.FAILED),
              "detail": {"username": (user.username if user else username)[:150],
                         "user_agent": request.headers.get("User-Agent", "")[:300]}}
    audit.record_alone(kind, actor, **values)
    metrics.LOGINS.labels(event=kind).inc()


def _count_failure(request: HttpRequest, user: User, kind: str) -> LoginResult:
    """Count a failed password or code; the limit-th failure in a row locks the account."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.failed_login_count += 1
        record_login_event(request, kind, user=locked)
        if locked.failed_login_count >= settings.LOGIN_FAILURE_LIMIT:
            locked.locked_until = timezone.now() + datetime.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
            locked.failed_login_count = 0
            locked.save(update_fields=["failed_login_count", "locked_until"])
            record_login_event(request, LoginEventKind.LOCKED, user=locked)
            return LoginResult(LoginOutcome.LOCKED, locked, locked.locked_until)
        locked.save(update_fields=["failed_login_count"])
    return LoginResult(LoginOutcome.INVALID)


def _complete_login(request: HttpRequest, user: User) -> LoginResult:
    with transaction.atomic():
        # Checked again under a row lock: parallel guesses that passed the first check must not get in after
        # another of them locked the account.
        current = User.objects.select_for_update().get(pk=user.pk)
        if current.is_locked():
            record_login_event(request, LoginEventKind.REFUSED_LOCKED, user=current)
            return LoginResult(LoginOutcome.LOCKED, current, current.locked_until)
        User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)
        request.session.pop(PENDING_USER_KEY, None)
        request.session.pop(PENDING_SINCE_KEY, None)
        login(request, user, backend=BACKEND)
        record_login_event(request, LoginEventKind.LOGIN, user=user)
    return LoginResult(LoginOutcome.LOGGED_IN, user)


def needs_second_factor(user: User) -> bool:
    """Staff, and anyone else who holds powers beyond their own data (an administrator made with Django's
    createsuperuser, an account given a role), log in with a second factor."""
    return user.kind == UserKind.STAFF or user.is_superuser or user.is_staff or user.groups.exists()


def attempt_login(request: HttpRequest, username: str, password: str) -> LoginResult:
    """First step of logging in. Citizens are logged in; staff go on to their second factor."""
    user = User.objects.filter(username=username.strip()).first()
    if user is None or not user.is_active:
        # Hash anyway, so a missing account takes as long to refuse as a wrong password.
        User().set_password(password)
        record_login_event(request, LoginEventKind.UNKNOWN_USER, username=username.strip())
        return LoginResult(LoginOutcome.INVALID)
    if user.is_locked():
        record_login_event(request, LoginEventKind.REFUSED_LOCKED, user=user)
        return LoginResult(LoginOutcome.LOCKED, user, user.locked_until)
    if not user.check_password(password):
        return _count_failure(request, user, LoginEventKind.FAILURE)
    if not needs_second_factor(user):
        return _complete_login(request, user)
    request.session.cycle_key()
    request.session[PENDING_USER_KEY] = user.pk
    request.session[PENDING_SINCE_KEY] = timezone.now().timestamp()
    if user.totp_confirmed_at is None:
        if not user.totp_secret:
            User.objects.filter(pk=user.pk).update(totp_secret=totp.new_secret())
            user.refresh_from_db(fields=["totp_secret"])
        return LoginResult(LoginOutcome.NEEDS_ENROLMENT, user)
    return LoginResult(LoginOutcome.NEEDS_SECOND_FACTOR, user)


def pending_user(request: HttpRequest) -> User | None:
    """The staff member who passed the password step in this session and has not yet given a code."""
    user_id = request.session.get(PENDING_USER_KEY)
    since = request.session.get(PENDING_SINCE_KEY, 0)
    if user_id is None or timezone.now().timestamp() - since > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def verify_second_factor(request: HttpRequest, user: User, code: str) -> LoginResult:
    """Second step for staff: a TOTP code, each usable once. Wrong codes count towards the lock-out."""
    user.refresh_from_db()
    if user.is_locked():
        record_login_event(request, LoginEventKind.REFUSED_LOCKED, user=user)
        return LoginResult(LoginOutcome.LOCKED, user, user.locked_until)
    step = totp.matching_step(user.totp_secret, code) if user.totp_secret else None
    if step is None or step <= user.totp_last_step:
        return _count_failure(request, user, LoginEventKind.SECOND_FACTOR_FAILURE)
    enrolling = user.totp_confirmed_at is None
    with transaction.atomic():
        updated = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(
            totp_last_step=step, totp_confirmed_at=user.totp_confirmed_at or timezone.now())
        if not updated:  # the same code was used by a concurrent request
            return _count_failure(request, user, LoginEventKind.SECOND_FACTOR_FAILURE)
        if enrolling:
            record_login_event(request, LoginEventKind.SECOND_FACTOR_ENROLLED, user=user)
        user.refresh_from_db()
        return _complete_login(request, user)


def log_out(request: HttpRequest) -> None:
    user = request.user if request.user.is_authenticated else None
    if isinstance(user, User):
        record_login_event(request, LoginEventKind.LOGOUT, user=user)
    logout(request)


def expire_idle_session(request: HttpRequest) -> None:
    user = request.user if request.user.is_authenticated else None
    if isinstance(user, User):
        record_login_event(request, LoginEventKind.TIMEOUT, user=user)
    logout(request)


def create_admin(*, username: str, password: str, department: Department, full_name: str = "") -> User:
    """A platform administrator (superuser with the platform_admin role), from the shell."""
    ensure_roles()
    user = create_staff(None, username=username, full_name=full_name or username, department=department,
                        employee_number=f"ADMIN-{username}", password=password, data_scope=DataScope.ALL,
                        is_superuser=True)
    set_roles(None, user, [roles.PLATFORM_ADMIN])
    return user

