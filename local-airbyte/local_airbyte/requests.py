"""Binding request bodies the way the real server does, before any handler runs.

Airbyte's controllers take generated Java models (``@Body @Valid JobIdRequestBody ...``), so
Micronaut + Jackson decide what a malformed body gets, not Airbyte (``/work/notes/
airbyte-versions.md`` §11.3):

- syntactically invalid JSON: 400 "Invalid JSON" (Micronaut 4; 422 on Micronaut 3, v0.50.x);
- a value Jackson cannot bind (a JSON array for an object, a bad uuid, an int64 overflow, an
  enum value the release does not know): 400 Micronaut ``JsonError``
  (``ConversionErrorHandler``). Jackson coerces scalars: ``"123"`` binds to a long, ``5`` to a
  string;
- unknown properties are ignored; a missing required property is a bean-validation 400
  (:class:`~.api_errors.ConstraintViolation`);
- an endpoint that takes no body (``workspaces/list``, ``source_definitions/list``...) ignores
  whatever is sent, with or without ``Content-Type``.

Each :class:`Model` lists the top-level fields of one request schema (``config.yaml``,
``components.schemas``); nested structures (catalogs, schedules) are checked by the service.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .api_errors import BindingError, ConstraintViolation, InvalidJson

__all__ = [
    "BindingError",
    "Model",
    "bind",
    "convert_path_int64",
    "convert_query",
    "parse_json",
]

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_GENERATED = "io.airbyte.api.model.generated"

Check = Callable[[Any, str], Any]


@dataclass(frozen=True)
class Model:
    """One generated request model: its Java name, the controller argument and fields."""

    java_name: str
    fields: dict[str, Check]
    required: tuple[str, ...] = ()
    method: str = "call"  # the controller method, first element of a violation's property path
    argument: str = field(default="")

    @property
    def argument_name(self) -> str:
        return self.argument or self.java_name[:1].lower() + self.java_name[1:]


def _reject(value: Any, target: str, token: str | None = None) -> BindingError:
    kind = token or type(value).__name__
    return BindingError(
        "", f"Cannot deserialize value of type `{target}` from {kind} value {json.dumps(value)}"
    )


def _integer(bounds: tuple[int, int], java: str) -> Check:
    def check(value: Any, name: str) -> int:
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise _reject(value, java)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise BindingError(
                    "",
                    f"Cannot deserialize value of type `{java}` from String {json.dumps(value)}:"
                    " not a valid `" + java + "` value",
                ) from None
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _reject(value, java)
            value = int(value)  # ACCEPT_FLOAT_AS_INT (Jackson's default) truncates
        if not bounds[0] <= value <= bounds[1]:
            raise BindingError(
                "",
                f"Numeric value ({value}) out of range of {java} ({bounds[0]} - {bounds[1]})",
            )
        return int(value)

    return check


INT64 = _integer(_INT64, "long")
INT32 = _integer(_INT32, "int")


def UUID_(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _reject(value, "java.util.UUID")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise BindingError(
            "",
            f'Cannot deserialize value of type `java.util.UUID` from String "{value}":'
            " UUID has to be represented by standard 36-char representation",
        ) from None
    if len(value) != 36:
        raise BindingError(
            "", f'Cannot deserialize value of type `java.util.UUID` from String "{value}"'
        )
    return str(parsed)


def STR(value: Any, name: str) -> str:
    if isinstance(value, dict | list):
        raise _reject(value, "java.lang.String", "Object" if isinstance(value, dict) else "Array")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def BOOL(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise _reject(value, "java.lang.Boolean")


def OBJ(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _reject(value, "java.util.Map" if name else "java.lang.Object")
    return value


def ARR(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise _reject(value, "java.util.List")
    return value


def DATETIME(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _reject(value, "java.time.OffsetDateTime")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BindingError(
            "",
            f'Cannot deserialize value of type `java.time.OffsetDateTime` from String "{value}"',
        )
    return value


def enum(java: str, values: tuple[str, ...]) -> Check:
    """A generated enum: ``@JsonCreator fromValue`` throws on anything else (case-sensitive)."""

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str) or value not in values:
            raise BindingError(
                "",
                f"Cannot construct instance of `{_GENERATED}.{java}`, problem: Unexpected value"
                f" '{value}'",
            )
        return value

    return check


def list_of(item: Check) -> Check:
    def check(value: Any, name: str) -> list[Any]:
        return [item(v, name) for v in ARR(value, name)]

    return check


def nested(model: Model) -> Check:
    def check(value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _reject(value, f"{_GENERATED}.{model.java_name}")
        return _bind_fields(model, value, f"{name}.")

    return check


class _Rejected(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Rejected(f"Non-standard token '{name}'")


def parse_json(raw: bytes) -> Any:
    """Parse like Jackson: strict JSON (no NaN/Infinity); raises :class:`InvalidJson`."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, _Rejected) as exc:
        raise InvalidJson(f"Unexpected character: {exc}") from None


def _bind_fields(model: Model, body: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    result = dict(body)  # unknown properties are kept but never looked at (Jackson ignores them)
    for name, check in model.fields.items():
        value = body.get(name)
        if value is None:
            continue
        try:
            result[name] = check(value, name)
        except BindingError as exc:
            chain = f'{_GENERATED}.{model.java_name}["{prefix}{name}"]'
            raise BindingError("", f"{exc.message} (through reference chain: {chain})") from None
    for name in model.required:
        if body.get(name) is None:
            raise ConstraintViolation(f"{model.method}.{model.argument_name}.{prefix}{name}")
    return result


def bind(model: Model | None, raw: bytes) -> dict[str, Any]:
    """The bound body of one request; ``model=None`` is an endpoint without a body (ignored)."""
    if model is None:
        return {}
    if not raw.strip():
        name = model.argument_name
        raise BindingError(name, f"Required Body [{name}] not specified", unsatisfied=True)
    body = parse_json(raw)
    if not isinstance(body, dict):
        token = "Array" if isinstance(body, list) else type(body).__name__
        raise BindingError(
            model.argument_name,
            f"Cannot deserialize value of type `{_GENERATED}.{model.java_name}` from {token} value",
        )
    try:
        return _bind_fields(model, body)
    except BindingError as exc:
        exc.argument = model.argument_name
        raise


def convert_path_int64(name: str, raw: str) -> int:
    """A ``@PathVariable Long``: Micronaut's conversion error is a 400 ``JsonError``."""
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not _INT64[0] <= value <= _INT64[1]:
        raise BindingError(name, f'For input string: "{raw}"', value=raw)
    return value


def convert_query(check: Check, name: str, raw: Any) -> Any:
    """A path or query value bound by ``check``; failures name the argument, as Micronaut does."""
    try:
        return check(raw, name)
    except BindingError as exc:
        raise BindingError(name, exc.message, value=str(raw)) from None
