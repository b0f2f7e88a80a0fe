"""The loading floor: bare Dagster building the very specs ours built, and nothing else.

:func:`describe` turns the ``AssetsDefinition`` list ours returned into plain JSON lines (one
``multi_asset`` a line: op name, subsetting, resource keys, op tags, and every spec's key, deps,
description, group, kinds, tags, owners and metadata entries, each metadata value with its type).
It runs in ours' worker after ours' load is measured, so the floor always copies what ours
produces today. :func:`build` is the floor: it reads those lines back and builds the same
``AssetSpec``/``TableSchema``/``MetadataValue`` objects and the same subsettable ``multi_asset``
per connection with Dagster's public API, one line at a time (so the floor's input never
occupies more memory than one connection's worth). :func:`fingerprint` digests both lists the
same way, so the run can show that the floor built exactly ours' specs.

A value the floor cannot rebuild from plain data (an automation condition, a partitions
definition, an unknown metadata type) goes through Dagster's serdes instead and is named in the
``fallbacks`` list of the line, which the bench reports: serdes is slower than the constructors,
so every fallback makes the floor less of a floor.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._serdes import deserialize_value, serialize_value

__all__ = ["FloorBuild", "build", "describe", "fingerprint"]

_KIND_PREFIX = "dagster/kind/"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# MetadataValue subclasses that are one value behind a public constructor of the same name.
_SIMPLE = {
    "UrlMetadataValue": "url",
    "TextMetadataValue": "text",
    "PathMetadataValue": "path",
    "NotebookMetadataValue": "notebook",
    "MarkdownMetadataValue": "md",
    "FloatMetadataValue": "float",
    "IntMetadataValue": "int",
    "BoolMetadataValue": "bool",
    "TimestampMetadataValue": "timestamp",
    "JsonMetadataValue": "json",
}


# -- plain data from ours' definitions ------------------------------------------------------------


def _schema(schema: dg.TableSchema) -> list[Any]:
    columns = []
    for c in schema.columns:
        k = c.constraints
        default = k.nullable and not k.unique and not k.other
        columns.append(
            [
                c.name,
                c.type,
                c.description,
                None if default else [k.nullable, k.unique, list(k.other)],
                dict(c.tags) or None,
            ]
        )
    return [columns, list(schema.constraints.other)]


def _value(value: Any, fallbacks: list[str], where: str) -> list[Any]:
    if value is None or isinstance(value, str | int | float | bool):
        return ["raw", value]
    if isinstance(value, dg.TableSchema):
        return ["schema", *_schema(value)]
    if isinstance(value, dg.TableSchemaMetadataValue):
        return ["schema_value", *_schema(value.schema)]
    name = type(value).__name__
    if name in _SIMPLE:
        return ["mv", _SIMPLE[name], value.value]
    fallbacks.append(where)
    return ["serdes", serialize_value(value)]


def _metadata(metadata: Mapping[str, Any], fallbacks: list[str], where: str) -> list[Any]:
    return [[k, _value(v, fallbacks, f"{where} metadata {k}")] for k, v in metadata.items()]


def _serdes_or_none(value: Any, fallbacks: list[str], where: str) -> str | None:
    if value is None:
        return None
    fallbacks.append(where)
    return serialize_value(value)


def _spec(spec: dg.AssetSpec, fallbacks: list[str]) -> dict[str, Any]:
    where = spec.key.to_user_string()
    kinds = sorted(t[len(_KIND_PREFIX) :] for t in spec.tags if t.startswith(_KIND_PREFIX))
    plain: dict[str, Any] = {
        "key": list(spec.key.path),
        "deps": [list(d.asset_key.path) for d in spec.deps],
        "description": spec.description,
        "metadata": _metadata(spec.metadata, fallbacks, where),
        "skippable": spec.skippable,
        "group": spec.group_name,
        "code_version": spec.code_version,
        "owners": list(spec.owners),
        "tags": {k: v for k, v in spec.tags.items() if not k.startswith(_KIND_PREFIX)},
        "kinds": kinds,
    }
    extras = {
        "automation_condition": spec.automation_condition,
        "partitions_def": spec.partitions_def,
        "freshness_policy": spec.freshness_policy,
    }
    for name, value in extras.items():
        encoded = _serdes_or_none(value, fallbacks, f"{where} {name}")
        if encoded is not None:
            plain[name] = encoded
    if any(d.partition_mapping is not None for d in spec.deps):
        fallbacks.append(f"{where} deps partition mappings (not reproduced)")
    return plain


def describe(assets: Sequence[dg.AssetsDefinition]) -> Iterator[str]:
    """One JSON line per ``multi_asset`` of ours, in order."""
    for a in assets:
        fallbacks: list[str] = []
        checks = [
            {
                "name": c.name,
                "asset": list(c.asset_key.path),
                "description": c.description,
                "blocking": c.blocking,
                "additional_deps": [list(d.asset_key.path) for d in c.additional_deps],
                "metadata": _metadata(c.metadata or {}, fallbacks, f"check {c.name}"),
            }
            for c in a.check_specs
        ]
        for name in ("retry_policy",):
            if getattr(a.op, name, None) is not None:
                fallbacks.append(f"op {a.op.name} {name} (not reproduced)")
        if a.partitions_def is not None or a.backfill_policy is not None:
            fallbacks.append(f"op {a.op.name} partitions/backfill policy (not reproduced)")
        line = {
            "name": a.op.name,
            "can_subset": a.can_subset,
            "resources": sorted(a.required_resource_keys - {"io_manager"}),
            "op_tags": dict(a.op.tags),
            "pool": getattr(a.op, "pool", None),
            "specs": [_spec(s, fallbacks) for s in a.specs],
            "checks": checks,
            "fallbacks": fallbacks,
        }
        yield json.dumps(line)


# -- the floor ------------------------------------------------------------------------------------


def _rebuild_schema(columns: list[Any], other: list[str]) -> dg.TableSchema:
    built = []
    for name, type_, description, constraints, tags in columns:
        built.append(
            dg.TableColumn(
                name=name,
                type=type_,
                description=description,
                constraints=(
                    None
                    if constraints is None
                    else dg.TableColumnConstraints(
                        nullable=constraints[0], unique=constraints[1], other=constraints[2]
                    )
                ),
                tags=tags,
            )
        )
    return dg.TableSchema(
        columns=built, constraints=dg.TableConstraints(other=other) if other else None
    )


def _rebuild_value(encoded: list[Any]) -> Any:
    kind = encoded[0]
    if kind == "raw":
        return encoded[1]
    if kind == "schema":
        return _rebuild_schema(encoded[1], encoded[2])
    if kind == "schema_value":
        return dg.MetadataValue.table_schema(_rebuild_schema(encoded[1], encoded[2]))
    if kind == "mv":
        return getattr(dg.MetadataValue, encoded[1])(encoded[2])
    return deserialize_value(encoded[1])


def _rebuild_metadata(entries: list[Any]) -> dict[str, Any]:
    return {k: _rebuild_value(v) for k, v in entries}


def _rebuild_spec(plain: dict[str, Any]) -> dg.AssetSpec:
    extras: dict[str, Any] = {
        name: deserialize_value(plain[name])
        for name in ("automation_condition", "partitions_def", "freshness_policy")
        if name in plain
    }
    return dg.AssetSpec(
        key=dg.AssetKey(plain["key"]),
        deps=[dg.AssetKey(d) for d in plain["deps"]],
        description=plain["description"],
        metadata=_rebuild_metadata(plain["metadata"]),
        skippable=plain["skippable"],
        group_name=plain["group"],
        code_version=plain["code_version"],
        owners=plain["owners"],
        tags=plain["tags"],
        kinds=set(plain["kinds"]),
        **extras,
    )


# No type hint on `context`: Dagster inspects hints at definition time and this module's
# `from __future__ import annotations` would turn one into a string; the name alone suffices.
def _never_run(context):  # type: ignore[no-untyped-def]
    raise NotImplementedError("the floor's assets are built, never materialized")


def _rebuild_assets(line: dict[str, Any]) -> dg.AssetsDefinition:
    checks = [
        dg.AssetCheckSpec(
            c["name"],
            asset=dg.AssetKey(c["asset"]),
            description=c["description"],
            blocking=c["blocking"],
            additional_deps=[dg.AssetKey(d) for d in c["additional_deps"]],
            metadata=_rebuild_metadata(c["metadata"]),
        )
        for c in line["checks"]
    ]
    decorator = dg.multi_asset(
        name=line["name"],
        specs=[_rebuild_spec(s) for s in line["specs"]],
        can_subset=line["can_subset"],
        required_resource_keys=set(line["resources"]),
        op_tags=line["op_tags"] or None,
        pool=line["pool"],
        check_specs=checks or None,
    )
    return decorator(_never_run)


class FloorBuild:
    """The floor's result: its definitions, the fallbacks used, and the seconds of JSON parsing
    (wall and CPU) spent inside the timed loop, which the worker subtracts."""

    def __init__(self) -> None:
        self.assets: list[dg.AssetsDefinition] = []
        self.fallbacks: list[str] = []
        self.parse_wall = 0.0
        self.parse_cpu = 0.0


def build(lines: Iterable[str]) -> FloorBuild:
    """Bare Dagster: one ``multi_asset`` per line, built from the line's plain data.

    The cyclic garbage collector is paused while a line is parsed. Parsing allocates many
    small objects, so a full collection was often triggered inside ``json.loads``: such a
    collection walks every Dagster object built so far (building's cost, which a real load
    pays) and its time was subtracted with the parsing, which put the floor's time about a
    third too low at 10,000 assets. Paused, the collection falls due at the next allocation,
    inside the measured build.
    """
    result = FloorBuild()
    for raw in lines:
        collecting = gc.isenabled()
        gc.disable()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            line = json.loads(raw)
        finally:
            result.parse_wall += time.perf_counter() - wall
            result.parse_cpu += time.process_time() - cpu
            if collecting:
                gc.enable()
        result.fallbacks.extend(line["fallbacks"])
        result.assets.append(_rebuild_assets(line))
    return result


# -- sameness -------------------------------------------------------------------------------------


def fingerprint(assets: Sequence[dg.AssetsDefinition], base_url: str = "") -> str:
    """A digest of everything the floor copies, so ours' and the floor's can be compared.

    ``base_url`` (the server's) is blanked, so loads from the local Airbyte and from the stub,
    whose links differ only by port, digest the same.
    """
    digest = hashlib.sha256()
    for a in sorted(assets, key=lambda x: x.op.name):
        digest.update(
            repr(
                (
                    a.op.name,
                    a.can_subset,
                    sorted(a.required_resource_keys - {"io_manager"}),
                    sorted(a.op.tags.items()),
                    sorted(repr(c) for c in a.check_specs),
                )
            ).encode()
        )
        for spec in sorted(a.specs, key=lambda s: s.key.to_user_string()):
            text = repr(
                (
                    spec.key,
                    sorted(d.asset_key.to_user_string() for d in spec.deps),
                    spec.description,
                    # Objects without a value repr (the competitor keeps its translator in
                    # metadata) digest by type, not by address.
                    sorted((k, _ADDRESS.sub("", repr(v))) for k, v in spec.metadata.items()),
                    spec.skippable,
                    spec.group_name,
                    spec.code_version,
                    list(spec.owners),
                    sorted(spec.tags.items()),
                    repr(spec.automation_condition),
                    repr(spec.partitions_def),
                )
            )
            if base_url:
                text = text.replace(base_url, "<server>")
            digest.update(text.encode())
    return digest.hexdigest()[:16]
