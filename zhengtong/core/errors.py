"""Error types shared by every app.

Actions raise these; the API turns them into the one error body (`code`, `message`, `details`) and pages show
them next to the field they name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    field: str
    reason: str


class DomainError(Exception):
    """A request the platform refuses for a reason the caller can act on."""

    code = "invalid_request"
    status = 400

    def __init__(self, message: str, details: list[FieldProblem] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(DomainError):
    """One or more fields are wrong; `details` names each field and why."""

    code = "validation_error"
    status = 422

    @classmethod
    def for_field(cls, field: str, reason: str) -> InvalidInput:
        return cls(f"{field}: {reason}", [FieldProblem(field, reason)])


class NotPermitted(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


def raise_if_problems(problems: list[FieldProblem]) -> None:
    """Raise InvalidInput listing every problem, when there is any."""
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.reason}" for p in problems), problems)
