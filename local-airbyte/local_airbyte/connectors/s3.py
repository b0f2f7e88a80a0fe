"""S3 destination: Parquet or JSONL files in an S3-compatible bucket, or in a local directory.

Layout (Airbyte's default path format)::

    <bucket>/<s3_bucket_path>/<namespace>/<stream>/<YYYY>_<MM>_<DD>_<epoch_ms>_<part>.parquet

(``<namespace>/`` is left out when the stream has none). Parquet files hold the typed columns of
the stream (JSON values as strings) plus the Airbyte columns; JSONL lines hold the Airbyte
columns and the record under ``_airbyte_data``, as Airbyte's unflattened JSONL does.

``s3_endpoint`` chooses the storage:

* empty: AWS S3 in ``s3_bucket_region``;
* ``http(s)://host:port``: any S3-compatible server (MinIO, moto), path-style, through
  :class:`pyarrow.fs.S3FileSystem` with ``endpoint_override`` (no boto3);
* ``file:///abs/dir``: **local directory mode** for machines without S3: the bucket is the
  directory ``/abs/dir/<s3_bucket_name>``, and the layout under it is the same.

Batches are written to local part files while the sync runs; ``commit`` uploads them, then (in
the overwrite modes) deletes the stream's previous files, so a failed or aborted sync leaves the
old files alone and uploads nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ._arrow import arrow_schema, arrow_table
from ._typing import stream_columns
from .base import ConfiguredStream, ConnectorError, Record

__all__ = ["S3Destination", "s3_stream_prefix"]

_ROWS_PER_PART = 100_000
_CODECS = {"UNCOMPRESSED": "none", "SNAPPY": "snappy", "GZIP": "gzip", "ZSTD": "zstd"}


def _required(config: dict[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConnectorError(f"S3: {key!r} is required in the configuration.")
    return value.strip()


def _format(config: dict[str, Any]) -> tuple[str, str]:
    """(``parquet`` | ``jsonl``, parquet compression codec)."""
    fmt = config.get("format") or {"format_type": "Parquet"}
    if not isinstance(fmt, dict):
        raise ConnectorError("S3: 'format' must be an object such as {'format_type': 'Parquet'}.")
    kind = str(fmt.get("format_type") or "Parquet").upper()
    if kind == "PARQUET":
        codec = str(fmt.get("compression_codec") or "SNAPPY").upper()
        if codec not in _CODECS:
            raise ConnectorError(
                f"S3: Parquet compression_codec {codec!r} is not supported; use one of "
                f"{', '.join(_CODECS)}."
            )
        return "parquet", _CODECS[codec]
    if kind == "JSONL":
        return "jsonl", "none"
    raise ConnectorError(
        f"S3: format_type {fmt.get('format_type')!r} is not supported here; use Parquet or JSONL."
    )


def _filesystem(config: dict[str, Any]) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, bucket root path in it, description for messages; no secrets)."""
    bucket = _required(config, "s3_bucket_name")
    endpoint = str(config.get("s3_endpoint") or "").strip()
    if endpoint.startswith("file://"):
        directory = urlparse(endpoint).path
        if not directory or not os.path.isabs(directory):
            raise ConnectorError(
                f"S3: local endpoint {endpoint!r} must be an absolute file:///path/to/dir."
            )
        _check_segments("s3_bucket_name", bucket)
        root = os.path.join(directory, bucket)
        return pafs.LocalFileSystem(), root, f"local directory {root}"
    region = str(config.get("s3_bucket_region") or "us-east-1")
    options: dict[str, Any] = {
        "region": region,
        "connect_timeout": 5,
        "request_timeout": 30,
    }
    access_key, secret_key = config.get("access_key_id"), config.get("secret_access_key")
    if access_key and secret_key:
        options.update(access_key=str(access_key), secret_key=str(secret_key))
    elif access_key or secret_key:
        raise ConnectorError("S3: give both access_key_id and secret_access_key, or neither.")
    where = f"bucket {bucket!r} in {region}"
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConnectorError(
                f"S3: s3_endpoint {endpoint!r} must look like http://host:port or file:///dir."
            )
        options.update(
            endpoint_override=parsed.netloc, scheme=parsed.scheme, force_virtual_addressing=False
        )
        where = f"bucket {bucket!r} at {parsed.scheme}://{parsed.netloc}"
    try:
        return pafs.S3FileSystem(**options), bucket, where
    except Exception as exc:  # pragma: no cover - pyarrow builds without S3
        raise ConnectorError(f"S3: cannot use {where}: {exc}") from exc


def _check_segments(what: str, value: str) -> None:
    """Refuse a key part that would leave the bucket as a local path.

    On S3 a key is a plain string, so ``../`` or a leading ``/`` in a namespace is harmless
    there; in a ``file://`` bucket the same key is a path, and a namespace format or prefix
    like ``../../etc`` would write outside the directory. Refused before anything is written:
    ``..`` or ``.`` segments, an absolute part, NUL and other control characters.
    """
    if any(ord(c) < 32 for c in value):
        raise ConnectorError(f"S3: {what} {value!r} contains a control character (NUL...).")
    if value.startswith(("/", "\\")):
        raise ConnectorError(f"S3: {what} {value!r} is an absolute path; use a relative name.")
    for segment in value.replace("\\", "/").split("/"):
        if segment in ("..", "."):
            raise ConnectorError(
                f"S3: {what} {value!r} has a {segment!r} segment, which would leave the bucket."
            )


def s3_stream_prefix(config: dict[str, Any], stream: ConfiguredStream) -> str:
    """``<bucket_path>/<namespace>/<stream>`` (no bucket), where the stream's files go."""
    bucket_path = str(config.get("s3_bucket_path") or "").strip("/")
    _check_segments("s3_bucket_path", bucket_path)
    _check_segments("namespace", stream.destination_namespace or "")
    _check_segments("stream name", stream.destination_table)
    parts = [bucket_path, stream.destination_namespace or "", stream.destination_table]
    return "/".join(p for p in parts if p)


def _confined(root: str, relative: str) -> str:
    """``root/relative``, refused unless it resolves inside ``root`` (symlinks included)."""
    target = os.path.realpath(os.path.join(root, relative))
    base = os.path.realpath(root)
    if os.path.commonpath([base, target]) != base:
        raise ConnectorError(f"S3: {relative!r} resolves outside the bucket directory {root}.")
    return target


def _scrub(text: str, config: dict[str, Any]) -> str:
    for key in ("secret_access_key", "access_key_id"):
        value = config.get(key)
        if value:
            text = text.replace(str(value), "***")
    return text


class _S3StreamWriter:
    def __init__(self, config: dict[str, Any], stream: ConfiguredStream) -> None:
        self._config = config
        self._stream = stream
        self._format, self._codec = _format(config)
        self._fs, self._root, self._where = _filesystem(config)
        self._prefix = s3_stream_prefix(config, stream)
        if isinstance(self._fs, pafs.LocalFileSystem):
            _confined(self._root, self._prefix)
        self._columns = stream_columns(stream)
        self._schema = arrow_schema(self._columns)
        self._staging = tempfile.mkdtemp(prefix="airbyte-s3-")
        now = datetime.now(UTC)
        self._stamp = f"{now:%Y_%m_%d}_{int(now.timestamp() * 1000)}"
        self._parts: list[str] = []
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl: Any = None
        self._rows_in_part = 0
        self._done = False

    def _part_path(self) -> str:
        return os.path.join(self._staging, f"{self._stamp}_{len(self._parts)}.{self._format}")

    def _roll(self) -> None:
        self._close_part()
        path = self._part_path()
        self._parts.append(path)
        if self._format == "parquet":
            self._parquet = pq.ParquetWriter(path, self._schema, compression=self._codec)
        else:
            self._jsonl = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in _close_part
        self._rows_in_part = 0

    def _close_part(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    def write(self, records: list[Record]) -> int:
        if self._done:
            raise ConnectorError("S3: write after commit or abort.")
        if not records:
            return 0
        if not self._parts or self._rows_in_part >= _ROWS_PER_PART:
            self._roll()
        self._rows_in_part += len(records)
        if self._parquet is not None:
            table = arrow_table(records, self._columns, self._schema)
            self._parquet.write_table(table)
            return int(table.nbytes)
        size = 0
        data_keys = [c.source for c in self._columns if not c.source.startswith("_airbyte_")]
        for record in records:
            extracted = record.get("_airbyte_extracted_at")
            line = json.dumps(
                {
                    "_airbyte_raw_id": record.get("_airbyte_raw_id"),
                    "_airbyte_extracted_at": int(extracted.timestamp() * 1000)
                    if isinstance(extracted, datetime)
                    else extracted,
                    "_airbyte_meta": record.get("_airbyte_meta"),
                    "_airbyte_generation_id": record.get("_airbyte_generation_id"),
                    "_airbyte_data": {k: record[k] for k in data_keys if k in record},
                },
                default=str,
            )
            self._jsonl.write(line + "\n")
            size += len(line) + 1
        return size

    def commit(self) -> None:
        if self._done:
            raise ConnectorError("S3: commit after commit or abort.")
        self._done = True
        self._close_part()
        directory = f"{self._root}/{self._prefix}"
        try:
            previous: list[str] = []
            if self._stream.destination_sync_mode.startswith("overwrite"):
                selector = pafs.FileSelector(directory, allow_not_found=True, recursive=False)
                previous = [
                    info.path
                    for info in self._fs.get_file_info(selector)
                    if info.type == pafs.FileType.File
                ]
            if self._parts:
                self._fs.create_dir(directory, recursive=True)
            for part in self._parts:
                target = f"{directory}/{os.path.basename(part)}"
                pafs.copy_files(part, target, destination_filesystem=self._fs)
            uploaded = {f"{directory}/{os.path.basename(p)}" for p in self._parts}
            for path in previous:
                if path not in uploaded:
                    self._fs.delete_file(path)
        except (OSError, pa.ArrowException) as exc:
            raise ConnectorError(
                f"S3: writing stream {self._stream.name!r} to {self._where} under "
                f"{self._prefix!r} failed: {_scrub(str(exc), self._config)}"
            ) from None
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def abort(self) -> None:
        self._done = True
        self._close_part()
        shutil.rmtree(self._staging, ignore_errors=True)


class S3Destination:
    """Files in S3 (or an S3-compatible server, or a local directory)."""

    name: ClassVar[str] = "S3"
    definition_id: ClassVar[str] = "4816b78f-1489-44c1-9060-4b19d5fa9362"
    docker_repository: ClassVar[str] = "airbyte/destination-s3"
    destination_type: ClassVar[str] = "s3"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret_access_key", "access_key_id"})

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "S3 Destination Spec",
            "type": "object",
            "required": ["s3_bucket_name", "s3_bucket_path", "s3_bucket_region", "format"],
            "properties": {
                "access_key_id": {
                    "type": "string",
                    "title": "S3 Key ID",
                    "airbyte_secret": True,
                },
                "secret_access_key": {
                    "type": "string",
                    "title": "S3 Access Key",
                    "airbyte_secret": True,
                },
                "s3_bucket_name": {"type": "string", "title": "S3 Bucket Name"},
                "s3_bucket_path": {
                    "type": "string",
                    "title": "S3 Bucket Path",
                    "description": "Prefix inside the bucket, e.g. bronze/.",
                },
                "s3_bucket_region": {
                    "type": "string",
                    "title": "S3 Bucket Region",
                    "default": "us-east-1",
                },
                "s3_endpoint": {
                    "type": "string",
                    "title": "Endpoint",
                    "description": (
                        "Empty for AWS; http(s)://host:port for S3-compatible servers (MinIO); "
                        "file:///abs/dir to write into a local directory instead."
                    ),
                    "default": "",
                },
                "format": {
                    "type": "object",
                    "title": "Output Format",
                    "oneOf": [
                        {
                            "title": "Parquet: Columnar Storage",
                            "properties": {
                                "format_type": {"type": "string", "const": "Parquet"},
                                "compression_codec": {
                                    "type": "string",
                                    "enum": ["UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD"],
                                    "default": "SNAPPY",
                                },
                            },
                            "required": ["format_type"],
                        },
                        {
                            "title": "JSON Lines: Newline-delimited JSON",
                            "properties": {"format_type": {"type": "string", "const": "JSONL"}},
                            "required": ["format_type"],
                        },
                    ],
                },
            },
        }

    def check(self, config: dict[str, Any]) -> None:
        """Write, list and delete a probe object under the bucket path."""
        _format(config)
        fs, root, where = _filesystem(config)
        prefix = str(config.get("s3_bucket_path") or "").strip("/")
        _check_segments("s3_bucket_path", prefix)
        if isinstance(fs, pafs.LocalFileSystem):
            _confined(root, prefix)
        directory = f"{root}/{prefix}" if prefix else root
        probe = f"{directory}/_airbyte_connection_test_{uuid.uuid4().hex}"
        try:
            if isinstance(fs, pafs.LocalFileSystem):
                if not os.path.isdir(os.path.dirname(root)):
                    raise ConnectorError(
                        f"S3: local directory {os.path.dirname(root)} does not exist; create it."
                    )
                fs.create_dir(directory, recursive=True)
            elif fs.get_file_info(root).type == pafs.FileType.NotFound:
                raise ConnectorError(
                    f"S3: {where} does not exist or is not visible with these credentials."
                )
            with fs.open_output_stream(probe) as out:
                out.write(b"probe " + str(time.time()).encode())
            fs.get_file_info(pafs.FileSelector(directory, recursive=False))
            fs.delete_file(probe)
        except ConnectorError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise ConnectorError(
                f"S3: could not write to {where} under {prefix!r}: "
                f"{_scrub(str(exc), config)}. Check the bucket, endpoint and credentials."
            ) from None

    def default_namespace(self, config: dict[str, Any]) -> str | None:
        return None

    def open_stream(self, config: dict[str, Any], stream: ConfiguredStream) -> _S3StreamWriter:
        return _S3StreamWriter(config, stream)
