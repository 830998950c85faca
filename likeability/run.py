"""The run folder: the contract between stages.

A run is one folder, local or on any filesystem pyarrow understands (`s3://bucket/runs/x`). Inside it:

    config.yaml              the resolved config of the run's first invocation
    <table>/part-<key>.parquet
                             a table is a folder of parts; a part is one committed unit of work
    _stages/<stage>.started  when the stage first started; date rules (post age) use it on every resume
    _stages/<stage>.json     written last, when a stage has finished: its presence makes a re-run a no-op;
                             it holds the stage's summary and provenance (the config values it read, versions)

Parts are written to a hidden temporary name and then renamed, so a reader never sees half a part, and a
stage that was killed resumes by skipping the keys whose parts already exist.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from likeability.config import Config, InputNotFoundError
from likeability.schemas import TABLES

_PART_KEY = re.compile(r"^[A-Za-z0-9_.=-]{1,200}$")


class SchemaError(ValueError):
    """Rows do not match a table's declared schema; the message names the table and the column."""


class RunFolder:
    def __init__(self, location: str):
        self.location = location
        if "://" in location:
            self.fs, self.root = pafs.FileSystem.from_uri(location)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(location).expanduser().resolve())
            # Absolute, so a RunFolder rebuilt from `location` in a Ray worker (whose working directory is
            # not the driver's) names the same folder.
            self.location = self.root
        self.fs.create_dir(self.root, recursive=True)

    def path(self, *parts: str) -> str:
        """A file's path on `self.fs`: absolute for a local run, `bucket/key` for object storage."""
        return "/".join([self.root, *parts])

    def uri(self, *parts: str) -> str:
        """A file as a person names it: a local path, or the run's URI (s3://bucket/...) and the path inside."""
        if isinstance(self.fs, pafs.LocalFileSystem):
            return self.path(*parts)
        return "/".join([self.location.rstrip("/"), *parts])

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def read_text(self, name: str) -> str | None:
        data = self.read_bytes(name)
        return None if data is None else data.decode()

    def write_bytes(self, name: str, data: bytes) -> None:
        self._write_atomically(self.path(name), lambda tmp: _write_bytes(self.fs, tmp, data))

    def read_bytes(self, name: str) -> bytes | None:
        if not self.exists(name):
            return None
        with self.fs.open_input_stream(self.path(name)) as stream:
            return stream.read()

    def exists(self, name: str) -> bool:
        return self.fs.get_file_info(self.path(name)).type == pafs.FileType.File

    def table(self, name: str) -> Table:
        return Table(self, name)

    def commit_unit(self, key: str, rows: dict[str, pa.Table | list[dict]], commit_table: str) -> None:
        """Write one unit of work into several tables under one key, `commit_table` last: the unit counts as
        committed exactly when that part exists, so a unit killed halfway is redone, never half-counted."""
        for name, table_rows in rows.items():
            if name != commit_table:
                self.table(name).write_part(key, table_rows)
        self.table(commit_table).write_part(key, rows[commit_table])

    def discard_uncommitted(self, tables: tuple[str, ...], commit_table: str, prefix: str = "") -> None:
        """Remove parts (with keys starting `prefix`) that a killed unit wrote before its commit part."""
        committed = self.table(commit_table).parts()
        for name in tables:
            table = self.table(name)
            for key in table.parts() - committed:
                if key.startswith(prefix):
                    table.delete_part(key)

    def started_at(self, stage: str) -> datetime:
        """When `stage` first started in this run, so a resumed run judges post ages as the first one did."""
        name = f"_stages/{stage}.started"
        text = self.read_text(name)
        if text is None:
            text = datetime.now(UTC).isoformat()
            self.write_text(name, text)
        return datetime.fromisoformat(text)

    def mark_done(self, stage: str, summary: dict) -> None:
        self.write_text(f"_stages/{stage}.json", json.dumps(summary, indent=2, default=str))

    def forget(self, stage: str, tables: tuple[str, ...], folders: tuple[str, ...]) -> None:
        """Deletes a stage's marker, its tables and its folders: the stage starts again from nothing. The marker
        goes first, so an interrupted forget leaves a stage that is not done, never a done one without tables."""
        for marker in (f"_stages/{stage}.json", f"_stages/{stage}.started"):
            _delete_quietly(self.fs, self.path(marker))
        for folder in (*(self.table(t).folder for t in tables), *(self.path(f) for f in folders)):
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_dir(folder)

    def done_summary(self, stage: str) -> dict | None:
        """The summary a finished stage recorded, or None while it has not finished."""
        text = self.read_text(f"_stages/{stage}.json")
        return None if text is None else json.loads(text)

    def done_summaries(self) -> dict[str, dict]:
        """Every finished stage's summary, in the order the stages finished."""
        selector = pafs.FileSelector(self.path("_stages"), allow_not_found=True)
        files = [f for f in self.fs.get_file_info(selector) if f.base_name.endswith(".json")]
        files.sort(key=lambda f: f.mtime_ns or 0)
        return {f.base_name.removesuffix(".json"): self.done_summary(f.base_name.removesuffix(".json")) for f in files}

    def _write_atomically(self, final: str, write) -> None:
        folder, _, name = final.rpartition("/")
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}-{name}"
        try:
            write(tmp)
            self.fs.move(tmp, final)
        except BaseException:
            _delete_quietly(self.fs, tmp)
            raise


class Table:
    """A folder of Parquet parts that all follow one declared schema."""

    def __init__(self, run: RunFolder, name: str):
        if name not in TABLES:
            raise KeyError(f"no schema declared for table {name!r}; declared: {sorted(TABLES)}")
        self.run = run
        self.name = name
        self.schema = TABLES[name]
        self.folder = run.path(name)

    def part_paths(self) -> list[str]:
        selector = pafs.FileSelector(self.folder, allow_not_found=True)
        files = self.run.fs.get_file_info(selector)
        return sorted(f.path for f in files if f.base_name.startswith("part-") and f.base_name.endswith(".parquet"))

    def parts(self) -> set[str]:
        """Keys of the committed parts: the units of work a resumed stage skips."""
        return {p.rpartition("/part-")[2].removesuffix(".parquet") for p in self.part_paths()}

    def write_part(self, key: str, rows: pa.Table | list[dict]) -> None:
        """Commit one unit of work. Writing the same key again replaces the part, so retries never duplicate."""
        if not _PART_KEY.match(key):
            raise ValueError(f"table {self.name}: part key {key!r} must match {_PART_KEY.pattern}")
        data = self.conform(rows)
        self.run._write_atomically(
            f"{self.folder}/part-{key}.parquet",
            lambda tmp: pq.write_table(data, tmp, filesystem=self.run.fs),
        )

    def delete_part(self, key: str) -> None:
        _delete_quietly(self.run.fs, f"{self.folder}/part-{key}.parquet")

    def conform(self, rows: pa.Table | list[dict]) -> pa.Table:
        """`rows` as a table of exactly this schema, or SchemaError naming what is wrong."""
        if isinstance(rows, list):
            try:
                return self._check_nulls(pa.Table.from_pylist(rows, schema=self.schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise SchemaError(f"table {self.name}: {err}") from None
        missing = [f.name for f in self.schema if f.name not in rows.column_names]
        extra = [c for c in rows.column_names if c not in self.schema.names]
        if missing or extra:
            raise SchemaError(f"table {self.name}: missing columns {missing}, unexpected columns {extra}")
        columns = []
        for field in self.schema:
            try:
                columns.append(rows.column(field.name).cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise SchemaError(f"table {self.name}: column {field.name}: {err}") from None
        return self._check_nulls(pa.Table.from_arrays(columns, schema=self.schema))

    def _check_nulls(self, data: pa.Table) -> pa.Table:
        for field in self.schema:
            if not field.nullable and data.column(field.name).null_count:
                raise SchemaError(f"table {self.name}: column {field.name} has nulls but is declared not null")
        return data

    def read(self, columns: list[str] | None = None, where: pc.Expression | None = None) -> pa.Table:
        """The rows (all, or those matching `where`) of the committed parts, in the declared schema."""
        paths = self.part_paths()
        if not paths:
            return self.schema.empty_table().select(columns or self.schema.names)
        return pq.read_table(paths, filesystem=self.run.fs, schema=self.schema, columns=columns, filters=where)

    def num_rows(self) -> int:
        """Row count from Parquet footers alone, without reading any data."""
        total = 0
        for path in self.part_paths():
            with self.run.fs.open_input_file(path) as f:
                total += pq.ParquetFile(f).metadata.num_rows
        return total


def _write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def _delete_quietly(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass


def run_config(run: RunFolder) -> Config:
    """The config the run's stages ran with: config.yaml with the values each finished stage recorded over it
    (a stage run by a later invocation may have read other values for its sections than the first one had)."""
    text = run.read_text("config.yaml")
    if text is None:
        raise InputNotFoundError(f"{run.location} has no config.yaml: not a likeability run folder")
    data = yaml.safe_load(text)
    for summary in run.done_summaries().values():
        for section, values in summary.get("provenance", {}).get("config", {}).items():
            data.setdefault(section, {}).update(values)
    return Config.model_validate(data)
