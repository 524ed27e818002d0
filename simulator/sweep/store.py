"""The result store of a sweep: ``DIR/points.parquet/``, a Parquet dataset of part files, one row per
(point, evaluator).

Rows are appended in chunks; each chunk is written to a hidden temporary file in the dataset folder,
flushed to disk and renamed into place (``os.replace``, atomic on POSIX), so a reader or a sweep killed at
any moment sees whole chunks only; a leftover temporary file is removed when the store is opened again.
hetsim's output marker (``DIR/.hetsim-run.json``, :mod:`simulator.outdir`: command ``sweep``, identity
the sweep's name) says which sweep the folder belongs to: a folder holding anything else is refused,
never overwritten. A resumed sweep evaluates only the points whose ``point_id`` has no row yet.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from simulator.errors import SimulationConfigError

DATASET = "points.parquet"
#: Files and folders a sweep writes into its folder (listed in hetsim's marker, simulator.outdir).
OUTPUT_FILES = (DATASET, "sweep.yaml", "sweep.md", "pareto.csv", "figures")


def _marker():
    from simulator import outdir

    return outdir


def check_sweep_dir(folder: str | os.PathLike, name: str) -> Path:
    """``folder`` if sweep ``name`` may write there: it does not exist, is empty, or carries hetsim's
    marker (:mod:`simulator.outdir`) of this sweep (command ``sweep``, identity ``sweep: name``) and
    nothing a sweep does not write. Anything else raises one-line SimulationConfigError; nothing is
    touched."""
    outdir = _marker()
    path = Path(folder)
    if not path.exists():
        return path
    if not path.is_dir():
        raise SimulationConfigError(f"{folder}: --out: is a file, not a folder; expected a folder for the sweep's store")
    outdir.clean_stale(path)
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return path
    marker = outdir.read_marker(path)
    if marker is None:
        raise SimulationConfigError(f"{folder}: --out: holds files hetsim did not write (such as {entries[0]}); "
                                    "expected a new or empty folder, or this sweep's earlier store")
    owner = (marker.get("identity") or {}).get("sweep")
    if marker.get("command") != "sweep" or owner != name:
        what = f"sweep {owner!r}" if marker.get("command") == "sweep" else f"hetsim {marker.get('command')}"
        raise SimulationConfigError(f"{folder}: --out: holds the output of {what}; expected sweep {name!r}'s "
                                    "store or a new folder")
    foreign = [n for n in entries if n not in OUTPUT_FILES and n != outdir.MARKER and not n.startswith(".sweep-")]
    if foreign:
        raise SimulationConfigError(f"{folder}: --out: holds {foreign[0]}, which a sweep does not write; "
                                    "expected only the sweep's store and outputs")
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    tmp = path.with_name(f".sweep-{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Store:
    """The Parquet store of one sweep in folder ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, name: str, digest: str = ""):
        self.root = check_sweep_dir(root, name)
        self.name = name
        self.dataset = self.root / DATASET
        self.dataset.mkdir(parents=True, exist_ok=True)
        for tmp in self.dataset.glob(".part-*.tmp"):     # a chunk a killed sweep did not finish
            tmp.unlink()
        for tmp in self.root.glob(".sweep-*.tmp"):
            tmp.unlink()
        outdir = _marker()
        if outdir.read_marker(self.root) is None:
            from datetime import datetime, timezone

            from simulator._version import __version__

            marker = {"tool": "hetsim", "format": outdir.MARKER_FORMAT, "command": "sweep",
                      "identity": {"sweep": name, "spec_sha256": digest}, "hetsim": __version__,
                      "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "files": list(OUTPUT_FILES)}
            write_atomic(self.root / outdir.MARKER, json.dumps(marker, indent=1).encode() + b"\n")
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self.dataset.glob("part-*.parquet")), default=-1)

    def parts(self) -> list[Path]:
        """The complete chunk files, in the order written."""
        return sorted(self.dataset.glob("part-*.parquet"))

    def keys(self) -> set[tuple[str, str]]:
        """(point_id, evaluator) of every stored row."""
        import pyarrow.parquet as pq

        out = set()
        for part in self.parts():
            t = pq.read_table(part, columns=["point_id", "evaluator"])
            out.update(zip(t.column("point_id").to_pylist(), t.column("evaluator").to_pylist()))
        return out

    def append(self, rows: Iterable[dict]) -> Path | None:
        """Write ``rows`` as one chunk, atomically. Returns its file (None for no rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = list(rows)
        if not rows:
            return None
        frame = normalise(pd.DataFrame.from_records(rows))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        final = self.dataset / f"part-{self._next:06d}.parquet"
        tmp = self.dataset / f".part-{self._next:06d}.{os.getpid()}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        self._next += 1
        return final

    def load(self) -> pd.DataFrame:
        """Every stored row (one per point and evaluator), ordered by point then evaluator."""
        return read_dataset(self.dataset)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Column types a chunk is stored with: bools as bool, text as str, numbers as float64."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if col in ("feasible", "overloaded"):
            out[col] = s.astype(bool)
        elif col == "point":
            out[col] = s.astype("int64")
        elif s.dtype.kind in "fiu" or (s.dtype == object and s.map(_is_number).all()):
            out[col] = s.astype("float64")    # a column pandas read as numbers (no per-value check), or all numbers
        else:
            out[col] = s.map(_text).astype(object)
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def read_dataset(dataset: Path) -> pd.DataFrame:
    """All part files of a dataset folder, as one DataFrame ordered by point and evaluator."""
    import pyarrow.parquet as pq

    parts = sorted(Path(dataset).glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    frames = [pq.read_table(p).to_pandas() for p in parts]
    frame = pd.concat(frames, ignore_index=True, sort=False)
    frame = frame.drop_duplicates(subset=["point_id", "evaluator"], keep="first")
    return frame.sort_values(["point", "evaluator"], kind="stable").reset_index(drop=True)
