"""Errors the API layer raises, rendered in the dialect of the request.

Handlers raise one of these; ``app.py`` turns them into a Config API body
(``KnownExceptionInfo`` / ``NotFoundKnownExceptionInfo`` / ``InvalidInputExceptionInfo``) or a
Public API RFC 9457 problem, depending on which API the path belongs to.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "Unauthorized",
    "config_body",
    "problem_body",
]

_ERRORS = "https://reference.airbyte.com/reference/errors"


class ApiError(Exception):
    """Base: an HTTP status and a message a user can act on (never a secret)."""

    status = 500
    title = "unexpected-problem"
    problem_type = _ERRORS
    exception_class = "io.airbyte.commons.server.errors.KnownException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def problem_data(self) -> dict[str, Any]:
        return {"message": self.message}


class NotFound(ApiError):
    status = 404
    title = "resource-not-found"
    problem_type = f"{_ERRORS}#resource-not-found"
    exception_class = "io.airbyte.commons.server.errors.IdNotFoundKnownException"

    def __init__(self, resource_type: str, resource_id: object) -> None:
        super().__init__(f"Could not find {resource_type} with id: {resource_id}")
        self.resource_type = resource_type
        self.resource_id = str(resource_id)

    def problem_data(self) -> dict[str, Any]:
        return {"resourceId": self.resource_id, "resourceType": self.resource_type}


class InvalidInput(ApiError):
    """A request body or parameter that does not match the API (422 Config / 400 Public)."""

    status = 422
    title = "bad-request"
    problem_type = f"{_ERRORS}#bad-request"
    exception_class = "io.airbyte.commons.server.errors.BadObjectSchemaKnownException"

    def __init__(self, property_path: str, message: str, invalid_value: object = None) -> None:
        super().__init__(f"{property_path}: {message}" if property_path else message)
        self.property_path = property_path or "body"
        self.reason = message
        self.invalid_value = invalid_value


class Conflict(ApiError):
    """409: ``try-again-later`` (a sync is already running) or ``state-conflict``."""

    status = 409
    exception_class = "io.airbyte.commons.server.errors.ValueConflictKnownException"

    def __init__(self, message: str, kind: str = "try-again-later") -> None:
        super().__init__(message)
        self.title = kind
        self.problem_type = (
            f"{_ERRORS}#try-again-later" if kind == "try-again-later" else f"{_ERRORS}#409-{kind}"
        )


class Unauthorized(ApiError):
    status = 401
    title = "invalid-api-key"
    problem_type = f"{_ERRORS}#invalid-api-key"
    exception_class = "io.airbyte.commons.server.errors.AuthException"


def problem_body(err: ApiError, *, public_status: int | None = None) -> dict[str, Any]:
    """RFC 9457 problem as the Public API sends it (``public-api-problems.yaml``)."""
    status = public_status or err.status
    body: dict[str, Any] = {"status": status, "type": err.problem_type, "title": err.title}
    if isinstance(err, Conflict) and err.title == "try-again-later":
        body["detail"] = "Please try again later."
    else:
        body["detail"] = err.message
    if not isinstance(err, Unauthorized):
        body["data"] = err.problem_data()
    return body


def config_body(err: ApiError) -> dict[str, Any]:
    """The Config API's ``*ExceptionInfo`` body for ``err``."""
    body: dict[str, Any] = {"message": err.message, "exceptionClassName": err.exception_class}
    if isinstance(err, NotFound):
        body["id"] = err.resource_id
    if isinstance(err, InvalidInput):
        item: dict[str, Any] = {"propertyPath": err.property_path, "message": err.reason}
        if err.invalid_value is not None:
            item["invalidValue"] = str(err.invalid_value)
        body["validationErrors"] = [item]
    return body
