"""Errors the routes raise, rendered as the real server renders them, per API and per version.

Which Airbyte (or Micronaut) handler answers which exception, with which status and body, is
in ``/work/notes/airbyte-versions.md`` §11-§12; the short version, with the upstream files:

- Config API (``airbyte-commons-server/.../errors/handlers/*``; before v0.62
  ``airbyte-server/.../errors/*``): a ``KnownException`` answers its own status with
  ``KnownExceptionInfo``; an unknown config id (``ApiHelper.kt`` ``execute``, ~line 38) is a 404
  ``IdNotFoundKnownException``; anything uncaught (``IllegalStateException``, "Could not find job
  with id") is a 500 from ``UncaughtExceptionHandler``; bean validation is a 400
  ``InvalidInputExceptionInfo``. The bodies changed twice: stack traces until v1.2, ``{message,
  exceptionClassName}`` v1.3-v1.8, and from v2.0.0 (commit 75054177f0) ``{errorId}`` only
  (``{message, details?, errorId}`` for a KnownException). :class:`~.profiles.Profile`
  ``error_style`` chooses.
- Request binding (a JSON array for an object, a bad uuid, an int64 overflow, an unknown enum)
  fails in Micronaut before Airbyte's code: 400 with Micronaut's HATEOAS ``JsonError``
  (``ConversionErrorHandler``, micronaut-core ``v4.4.2``); so does a path no route matches (404)
  or the wrong method (405, ``RequestLifecycle.java@v4.4.2:442-454``). Both APIs.
- Public API: RFC 9457 problems (``api-problems.yaml``), mapped from handler exceptions by
  ``publicapi/errorHandlers/ConfigClientErrorHandler.kt`` (~87-142).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .profiles import Profile

__all__ = [
    "ApiError",
    "BindingError",
    "Conflict",
    "ConstraintViolation",
    "CronProblem",
    "Forbidden",
    "IllegalState",
    "InvalidInput",
    "InvalidJson",
    "JobNotFound",
    "NotFound",
    "RouteMiss",
    "Unauthorized",
    "UnprocessableEntity",
    "micronaut_error",
    "problem_body",
]

_ERRORS = "https://reference.airbyte.com/reference/errors"
_JAVA_ILLEGAL_STATE = "java.lang.IllegalStateException"
_JAVA_RUNTIME = "java.lang.RuntimeException"
_KNOWN = "io.airbyte.commons.server.errors"

# The ConfigNotFoundType each resource's lookups throw (airbyte-config/config-models/.../
# ConfigNotFoundType.kt), as it appears in messages and in the Public problem's resourceType.
_CONFIG_TYPES = {
    "connection": "STANDARD_SYNC",
    "source": "SOURCE_CONNECTION",
    "destination": "DESTINATION_CONNECTION",
    "workspace": "STANDARD_WORKSPACE",
    "sourceDefinition": "STANDARD_SOURCE_DEFINITION",
    "destinationDefinition": "STANDARD_DESTINATION_DEFINITION",
    "user": "USER",
}

# Public problem details (api-problems.yaml on main).
_DETAILS = {
    "bad-request": "The request could not be understood by the server due to malformed syntax.",
    "resource-not-found": "The requested resource could not be found.",
    "unprocessable-entity": "The body of the request was not understood",
    "state-conflict": "State conflict",
    "try-again-later": "Please try again later.",
    "unexpected-problem": "An unexpected problem has occurred. If this is an error that needs to"
    " be addressed, please submit a pull request or github issue.",
    "forbidden": "The request is forbidden.",
    "invalid-api-key": "The API key in the Authorization header is invalid.",
}
_TYPES = {
    "bad-request": f"{_ERRORS}#bad-request",
    "resource-not-found": f"{_ERRORS}#resource-not-found",
    "unprocessable-entity": f"{_ERRORS}#unprocessable-entity",
    "state-conflict": f"{_ERRORS}#409-state-conflict",
    "try-again-later": f"{_ERRORS}#try-again-later",
    "unexpected-problem": _ERRORS,
    "forbidden": f"{_ERRORS}#forbidden",
    "invalid-api-key": f"{_ERRORS}#invalid-api-key",
}


def problem_body(title: str, status: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """An RFC 9457 problem as the Public API serializes it (``AbstractThrowableProblemHandler``)."""
    body: dict[str, Any] = {
        "status": status,
        "type": _TYPES[title],
        "title": title,
        "detail": _DETAILS[title],
    }
    if data is not None:
        body["data"] = data
    return body


def micronaut_error(
    path: str, reason: str, message: str, argument: str | None = None
) -> dict[str, Any]:
    """Micronaut's HATEOAS ``JsonError`` (``HateoasErrorResponseProcessor.java@v4.4.2:45-70``)."""
    item: dict[str, Any] = {"message": message}
    if argument is not None:
        item["path"] = f"/{argument}"
    return {
        "message": reason,
        "_links": {"self": {"href": path, "templated": False}},
        "_embedded": {"errors": [item]},
    }


def _stack(exception_class: str, message: str) -> list[str]:
    return [f"{exception_class}: {message}", "\tat io.airbyte.server (local Airbyte)"]


def known_exception_info(
    profile: Profile, message: str, exception_class: str, *, known: bool = True
) -> dict[str, Any]:
    """``KnownExceptionInfo`` in the profile's style.

    ``known``: thrown as a KnownException (its message survives on v2.0+); otherwise the body
    of a handler that answers with the error id only.
    """
    if profile.error_style == "error_id":
        error_id = str(uuid.uuid4())
        return {"message": message, "errorId": error_id} if known else {"errorId": error_id}
    body: dict[str, Any] = {"message": message, "exceptionClassName": exception_class}
    if profile.error_style == "stack":
        body["exceptionStack"] = _stack(exception_class, message)
    return body


class ApiError(Exception):
    """Base: an error with a message a user can act on (never a secret).

    Subclasses say how the Config API and the Public API answer it; the plain class is an
    uncaught exception (Config 500, Public ``unexpected-problem``).
    """

    java_class = _JAVA_RUNTIME

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        body = known_exception_info(
            profile, f"Internal Server Error: {self.message}", self.java_class, known=False
        )
        return 500, body

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 500, problem_body("unexpected-problem", 500, {"message": self.message})


class NotFound(ApiError):
    """A config id that does not exist (``ConfigNotFoundException``)."""

    java_class = f"{_KNOWN}.IdNotFoundKnownException"

    def __init__(self, resource_type: str, resource_id: object) -> None:
        self.resource_type = _CONFIG_TYPES.get(resource_type, resource_type)
        self.resource_id = str(resource_id)
        # ApiHelper.kt ~38: "Could not find configuration for ${e.type}: ${e.configId}."
        super().__init__(
            f"Could not find configuration for {self.resource_type}: {self.resource_id}."
        )

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        message = self.message
        if profile.not_found_prefixed:  # IdNotFoundExceptionHandler from v0.62
            message = f"Internal Server Error: {message}"
        return 404, known_exception_info(profile, message, self.java_class, known=False)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        status = profile.public_not_found_status
        data = {"resourceType": self.resource_type, "resourceId": self.resource_id}
        return status, problem_body("resource-not-found", status, data)


class JobNotFound(ApiError):
    """An unknown job id: ``DefaultJobPersistence.getJob`` throws a plain RuntimeException.

    Config API: 500 (``DefaultJobPersistence.kt@main:563-571``, uncaught). Public API: the
    message contains "Could not find job with id", which ``ConfigClientErrorHandler.kt``
    (~133-137) turns into 409 ``state-conflict`` "Job is not currently running".
    """

    def __init__(self, job_id: object) -> None:
        super().__init__(f"Could not find job with id: {job_id}")

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 409, problem_body("state-conflict", 409, {"message": "Job is not currently running"})


class IllegalState(ApiError):
    """``IllegalStateException``: Config 500; Public 409 ``state-conflict``.

    ``ConfigClientErrorHandler.kt`` ~104-115: "Job is not currently running" when the message
    contains "Failed to cancel", otherwise "Could not fulfill request".
    """

    java_class = _JAVA_ILLEGAL_STATE

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        if "Failed to cancel" in self.message:
            message = "Job is not currently running"
        else:
            message = "Could not fulfill request"
        return 409, problem_body("state-conflict", 409, {"message": message})


class Conflict(ApiError):
    """``ValueConflictKnownException`` (a sync already running): 409 on both APIs.

    Config: ``KnownExceptionInfo`` with the message; Public: ``try-again-later`` with the
    message in ``data`` (``ConfigClientErrorHandler.kt`` ~94-97).
    """

    java_class = f"{_KNOWN}.ValueConflictKnownException"

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 409, known_exception_info(profile, self.message, self.java_class)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 409, problem_body("try-again-later", 409, {"message": self.message})


class InvalidInput(ApiError):
    """A request the handlers refuse (``JsonValidationException`` and friends).

    Config: ``ApiHelper.execute`` wraps it in ``BadObjectSchemaKnownException`` (422). Public:
    the controllers' own checks throw ``bad-request`` problems (400).
    """

    java_class = f"{_KNOWN}.BadObjectSchemaKnownException"

    def __init__(self, property_path: str, message: str, invalid_value: object = None) -> None:
        super().__init__(f"{property_path}: {message}" if property_path else message)
        self.property_path = property_path or "body"
        self.reason = message
        self.invalid_value = invalid_value

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        message = f"The provided configuration does not fulfill the specification. Errors: {self}"
        return 422, known_exception_info(profile, message, self.java_class)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 400, problem_body("bad-request", 400, {"message": self.message})


class CronProblem(ApiError):
    """A refused cron schedule: a 400 problem on both APIs (``api-problems.yaml``).

    Thrown by ``ConnectionScheduleHelper`` (``.kt@v1.8.0`` ~100-200) as
    ``CronValidation*Problem``s, which are problems even on the Config API. Before v0.63 (no
    problems yet) Quartz's ParseException was a JsonValidationException: a 422.
    """

    _KINDS = {
        "invalid-expression": ("Invalid cron expression", "The cron expression is invalid"),
        "invalid-timezone": ("Invalid cron timezone", "The specified cron timezone is invalid"),
        "missing-component": (
            "Cron is missing a component",
            "The cron must specify a cron expression and a timezone.",
        ),
        "missing-cron-data": (
            "Cron data is missing",
            "If schedule type is cron, scheduleData.cron must be provided.",
        ),
    }

    def __init__(self, kind: str, message: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.kind = kind
        self.data = data

    def _response(self, profile: Profile, config: bool, path: str) -> tuple[int, dict[str, Any]]:
        if profile.error_style == "stack" and profile.invalid_json_status == 422:  # v0.50
            legacy = InvalidInput("scheduleData.cron", self.message)
            return (
                legacy.config_response(profile, path)
                if config
                else legacy.public_response(profile, path)
            )
        title, detail = self._KINDS[self.kind]
        body = {
            "status": 400,
            "type": f"error:cron-validation/{self.kind}",
            "title": title,
            "detail": detail,
            "data": self.data,
        }
        return 400, body

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile, True, path)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile, False, path)


class UnprocessableEntity(ApiError):
    """Public ``unprocessable-entity`` (422), e.g. a refresh on ``POST /jobs``."""

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 422, problem_body("unprocessable-entity", 422, {"message": self.message})

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return InvalidInput("", self.message).config_response(profile, path)


class BindingError(ApiError):
    """The body could not be bound to the endpoint's model: Micronaut's 400, on both APIs.

    ``value`` is what Micronaut prints as the argument's value ("null" for a body);
    ``unsatisfied``: the argument is missing altogether ("Required Body [x] not specified").
    """

    def __init__(
        self, argument: str, message: str, *, value: str = "null", unsatisfied: bool = False
    ) -> None:
        super().__init__(message)
        self.argument = argument
        self.value = value
        self.unsatisfied = unsatisfied

    def _response(self, path: str) -> tuple[int, dict[str, Any]]:
        if self.unsatisfied:
            text = self.message
        else:
            text = (
                f"Failed to convert argument [{self.argument}] for value [{self.value}]"
                f" due to: {self.message}"
            )
        return 400, micronaut_error(path, "Bad Request", text, self.argument)

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(path)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(path)


class InvalidJson(ApiError):
    """Syntactically invalid JSON.

    Micronaut 4 (Airbyte >= v0.52.0): 400 "Invalid JSON" from its own ``JsonExceptionHandler``.
    Micronaut 3 (v0.50.x): the raw ``JsonParseException`` reaches Airbyte's
    ``InvalidJsonExceptionHandler``: 422 ``KnownExceptionInfo`` "Invalid json. ...".
    """

    java_class = "com.fasterxml.jackson.core.JsonParseException"

    def _response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        if profile.invalid_json_status == 422:
            body = known_exception_info(profile, f"Invalid json. {self}", self.java_class)
            return 422, body
        return 400, micronaut_error(path, "Invalid JSON", f"Invalid JSON: {self}")

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile, path)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile, path)


class ConstraintViolation(ApiError):
    """Bean validation of a bound body (a required field missing): 400 on both APIs.

    ``InvalidInputExceptionHandler``: ``InvalidInputExceptionInfo`` until v1.8, ``{errorId}``
    from v2.0.0.
    """

    def __init__(self, property_path: str, message: str = "must not be null") -> None:
        super().__init__(f"{property_path}: {message}")
        self.property_path = property_path
        self.reason = message

    def _response(self, profile: Profile) -> tuple[int, dict[str, Any]]:
        if profile.error_style == "error_id":
            return 400, {"errorId": str(uuid.uuid4())}
        package = "javax" if profile.invalid_json_status == 422 else "jakarta"  # Micronaut 3 / 4
        exception_class = f"{package}.validation.ConstraintViolationException"
        message = "Some properties contained invalid input."
        return 400, {
            "message": message,
            "exceptionClassName": exception_class,
            "exceptionStack": _stack(exception_class, message),
            "validationErrors": [
                {"propertyPath": self.property_path, "message": self.reason, "invalidValue": "null"}
            ],
        }

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(profile)


class RouteMiss(ApiError):
    """No route for this path (404) or not for this method (405): Micronaut answers itself."""

    def __init__(self, method: str | None = None, allowed: tuple[str, ...] = ()) -> None:
        super().__init__("Page Not Found")
        self.method = method
        self.allowed = allowed

    def _response(self, path: str) -> tuple[int, dict[str, Any]]:
        if self.method is not None:
            message = (
                f"Method [{self.method}] not allowed for URI [{path}]."
                f" Allowed methods: [{', '.join(self.allowed)}]"
            )
            return 405, micronaut_error(path, "Method Not Allowed", message)
        return 404, micronaut_error(path, "Not Found", "Page Not Found")

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(path)

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return self._response(path)


class Unauthorized(ApiError):
    """No or wrong credentials: 401 (Public: ``invalid-api-key``)."""

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 401, known_exception_info(profile, self.message, f"{_KNOWN}.AuthException")

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 401, problem_body("invalid-api-key", 401)


class Forbidden(ApiError):
    """403 ``forbidden``."""

    def config_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 403, known_exception_info(profile, self.message, f"{_KNOWN}.ForbiddenException")

    def public_response(self, profile: Profile, path: str) -> tuple[int, dict[str, Any]]:
        return 403, problem_body("forbidden", 403, {"message": self.message})
