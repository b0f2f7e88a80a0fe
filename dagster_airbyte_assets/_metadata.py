"""The typed metadata that execution reads back from a stream asset's spec.

The loader writes these entries on every spec; the executor, the sync sensor and the drift
checks read them with ``AirbyteSpecMetadata.extract(spec.metadata)`` instead of spelling keys
in several modules. Everything else the package writes (``MetadataKeys`` in ``translator``) is
written only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

__all__ = ["AirbyteSpecMetadata"]


class AirbyteSpecMetadata(NamespacedMetadataSet):
    """``airbyte/*`` entries of a stream asset's spec that execution depends on."""

    connection_id: str | None = None
    connection_name: str | None = None
    connection_status: str | None = None
    """The connection's status when the definitions were loaded (``active``, ``inactive``...)."""
    workspace_id: str | None = None
    stream_name: str | None = None
    stream_namespace: str | None = None
    sync_mode: str | None = None
    """``incremental`` or ``full_refresh``: how the job's attempts add up for this stream."""
    destination_sync_mode: str | None = None
    """``overwrite``, ``append``, ``append_dedup``...: whether the sync's rows are the table."""
    json_schema_hash: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "airbyte"

    @classmethod
    def key(cls, field: str) -> str:
        """The metadata key of ``field`` (``airbyte/<field>``)."""
        if field not in cls.model_fields:
            raise KeyError(field)
        return f"{cls.namespace()}/{field}"

    @classmethod
    def entries(cls, **values: str | None) -> dict[str, str]:
        """``dict(cls(**values))`` without building the model: the same keys, in field order,
        ``None`` left out.

        Loading writes these on every spec (10,000 at a time); the model's own constructor
        inspects every field's annotation on each call, which cost more than the spec itself.
        """
        keys = _keys(cls)
        if not values.keys() <= keys.keys():
            raise KeyError(", ".join(sorted(values.keys() - keys.keys())))
        return {
            key: value for field, key in keys.items() if (value := values.get(field)) is not None
        }

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> AirbyteSpecMetadata:
        """``extract`` that tolerates values of other types (a custom translator's)."""
        wanted = {k: v for k, v in metadata.items() if k.startswith(f"{cls.namespace()}/")}
        cleaned: dict[str, Any] = {}
        for key, value in wanted.items():
            raw = getattr(value, "value", value)
            cleaned[key] = None if raw is None else str(raw)
        return cls.extract(cleaned)


@cache
def _keys(cls: type[AirbyteSpecMetadata]) -> dict[str, str]:
    """Field name -> metadata key, in field order (fixed once the class is defined)."""
    return {field: f"{cls.namespace()}/{field}" for field in cls.model_fields}
