"""How Airbyte turns stream and namespace names into identifiers: one rule, used everywhere.

The translator predicts the table a stream lands in (and so its asset key), and the local
Airbyte's destinations create that table; both must apply the same rule, or keys point at
tables that do not exist. The rule is Airbyte's ``Names.toAlphanumericAndUnderscore``: accents
are dropped (``café`` → ``cafe``), runs of white space become one ``_``, and every other character
outside ``[A-Za-z0-9_]`` becomes ``_`` (``表`` → ``_``). SQL destinations then fold case.
No third-party import here: the local Airbyte's connectors use this module too.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["airbyte_name", "definition_name", "destination_identifier"]

# Destinations whose identifiers are lower case (typing-and-deduping SQL destinations).
LOWERCASING_DESTINATIONS = frozenset({"postgres", "duckdb", "redshift", "motherduck", "mssql"})
POSTGRES_MAX_IDENTIFIER = 63


def airbyte_name(name: str) -> str:
    """``name`` with Airbyte's alphanumeric-and-underscore rule applied (never empty)."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = re.sub(r"\s+", "_", without_marks)
    return re.sub(r"[^A-Za-z0-9_]", "_", spaced) or "_"


def destination_identifier(name: str, destination_type: str | None) -> str:
    """The identifier a destination of ``destination_type`` creates for ``name``.

    Unknown destination types keep the name as given (object stores, warehouses with their own
    rules): the asset key still gets a valid form from :func:`airbyte_name`.
    """
    if destination_type not in LOWERCASING_DESTINATIONS:
        return name
    identifier = airbyte_name(name).lower()
    if destination_type in ("postgres", "redshift"):
        if identifier[0].isdigit():
            identifier = "_" + identifier
        identifier = identifier[:POSTGRES_MAX_IDENTIFIER]
    return identifier


def definition_name(name: str, fallback: str = "airbyte") -> str:
    """A readable Dagster definition name (group, op, schedule, check) from a free-form name.

    Lower case, with the runs of ``_`` that punctuation leaves (``"Shop → Warehouse"``)
    collapsed: ``shop_warehouse``.
    """
    return re.sub(r"_+", "_", airbyte_name(name).lower()).strip("_") or fallback
