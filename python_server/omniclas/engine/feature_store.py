"""Features on disk, shared by runs: one table per (body, input size, view, runtime), one row per image file.

A row is keyed by the sha256 of the image file, so a second run on the same folder, a resumed run, or AutoML's
candidates read what an earlier run computed, and an image renamed or moved keeps its features. Rows are float16
(1,280 values: 2.5 KB per image and view): benchmarks/results/scale.md compares them with float32.

Layout of a table, ``<cache>/features/<key>/``: append-only shards, each a ``<name>.npy`` of rows and a
``<name>.keys.npy`` of their digests. The keys file is renamed into place after the rows, so a shard is either
whole or invisible; two processes that write the same table write different shards. Rows are read through a
memory map opened for one read and closed after it, so what a run has read does not stay in its memory.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DTYPE = np.float16
KEYS = ".keys.npy"
MAX_SHARDS = 64  # more shards than this are merged into one when a table is opened


def _digest_bytes(digests) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(d) for d in digests), dtype=np.uint8).reshape(-1, 32)


class FeatureTable:
    """The rows of one (body, size, view, runtime) table."""

    def __init__(self, folder: Path, dim: int):
        self.folder, self.dim = Path(folder), int(dim)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[bytes, tuple[str, int]] = {}
        self._pending_keys: list[str] = []
        self._pending_rows: list[np.ndarray] = []
        self._load_index()
        if len(self._shards()) > MAX_SHARDS:
            self._compact()

    def _shards(self) -> list[str]:
        return sorted(p.name[:-len(KEYS)] for p in self.folder.glob("*" + KEYS))

    def _load_index(self) -> None:
        index = {}
        for shard in self._shards():
            try:
                keys = np.load(self.folder / (shard + KEYS))
            except (OSError, ValueError) as err:  # a damaged shard: its rows are computed again
                log.warning("ignoring feature shard %s: %s", self.folder / shard, err)
                continue
            for row, key in enumerate(keys):
                index.setdefault(key.tobytes(), (shard, row))
        self._index = index

    def __contains__(self, digest: str) -> bool:
        return bytes.fromhex(digest) in self._index

    def missing(self, digests) -> list[int]:
        """Positions in ``digests`` of the images this table has no row for."""
        return [i for i, d in enumerate(digests) if bytes.fromhex(d) not in self._index]

    def read(self, digests) -> np.ndarray:
        """float32 rows of ``digests`` (every one must be present)."""
        out = np.empty((len(digests), self.dim), dtype=np.float32)
        wanted: dict[str, list[tuple[int, int]]] = {}
        for i, d in enumerate(digests):
            shard, row = self._index[bytes.fromhex(d)]
            wanted.setdefault(shard, []).append((i, row))
        for shard, pairs in wanted.items():
            rows = np.load(self.folder / (shard + ".npy"), mmap_mode="r")
            at, where = zip(*sorted(pairs, key=lambda p: p[1]))
            out[list(at)] = rows[list(where)]
            del rows  # unmapped: what was read does not stay resident
        return out

    def append(self, digests, rows: np.ndarray, flush_rows: int = 2048) -> None:
        """Add rows; they reach the disk at the next :meth:`flush` (at the latest every ``flush_rows`` rows)."""
        with self._lock:
            self._pending_keys += list(digests)
            self._pending_rows.append(np.asarray(rows, dtype=DTYPE))
            if len(self._pending_keys) >= flush_rows:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_keys:
            return
        keys, rows = _digest_bytes(self._pending_keys), np.concatenate(self._pending_rows)
        self._pending_keys, self._pending_rows = [], []
        name = uuid.uuid4().hex
        self._write_shard(name, keys, rows)
        for row, key in enumerate(keys):
            self._index.setdefault(key.tobytes(), (name, row))

    def _write_shard(self, name: str, keys: np.ndarray, rows: np.ndarray) -> None:
        for suffix, array in ((".npy", rows), (KEYS, keys)):  # the keys last: they make the shard visible
            tmp = self.folder / f".{name}{suffix}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, self.folder / (name + suffix))

    def _compact(self) -> None:
        """Merge every shard into one (a table grows a shard per run that added rows)."""
        old = self._shards()
        name = uuid.uuid4().hex
        digests = [k.hex() for k in self._index]
        tmp = self.folder / f".{name}.npy.{os.getpid()}.tmp"
        merged = np.lib.format.open_memmap(tmp, mode="w+", dtype=DTYPE, shape=(len(digests), self.dim))
        for start in range(0, len(digests), 4096):  # a slice at a time: the table may not fit in memory
            merged[start:start + 4096] = self.read(digests[start:start + 4096])
        merged.flush()
        del merged
        os.replace(tmp, self.folder / (name + ".npy"))
        tmp = self.folder / f".{name}{KEYS}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, _digest_bytes(digests))
        os.replace(tmp, self.folder / (name + KEYS))
        for shard in old:
            for suffix in (KEYS, ".npy"):
                (self.folder / (shard + suffix)).unlink(missing_ok=True)
        self._load_index()
        for stale in self.folder.glob(".*.tmp"):  # left by a process killed while writing (not one writing now)
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)


class FeatureStore:
    """The tables under one folder (``<cache>/features``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._tables: dict[str, FeatureTable] = {}

    def table(self, key: str, dim: int) -> FeatureTable:
        if key not in self._tables:
            self._tables[key] = FeatureTable(self.root / key, dim)
        return self._tables[key]

    def flush(self) -> None:
        for table in self._tables.values():
            table.flush()
