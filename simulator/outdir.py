"""The one way hetsim writes an output folder (``run``, ``sweep``, ``reproduce``, golden metrics, ...).

Rules (issue 9): hetsim writes only into a folder that is **new**, **empty**, or carries hetsim's own
**marker file** (:data:`MARKER`, JSON: the command, the run's identity, the files hetsim wrote there). It
never deletes a file it did not write. Replacing an earlier run of hetsim's is explicit (``overwrite=True``,
the commands' ``--overwrite``), and even then only the files listed in the earlier marker go: a user's
``notes.txt`` beside them stays. Every check (kind of folder, permission to create and write, free space)
happens in :func:`claim_output`, *before* any simulation, and fails with one
:class:`~simulator.errors.SimulationConfigError` line naming the folder and the option or field it came
from (``--out``, ``outputs.dir``).

Writing is atomic per run: files go into a temporary folder inside the output folder (``.hetsim-tmp-*``,
itself marked with the writing process's id; it appears under that name only once its marker is complete,
see :data:`STAGE_PREFIX`); :meth:`OutputFolder.commit` moves them into place with
renames (no copying, no new disk space) and writes the marker last. If the process fails, is
interrupted (SIGINT, SIGTERM) or the disk fills while writing, the temporary folder is removed and the
folder is as it was (a folder the claim created is removed again). A SIGKILL cannot be caught: it leaves
the marked temporary folder, which the next :func:`claim_output` of that folder removes once its process
is gone. Only the renames of the commit itself (milliseconds, with SIGINT/SIGTERM held off) are not
atomic as a whole.

Usage, for any command::

    from simulator.outdir import claim_output

    with claim_output(path, command="sweep", field="--out", overwrite=args.overwrite,
                      need_bytes=50e6) as out:           # all checks here, before the work
        results = expensive_work()
        (out.tmp / "summary.csv").write_text(...)        # write everything into out.tmp
        out.commit(identity={"study": name, "config_sha256": digest})
    # leaving the block without commit() (an exception, Ctrl-C) leaves the folder as it was

``out.path`` is the final folder; ``out.previous`` the earlier run's marker (``None`` if none).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simulator.errors import SimulationConfigError

#: The marker file of a folder hetsim wrote (JSON; see :meth:`OutputFolder.commit`).
MARKER = ".hetsim-run.json"
#: Name prefix of the temporary folder a run writes into (inside the output folder).
TMP_PREFIX = ".hetsim-tmp-"
#: Name prefix of the folder the earlier run's files pass through while an overwrite commits.
OLD_PREFIX = ".hetsim-old-"
#: Marker of a temporary folder (JSON: pid, host, process start, created).
TMP_MARKER = ".hetsim-tmp.json"
#: Name prefix of the folder a temporary folder is prepared in (``<prefix><host>-<pid>-<start>-<id>``): it
#: receives its marker there and is renamed to its final name in one step, so a ``.hetsim-tmp-*`` or
#: ``.hetsim-old-*`` folder is never seen without a complete marker, even after a SIGKILL.
STAGE_PREFIX = ".hetsim-stage-"
#: Free space demanded when the command gives no estimate (bytes).
DEFAULT_NEED_BYTES = 16 * 2**20
#: Version of the marker's format (2: ``tree`` lists every file below the folder hetsim wrote).
MARKER_FORMAT = 2


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(info: dict) -> bool:
    """Whether the process that wrote the temporary marker ``info`` may still run (True when unsure)."""
    if info.get("host") != socket.gethostname():
        return True
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = info.get("process_start")
    return start is None or _process_start(pid) in (None, start)


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of ``folder`` as a dict if it is a valid hetsim marker, else ``None``."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "hetsim" or not isinstance(data.get("files"), list):
        return None
    return data


def _tmp_info(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / TMP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "hetsim" else None


def _host_tag() -> str:
    """A short, file-name-safe tag of this machine's host name (SHA-256 prefix)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _stage_info(entry: Path) -> dict | None:
    """The process a staging folder's *name* says prepared it (as a temporary marker would), or ``None``
    when the name is not one hetsim makes or the folder holds more than a (possibly partial) marker."""
    parts = entry.name[len(STAGE_PREFIX):].split("-")
    if len(parts) != 4 or parts[0] != _host_tag() or not parts[1].isdigit():
        return None
    try:
        if {p.name for p in entry.iterdir()} - {TMP_MARKER}:
            return None
    except OSError:
        return None
    return {"tool": "hetsim", "host": socket.gethostname(), "pid": int(parts[1]),
            "process_start": None if parts[2] == "x" else parts[2]}


def _make_marked_folder(parent: Path, prefix: str, state: str) -> Path:
    """Create ``parent/<prefix><id>`` holding a complete temporary marker, atomically: the folder is made
    and marked under a staging name (:data:`STAGE_PREFIX`, which names the process) and renamed in one
    step. A SIGKILL at any point leaves either nothing or a staging folder :func:`clean_stale` removes."""
    pid = os.getpid()
    ident = uuid.uuid4().hex[:12]
    stage = parent / f"{STAGE_PREFIX}{_host_tag()}-{pid}-{_process_start(pid) or 'x'}-{ident}"
    stage.mkdir()
    try:
        _write_tmp_marker(stage, state)
        final = parent / f"{prefix}{ident}"
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return final


def clean_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the marked temporary folders (``.hetsim-tmp-*``, ``.hetsim-old-*``) and the staging folders
    (``.hetsim-stage-*``, holding at most a marker) in ``folder`` whose process is gone (killed runs).
    Unmarked look-alikes and live runs' folders are left. Returns what was removed."""
    removed = []
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if (not entry.name.startswith((TMP_PREFIX, OLD_PREFIX, STAGE_PREFIX)) or entry.is_symlink()
                or not entry.is_dir()):
            continue
        info = _stage_info(entry) if entry.name.startswith(STAGE_PREFIX) else _tmp_info(entry)
        if info is None or _alive(info):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def _tree(folder: Path) -> list[str]:
    """Every file (and symlink) below ``folder``, as relative POSIX paths, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        found += [(base / name).as_posix() for name in files]
        found += [(base / name).as_posix() for name in dirs if (Path(root) / name).is_symlink()]
    return sorted(found)


def foreign_inside(folder: Path, previous: dict) -> list[str]:
    """Files inside the folders an earlier run wrote (listed in its marker ``previous``) that the marker's
    ``tree`` does not list: a user's files, which replacing that run must not delete. Empty for a marker
    without ``tree`` (format 1)."""
    if "tree" not in previous:
        return []
    written = set(previous["tree"])
    stray = []
    for name in previous.get("files", []):
        entry = folder / name if _plain_name(name) else None
        if entry is not None and entry.is_dir() and not entry.is_symlink():
            stray += [f"{name}/{rel}" for rel in _tree(entry) if f"{name}/{rel}" not in written]
    return stray


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def _os_problem(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or type(exc).__name__


class OutputFolder:
    """A claimed output folder: write into :attr:`tmp`, then :meth:`commit`. Use it as a context manager
    (``with claim_output(...) as out:``) so any failure leaves the folder as it was."""

    def __init__(self, path: Path, shown: str, field: str, command: str, overwrite: bool,
                 previous: dict | None, created: list[Path], tmp: Path):
        #: The final folder (absolute).
        self.path = path
        #: The earlier run's marker when replacing one (``overwrite``), else ``None``.
        self.previous = previous
        #: The temporary folder to write everything into.
        self.tmp = tmp
        self.committed = False
        self._shown, self._field, self._command, self._overwrite = shown, field, command, overwrite
        self._created = created

    def error(self, problem: str, expected: str) -> SimulationConfigError:
        """A one-line error about this folder: ``<folder>: <field>: <problem>; expected <expected>``."""
        return SimulationConfigError(f"{self._shown}: {self._field}: {problem}; expected {expected}")

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if not self.committed:
            self.abandon()
        if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, IsADirectoryError)):
            raise self.error(f"writing failed ({_os_problem(exc)}); nothing was changed",
                             "a writable folder with free space") from None

    def abandon(self) -> None:
        """Remove the temporary folder and any folder the claim created; the folder is as before."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never deletes what someone put there meanwhile

    def commit(self, identity: dict[str, Any] | None = None) -> Path:
        """Move everything written into :attr:`tmp` into the folder, replacing only the earlier run's own
        files, and write the marker (``tool``, ``format``, ``command``, ``identity``, ``hetsim`` version,
        ``created`` (UTC, ISO 8601), ``files``: the top-level entries written, ``tree``: every file
        written, relative). Returns :attr:`path`.

        Refuses (SimulationConfigError, nothing changed) to replace an entry hetsim did not write."""
        from simulator._version import __version__

        entries = sorted(p.name for p in self.tmp.iterdir() if p.name != TMP_MARKER)
        ours = set(self.previous["files"]) if self.previous else set()
        clash = [n for n in entries if (self.path / n).exists() or (self.path / n).is_symlink()]
        foreign = [n for n in clash if n not in ours]
        if foreign:
            raise self.error(f"{foreign[0]} is there and hetsim did not write it", "a folder without files of "
                             "the names hetsim writes (nothing was changed)")
        inside = foreign_inside(self.path, self.previous) if self.previous else []
        if inside:
            raise self.error(f"{inside[0]} was added inside the earlier run's files", "it moved out of that "
                             "folder first (nothing was changed)")
        tree = [f for f in _tree(self.tmp) if f != TMP_MARKER]
        marker = {"tool": "hetsim", "format": MARKER_FORMAT, "command": self._command,
                  "identity": identity or {}, "hetsim": __version__,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": entries,
                  "tree": tree}
        staged = self.tmp / MARKER
        staged.write_text(json.dumps(marker, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        held = _hold_signals()
        try:
            old = None
            if ours:
                old = _make_marked_folder(self.path, OLD_PREFIX, "old")
                for name in sorted(ours):
                    src = self.path / name
                    if _plain_name(name) and name not in (MARKER, TMP_MARKER) and (src.exists() or src.is_symlink()):
                        os.rename(src, old / name)
            for name in entries:
                os.rename(self.tmp / name, self.path / name)
            os.replace(staged, self.path / MARKER)
            self.committed = True
        finally:
            _release_signals(held)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path


def _plain_name(name: Any) -> bool:
    """Whether ``name`` (from a marker, which anyone can edit) is one entry of the folder itself."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and os.sep not in name


def _hold_signals():
    if hasattr(signal, "pthread_sigmask"):
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    return None


def _release_signals(previous) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_tmp_marker(folder: Path, state: str) -> None:
    pid = os.getpid()
    info = {"tool": "hetsim", "state": state, "pid": pid, "host": socket.gethostname(),
            "process_start": _process_start(pid), "argv": sys.argv[:8],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / TMP_MARKER).write_text(json.dumps(info) + "\n", encoding="utf-8")


def claim_output(path: str | os.PathLike, *, command: str, field: str = "--out", overwrite: bool = False,
                 need_bytes: float = DEFAULT_NEED_BYTES, overwrite_flag: str = "--overwrite") -> OutputFolder:
    """Check that ``path`` may receive the output of ``command`` and prepare the temporary folder.

    ``path`` may be new (created, with its parents), an empty folder, or a folder hetsim wrote (its
    marker) when ``overwrite``; stale marked temporaries of killed runs in it are removed first. The folder
    must be writable and its file system must have ``need_bytes`` free. ``field`` names where the path
    came from in messages (``"--out"``, ``"outputs.dir"``); ``overwrite_flag`` is the option that allows
    replacing an earlier run. Any problem raises one-line SimulationConfigError and leaves nothing behind.
    """
    shown = str(path)
    final = Path(os.path.abspath(path))

    def fail(problem: str, expected: str) -> SimulationConfigError:
        return SimulationConfigError(f"{shown}: {field}: {problem}; expected {expected}")

    previous = None
    if final.exists() or final.is_symlink():
        if not final.is_dir():
            raise fail("is a file, not a folder", "a new or empty folder")
        clean_stale(final)
        try:
            names = sorted(p.name for p in final.iterdir())
        except OSError as exc:
            raise fail(f"cannot list the folder ({_os_problem(exc)})", "a readable, writable folder") from None
        busy = [n for n in names if n.startswith(TMP_PREFIX) and _tmp_info(final / n) is not None]
        if busy:
            pid = (_tmp_info(final / busy[0]) or {}).get("pid")
            raise fail(f"another hetsim process (pid {pid}) is writing there", "a folder no other run writes to")
        if names:
            previous = read_marker(final)
            if previous is None:
                raise fail(f"holds files hetsim did not write (such as {names[0]})", "a new or empty folder "
                           "(hetsim never writes among other files)")
            inside = foreign_inside(final, previous)
            if inside:
                raise fail(f"{inside[0]} was added inside an earlier hetsim run's files", "it moved out of "
                           "that folder first (replacing the run would delete it)")
            if not overwrite:
                ident = previous.get("identity") or {}
                what = ", ".join(f"{k} {v}" for k, v in list(ident.items())[:2] if isinstance(v, (str, int)))
                raise fail(f"holds an earlier hetsim {previous.get('command', 'run')} "
                           f"({what + ', ' if what else ''}written {previous.get('created', '?')})",
                           f"a new folder, or {overwrite_flag} to replace that run's files")
    created: list[Path] = []
    missing = []
    probe = final
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe)
        probe = probe.parent
    if probe != final and not probe.is_dir():
        raise fail(f"{probe} is a file, not a folder", "a path whose parents are folders")
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
    except OSError as exc:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise fail(f"cannot create the folder ({_os_problem(exc)})", "a place you can write to") from None
    try:
        tmp = _make_marked_folder(final, TMP_PREFIX, "temporary")
    except OSError as exc:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise fail(f"cannot write there ({_os_problem(exc)})", "a writable folder") from None
    out = OutputFolder(final, shown, field, command, overwrite, previous, created, tmp)
    try:
        free = shutil.disk_usage(final).free
    except OSError as exc:
        out.abandon()
        raise fail(f"cannot write there ({_os_problem(exc)})", "a writable folder") from None
    if free < need_bytes:
        out.abandon()
        raise fail(f"only {_mib(free)} free on its file system", f"at least {_mib(need_bytes)} free for the "
                   "results")
    return out
