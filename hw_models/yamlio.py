"""The one safe reader of every YAML file hetsim takes from a user (platforms, technologies, studies, sweeps).

:func:`load_yaml` reads a file as ``yaml.safe_load`` would, but bounded and strict, so a bad file costs one
line on stderr and never a traceback, minutes of CPU or gigabytes of memory:

- the file must exist, be a regular file (not a folder) and be at most ``max_bytes`` long (default
  :data:`MAX_BYTES`, 1 MiB; a platform or study file is a few KiB);
- it must be UTF-8 text (a BOM is allowed): a NUL byte (binary data) or an invalid UTF-8 sequence is an
  error naming the line;
- a mapping may not repeat a key (YAML says keys are unique; ``yaml.safe_load`` silently keeps the last one,
  so two memories named ``backbone`` would become one);
- at most ``max_aliases`` alias uses (``*name``; default :data:`MAX_ALIASES`), at most :data:`MAX_NODES`
  values once aliases are expanded, no recursive alias and at most :data:`MAX_DEPTH` levels of nesting (no
  "billion laughs");
- YAML syntax errors name the line and column.

Every problem raises ``error`` (default :class:`~hw_models.errors.HardwareConfigError`; the study and sweep
loaders pass :class:`~simulator.errors.SimulationConfigError`) with one line
``<file>: line <n>: <problem>; expected <what>``. Values quoted in any message go through :func:`shorten`,
so no message grows with the input.

Usage::

    from hw_models.yamlio import load_yaml
    data = load_yaml(path, what="platform")                       # HardwareConfigError on any problem
    data = load_yaml(path, what="study", error=SimulationConfigError)
"""
from __future__ import annotations

import os
import reprlib
import stat
from pathlib import Path
from typing import Any

import yaml

from hw_models.errors import HardwareConfigError

#: Largest YAML file read (bytes). Platform, technology and study files are a few KiB.
MAX_BYTES = 1 << 20
#: Most alias uses (``*anchor``) in one file.
MAX_ALIASES = 64
#: Most values (scalars, sequences, mappings) in one document once aliases are expanded.
MAX_NODES = 100_000
#: Deepest nesting of sequences and mappings.
MAX_DEPTH = 64
#: Longest quoted value in a message (characters).
MAX_QUOTE = 60

_repr = reprlib.Repr()
_repr.maxstring = MAX_QUOTE
_repr.maxother = MAX_QUOTE
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 4
_repr.maxlevel = 2


def shorten(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to about ``limit`` characters (nested and long containers elided with ``...``),
    in bounded time even for huge or self-referencing values: what messages quote of a user's input."""
    text = _repr.repr(value)
    return text if len(text) <= limit + 3 else text[:limit] + "..."


class _Reject(Exception):
    """Internal: a bound was exceeded at ``line`` (1-based) of the document."""

    def __init__(self, line: int | None, problem: str, expected: str):
        super().__init__(problem)
        self.line, self.problem, self.expected = line, problem, expected


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, too many aliases, too much nesting, recursion."""

    max_aliases = MAX_ALIASES

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: D102 (PyYAML hook)
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise _Reject(_line(self.peek_event().start_mark), f"more than {self.max_aliases} aliases",
                              "a plain file without alias expansion tricks")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Reject(_line(self.peek_event().start_mark), f"nested more than {MAX_DEPTH} levels deep",
                          "a flatter document")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: D102 (PyYAML hook)
        if isinstance(node, yaml.MappingNode):  # own keys only: a merge (<<) may be overridden
            seen: dict[Any, int | None] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # unhashable keys are PyYAML's own error
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key, 0)
                except TypeError:
                    continue
                if first != 0:
                    raise _Reject(_line(key_node.start_mark),
                                  f"key {shorten(key)} repeats (first at line {first})",
                                  "each key once in a mapping")
                seen[key] = _line(key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Raise :class:`_Reject` if ``root`` expands to more than :data:`MAX_NODES` values or is recursive."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise _Reject(_line(node.start_mark), "an alias refers to a value that contains it",
                          "no recursive aliases")
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        on_path.add(key)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise _Reject(_line(node.start_mark), f"expands to more than {MAX_NODES} values",
                              "a plain file without alias expansion tricks")
        on_path.discard(key)
        sizes[key] = total
        return total

    size(root)


def read_text(path: str | os.PathLike, *, what: str = "YAML", error: type[Exception] = HardwareConfigError,
              max_bytes: int = MAX_BYTES) -> str:
    """The text of ``path`` checked to be a regular file of at most ``max_bytes`` UTF-8 bytes without NUL.

    Raises ``error`` (one line naming the file) when it is missing, a folder, too big, binary or not
    UTF-8."""
    p = Path(path)
    expected = f"a {what} YAML file" if what != "YAML" else "a YAML file"
    try:
        info = p.stat()
    except FileNotFoundError:
        raise error(f"{p}: no such file; expected {expected}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read ({exc.strerror or type(exc).__name__}); expected {expected}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{p}: is a folder; expected {expected}") from None
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{p}: cannot read ({exc.strerror or type(exc).__name__}); expected {expected}") from None
    if len(data) > max_bytes:
        raise error(f"{p}: larger than {max_bytes} bytes; expected {expected} (they are a few KiB)")
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise error(f"{p}: line {line}: binary data (a NUL byte); "
                    f"expected {expected} (UTF-8 text)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{p}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; expected {expected} in "
                    f"UTF-8 text") from None
    return text


def load_yaml(path: str | os.PathLike, *, what: str = "YAML", error: type[Exception] = HardwareConfigError,
              max_bytes: int = MAX_BYTES, max_aliases: int = MAX_ALIASES) -> Any:
    """Parse the YAML file ``path`` safely (see the module docstring); returns what ``yaml.safe_load``
    would (``None`` for an empty file).

    ``what`` names the kind of file in messages (``"platform"``, ``"study"``, ...); ``error`` is the
    exception class raised, always with one line ``<file>: line <n>: <problem>; expected <what>``."""
    text = read_text(path, what=what, error=error, max_bytes=max_bytes)
    return loads_yaml(text, str(path), what=what, error=error, max_aliases=max_aliases)


def loads_yaml(text: str, source: str, *, what: str = "YAML", error: type[Exception] = HardwareConfigError,
               max_aliases: int = MAX_ALIASES) -> Any:
    """:func:`load_yaml` for text already read (``source`` names it in messages)."""
    loader = _BoundedLoader(text)
    loader.max_aliases = max_aliases
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            _check_expansion(root)
            return loader.construct_document(root)
        finally:
            loader.dispose()
    except _Reject as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise error(f"{source}: {where}{exc.problem}; expected {exc.expected}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        at = f" at column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "unreadable").split())[:120]
        raise error(f"{source}: {where}{problem}{at}; expected valid YAML") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())[:120] or "unreadable"
        raise error(f"{source}: {problem}; expected valid YAML") from None
    except RecursionError:
        raise error(f"{source}: nested too deeply; expected a flatter {what} YAML") from None
