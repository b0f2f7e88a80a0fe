"""SQLite persistence for the local Airbyte.

Every resource is kept as one JSON document per row, keyed by id, with the few columns the
server filters on pulled out. That keeps the schema tiny and lets the API layer own the shapes.
One connection guarded by a lock: the server's writes are small and SQLite in WAL mode makes
readers cheap, so a pool would buy nothing but races.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["TERMINAL_STATUSES", "Store"]

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

_KINDS = ("workspaces", "sources", "destinations", "connections", "tags")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    workspace_id TEXT,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL,
    config_type TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_connection ON jobs (connection_id, id);
CREATE TABLE IF NOT EXISTS stream_state (
    connection_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (connection_id, stream)
);
"""


class Store:
    """Workspaces, actors, connections, jobs and per-stream state in ``state_dir/local-airbyte.db``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "local-airbyte.db"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- documents (workspaces, sources, destinations, connections) --------------------------

    def put(self, kind: str, doc_id: str, body: dict[str, Any], workspace_id: str | None) -> None:
        assert kind in _KINDS
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
            if row is None:
                seq = self._db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM docs WHERE kind = ?", (kind,)
                ).fetchone()[0]
            else:
                seq = row[0]
            self._db.execute(
                "INSERT OR REPLACE INTO docs (kind, id, workspace_id, seq, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, doc_id, workspace_id, seq, json.dumps(body)),
            )

    def put_many(self, kind: str, docs: Iterable[tuple[str, dict[str, Any], str | None]]) -> None:
        """Insert many new documents in one transaction (bulk test control)."""
        with self._lock:
            seq = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM docs WHERE kind = ?", (kind,)
            ).fetchone()[0]
            rows = []
            for doc_id, body, workspace_id in docs:
                seq += 1
                rows.append((kind, doc_id, workspace_id, seq, json.dumps(body)))
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO docs (kind, id, workspace_id, seq, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def list(self, kind: str, workspace_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Documents in creation order, optionally restricted to some workspaces."""
        with self._lock:
            if workspace_ids is None:
                rows = self._db.execute(
                    "SELECT body FROM docs WHERE kind = ? ORDER BY seq", (kind,)
                ).fetchall()
            else:
                ids = list(workspace_ids)
                marks = ",".join("?" * len(ids))
                rows = self._db.execute(
                    f"SELECT body FROM docs WHERE kind = ? AND workspace_id IN ({marks})"
                    " ORDER BY seq",
                    (kind, *ids),
                ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: str, doc_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
        return cur.rowcount > 0

    # -- jobs ---------------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> int:
        """Insert a job and return its integer id (also written into ``body['id']``)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO jobs (connection_id, config_type, status, created_at, updated_at, body)"
                " VALUES (?, ?, ?, ?, ?, '{}')",
                (
                    body["connectionId"],
                    body["configType"],
                    body["status"],
                    body["createdAt"],
                    body["updatedAt"],
                ),
            )
            job_id = int(cur.lastrowid or 0)
            body["id"] = job_id
            self._db.execute("UPDATE jobs SET body = ? WHERE id = ?", (json.dumps(body), job_id))
        return job_id

    def save_job(self, body: dict[str, Any]) -> bool:
        """Write a job back; False if it was deleted meanwhile."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status = ?, updated_at = ?, body = ? WHERE id = ?",
                (body["status"], body["updatedAt"], json.dumps(body), body["id"]),
            )
        return cur.rowcount > 0

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def delete_job(self, job_id: int) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return cur.rowcount > 0

    def list_jobs(
        self,
        *,
        connection_ids: Iterable[str] | None = None,
        config_types: Iterable[str] | None = None,
        statuses: Iterable[str] | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        updated_after: float | None = None,
        updated_before: float | None = None,
        order_by: str = "created_at",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Jobs matching every given filter, one page of them, and the total count."""
        where: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("connection_id", connection_ids),
            ("config_type", config_types),
            ("status", statuses),
        ):
            if values is not None:
                vals = list(values)
                where.append(f"{column} IN ({','.join('?' * len(vals))})" if vals else "0")
                params.extend(vals)
        for column, op, value in (
            ("created_at", ">=", created_after),
            ("created_at", "<=", created_before),
            ("updated_at", ">=", updated_after),
            ("updated_at", "<=", updated_before),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        column = "updated_at" if order_by == "updated_at" else "created_at"
        direction = "DESC" if descending else "ASC"
        page = "" if limit is None else f"LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT body FROM jobs {clause} ORDER BY {column} {direction}, id {direction}"
                f" {page}",
                params,
            ).fetchall()
        return [json.loads(r[0]) for r in rows], int(total)

    def active_job(self, connection_id: str) -> dict[str, Any] | None:
        """The connection's job that is not finished yet, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM jobs WHERE connection_id = ? AND status NOT IN"
                " ('succeeded', 'failed', 'cancelled') ORDER BY id DESC LIMIT 1",
                (connection_id,),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def last_job(
        self, connection_id: str, config_types: Iterable[str] | None = None
    ) -> dict[str, Any] | None:
        types = list(config_types or ())
        clause = f" AND config_type IN ({','.join('?' * len(types))})" if types else ""
        with self._lock:
            row = self._db.execute(
                f"SELECT body FROM jobs WHERE connection_id = ?{clause} ORDER BY id DESC LIMIT 1",
                (connection_id, *types),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def unfinished_jobs(self) -> builtins.list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM jobs WHERE status NOT IN ('succeeded', 'failed', 'cancelled')"
                " ORDER BY id"
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- per-stream state -----------------------------------------------------------------------

    def get_state(self, connection_id: str, stream: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM stream_state WHERE connection_id = ? AND stream = ?",
                (connection_id, stream),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def list_state(self, connection_id: str) -> builtins.list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT stream, body FROM stream_state WHERE connection_id = ? ORDER BY stream",
                (connection_id,),
            ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def set_state(self, connection_id: str, stream: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO stream_state (connection_id, stream, body) VALUES (?, ?, ?)",
                (connection_id, stream, json.dumps(body)),
            )

    def clear_state(self, connection_id: str, stream: str | None = None) -> None:
        with self._lock:
            if stream is None:
                self._db.execute(
                    "DELETE FROM stream_state WHERE connection_id = ?", (connection_id,)
                )
            else:
                self._db.execute(
                    "DELETE FROM stream_state WHERE connection_id = ? AND stream = ?",
                    (connection_id, stream),
                )
