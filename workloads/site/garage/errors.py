"""The one application error type; the API and the pages turn it into a response in one place each."""

from typing import Any


class ApplicationError(Exception):
    status = 400

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotAuthenticated(ApplicationError):
    """The caller must say who they are (no valid credentials)."""

    status = 401


class Forbidden(ApplicationError):
    """The caller is known, but this action is not theirs to take."""

    status = 403


class NotFound(ApplicationError):
    status = 404


class Conflict(ApplicationError):
    status = 409


class Invalid(ApplicationError):
    status = 422
