"""What the current request is, for code far from the view: the audit trail records it with every entry."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_address: str | None = None


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("zhengtong_request", default=RequestContext())  # noqa: B039 (frozen)


def current_request() -> RequestContext:
    return _current.get()


def set_current_request(context: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(context)


def reset_current_request(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)
