"""Connectors of the local Airbyte: sources and destinations that move real data.

:func:`default_registry` is what a server offers; the contract lives in :mod:`.base`.
"""

from __future__ import annotations

from .base import ConnectorError, DestinationConnector, Registry, SourceConnector
from .duckdb import DuckDBDestination
from .postgres import PostgresDestination, PostgresSource, normalize_postgres_identifier
from .rest_api import RestApiSource
from .s3 import S3Destination
from .sample_data import SampleDataSource

__all__ = [
    "ConnectorError",
    "DuckDBDestination",
    "PostgresDestination",
    "PostgresSource",
    "Registry",
    "RestApiSource",
    "S3Destination",
    "SampleDataSource",
    "default_registry",
    "normalize_postgres_identifier",
]


def default_registry() -> Registry:
    """Every connector of the local Airbyte, keyed by definition id."""
    sources: list[SourceConnector] = [SampleDataSource(), PostgresSource(), RestApiSource()]
    destinations: list[DestinationConnector] = [
        DuckDBDestination(),
        PostgresDestination(),
        S3Destination(),
    ]
    return Registry(
        sources={s.definition_id: s for s in sources},
        destinations={d.definition_id: d for d in destinations},
    )
