"""Domain errors raised by services; :mod:`talents.http_errors` turns them into responses."""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "DomainError",
    "ExpiredLinkError",
    "InvalidLinkError",
    "InvalidTransitionError",
    "NotFoundError",
    "PermissionDeniedError",
    "ValidationFailedError",
]


class DomainError(Exception):
    """Base class: a message for people and, when relevant, the field at fault."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"detail": self.message, "status_code": self.status_code}
        if self.field:
            body["field"] = self.field
            body["extra"] = [{"key": self.field, "message": self.message}]
        return body


class ValidationFailedError(DomainError):
    """Input that breaks a rule of the domain (422)."""

    status_code = 422


class NotFoundError(DomainError):
    status_code = 404


class ConflictError(DomainError):
    """Duplicate or concurrent change (409)."""

    status_code = 409


class InvalidTransitionError(ConflictError):
    """A workflow transition that is not allowed from the current state (409)."""


class PermissionDeniedError(DomainError):
    status_code = 403


class InvalidLinkError(NotFoundError):
    """A signed link (manager approval, unsubscribe) that is forged or damaged (404)."""


class ExpiredLinkError(InvalidTransitionError):
    """A signed link past its expiry date (409)."""
