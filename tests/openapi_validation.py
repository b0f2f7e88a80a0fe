"""Validate response bodies against the Airbyte OpenAPI files in ``tests/airbyte_api_specs`` (Airbyte's own files).

``assert_matches_schema(spec, path, method, status, body)`` finds the response schema the spec
declares (following ``$ref`` to ``components/responses``) and validates ``body`` with
openapi-schema-validator (OAS 3.0 for the Config API, OAS 3.1 for the Public API).
``assert_matches_component`` validates against a named schema, for responses the spec does not
declare (the Public API's 409 problems, for instance).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["SPEC_DIR", "assert_matches_component", "assert_matches_schema", "load_spec"]

# Vendored copies of Airbyte's OpenAPI files (see airbyte_api_specs/SOURCES.md).
SPEC_DIR = Path(
    os.environ.get("AIRBYTE_API_SPECS", Path(__file__).resolve().parent / "airbyte_api_specs")
)


@functools.cache
def load_spec(name: str) -> dict[str, Any]:
    """``name`` is a file stem: config-api, config-api-v1.6.0, public-api, public-api-problems."""
    with open(SPEC_DIR / f"{name}.yaml", encoding="utf-8") as handle:
        # The C loader parses these large files several times faster when libyaml is there.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)
    # Known spec quirk (DIGEST §4): AirbyteStream requires "json_schema" but names the property
    # "jsonSchema", which is what Airbyte servers send. Validate what servers really send.
    stream = spec.get("components", {}).get("schemas", {}).get("AirbyteStream")
    if stream and "json_schema" in stream.get("required", []):
        stream["required"] = ["jsonSchema" if r == "json_schema" else r for r in stream["required"]]
    return spec


@functools.cache
def _registry(name: str) -> Registry:
    resource = Resource.from_contents(load_spec(name), default_specification=DRAFT202012)
    return Registry().with_resource(f"urn:{name}", resource)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _validate(name: str, pointer: str, body: Any) -> None:
    spec = load_spec(name)
    validator_class = OAS31Validator if str(spec["openapi"]).startswith("3.1") else OAS30Validator
    schema = {"$ref": f"urn:{name}#{pointer}"}
    validator = validator_class(schema, registry=_registry(name))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        details = "\n".join(f"- at {list(e.path)}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"response does not match {name}{pointer}:\n{details}")


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a ``$ref`` to ``#/components/responses/X``; return (node, its pointer)."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    pointer = ref.removeprefix("#")
    target: Any = spec
    for part in pointer.strip("/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target, pointer


def assert_matches_schema(spec_name: str, path: str, method: str, status: int, body: Any) -> None:
    """Assert ``body`` is what ``spec_name`` declares for ``method path`` answering ``status``."""
    spec = load_spec(spec_name)
    operation = spec["paths"][path][method.lower()]
    responses = operation["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        raise AssertionError(f"{spec_name}: {method} {path} declares no {status} response")
    response, pointer = _resolve(spec, responses[key])
    if pointer is None:
        pointer = f"/paths/{_escape(path)}/{method.lower()}/responses/{key}"
    content = response.get("content") or {}
    media = "application/json" if "application/json" in content else next(iter(content), None)
    if media is None:
        assert body in (None, b"", ""), f"{method} {path} {status} declares no body"
        return
    _validate(spec_name, f"{pointer}/content/{_escape(media)}/schema", body)


def assert_matches_component(spec_name: str, component: str, body: Any) -> None:
    """Assert ``body`` matches ``#/components/schemas/<component>`` of ``spec_name``."""
    assert component in load_spec(spec_name)["components"]["schemas"], component
    _validate(spec_name, f"/components/schemas/{_escape(component)}", body)
