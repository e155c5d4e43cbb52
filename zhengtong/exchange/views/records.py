"""Pages that show registry records to staff through the one door."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("registries:list")
