"""Sample Data: a generated e-commerce database that changes between syncs, with no dependency.

Design (stateless, no files):

* **Base data** is a pure function of ``seed`` and ``count``: ``count`` customers,
  ``20 + count // 10`` products and ``2 * count`` orders with ids ``1..n``, all created and
  updated during 2024. Two servers with the same config serve the same base rows.
* **Changes** are a pure function of ``seed`` and the moment of the read. Every read stamps
  ``records_per_sync`` rows per stream with ``updated_at = now`` (or one microsecond past the
  cursor if the clock is behind it): brand-new customers and orders whose ids are
  ``now_in_microseconds * 1000 + i`` (far above the base ids, within BIGINT until 2262; reads
  stamp distinct microseconds, so they never collide) and updates of base
  rows (a customer's country, a product's price, an order's status).
* **Full refresh** yields the base rows with this moment's changes applied, plus this moment's new
  rows: the whole *current* dataset. Rows created by earlier reads are not remembered (there is no
  state), which is fine for ``overwrite``.
* **Incremental** with a ``cursor_value`` yields only rows whose ``updated_at`` is strictly
  greater, so after the first sync it yields exactly this moment's changes: always at least one
  row, never one at or below the cursor.

Timestamps are fixed-width ISO strings in UTC (``2024-05-01T12:00:00.000000Z``), so comparing
them as strings (the engine's cursor) and as instants agree.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from .base import ConfiguredStream, ConnectorError, DiscoveredStream, Record

__all__ = ["SampleDataSource"]

_BATCH = 1000
_BASE_START = datetime(2024, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_NAMES = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances")
_LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov")
_COUNTRIES = ("FR", "DE", "US", "GB", "ES", "IT", "JP", "BR", "CA", "IN")
_CATEGORIES = ("books", "garden", "kitchen", "toys", "sports", "music")
_ADJECTIVES = ("Small", "Large", "Red", "Blue", "Smart", "Classic", "Eco", "Pro")
_NOUNS = ("Lamp", "Chair", "Kettle", "Ball", "Guitar", "Notebook", "Hose", "Puzzle")
_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")

_TIMESTAMP = {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
_SCHEMAS: dict[str, dict[str, Any]] = {
    "customers": {
        "id": {"type": "integer"},
        "first_name": {"type": ["null", "string"]},
        "last_name": {"type": ["null", "string"]},
        "email": {"type": ["null", "string"]},
        "country": {"type": ["null", "string"]},
    },
    "products": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "category": {"type": ["null", "string"]},
        "price": {"type": ["null", "number"]},
        "in_stock": {"type": ["null", "boolean"]},
    },
    "orders": {
        "id": {"type": "integer"},
        "customer_id": {"type": ["null", "integer"]},
        "product_id": {"type": ["null", "integer"]},
        "quantity": {"type": ["null", "integer"]},
        "unit_price": {"type": ["null", "number"]},
        "total": {"type": ["null", "number"]},
        "status": {"type": ["null", "string"]},
    },
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_cursor(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ConnectorError(
            f"Sample Data: cursor value {value!r} is not an ISO date-time; reset the stream's state."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Generator:
    """Base rows and one moment's changes for one configuration."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.seed = _int_option(config, "seed", 42, minimum=None)
        self.customers = _int_option(config, "count", 100, minimum=0)
        self.per_sync = min(_int_option(config, "records_per_sync", 10, minimum=1), 999)
        self.products = 20 + self.customers // 10
        self.orders = 2 * self.customers

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("|".join(str(p) for p in (self.seed, *parts)))

    @staticmethod
    def _stamps(rng: random.Random) -> tuple[str, str]:
        created = _BASE_START + timedelta(seconds=rng.randrange(0, 330 * 86400))
        updated = created + timedelta(seconds=rng.randrange(0, 30 * 86400))
        return _iso(created), _iso(updated)

    def customer(self, cid: int, rng: random.Random | None = None) -> Record:
        rng = rng or self._rng("customers", cid)
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        created, updated = self._stamps(rng)
        return {
            "id": cid,
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}.{cid}@example.com".lower(),
            "country": rng.choice(_COUNTRIES),
            "created_at": created,
            "updated_at": updated,
        }

    def product(self, pid: int) -> Record:
        rng = self._rng("products", pid)
        created, updated = self._stamps(rng)
        return {
            "id": pid,
            "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
            "category": rng.choice(_CATEGORIES),
            "price": round(rng.uniform(2, 500), 2),
            "in_stock": rng.random() > 0.1,
            "created_at": created,
            "updated_at": updated,
        }

    def order(self, oid: int, rng: random.Random | None = None) -> Record:
        rng = rng or self._rng("orders", oid)
        product = self.product(rng.randrange(1, self.products + 1))
        quantity = rng.randrange(1, 6)
        created, updated = self._stamps(rng)
        return {
            "id": oid,
            "customer_id": rng.randrange(1, max(self.customers, 1) + 1),
            "product_id": product["id"],
            "quantity": quantity,
            "unit_price": product["price"],
            "total": round(product["price"] * quantity, 2),
            "status": rng.choice(_STATUSES),
            "created_at": created,
            "updated_at": updated,
        }

    def base(self, stream: str) -> Iterator[Record]:
        if stream == "customers":
            return (self.customer(i) for i in range(1, self.customers + 1))
        if stream == "products":
            return (self.product(i) for i in range(1, self.products + 1))
        return (self.order(i) for i in range(1, self.orders + 1))

    def changes(self, stream: str, now: datetime) -> list[Record]:
        """This moment's changed rows of ``stream``, all stamped ``now``."""
        stamp = _iso(now)
        # Microseconds, not milliseconds: two reads within one millisecond must not share ids.
        micros = (now - _EPOCH) // timedelta(microseconds=1)
        rng = self._rng("changes", stream, stamp)
        rows: list[Record] = []
        for i in range(self.per_sync):
            # Products only change; customers and orders alternate between new and updated rows.
            base_size = {"customers": self.customers, "products": self.products}.get(
                stream, self.orders
            )
            new = stream != "products" and (i % 2 == 0 or base_size == 0)
            if stream == "customers":
                if new:
                    row = self.customer(micros * 1000 + i, rng)
                    row["created_at"] = stamp
                else:
                    row = self.customer(rng.randrange(1, base_size + 1))
                    row["country"] = rng.choice(_COUNTRIES)
            elif stream == "products":
                row = self.product(rng.randrange(1, base_size + 1))
                row["price"] = round(float(row["price"]) * rng.uniform(0.8, 1.2), 2)
            else:
                if new:
                    row = self.order(micros * 1000 + i, rng)
                    row["status"] = "pending"
                    row["created_at"] = stamp
                else:
                    row = self.order(rng.randrange(1, base_size + 1))
                    row["status"] = rng.choice(_STATUSES)
            row["updated_at"] = stamp
            rows.append(row)
        return rows


def _int_option(config: dict[str, Any], key: str, default: int, minimum: int | None) -> int:
    value: object = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConnectorError(f"Sample Data: {key!r} must be an integer, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ConnectorError(f"Sample Data: {key!r} must be at least {minimum}, got {value}.")
    return value


class SampleDataSource:
    """Generated customers, products and orders (see the module docstring for the design)."""

    name: ClassVar[str] = "Sample Data"
    definition_id: ClassVar[str] = "dfd88b22-b603-4c3d-aad7-3701784586b1"
    docker_repository: ClassVar[str] = "airbyte/source-faker"
    source_type: ClassVar[str] = "api"
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Sample Data Spec",
            "type": "object",
            "properties": {
                "count": {
                    "type": "integer",
                    "title": "Customers",
                    "description": "How many customers the base data has.",
                    "default": 100,
                    "minimum": 0,
                },
                "seed": {
                    "type": "integer",
                    "title": "Seed",
                    "description": "Seed of the generator; the same seed gives the same base data.",
                    "default": 42,
                },
                "records_per_sync": {
                    "type": "integer",
                    "title": "Records per sync",
                    "description": "New or changed rows per stream at every read.",
                    "default": 10,
                    "minimum": 1,
                    "maximum": 999,
                },
            },
        }

    def check(self, config: dict[str, Any]) -> None:
        _Generator(config)

    def discover(self, config: dict[str, Any]) -> list[DiscoveredStream]:
        _Generator(config)
        return [
            DiscoveredStream(
                name=name,
                json_schema={
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {**props, "created_at": _TIMESTAMP, "updated_at": _TIMESTAMP},
                },
                supported_sync_modes=("full_refresh", "incremental"),
                source_defined_cursor=True,
                default_cursor_field=("updated_at",),
                source_defined_primary_key=(("id",),),
            )
            for name, props in _SCHEMAS.items()
        ]

    def read(
        self,
        config: dict[str, Any],
        stream: ConfiguredStream,
        cursor_value: Any | None,
        cancelled: threading.Event,
    ) -> Iterator[list[Record]]:
        if stream.name not in _SCHEMAS:
            raise ConnectorError(
                f"Sample Data has no stream {stream.name!r}; it offers {', '.join(_SCHEMAS)}."
            )
        generator = _Generator(config)
        now = datetime.now(UTC)
        after: str | None = None
        if stream.sync_mode == "incremental" and cursor_value is not None:
            cursor = _parse_cursor(cursor_value)
            after = _iso(cursor)
            # A clock behind the cursor must still produce rows strictly after it.
            now = max(now, cursor + timedelta(microseconds=1))
        changes = generator.changes(stream.name, now)
        changed = {row["id"]: row for row in changes}
        batch: list[Record] = []
        for row in generator.base(stream.name):
            if cancelled.is_set():
                return
            row = changed.pop(row["id"], row)
            if after is None or row["updated_at"] > after:
                batch.append(row)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        batch.extend(changed.values())  # brand-new rows (and nothing else is left)
        if batch and not cancelled.is_set():
            yield batch
