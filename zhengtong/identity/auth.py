"""How API callers prove who they are: department systems by credential, browsers by session with CSRF."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from zhengtong.identity.actions import authenticate_api_client


class ApiClientAuth(HttpBearer):
    """`Authorization: Bearer <key id>.<secret>`; the request is then attributable to client and department."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        client = authenticate_api_client(token)
        if client is not None:
            request.api_client = client  # type: ignore[attr-defined]
        return client


# Tried in order: a request with a bearer credential is a system; otherwise the browser session, whose
# unsafe methods need the CSRF token.
API_AUTH = [ApiClientAuth(), SessionAuth()]
