"""Pages of subscriptions, under /sharing/subscriptions/: a department's subscriptions to the changes of
resources it holds grants for, each with its recent deliveries and its dead letters to replay; the form to
subscribe one of the department's systems; pause, resume and cancel.

Pages are thin: a subscription outside the visitor's reach is a 404, a button is shown only to those who may
use it, and the action checks the permission again when the form is sent.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.exchange import actions
from zhengtong.exchange import subscriptions as webhooks
from zhengtong.exchange.forms import show_problems
from zhengtong.exchange.models import DeliveryMode, EventStatus, Grant, Subscription, SubscriptionStatus
from zhengtong.identity import scope
from zhengtong.identity.models import ApiClient, User

PER_PAGE = 25
RECENT = 20
ADD = "exchange.add_subscription"
CHANGE = "exchange.change_subscription"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _visible(request: HttpRequest, number: str) -> Subscription:
    return get_object_or_404(webhooks.visible_subscriptions(_user(request)), number=number)


def _department(user: User) -> Any:
    profile = getattr(user, "staff", None)
    return profile.department if profile is not None else None


def _may_manage(user: User, subscription: Subscription) -> bool:
    return scope.permitted(user, CHANGE, subscription) and subscription.status != SubscriptionStatus.CANCELLED


class SubscriptionForm(forms.Form):
    field_names = forms.MultipleChoiceField(label=gettext_lazy("Fields the events carry"),
                                            widget=forms.CheckboxSelectMultiple)
    client = forms.ModelChoiceField(label=gettext_lazy("Receiving system"), queryset=ApiClient.objects.none(),
                                    empty_label=None,
                                    help_text=gettext_lazy("The department's system the events are for; reads "
                                                           "are audited in its name."))
    mode = forms.ChoiceField(label=gettext_lazy("Delivery"), choices=DeliveryMode.choices, widget=forms.RadioSelect,
                             initial=DeliveryMode.WEBHOOK)
    webhook_url = forms.CharField(
        label=gettext_lazy("Webhook URL"), required=False, max_length=500,
        widget=forms.URLInput(attrs={"autocomplete": "url", "spellcheck": "false"}),
        help_text=gettext_lazy("An https address of your system, for webhook delivery. Each delivery is signed "
                               "with the platform's key."))

    def __init__(self, *args: Any, grant: Grant, labels: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        names = self.fields["field_names"]
        clients = self.fields["client"]
        assert isinstance(names, forms.MultipleChoiceField) and isinstance(clients, forms.ModelChoiceField)
        names.choices = [(name, f"{labels.get(name, name)} ({name})") for name in grant.fields]
        clients.queryset = ApiClient.objects.filter(department=grant.consumer, revoked_at__isnull=True).order_by("name")


def _labels(grant: Grant) -> dict[str, str]:
    return {item.name: item.label for item in grant.resource.items.all()}


@login_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not scope.permitted(user, webhooks.VIEW_SUBSCRIPTION):
        raise PermissionDenied
    items = webhooks.visible_subscriptions(user)
    return render(request, "exchange/subscriptions/list.html", {
        "page": Paginator(items, PER_PAGE).get_page(request.GET.get("page")),
        "can_add": scope.permitted(user, ADD) and _department(user) is not None,
    })


@login_required
def new_subscription(request: HttpRequest) -> HttpResponse:
    """First the grant (the department's grants in force, of registries), then what to send and where."""
    user = _user(request)
    department = _department(user)
    if not scope.permitted(user, ADD) or department is None:
        raise PermissionDenied
    grants = webhooks.grants_to_subscribe(department)
    number = request.GET.get("grant") or request.POST.get("grant")
    if not number:
        return render(request, "exchange/subscriptions/choose_grant.html", {"grants": grants})
    grant = get_object_or_404(grants, number=number)
    labels = _labels(grant)
    form = SubscriptionForm(request.POST if request.method == "POST" else None, grant=grant, labels=labels)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = actions.subscribe(user, actions.SubscriptionInput(
                grant=grant, client=data["client"], fields=list(data["field_names"]), mode=data["mode"],
                webhook_url=data["webhook_url"]))
        except InvalidInput as error:
            show_problems(error, [form])
        except DomainError as error:
            if isinstance(error, NotPermitted):
                raise PermissionDenied(error.message) from None
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Subscription %(number)s is made; changes from now on will follow.")
                             % {"number": subscription.number})
            return redirect("exchange:subscription", subscription.number)
    has_errors = form.is_bound and bool(form.errors)
    return render(request, "exchange/subscriptions/form.html", {
        "grant": grant, "form": form, "has_errors": has_errors, "error_forms": [form],
        "has_clients": form.fields["client"].queryset.exists(),  # type: ignore[attr-defined]
    })


@login_required
def subscription_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    subscription = _visible(request, number)
    labels = _labels(subscription.grant)
    may_manage = _may_manage(user, subscription)
    dead = subscription.events.filter(status=EventStatus.DEAD).order_by("sequence")
    return render(request, "exchange/subscriptions/detail.html", {
        "subscription": subscription,
        "fields": [(name, labels.get(name, name)) for name in subscription.fields],
        "recent": subscription.events.order_by("-sequence")[:RECENT],
        "dead": dead, "dead_count": dead.count(),
        "pending_count": subscription.events.filter(status=EventStatus.PENDING).count(),
        "can_manage": may_manage,
        "can_pause": may_manage and subscription.status == SubscriptionStatus.ACTIVE,
        "can_resume": may_manage and subscription.status == SubscriptionStatus.PAUSED,
        "can_replay": may_manage and subscription.mode == DeliveryMode.WEBHOOK,
    })


STATUS_CHANGES = {
    "pause": (actions.pause_subscription, gettext_lazy("Subscription %(number)s is paused.")),
    "resume": (actions.resume_subscription, gettext_lazy("Subscription %(number)s is resumed.")),
    "cancel": (actions.cancel_subscription, gettext_lazy("Subscription %(number)s is cancelled.")),
}


def _run(request: HttpRequest, subscription: Subscription, step: Any, done: str) -> HttpResponse:
    try:
        step()
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("exchange:subscription", subscription.number)


@login_required
@require_POST
def subscription_status(request: HttpRequest, number: str, change: str) -> HttpResponse:
    subscription = _visible(request, number)
    run, done = STATUS_CHANGES[change]
    reason = request.POST.get("reason", "")[:500]
    return _run(request, subscription, lambda: run(_user(request), subscription, reason=reason),
                str(done) % {"number": subscription.number})


@login_required
@require_POST
def replay(request: HttpRequest, number: str) -> HttpResponse:
    """Replay one dead letter (`sequence`), or all of them."""
    subscription = _visible(request, number)
    chosen = request.POST.get("sequence", "")
    sequences = [int(chosen)] if chosen.isdigit() else None
    return _run(request, subscription,
                lambda: actions.replay_dead_letters(_user(request), subscription, sequences=sequences),
                _("The dead letters will be sent again.") if sequences is None else
                _("Event %(sequence)s will be sent again.") % {"sequence": chosen})


urlpatterns: list = [
    path("subscriptions/", subscription_list, name="subscriptions"),
    path("subscriptions/new/", new_subscription, name="new-subscription"),
    path("subscriptions/<str:number>/", subscription_detail, name="subscription"),
    path("subscriptions/<str:number>/pause/", subscription_status, {"change": "pause"}, name="pause-subscription"),
    path("subscriptions/<str:number>/resume/", subscription_status, {"change": "resume"},
         name="resume-subscription"),
    path("subscriptions/<str:number>/cancel/", subscription_status, {"change": "cancel"},
         name="cancel-subscription"),
    path("subscriptions/<str:number>/replay/", replay, name="replay-subscription"),
]
