"""How Airbyte's destinations turn stream and namespace names into identifiers.

The translator predicts the table a stream lands in (and so its asset key and
``dagster/table_name``). The rules differ per destination, read from the connectors' sources:

- Java destinations (PostgreSQL, Redshift, MSSQL): ``Names.toAlphanumericAndUnderscore``:
  accents dropped (``café`` → ``cafe``), each run of white space one ``_``, every other character
  outside ``[A-Za-z0-9_]`` a ``_`` (``表`` → ``_``); then lower case.
- DuckDB and MotherDuck (``airbyte_cdk.sql``'s ``LowerCaseNormalizer``): lower case, then *each*
  character outside ``[a-z0-9]`` a ``_`` (``café`` → ``caf_``), a leading digit prefixed by ``_``.

The local Airbyte applies these rules with code of its own, so a wrong prediction here shows up
as a test whose asset names a table that does not exist.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Mapping
from functools import lru_cache
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

__all__ = ["airbyte_name", "definition_name", "destination_identifier", "unique_names"]

# Destinations whose identifiers are lower case (typing-and-deduping SQL destinations).
LOWERCASING_DESTINATIONS = frozenset({"postgres", "duckdb", "redshift", "motherduck", "mssql"})
CDK_SQL_DESTINATIONS = frozenset({"duckdb", "motherduck"})
POSTGRES_MAX_IDENTIFIER = 63
# Loading asks for the same few names (a connection's schema, group, destination kind) once per
# stream: 10,000 times for a large workspace. The rules are pure, so their answers are cached.
_NAMES_CACHED = 8192

_WHITE_SPACE = re.compile(r"\s+")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9_]")
_NOT_LOWER_ALPHANUMERIC = re.compile(r"[^a-z0-9]")
_UNDERSCORES = re.compile(r"_+")


@lru_cache(maxsize=_NAMES_CACHED)
def airbyte_name(name: str) -> str:
    """``name`` with Airbyte's alphanumeric-and-underscore rule applied (never empty)."""
    without_marks = name
    if not name.isascii():  # ASCII has nothing to decompose (and most names are ASCII)
        decomposed = unicodedata.normalize("NFKD", name)
        without_marks = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = _WHITE_SPACE.sub("_", without_marks)
    return _NOT_ALPHANUMERIC.sub("_", spaced) or "_"


@lru_cache(maxsize=_NAMES_CACHED)
def destination_identifier(name: str, destination_type: str | None) -> str:
    """The identifier a destination of ``destination_type`` creates for ``name``.

    Unknown destination types keep the name as given (object stores, warehouses with their own
    rules): the asset key still gets a valid form from :func:`airbyte_name`.
    """
    if destination_type not in LOWERCASING_DESTINATIONS:
        return name
    if destination_type in CDK_SQL_DESTINATIONS:
        lowered = _NOT_LOWER_ALPHANUMERIC.sub("_", name.lower())
        return "_" + lowered if lowered[:1].isdigit() else lowered or "_"
    identifier = airbyte_name(name).lower()
    if destination_type in ("postgres", "redshift"):
        if identifier[0].isdigit():
            identifier = "_" + identifier
        identifier = identifier[:POSTGRES_MAX_IDENTIFIER]
    return identifier


@lru_cache(maxsize=_NAMES_CACHED)
def definition_name(name: str, fallback: str = "airbyte") -> str:
    """A readable Dagster definition name (group, op, schedule, check) from a free-form name.

    Lower case, with the runs of ``_`` that punctuation leaves (``"Shop → Warehouse"``)
    collapsed: ``shop_warehouse``.
    """
    return _UNDERSCORES.sub("_", airbyte_name(name).lower()).strip("_") or fallback


def unique_names(wanted: Mapping[K, tuple[str, str]]) -> dict[K, str]:
    """A distinct definition name per item from ``{item: (name, tie_break)}``.

    Items whose names collide are ordered by ``tie_break`` (something the same on every
    machine, such as the item's smallest asset key, never an Airbyte id) and numbered: the
    first keeps the name, the next get ``_2``, ``_3``... So a step or check name is the same
    wherever the code location loads, and stays put when another deployment's ids differ.
    """
    bases = {name for name, _ in wanted.values()}
    taken: set[str] = set()
    names: dict[K, str] = {}
    for item, (name, _) in sorted(wanted.items(), key=lambda kv: (kv[1][0], kv[1][1])):
        candidate, n = name, 1
        while candidate in taken or (candidate != name and candidate in bases):
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        names[item] = candidate
    return names
