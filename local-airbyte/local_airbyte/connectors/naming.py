"""The identifiers Airbyte's destinations create for stream, namespace and column names.

Written from the connectors' own sources, one rule per destination, because they differ:

- **PostgreSQL** (``destination-postgres``): ``StandardNameTransformer.convertStreamName`` calls
  ``Names.toAlphanumericAndUnderscore`` (``airbyte-cdk/java/.../commons/text/Names.java``):
  NFKD-decompose, drop combining marks, turn each run of white space into one ``_`` and every
  other character outside ASCII ``[A-Za-z0-9_]`` into ``_``. ``PostgresSQLNameTransformer`` then
  lower-cases (``applyDefaultCase``). A leading digit gets a ``_`` (the legacy
  ``ExtendedNameTransformer``) and PostgreSQL keeps at most 63 bytes of an identifier
  (``NAMEDATALEN - 1``).
- **DuckDB** (``destination-duckdb``, which writes through ``airbyte_cdk.sql``):
  ``LowerCaseNormalizer.normalize`` (``airbyte_cdk/sql/name_normalizers.py``) lower-cases, then
  replaces *each* character outside ASCII ``[A-Za-z0-9]`` with ``_`` (accents are not dropped:
  ``café`` becomes ``caf_``; two spaces become ``__``) and prefixes a leading digit with ``_``.

This module is the local Airbyte's own: the integration predicts the same names with code of
its own, so a wrong prediction shows up as a test that cannot find its table.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["duckdb_identifier", "postgres_identifier"]

_WHITESPACE_RUN = re.compile(r"\s+")
_NOT_ALNUM_OR_UNDERSCORE = re.compile(r"[^A-Za-z0-9_]")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_POSTGRES_MAX_BYTES = 63


def _to_alphanumeric_and_underscore(name: str) -> str:
    """Java's ``Names.toAlphanumericAndUnderscore``, step by step."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] != "M")
    return _NOT_ALNUM_OR_UNDERSCORE.sub("_", _WHITESPACE_RUN.sub("_", without_marks))


def postgres_identifier(name: str) -> str:
    """What Airbyte's PostgreSQL destination calls ``name`` (``"Order Items"`` -> ``order_items``)."""
    identifier = _to_alphanumeric_and_underscore(name).lower() or "_"
    if not (identifier[0].isalpha() or identifier[0] == "_"):
        identifier = "_" + identifier
    return identifier.encode()[:_POSTGRES_MAX_BYTES].decode(errors="ignore")


def duckdb_identifier(name: str) -> str:
    """What Airbyte's DuckDB destination calls ``name`` (``"Café Orders"`` -> ``caf__orders``)."""
    identifier = _NOT_ALNUM.sub("_", name.lower())
    if identifier[:1].isdigit():
        identifier = "_" + identifier
    return identifier or "_"
