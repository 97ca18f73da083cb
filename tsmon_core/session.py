"""Recorded sessions: a JSON Lines writer and a streaming reader that rebuilds every frame.

A session file (schema 4) is UTF-8 JSON Lines, optionally gzip-compressed:

* a **header** line: ``{"format": "tsmon-session", "schema": 4, ...}`` with the tsmon version,
  host, kernel release, struct version, interval, backend, start time and, per record layout,
  the field list (``[name, code]`` pairs in struct order; a ``T`` timespec field takes two
  values, seconds and nanoseconds; ``32s`` is the command name as a string);
* **layout** lines ``{"layout": "15", "fields": [...]}`` declaring a layout before its first use
  when it is not the header's;
* **frame** lines, numbered from 0, each either a keyframe ``{"key": N, ...}`` holding every
  task's raw record as an array in its layout's field order, or a delta ``{"delta": N, ...}``
  holding only what changed since frame N-1 (see ``SessionWriter`` for the keys);
* an **end** line ``{"end": FRAMES, ...}`` when the recording stopped cleanly.

The reader never loads the whole file: it keeps one frame's state, indexes keyframes (byte
offsets, or gzip member offsets) as it goes, and seeks by replaying at most one keyframe
interval. Nothing read from a file is ever evaluated: lines go through ``json.loads`` and
every value is type-checked before it becomes a record.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import re
import socket
import sys
import time
import zlib
from abc import abstractmethod
from array import array
from base64 import b64decode, b64encode
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import accumulate, chain, compress, filterfalse, repeat
from operator import itemgetter, ne, not_
from typing import IO, TYPE_CHECKING, Any, cast

from . import abi
from ._version import __version__
from .backends import BackendInfo, RawFrame
from .errors import SessionFormatError
from .model import (
    CgroupStats,
    ExitEvent,
    TaskStats,
    column_bytes,
    column_code,
    layout_class,
    record_slices,
    write_column,
    zero_column,
)

if TYPE_CHECKING:
    from .sampler import Snapshot

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "SessionHeader",
    "SessionReader",
    "SessionWriter",
    "layout_key",
    "read_header",
]

FORMAT_NAME = "tsmon-session"
# 2: ``ck``/``cj`` instead of ``e``/``j`` rows; 3: ``ck`` holds steps, start times go in ``c``;
# 4: start times' steps in ``cs``, ``ck``'s steps coded (``_age_code``). Older schemas are read
# as ever.
SCHEMA_VERSION = 4
DEFAULT_KEYFRAME_EVERY = 60
DEFAULT_SEEK_BYTES = 1024 * 1024  # ~0.1 s of reading on a slow machine
MAX_LINE = 64 * 1024 * 1024  # a longer line is corrupt (a 10,000-task keyframe is ~5 MB)
_MAX_HEADER = 4 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 256 * 1024
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False).encode
_LOADS = json.loads
_NAN = float("nan")


# --- layouts: how a record becomes a JSON array and back -----------------------------------


def layout_key(klass: type[TaskStats]) -> str:
    """The key naming a record class's layout in a file: "17", or "17+" for a newer version."""
    return f"{klass.layout.version}{'+' if klass.unknown_version else ''}"


def _layout_fields(layout: abi.Layout) -> list[list[str]]:
    return [[name, code] for name, code, _ in layout.fields]


def _raw_names(fields: list[tuple[str, str]]) -> list[str]:
    """One name per raw value (a timespec is two values)."""
    names: list[str] = []
    for name, code in fields:
        names.extend((f"{name}.sec", f"{name}.nsec") if code == "T" else (name,))
    return names


def _comm_index(fields: list[tuple[str, str]]) -> int | None:
    index = 0
    for _, code in fields:
        if code == "32s":
            return index
        index += 2 if code == "T" else 1
    return None


_COMM_STR: dict[bytes, str] = {}


def _comm_to_str(raw: bytes) -> str:
    text = _COMM_STR.get(raw)
    if text is None:
        if len(_COMM_STR) > 16384:
            _COMM_STR.clear()
        text = _COMM_STR[raw] = raw.rstrip(b"\0").decode("utf-8", "surrogateescape")
    return text


def _comm_to_bytes(text: object) -> bytes:
    if type(text) is not str:
        raise ValueError("command name is not a string")
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > abi.TS_COMM_LEN:
        raise ValueError("command name longer than the struct's field")
    return raw.ljust(abi.TS_COMM_LEN, b"\0")


_INT_ONLY = frozenset({int})
_INT_BYTES = frozenset({int, bytes})


class _Layout:
    """One layout of a file, bound to the record class that reads it here."""

    __slots__ = (
        "ci",
        "clock",
        "clock_codes",
        "clock_names",
        "clock_places",
        "key",
        "klass",
        "local_index",
        "mapping",
        "size",
    )

    def __init__(self, key: str, fields: object) -> None:
        match = re.fullmatch(r"(\d{1,4})(\+?)", key)
        if match is None or not isinstance(fields, list) or not fields:
            raise ValueError(f"bad layout {key!r}")
        pairs: list[tuple[str, str]] = []
        for item in fields:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not all(isinstance(x, str) for x in item)
                or item[1] not in ("H", "I", "Q", "B", "b", "32s", "T")
            ):
                raise ValueError(f"bad field in layout {key!r}")
            pairs.append((item[0], item[1]))
        version, newer = int(match[1]), bool(match[2])
        if version in abi.LAYOUTS:
            klass = layout_class(version, newer)
        else:  # a layout a newer tsmon knew: read the fields this one knows
            klass = layout_class(abi.LATEST_VERSION, True)
        local = [(n, c) for n, c, _ in klass.layout.fields]
        self.key = key
        self.klass = klass
        self.size = len(_raw_names(pairs))
        self.ci = _comm_index(pairs)
        self.mapping: tuple[list[str], list[tuple[str, str]]] | None = None
        self.local_index: list[int | None] | None = None
        if pairs != local:
            # Fields listed differently (another tsmon's table): map them by name.
            names, local_names = _raw_names(pairs), _raw_names(local)
            self.mapping = (names, local)
            where = {name: i for i, name in enumerate(local_names)}
            self.local_index = [where.get(name) for name in names]
        # Clock fields as the file lists them, and where each lands here (None: unknown).
        file_names = _raw_names(pairs)
        prim = [file_names.index(f) for f in ("ac_etime", "ac_tgetime") if f in file_names]
        jit = [file_names.index(f) for f in ("ac_btime", "ac_btime64") if f in file_names]
        if not prim:
            jit = []
        to_local = self.local_index
        self.clock: tuple[tuple[int | None, ...], tuple[int | None, ...]] = (
            tuple(to_local[i] if to_local else i for i in prim),
            tuple(to_local[i] if to_local else i for i in jit),
        )
        # Their names, and their codes as the file lists them (a ``ck`` row's column widths)
        self.clock_places = self.clock[0] + self.clock[1]  # as the packed rows list them
        self.clock_names = tuple(file_names[i] for i in prim + jit)
        codes = dict(pairs)
        self.clock_codes = tuple(codes[name] for name in self.clock_names)

    def record(self, raw: list[Any]) -> TaskStats:
        """A record from the raw values of a file (checked: ints, and one string for comm)."""
        if len(raw) != self.size:
            raise ValueError("record has the wrong number of values")
        ci = self.ci
        if ci is not None:
            raw[ci] = _comm_to_bytes(raw[ci])
            if not set(map(type, raw)) <= _INT_BYTES:
                raise ValueError("record value of the wrong type")
        elif not set(map(type, raw)) <= _INT_ONLY:
            raise ValueError("record value of the wrong type")
        if self.mapping is not None:
            raw = self._convert(raw)
        return self.klass.from_values(raw)

    def _convert(self, raw: list[Any]) -> list[Any]:
        names, local = self.mapping  # type: ignore[misc]
        values = dict(zip(names, raw, strict=True))
        out: list[Any] = []
        for name, code in local:
            if code == "T":
                out += [values.get(f"{name}.sec", 0), values.get(f"{name}.nsec", 0)]
            elif code == "32s":
                out.append(values.get(name, b"\0" * abi.TS_COMM_LEN))
            else:
                out.append(values.get(name, 0))
        if "version" in values:
            out[0] = values["version"]
        return out


class _Encoder:
    """Turns records into JSON arrays (the writer's side of ``_Layout``)."""

    def __init__(self, default: str | None) -> None:
        self.default = default
        self.declared: set[str] = set()
        self.declared_classes: set[type[TaskStats]] = set()
        self._ci: dict[type[TaskStats], int | None] = {}
        self._keys: dict[type[TaskStats], str | None] = {}

    def comm_index(self, klass: type[TaskStats]) -> int | None:
        ci = self._ci.get(klass, -1)
        if ci == -1:
            ci = self._ci[klass] = _comm_index([(n, c) for n, c, _ in klass.layout.fields])
        return ci

    def values(self, record: TaskStats) -> list[Any]:
        """The record's raw values, layout key first when it is not the file's default."""
        klass = type(record)
        raw = list(record.values())
        ci = self.comm_index(klass)
        if ci is not None:
            raw[ci] = _comm_to_str(raw[ci])
        key = self._keys.get(klass, "")
        if key == "":
            key = self._keys[klass] = (
                None if layout_key(klass) == self.default else layout_key(klass)
            )
        if key is not None:
            raw.insert(0, key)
        return raw


# --- the header ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionHeader:
    """What a session file says about itself (its first line).

    Attributes:
        schema: the file format's schema version.
        tsmon_version: the version of tsmon that recorded it.
        hostname: the recorded machine's host name.
        kernel_release: its ``uname -r``.
        struct_version: the taskstats struct version its kernel answered with.
        interval: the refresh interval asked for, seconds.
        backend: the backend recorded: "netlink" or "sim" (or "replay" for a re-recording).
        backend_reason: why that backend was chosen.
        cpus: the recorded machine's possible CPUs (cpulist), nr_cpus their count.
        delayacct: whether delay accounting was on when the recording started.
        started_wall: wall-clock start, seconds since the epoch.
        keyframe_every: frames between full keyframes.
        default_layout: the layout key of records written without one.
        layouts: layout key -> field list (``[name, code]`` pairs).
        raw: the header line as parsed.
    """

    schema: int
    tsmon_version: str
    hostname: str
    kernel_release: str
    struct_version: int | None
    interval: float | None
    backend: str
    backend_reason: str
    cpus: str
    nr_cpus: int
    delayacct: bool | None
    started_wall: float
    keyframe_every: int
    default_layout: str | None
    layouts: dict[str, Any] = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    def backend_info(self, kind: str = "replay", reason: str = "") -> BackendInfo:
        """A BackendInfo describing the recorded machine."""
        return BackendInfo(
            kind=kind,
            kernel_release=self.kernel_release,
            struct_version=self.struct_version,
            cpus=self.cpus,
            nr_cpus=self.nr_cpus,
            delayacct=self.delayacct,
            reason=reason,
            hostname=self.hostname,
        )


_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def _text(value: object, default: str = "") -> str:
    return value.translate(_CONTROL) if isinstance(value, str) else default


def _parse_header(line: bytes | None, where: str) -> SessionHeader:
    if not line or not line.strip():
        raise SessionFormatError(f"{where}: empty file, not a tsmon session (no header line)")
    try:
        obj = _LOADS(line)
    except (ValueError, UnicodeDecodeError):
        raise SessionFormatError(
            f"{where}: not a tsmon session (the first line is not a JSON header)"
        ) from None
    if not isinstance(obj, dict):
        raise SessionFormatError(f"{where}: not a tsmon session (the first line is not a header)")
    fmt = obj.get("format")
    if fmt is None:
        if "key" in obj or "delta" in obj:
            raise SessionFormatError(
                f"{where}: the session header is missing (file starts with a frame)"
            )
        raise SessionFormatError(f'{where}: not a tsmon session (no "format" in the first line)')
    if fmt != FORMAT_NAME:
        shown = fmt if isinstance(fmt, str) and len(fmt) < 40 else "?"
        raise SessionFormatError(
            f"{where}: not a tsmon session (format {shown!r}, not {FORMAT_NAME!r})"
        )
    schema = obj.get("schema")
    if type(schema) is not int or schema < 1:
        raise SessionFormatError(f"{where}: unknown session schema {schema!r}")
    if schema > SCHEMA_VERSION:
        raise SessionFormatError(
            f"{where}: session schema {schema} is newer than this tsmon reads "
            f"(schema {SCHEMA_VERSION}); upgrade tsmon to replay it"
        )
    backend: dict[str, Any] = obj["backend"] if isinstance(obj.get("backend"), dict) else {}
    layouts = obj.get("layouts")
    if not isinstance(layouts, dict):
        raise SessionFormatError(f'{where}: the session header has no field lists ("layouts")')
    sv = obj.get("struct_version")
    interval = obj.get("interval")
    started: dict[str, Any] = obj["started"] if isinstance(obj.get("started"), dict) else {}
    wall = started.get("wall")
    default = obj.get("default_layout")
    nr_cpus = backend.get("nr_cpus")
    delayacct = obj.get("delayacct")
    every = obj.get("keyframe_every")
    return SessionHeader(
        schema=schema,
        tsmon_version=_text(obj.get("tsmon"), "?"),
        hostname=_text(obj.get("hostname")),
        kernel_release=_text(obj.get("kernel")),
        struct_version=sv if type(sv) is int else None,
        interval=float(interval) if isinstance(interval, (int, float)) else None,
        backend=_text(backend.get("kind"), "?"),
        backend_reason=_text(backend.get("reason")),
        cpus=_text(backend.get("cpus")),
        nr_cpus=nr_cpus if type(nr_cpus) is int else 0,
        delayacct=delayacct if isinstance(delayacct, bool) else None,
        started_wall=float(wall) if isinstance(wall, (int, float)) else 0.0,
        keyframe_every=every if type(every) is int else 0,
        default_layout=default if isinstance(default, str) else None,
        layouts=layouts,
        raw=obj,
    )


# --- writing -------------------------------------------------------------------------------


def _open_private(path: str) -> int:
    """Create (or truncate) ``path`` readable by its owner only: it names users and commands."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


class SessionWriter:
    """Writes a session file frame by frame; every frame is flushed to the file as it is written.

    Frame lines carry: ``tm``/``tw`` (monotonic and wall time), ``lost``, ``da`` (delay
    accounting, in keyframes and when it changes), ``exits`` (``[tid, tgid, lost, t_mono,
    record, group_record]``), ``cmd`` (command lines first seen), ``cg`` (cgroup path ->
    five counts) and the task table:

    * keyframe: ``tasks`` = ``[[tid, layout?, values...], ...]``; ``tg`` = flat
      ``[tid, tgid, ...]``; ``cmdk`` = command lines known for the live processes.
    * delta: ``g`` tids gone; ``n`` new or replaced tasks (as in ``tasks``); ``a`` where new
      tids go, flat ``[tid, the tid it follows or null, ...]``, or ``o`` the whole tid order
      when the tasks that stayed changed order; ``ck`` how much the tasks that stayed aged
      (packed columns, each one's step since the last frame: see ``_pack`` and ``_step``;
      ``ek`` names their layout), ``cs`` how far their start times moved (packed alike,
      when one did: the kernel derives them from now - etime, and they wobble by a second;
      schema 3 wrote those in ``c``, schema 2 the ages themselves in ``ck`` and start times
      in ``cj``, schema 1 ``e`` and ``j`` rows); ``c`` their other changes ``[tid,
      index, value step, ...]`` (the new string for the command name); ``tg``/``tgr`` tgid
      changes (flat ``[tid, tgid, ...]``; tids removed).

    A delta applies to the frame numbered one less; a frame the reader cannot rebuild makes
    it wait for the next keyframe, so damage never yields a wrong frame.

    Args:
        path: the file to create (mode 0600); a ``.gz`` suffix compresses it.
        info: the backend being recorded.
        interval: the refresh interval, seconds.
        keyframe_every: a full keyframe every so many frames at most (seek cost vs size).
        keyframe_budget, seek_bytes: a keyframe also as soon as a seek would read more than
            ``seek_bytes`` (the keyframe and the deltas after it), or, past that, deltas
            ``keyframe_budget`` times the keyframe's size: busy machines get keyframes sooner.
            (A third: a delta's bytes cost a seek more than a keyframe's, each task's ages
            being applied; at a half, seeks on a busy simulator read ~12 deltas, not ~8.)
        compress: gzip or not (default: by suffix).
        compresslevel: zlib level for gzip (1: a tenth of level 6's CPU, files ~10% bigger).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        info: BackendInfo,
        interval: float | None,
        keyframe_every: int = DEFAULT_KEYFRAME_EVERY,
        keyframe_budget: float = 1 / 3,
        seek_bytes: int = DEFAULT_SEEK_BYTES,
        compress: bool | None = None,
        compresslevel: int = 1,
        started_wall: float | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.keyframe_every = max(1, int(keyframe_every))
        self.keyframe_budget = keyframe_budget
        self.seek_bytes = seek_bytes
        self._since_key = 0
        self._delta_bytes = 0
        self._key_bytes = 0
        self.compressed = self.path.endswith(".gz") if compress is None else compress
        self._level = compresslevel
        self.frames = 0
        self.keyframes = 0  # of the frames, how many were written whole
        self.bytes_written = 0
        self.closed = False
        sv = info.struct_version
        if sv is None:
            default = None
        elif sv in abi.LAYOUTS:
            default = str(sv)
        else:
            default = f"{abi.LATEST_VERSION}+" if sv > abi.LATEST_VERSION else None
        self._enc = _Encoder(default)
        # The last frame's records (its own dict: a frame is a value, never changed once made)
        self._recs: dict[int, TaskStats] = {}
        # The previous frame's tids in order, and its tgids' keys and values: lists, compared
        # with the next frame's in one C call each (making C arrays of them cost more).
        self._order: list[int] = []
        self._tg_keys: list[int] = []
        self._tg_values: list[int] = []
        self._cmd: dict[int, str] = {}
        # The last frame's records with their clock fields zeroed, joined (see _Scan), and the
        # two buffers frames are joined into in turn (kept: a fresh megabyte each frame cost
        # as much again in page faults)
        self._scan: _Scan | None = None
        self._stages = (io.BytesIO(), io.BytesIO())
        self._stage_turn = 0
        # tid -> its keyframe JSON cut around its clock fields (see _fragment), for a task
        # equal outside them in every frame since it was made
        self._frag: dict[int, tuple[str, ...]] = {}
        self._frag_class: type[TaskStats] | None = None
        self._da: object = object()
        self._fd = _open_private(self.path)
        self._z: Any = None  # the gzip member being written
        self._z_used = False  # whether it holds anything yet
        if self.compressed:
            self._z = self._between_keyframes()
        wall = time.time() if started_wall is None else started_wall
        layouts = {}
        if default is not None:
            version = int(default.rstrip("+"))
            layouts[default] = _layout_fields(abi.LAYOUTS[version])
            self._enc.declared.add(default)
        header = {
            "format": FORMAT_NAME,
            "schema": SCHEMA_VERSION,
            "tsmon": __version__,
            "hostname": info.hostname or socket.gethostname(),
            "kernel": info.kernel_release,
            "struct_version": sv,
            "interval": interval,
            "backend": {
                "kind": info.kind,
                "reason": info.reason,
                "cpus": info.cpus,
                "nr_cpus": info.nr_cpus,
            },
            "delayacct": info.delayacct,
            "started": {
                "wall": wall,
                "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall)),
            },
            "keyframe_every": self.keyframe_every,
            "default_layout": default,
            "layouts": layouts,
        }
        try:
            self._emit(_DUMPS(header).encode() + b"\n")
        except BaseException:
            os.close(self._fd)
            raise

    # -- output ---------------------------------------------------------------------------

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.bytes_written += len(data)

    def _emit(self, data: bytes, *, keyframe: bool = False) -> None:
        """Write ``data``; gzip files give a keyframe a member of its own (a reader can start
        decompressing there), and what follows it one more, until the next keyframe."""
        z = self._z
        if z is None:
            self._write_all(data)
            return
        if not keyframe:
            self._z_used = True
            self._write_all(z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))
            return
        key = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        out = z.flush(zlib.Z_FINISH) if self._z_used else b""  # no empty members
        out += key.compress(data) + key.flush(zlib.Z_FINISH)
        self._z, self._z_used = self._between_keyframes(), False
        self._write_all(out)

    def _between_keyframes(self) -> Any:
        """A compressor for the lines between keyframes: deltas are mostly packed ages,
        which only Huffman coding shrinks; looking for repeats in them took 3x as long."""
        return zlib.compressobj(self._level, zlib.DEFLATED, 31, 8, zlib.Z_RLE)

    def _declare(self, klass: type[TaskStats], lines: list[bytes]) -> None:
        self._enc.declared_classes.add(klass)
        key = layout_key(klass)
        if key not in self._enc.declared:
            self._enc.declared.add(key)
            body = {"layout": key, "fields": _layout_fields(klass.layout)}
            lines.append(_DUMPS(body).encode() + b"\n")

    # -- frames ---------------------------------------------------------------------------

    def write_snapshot(self, snapshot: Snapshot) -> None:
        """Write a live snapshot's frame (the first one carries every command line known)."""
        frame = snapshot.frame
        if self.frames == 0 and snapshot.cmdlines:
            live = set(frame.tgids.values()) | set(frame.tasks)
            known = {g: c for g, c in snapshot.cmdlines.items() if g in live}
            frame = replace(frame, cmdlines={**known, **frame.cmdlines})
        self.write(frame, delayacct=snapshot.delayacct)

    def write(self, frame: RawFrame, *, delayacct: bool | None = None) -> None:
        """Append one frame (a keyframe every ``keyframe_every`` frames, else a delta)."""
        if self.closed:
            raise ValueError("session writer is closed")
        lines: list[bytes] = []
        records = list(frame.tasks.values())
        task_classes = set(map(type, records))
        classes = set(task_classes)
        for event in frame.exits:
            classes.add(type(event.stats))
            if event.group_stats is not None:
                classes.add(type(event.group_stats))
        for klass in classes - self._enc.declared_classes:
            self._declare(klass, lines)
        # A keyframe every keyframe_every frames, or sooner once a seek would read more than
        # seek_bytes (keyframe and deltas), or deltas outweighing the keyframe keyframe_budget
        # times when the keyframe alone is that big: reading costs about the same per byte.
        allowed = max(self.keyframe_budget * self._key_bytes, self.seek_bytes - self._key_bytes)
        key = (
            self._since_key >= self.keyframe_every
            or self._delta_bytes >= allowed
            or self.frames == 0
        )
        n = self.frames
        body: dict[str, Any] = {
            "key" if key else "delta": n,
            "tm": frame.t_mono,
            "tw": frame.t_wall,
        }
        if frame.lost:
            body["lost"] = frame.lost
        if key or delayacct is not self._da:
            body["da"] = delayacct
            self._da = delayacct
        tasks_text = ""
        if key:
            tasks_text = self._keyframe(frame, body, records, task_classes)
        else:
            self._delta(frame, body, records, task_classes)
        if frame.exits:
            body["exits"] = [self._exit(e) for e in frame.exits]
        if frame.cmdlines:
            body["cmd"] = {str(g): c for g, c in frame.cmdlines.items()}
        if frame.cgroups:
            body["cg"] = {p: list(s) for p, s in frame.cgroups.items()}
        text = _DUMPS(body)
        if key:  # the task table, already JSON text, goes last
            text = f'{text[:-1]},"tasks":{tasks_text}}}'
        line = text.encode() + b"\n"
        lines.append(line)
        if key:
            self._since_key, self._delta_bytes, self._key_bytes = 1, 0, len(line)
            self.keyframes += 1
        else:
            self._since_key += 1
            self._delta_bytes += len(line)
        self._cmd.update(frame.cmdlines)
        if key and len(lines) > 1:
            # Declarations go before the keyframe's member, so a seek never starts after them.
            self._emit(b"".join(lines[:-1]))
            lines = lines[-1:]
        self._emit(b"".join(lines), keyframe=key)
        self.frames += 1

    def _exit(self, event: ExitEvent) -> list[Any]:
        group = self._enc.values(event.group_stats) if event.group_stats is not None else None
        return [
            event.tid,
            event.tgid,
            event.lost,
            event.t_mono,
            self._enc.values(event.stats),
            group,
        ]

    def _keyframe(
        self,
        frame: RawFrame,
        body: dict[str, Any],
        records: list[TaskStats],
        task_classes: set[type[TaskStats]],
    ) -> str:
        """Fill a keyframe's body; returns the JSON text of its task table.

        A task that only aged since the last frame is written from its ready JSON text with
        its clock fields filled in (most tasks of a quiet machine), the others in full.
        """
        body["tg"] = list(chain.from_iterable(frame.tgids.items()))
        live = set(frame.tgids.values()) | set(frame.tasks)
        self._cmd = {g: c for g, c in self._cmd.items() if g in live}
        known = {str(g): c for g, c in self._cmd.items() if g not in frame.cmdlines}
        if known:
            body["cmdk"] = known
        tids = list(frame.tasks)
        for t in self._recs.keys() - frame.tasks.keys():
            self._frag.pop(t, None)
        klass = self._frame_class(task_classes)
        scan = self._scan_of(klass, records)
        if scan is not None:
            changed = self._changed(scan, tids, *self._positions(tids))
            text = self._keyframe_text(scan, tids, records, changed)
        else:
            values = self._enc.values
            text = ",".join([_DUMPS([tid, *values(rec)]) for tid, rec in frame.tasks.items()])
            text = f"[{text}]"
        self._scan = scan
        self._recs = frame.tasks
        self._order = tids
        self._tg_keys = list(frame.tgids)
        self._tg_values = list(frame.tgids.values())
        return text

    def _keyframe_text(
        self, scan: _Scan, tids: list[int], records: list[TaskStats], changed: list[int]
    ) -> str:
        """A keyframe's task table from each task's fragment (kept while it only aged, else
        made anew) and the frame's clock columns, in one join: a task costs a few C steps."""
        clock = _CLOCK[scan.klass]
        frag = self._frag
        fragments: list[tuple[str, ...] | None] = list(map(frag.get, tids))
        for i in changed:  # since the last frame (or new): its fragment is stale
            fragments[i] = None
        for i in [i for i, f in enumerate(fragments) if f is None]:
            fragments[i] = self._fragment(tids[i], records[i], clock)
        columns = [scan.ints(k) for k in range(len(clock.names))]
        numbers = [map(str, columns[clock.fields.index(i)]) for i in sorted(clock.fields)]
        streams: list[Iterator[str]] = [map(itemgetter(0), fragments)]  # type: ignore[arg-type]
        for k, column in enumerate(numbers, start=1):
            streams += (column, map(itemgetter(k), fragments))  # type: ignore[arg-type]
        text = "".join(chain.from_iterable(zip(*streams, strict=True)))
        return f"[{text[:-1]}]"  # each fragment ends with a comma

    def _fragment(self, tid: int, record: TaskStats, clock: _Clock) -> tuple[str, ...]:
        """A task's keyframe JSON cut around its clock fields (in layout order), ending with
        the comma that separates tasks; kept for the next keyframe."""
        values = self._enc.values(record)
        shift = 1 if isinstance(values[0], str) else 0  # the layout key, when not the default
        # Each value's JSON (an int's is its str): five encoder calls here cost 4x as much
        texts = [str(v) if type(v) is int else _DUMPS(v) for v in values]
        runs: list[str] = []  # the values before, between and after the clocks
        last = 0
        for i in sorted(clock.fields):
            runs.append(",".join(texts[last : i + shift]))
            last = i + shift + 1
        runs.append(",".join(texts[last:]))
        pieces = [f"[{tid}," + (runs[0] + "," if runs[0] else "")]
        pieces += ["," + run + "," if run else "," for run in runs[1:-1]]
        pieces.append(("," + runs[-1] if runs[-1] else "") + "],")
        fragment = self._frag[tid] = tuple(pieces)
        return fragment

    def _scan_of(self, klass: type[TaskStats] | None, records: list[TaskStats]) -> _Scan | None:
        """The frame's ``_Scan`` (None without one class), joined into the next stage."""
        if klass is None:
            return None
        self._stage_turn ^= 1
        return _scan(klass, records, self._stages[self._stage_turn])

    def _frame_class(self, types: set[type[TaskStats]]) -> type[TaskStats] | None:
        """The one class of a frame's records (their ``types``) when it has clock fields (else
        None); keyframe texts of another class are dropped."""
        klass = next(iter(types)) if len(types) == 1 else None
        if klass is not None and not _CLOCK[klass].fields:
            klass = None
        if klass is not self._frag_class:
            self._frag.clear()
            self._frag_class = klass
        return klass

    def _changed(
        self,
        scan: _Scan,
        tids: list[int],
        new_at: dict[int, int] | None,
        old_at: dict[int, int] | None,
    ) -> list[int]:
        """Where in ``tids`` the tasks are whose record differs from the last frame's outside
        the clock fields (or that are new), in order. ``new_at``/``old_at``: where each tid
        is in this frame and the last (None: the tids are the last frame's, in its order;
        see ``_positions``)."""
        last = self._scan
        if last is None or last.klass is not scan.klass:
            return list(range(len(tids)))
        size = scan.klass.layout.size
        if new_at is None or old_at is None:
            return _differing_runs(scan.masked, last.masked, size, [(0, 0, len(tids))])
        news = list(map(new_at.__getitem__, tids))
        olds = list(map(old_at.get, tids))
        return _differing_runs(scan.masked, last.masked, size, _runs(news, olds))

    def _positions(self, tids: list[int]) -> tuple[dict[int, int] | None, dict[int, int] | None]:
        """Where each tid is in this frame and in the last one; (None, None) when the tids
        are the last frame's in its order (a quiet refresh)."""
        if tids == self._order:
            return None, None
        return {t: i for i, t in enumerate(tids)}, {t: k for k, t in enumerate(self._order)}

    def _delta(
        self,
        frame: RawFrame,
        body: dict[str, Any],
        records: list[TaskStats],
        task_classes: set[type[TaskStats]],
    ) -> None:
        tasks = frame.tasks
        prev = self._recs
        tids = list(tasks)
        new_at, old_at = self._positions(tids)
        unchanged = new_at is None  # a quiet refresh: the same tids in the same order
        old_order = [] if unchanged else self._order
        gone = list(filterfalse(tasks.__contains__, old_order))
        gone_set = frozenset(gone)
        for t in gone:
            self._frag.pop(t, None)
        new_tids = (
            frozenset() if unchanged else frozenset(filterfalse(set(old_order).__contains__, tids))
        )
        common = list(filterfalse(new_tids.__contains__, tids)) if new_tids else tids
        if gone:
            body["g"] = gone
        news = records if common is tids else list(map(tasks.__getitem__, common))
        values = self._enc.values
        replaced: list[int] = []
        changed: list[list[Any]] = []
        klass = self._frame_class(task_classes)
        scan = self._scan_of(klass, records)
        others: Iterable[int] = range(len(common))
        clocked = False  # every task that stayed has its clock fields in ``ck``
        last = self._scan
        if scan is not None and common:
            clock = _CLOCK[scan.klass]
            # A task equal to its last record outside the clock fields changed in its clock
            # fields at most: found by comparing the frames' masked bytes, runs at a time.
            differing = self._changed(scan, common, new_at, old_at)
            if last is not None and last.klass is klass:  # the tasks that stayed: one layout
                # Every task that stayed gets its clock fields here, the busy ones too (their
                # other changes follow in ``c``, which then leaves the clock fields out), in
                # the order a reader holds them then: the last frame's less the tasks gone.
                places = last_places = None
                if new_at is not None and old_at is not None:
                    kept = list(filterfalse(gone_set.__contains__, old_order))
                    places = list(map(new_at.__getitem__, kept))
                    last_places = list(map(old_at.__getitem__, kept))
                ages = range(clock.ages)
                if places is None:  # the same tasks in the same order: whole columns
                    now_ages = list(map(scan.number, ages))
                    last_ages = list(map(last.number, ages))
                else:
                    now_ages = [_number(_column(scan, places, k)) for k in ages]
                    last_ages = [_number(_column(last, last_places, k)) for k in ages]
                lengths = [len(common) * array(clock.codes[k]).itemsize for k in ages]
                body["ck"] = _pack([_age_code(now_ages, last_ages, lengths)])
                body["ek"] = clock.key
                clocked = True
                # Start times: their steps too, only when one moved
                starts = range(clock.ages, len(clock.names))
                now_starts = [_column(scan, places, k) for k in starts]
                last_starts = [_column(last, last_places, k) for k in starts]
                if now_starts != last_starts:
                    body["cs"] = _pack(list(map(_step, now_starts, last_starts)))
            others = differing
        self._scan = scan
        ci = self._enc.comm_index
        drop = self._frag.pop  # a changed task's keyframe text no longer fits
        if clocked:  # the other changes, read from the masked records (clock fields 0 in both)
            kind = cast("_Scan", scan).klass
            unpack, size, comm_at = kind.layout.struct.unpack_from, kind.layout.size, ci(kind)
            now_bytes, last_bytes = cast("_Scan", scan).masked, cast("_Scan", last).masked
            for i in others:
                tid = common[i]
                drop(tid, None)
                now_values = unpack(now_bytes, size * (i if new_at is None else new_at[tid]))
                last_values = unpack(last_bytes, size * (i if old_at is None else old_at[tid]))
                entry = _change_entry(tid, last_values, now_values, comm_at)
                if entry is not None:
                    changed.append(entry)
        else:
            for i in others:
                tid = common[i]
                drop(tid, None)
                rec, old = news[i], prev[tid]
                if old is rec or (type(old) is type(rec) and old == rec):
                    continue
                if type(old) is not type(rec):
                    replaced.append(tid)
                    continue
                entry = _change_entry(tid, old.values(), rec.values(), ci(type(rec)))
                if entry is not None:
                    changed.append(entry)
        if changed:
            body["c"] = changed
        if new_tids or replaced:
            fresh = set(replaced)
            fresh.update(new_tids)
            body["n"] = [[t, *values(tasks[t])] for t in filter(fresh.__contains__, tids)]
        kept = list(filterfalse(gone_set.__contains__, old_order)) if gone else old_order
        if not unchanged and common != kept:
            body["o"] = tids  # the tasks that stayed changed order: write the order
        elif new_tids:
            # New threads appear next to their process's threads: say which tid each follows.
            after: list[int | None] = []
            if len(new_tids) < 64:
                for t in sorted(new_tids, key=tids.index):
                    i = tids.index(t)
                    after += (t, tids[i - 1] if i else None)
            else:
                before = None
                for t in tids:
                    if t in new_tids:
                        after += (t, before)
                    before = t
            body["a"] = after
        tgids = frame.tgids
        tg_keys, tg_values = list(tgids), list(tgids.values())
        if tg_keys != self._tg_keys or tg_values != self._tg_values:
            old_tg = dict(zip(self._tg_keys, self._tg_values, strict=True))
            # (tid, tgid) pairs new or changed, and tids no longer listed
            regrouped = list(filterfalse(old_tg.items().__contains__, tgids.items()))
            if regrouped:
                body["tg"] = list(chain.from_iterable(regrouped))
            removed = list(filterfalse(tgids.__contains__, old_tg))
            if removed:
                body["tgr"] = removed
            self._tg_keys, self._tg_values = tg_keys, tg_values
        self._recs = tasks
        self._order = tids

    def close(self, reason: str = "stopped") -> None:
        """Write the end line (the mark of a clean end) and close the file."""
        if self.closed:
            return
        self.closed = True
        try:
            end = {"end": self.frames, "reason": reason, "tw": time.time()}
            data = _DUMPS(end).encode() + b"\n"
            if self._z is not None:
                self._write_all(self._z.compress(data) + self._z.flush(zlib.Z_FINISH))
                self._z_used = True
            else:
                self._write_all(data)
        finally:
            os.close(self._fd)

    def abandon(self) -> None:
        """Close the file without an end line (as if the recorder died)."""
        if not self.closed:
            self.closed = True
            os.close(self._fd)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close("stopped" if exc[0] is None else "error")


@dataclass(frozen=True, slots=True)
class _Clock:
    """Where a layout keeps the fields that move for a task that does nothing: ac_etime and
    ac_tgetime, µs since the task (its group) started, and the start times ac_btime and
    ac_btime64, which the kernel derives from now - etime in whole seconds: they wobble by a
    second whenever the sampling instant's fraction of a second passes the task's start's,
    for every thread of a pool started in one burst at once. Listed as the reader's
    ``_Layout.clock_names`` lists them (ages, then start times; none without ages).

    Field places are indexes into ``TaskStats.values()``.
    """

    key: str
    fields: tuple[int, ...]
    names: tuple[str, ...]  # the field names of ``fields``
    codes: tuple[str, ...]  # their array typecodes
    ages: int  # how many of them are ages (``ck``); the rest are start times (``cs``)


def _clock_tables() -> dict[type[TaskStats], _Clock]:
    tables: dict[type[TaskStats], _Clock] = {}
    for version in abi.LAYOUTS:
        for newer in (False, True):
            klass = layout_class(version, newer)
            names = _raw_names([(n, c) for n, c, _ in klass.layout.fields])
            ages = [f for f in ("ac_etime", "ac_tgetime") if f in names]
            starts = [f for f in ("ac_btime", "ac_btime64") if f in names] if ages else []
            clock = ages + starts
            tables[klass] = _Clock(
                key=layout_key(klass),
                fields=tuple(map(names.index, clock)),
                names=tuple(clock),
                codes=tuple(column_code(klass, name) for name in clock),
                ages=len(ages),
            )
    return tables


_CLOCK = _clock_tables()


@dataclass(frozen=True, slots=True)
class _Scan:
    """A frame's records of one layout, in its order: their bytes joined with every clock
    field zeroed (two tasks' records are equal there when only their clock fields moved), and
    each clock field's column as it was (native byte order)."""

    klass: type[TaskStats]
    masked: bytes
    columns: list[bytes]
    numbers: dict[int, int] = field(default_factory=dict)  # see number()

    def ints(self, k: int) -> list[int]:
        """The ``k``-th clock field of every record."""
        return array(_CLOCK[self.klass].codes[k], self.columns[k]).tolist()

    def number(self, k: int) -> int:
        """The ``k``-th clock field's column as one little-endian number (kept: a quiet
        refresh steps from the last frame's)."""
        number = self.numbers.get(k)
        if number is None:
            number = self.numbers[k] = _number(_column(self, None, k))
        return number


def _scan(klass: type[TaskStats], records: list[TaskStats], stage: io.BytesIO) -> _Scan:
    """Join ``records`` (all of ``klass``) into ``stage``, copy out their clock fields and
    zero them. The masked bytes are the stage's own buffer (no copy): writing to the stage
    again copies it first while they are still referenced, so they never change."""
    clock = _CLOCK[klass]
    stage.seek(0)
    stage.writelines(records)
    stage.truncate()
    with stage.getbuffer() as joined:
        columns = [column_bytes(klass, joined, name) for name in clock.names]
        for name in clock.names:
            zero_column(klass, joined, name)
    return _Scan(klass, stage.getvalue(), columns)


def _change_entry(
    tid: int, old: tuple[Any, ...], new: tuple[Any, ...], comm_at: int | None
) -> list[Any] | None:
    """A task's ``c`` entry, ``[tid, index, step, ...]`` for each value that moved (the
    command name's new text at ``comm_at``), or None when none did."""
    entry: list[Any] = [tid]
    for j in compress(range(len(new)), map(ne, old, new)):
        entry += (j, _comm_to_str(new[j]) if j == comm_at else new[j] - old[j])
    return entry if len(entry) > 1 else None


def _runs(news: list[int], olds: list[int | None]) -> list[tuple[int, int | None, int]]:
    """(new index, old index, length) runs of records consecutive in both frames."""
    runs: list[tuple[int, int | None, int]] = []
    start_new, start_old, length = -1, None, 0
    for i, k in zip(news, olds, strict=True):
        if (
            length
            and k is not None
            and start_old is not None
            and (i == start_new + length and k == start_old + length)
        ):
            length += 1
            continue
        if length:
            runs.append((start_new, start_old, length))
        start_new, start_old, length = i, k, 1
    if length:
        runs.append((start_new, start_old, length))
    return runs


def _differing_runs(
    new: bytes, old: bytes, size: int, runs: list[tuple[int, int | None, int]]
) -> list[int]:
    """Which records of the runs (counted from the first run's first, in order) differ in
    ``new`` from ``old`` (an old index of None: not in ``old``). See ``_differing``."""
    out: list[int] = []
    at = 0  # where the run starts in the output
    with memoryview(new) as view:
        for i, k, length in runs:
            if k is None:
                out += range(at, at + length)
            else:
                out += map(at.__add__, _differing(view, old, size, i, k, length))
            at += length
    return out


_BLOCK = 16  # records compared at once before record by record


def _differing(view: memoryview, old: bytes, size: int, i: int, k: int, n: int) -> list[int]:
    """Which of the ``n`` records at ``view[i]`` and ``old[k]`` differ (0-based), in order:
    all at once (one memcmp), then blocks of ``_BLOCK`` records, then each record of a block
    that differs; each stage one C loop of memcmps over views (nothing copied)."""
    here, there = i * size, k * size
    end = here + n * size
    if old.startswith(view[here:end], there):
        return []
    step = _BLOCK * size
    ends = map(min, range(here + step, end + step, step), repeat(end))
    blocks = map(view.__getitem__, map(slice, range(here, end, step), ends))
    same = map(old.startswith, blocks, range(there, there + n * size, step))
    firsts = compress(range(0, n, _BLOCK), map(not_, same))
    records = [r for first in firsts for r in range(first, min(first + _BLOCK, n))]
    offsets = [r * size for r in records]
    cuts = map(slice, map(here.__add__, offsets), map((here + size).__add__, offsets))
    same = map(old.startswith, map(view.__getitem__, cuts), map(there.__add__, offsets))
    return list(compress(records, map(not_, same)))


def _column(scan: _Scan, places: list[int] | None, k: int) -> bytes:
    """Clock field ``k`` (an index into the layout's clock fields) of the records at
    ``places`` of the frame (None: all, in order), little-endian."""
    if places is None and not _BIG_ENDIAN:
        return scan.columns[k]
    column = array(_CLOCK[scan.klass].codes[k], scan.columns[k])
    if places is not None:
        column = array(column.typecode, map(column.__getitem__, places))
    return _file_bytes(column, column.typecode)


def _number(column: bytes) -> int:
    """A little-endian column as one number."""
    return int.from_bytes(column, "little")


def _step(new: bytes, old: bytes) -> bytes:
    """``new - old`` with both read as one little-endian number, modulo its size: each
    task's step when no lane borrows (ages only grow), and exact whatever happens."""
    size = len(new)
    step = int.from_bytes(new, "little") - int.from_bytes(old, "little")
    return (step & ((1 << 8 * size) - 1)).to_bytes(size, "little")


_LANE = 64  # bits: an age's


def _age_code(new: list[int], old: list[int], lengths: list[int]) -> bytes:
    """A ``ck`` row's bytes before packing, from its columns (ac_etime's, then ac_tgetime's
    when the layout has it), each as one little-endian number ``lengths`` bytes long: their
    steps (as ``_step`` takes them), the first column's taken as each task's step less the
    step of the task before it, the second's as its steps less the first's. Tasks sampled
    one after another aged alike, a thread and its group alike: mostly zeros, which zlib
    compresses in half the time the steps took. Each is a bijection on numbers modulo
    2^(8 x length), so exact whatever the values (``_steps_of_code`` undoes it)."""
    low = (1 << 8 * lengths[0]) - 1
    lead = (new[0] - old[0]) & low
    parts = [((lead - (lead << _LANE)) & low).to_bytes(lengths[0], "little")]
    if len(new) > 1:
        rest = (new[1] - old[1] - lead) & ((1 << 8 * lengths[1]) - 1)
        parts.append(rest.to_bytes(lengths[1], "little"))
    return b"".join(parts)


def _steps_of_code(data: bytes, first: int) -> bytes:
    """The steps ``_age_code`` coded into ``data`` (``first``: the first column's length)."""
    bits = 8 * first
    low = (1 << bits) - 1
    code = int.from_bytes(data, "little")
    lead = diffs = code & low
    shift = _LANE
    while shift < bits:  # running sums of the differences, doubling the span each time
        lead = (lead + (lead << shift)) & low
        shift *= 2
    steps = code - diffs + lead + (lead << bits)
    return (steps & ((1 << 8 * len(data)) - 1)).to_bytes(len(data), "little")


def _unstep(old: bytes, step: bytes) -> bytes:
    """What ``_step`` took from ``old`` to make ``step``: the new bytes."""
    size = len(old)
    new = int.from_bytes(old, "little") + int.from_bytes(step, "little")
    return (new & ((1 << 8 * size) - 1)).to_bytes(size, "little")


def _state_column(
    tasks: dict[int, TaskStats],
    edits: dict[int, list[Any]],
    joined: bytearray,
    klass: type[TaskStats],
    name: str,
    place: int,
    code: str,
) -> bytes:
    """Field ``name`` (at ``place`` in the values) of every task held, edits pending
    included, as a column coded ``code`` (little-endian): what a ``ck`` step was taken from.
    ``joined``: the tasks' records."""
    column = array(column_code(klass, name), column_bytes(klass, joined, name))
    if edits:
        for at, tid in enumerate(tasks):
            raw = edits.get(tid)
            if raw is not None:
                column[at] = raw[place]
    return _file_bytes(column, code)


def _file_bytes(column: array[int], code: str) -> bytes:
    """A column as a file codes it: typecode ``code``, little-endian."""
    if column.typecode != code:
        column = array(code, column)
    if _BIG_ENDIAN:
        column.byteswap()
    return column.tobytes()


def _local_column(klass: type[TaskStats], name: str, code: str, packed: bytes) -> array[int]:
    """A column as a file codes it (``code``, little-endian), in this tsmon's typecode."""
    column = array(code, packed)
    if _BIG_ENDIAN:
        column.byteswap()
    local = column_code(klass, name)
    return column if local == code else array(local, column)


@dataclass(frozen=True, slots=True)
class _ClockRow:
    """A packed row of clock fields in a delta: its key, which of a layout's clock fields
    it holds (indexes into ``_Layout.clock_codes``), whether as steps, whether coded (see
    ``_age_code``)."""

    key: str
    fields: range
    stepped: bool
    coded: bool


def _packed_columns(
    lay: _Layout, obj: Mapping[str, Any], rows: list[_ClockRow], count: int
) -> Iterator[tuple[_ClockRow, str, str, int, bytes]]:
    """The columns of the packed rows of ``rows`` that a delta ``obj`` holds, for ``count``
    tasks (a coded row decoded): (row, code, name, place, little-endian bytes) per clock
    field this tsmon knows (else _Corrupt for a bad row)."""
    places = lay.clock_places  # None: a field this tsmon does not know
    for row in rows:
        if row.key not in obj:
            continue
        widths = [array(lay.clock_codes[k]).itemsize for k in row.fields]
        data = _unpack(obj[row.key], count * sum(widths))
        if row.coded and data:
            data = _steps_of_code(data, count * widths[0])
        at = 0
        for k, width in zip(row.fields, widths, strict=True):
            packed = data[at : at + count * width]
            at += count * width
            place = places[k]
            if place is not None:
                yield row, lay.clock_codes[k], lay.clock_names[k], place, packed


def _rewrite_records(
    tasks: dict[int, TaskStats],
    edits: dict[int, list[Any]],
    klass: type[TaskStats],
    columns: list[tuple[int, str, array[int]]],
    joined: bytearray,
) -> None:
    """Write ``columns`` ((place, name, values in the tasks' order)) into every record at
    once (``joined``: the records; no Python step per task), and into the edits pending."""
    if not columns:
        return
    for _, name, column in columns:
        write_column(klass, joined, name, column)
    size = klass.layout.size
    with memoryview(joined) as view:
        records = list(map(klass, map(view.__getitem__, record_slices(len(tasks), size))))
    if edits:
        for at, tid in enumerate(tasks):
            raw = edits.get(tid)
            if raw is not None:
                for place, _, column in columns:
                    raw[place] = column[at]
    tasks.update(zip(list(tasks), records, strict=True))


def _pack(columns: list[bytes]) -> str:
    """``ck`` text: the columns joined, zlib-compressed (level 1), base64.

    Packed, not JSON numbers: writing ~8,000 numbers a frame at 2,090 threads cost ~2 ms,
    this ~0.2. Steps, not ages, since schema 3, coded since 4 (``_age_code``): a quiet
    task's 16 bytes of ages compressed to ~4.6, its steps to ~2.3, the code to ~1.4, and a
    gzip file's stream, which cannot shrink them further, has less to pass through.
    """
    return b64encode(zlib.compress(b"".join(columns), 1)).decode("ascii")


def _unpack(text: object, size: int) -> bytes:
    """What ``_pack`` packed, when it is ``size`` bytes (else _Corrupt)."""
    if type(text) is not str:
        raise _Corrupt
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(b64decode(text, validate=True), size + 1)  # no bombs
    except (ValueError, zlib.error):
        raise _Corrupt from None
    if len(data) != size or not inflate.eof or inflate.unused_data:
        raise _Corrupt
    return data


_BIG_ENDIAN = sys.byteorder == "big"


# --- reading: line sources -----------------------------------------------------------------

Position = Any  # an int (plain) or (member offset, bytes into the member) (gzip)


class _Source:
    """Lines of a file with resumable positions."""

    truncated = False
    damaged: str | None = None

    @abstractmethod
    def seek(self, pos: Position) -> None:
        """Continue reading at a position readline() returned."""

    @abstractmethod
    def readline(self) -> tuple[Position, bytes | None] | None:
        """(position, line without its newline), (position, None) if overlong, None at the end."""

    @abstractmethod
    def close(self) -> None:
        """Close the file."""


class _PlainSource(_Source):
    def __init__(self, path: str, max_line: int) -> None:
        self._f: IO[bytes] = open(path, "rb", buffering=_CHUNK)  # noqa: SIM115
        self._pos = 0
        self._max = max_line

    def seek(self, pos: Position) -> None:
        self._f.seek(pos)
        self._pos = pos

    def readline(self) -> tuple[Position, bytes | None] | None:
        start = self._pos
        line = self._f.readline(self._max + 1)
        if not line:
            return None
        self._pos += len(line)
        if line.endswith(b"\n"):
            return start, line[:-1]
        if len(line) <= self._max:
            self.truncated = True  # the last line has no newline: the writer died mid-line
            return None
        while True:  # an overlong line: skip to its end
            more = self._f.readline(_CHUNK)
            self._pos += len(more)
            if not more or more.endswith(b"\n"):
                return start, None

    def close(self) -> None:
        self._f.close()


class _GzipSource(_Source):
    """Decompresses gzip members one after the other; a position is (member offset, offset)."""

    def __init__(self, path: str, max_line: int) -> None:
        self._f: IO[bytes] = open(path, "rb")  # noqa: SIM115
        self._max = max_line
        self.seek((0, 0))

    def seek(self, pos: Position) -> None:
        member, skip = pos
        self._f.seek(member)
        self._comp = member  # file offset of the next compressed byte to read
        self._pending = b""  # compressed bytes read but not yet fed
        self._d: Any = zlib.decompressobj(31)
        self._member = member
        self._mout = 0  # decompressed bytes of this member produced so far
        self._buf = bytearray()
        self._segs: list[tuple[int, int, int]] = [(0, member, 0)]  # (buf index, member, offset)
        self._eof = False
        self._overlong = False
        while skip > 0:
            if len(self._buf) >= skip:
                self._consume(skip)
                break
            skip -= len(self._buf)
            self._consume(len(self._buf))
            if not self._fill():
                break

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        segs = [(i - n, m, off) for i, m, off in self._segs]
        # keep the last segment starting at or before 0 and those after
        first = 0
        for k, (i, _, _) in enumerate(segs):
            if i <= 0:
                first = k
        i0, m0, off0 = segs[first]
        segs = [(0, m0, off0 - i0), *segs[first + 1 :]]
        self._segs = segs

    def _position(self, index: int) -> Position:
        seg = self._segs[0]
        for s in self._segs:
            if s[0] <= index:
                seg = s
            else:
                break
        return (seg[1], seg[2] + index - seg[0])

    def _fill(self) -> bool:
        """Decompress more into the buffer; False at the end of the data."""
        if self._eof:
            return False
        while True:
            if not self._pending:
                self._pending = self._f.read(_CHUNK)
                if not self._pending:
                    self._eof = True
                    return False
            data = self._pending
            try:
                out = self._d.decompress(data, _CHUNK * 4)
            except zlib.error:
                self.damaged = f"compressed data damaged near byte {self._comp}"
                self._eof = True
                return False
            used = len(data) - len(self._d.unconsumed_tail) - len(self._d.unused_data)
            self._comp += used
            if out:
                self._buf += out
                self._mout += len(out)
            if self._d.eof:
                self._pending = self._d.unused_data
                self._start_member()
            else:
                self._pending = self._d.unconsumed_tail
            if out:
                return True

    def _start_member(self) -> None:
        rest = self._pending
        while rest and rest[:1] == b"\0":  # padding some tools leave between members
            rest = rest[1:]
            self._comp += 1
        self._pending = rest
        self._d = zlib.decompressobj(31)
        self._member = self._comp
        self._mout = 0
        self._segs.append((len(self._buf), self._comp, 0))

    def tell(self) -> Position:
        """The position of the next line (a member boundary is the next member's start)."""
        if not self._buf:
            self._fill()
        return self._position(0)

    def readline(self) -> tuple[Position, bytes | None] | None:
        if not self._buf:
            self._fill()
        scanned = 0
        while True:
            nl = self._buf.find(b"\n", scanned)
            if nl >= 0:
                pos = self._position(0)
                line = bytes(self._buf[:nl])
                self._consume(nl + 1)
                if self._overlong:
                    self._overlong = False
                    return pos, None
                return pos, line
            scanned = len(self._buf)
            if scanned > self._max:
                self._overlong = True
                keep = self._position(0)
                self._consume(scanned)
                self._segs[0] = (0, keep[0], keep[1])
                scanned = 0
            if not self._fill():
                if self._buf:
                    self.truncated = True
                return None

    def close(self) -> None:
        self._f.close()


def _open_source(path: str, max_line: int) -> _Source:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return _GzipSource(path, max_line)
    return _PlainSource(path, max_line)


def read_header(path: str | os.PathLike[str]) -> SessionHeader:
    """The header of a session file (SessionFormatError when it is not one)."""
    source = _open_source(os.fspath(path), _MAX_HEADER)
    try:
        first = source.readline()
        line = first[1] if first else None
        if first and line is None:
            raise SessionFormatError(
                f"{os.fspath(path)}: not a tsmon session (first line too long)"
            )
        return _parse_header(line, os.fspath(path))
    finally:
        source.close()


# --- reading: frames -----------------------------------------------------------------------

# The first key of a line names it; frame lines start with their number and times.
_KIND = re.compile(rb'\s*\{\s*"(key|delta|layout|end)"\s*:\s*(\d+)?')
_NUMBER = rb"(-?[0-9][0-9.eE+-]*|NaN|-?Infinity)"
_TIMES = re.compile(
    rb'\s*\{\s*"(key|delta)"\s*:\s*(\d+)\s*,\s*"tm"\s*:\s*'
    + _NUMBER
    + rb'\s*,\s*"tw"\s*:\s*'
    + _NUMBER
)


@dataclass(slots=True)
class _HeldAges:
    """Ages of a seek's tasks not yet written into their records: per clock field (its place
    in the values), a column indexed by each tid's lane."""

    lay: _Layout
    index: dict[int, int]  # tid -> lane
    columns: dict[int, array[int]]  # place -> ages, in the local typecode

    @property
    def places(self) -> frozenset[int]:
        return frozenset(self.columns)

    def column(self, place: int, tasks: dict[int, TaskStats], code: str) -> bytes:
        """The ages at ``place`` of ``tasks`` in their order, coded ``code``, little-endian."""
        column = self.columns[place]
        lanes = map(self.index.__getitem__, tasks)
        return _file_bytes(array(column.typecode, map(column.__getitem__, lanes)), code)

    def take(self, tid: int, record: TaskStats) -> bool:
        """Hold a new task's ages (from its record) in a lane of its own; False when its
        layout is another."""
        if type(record) is not self.lay.klass:
            return False
        values = record.values()
        for place, column in self.columns.items():
            self.index[tid] = len(column)  # every column has as many lanes
            column.append(values[place])
        return True


class _Corrupt(Exception):
    pass


_EOF = object()
_STOP = object()
_APPLIED = object()
_NOTHING = object()


class SessionReader:
    """Reads a session file frame by frame, and seeks by frame number or time.

    ``read()`` returns the next frame, rebuilt exactly as it was recorded. Keyframe positions
    and frame times are indexed as lines go by (while reading or while scanning ahead for a
    seek), so a second seek anywhere costs at most one keyframe interval. Damage is tolerated:
    a truncated last line ends the replay after the last complete frame; a corrupt line is
    skipped and counted, together with the frames after it that depend on it (up to the next
    keyframe).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_line: int = MAX_LINE) -> None:
        self.path = os.fspath(path)
        self._max_line = max_line
        src = _open_source(self.path, max_line)
        try:
            first = src.readline()
            if first is not None and first[1] is None:
                raise SessionFormatError(f"{self.path}: not a tsmon session (first line too long)")
            self.header = _parse_header(first[1] if first else None, self.path)
            self._layouts: dict[str, _Layout] = {}
            self._by_class: dict[type[TaskStats], _Layout] = {}
            for key, fields in self.header.layouts.items():
                try:
                    self._register(key, fields)
                except ValueError as exc:
                    raise SessionFormatError(f"{self.path}: bad session header ({exc})") from None
            assert first is not None
            self._body: Position = self._after(src, first[0], first[1] or b"")
        except BaseException:
            src.close()
            raise
        self._src = src
        self._scan_src: _Source | None = None
        self._default = self.header.default_layout
        # index: frames seen (number, t_mono, t_wall) and keyframes (number, position)
        self._frame_no = array("q")
        self._t_mono = array("d")
        self._t_wall = array("d")
        self._keys: list[int] = []
        self._key_pos: list[Position] = []
        self._frontier: Position = self._body  # everything before it is indexed
        self._done = False
        self.end: dict[str, Any] | None = None
        self._bad_lines: set[Position] = set()
        self._skipped: set[int] = set()
        # the cursor: state of the last frame rebuilt
        self._cursor: Position = self._body
        self._src_at: Position = self._body
        self._state_no: int | None = None
        self._tasks: dict[int, TaskStats] = {}
        self._tgids: dict[int, int] = {}
        self._edits: dict[int, list[Any]] = {}  # records changed since the last frame built
        self._held: _HeldAges | None = None  # ages a seek applied, not yet in the records
        self._cmd: dict[int, str] = {}
        self._da: bool | None = self.header.delayacct
        self._last_no = -1
        self._peeked: tuple[Position, bytes | None, Position] | None = None
        self._pending: RawFrame | None = None  # rebuilt by seek(), served by read()

    @staticmethod
    def _after(src: _Source, pos: Position, line: bytes) -> Position:
        if isinstance(src, _GzipSource):
            return src.tell()
        return int(pos) + len(line) + 1

    # -- facts ------------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames in the file (scans it to the end the first time)."""
        self.scan()
        return self._frame_no[-1] + 1 if self._frame_no else 0

    @property
    def frames_indexed(self) -> int:
        """Frames indexed so far (without scanning further)."""
        return len(self._frame_no)

    @property
    def complete(self) -> bool:
        """The file was indexed to its end."""
        return self._done

    @property
    def ended_cleanly(self) -> bool:
        """The recording has its end line (indexes the whole file the first time)."""
        self.scan()
        return self.end is not None

    @property
    def truncated(self) -> bool:
        """The last line was cut short (the recorder died mid-write)."""
        return self._src.truncated or bool(self._scan_src and self._scan_src.truncated)

    @property
    def corrupt_lines(self) -> int:
        """Lines that could not be read, so far."""
        return len(self._bad_lines)

    @property
    def skipped_frames(self) -> int:
        """Sound delta frames not replayed because a frame before them was lost, so far."""
        return len(self._skipped)

    @property
    def damaged(self) -> str | None:
        """Why reading stopped early in compressed data, if it did."""
        return self._src.damaged or (self._scan_src.damaged if self._scan_src else None)

    def problems(self) -> list[str]:
        """One line per problem found so far (empty for a sound file)."""
        out: list[str] = []
        if self.truncated:
            out.append(
                "the recording ends with a truncated line (the recorder stopped mid-write); "
                "every complete frame is replayed"
            )
        elif self._done and self.end is None and not self.damaged:
            out.append("the recording has no end line (the recorder did not stop cleanly)")
        if self.damaged:
            out.append(self.damaged)
        if self._bad_lines:
            n = len(self._bad_lines)
            out.append(f"{n} corrupt line{'s' * (n != 1)} skipped")
        if self._skipped:
            n = len(self._skipped)
            out.append(
                f"{n} frame{'s' * (n != 1)} after a corrupt one skipped "
                "(they only hold changes; replay resumes at the next keyframe)"
            )
        return out

    def times(self) -> tuple[array[float], array[float]]:
        """t_mono and t_wall of the frames indexed so far, by order (see ``frame_numbers``)."""
        return self._t_mono, self._t_wall

    def frame_numbers(self) -> array[int]:
        """Numbers of the frames indexed so far."""
        return self._frame_no

    def frame_time(self, number: int) -> tuple[float, float] | None:
        """(t_mono, t_wall) of an indexed frame."""
        i = bisect.bisect_left(self._frame_no, number)
        if i < len(self._frame_no) and self._frame_no[i] == number:
            return self._t_mono[i], self._t_wall[i]
        return None

    @property
    def position(self) -> int:
        """Number of the frame ``read()`` returned last (-1 before the first)."""
        return self._last_no

    # -- indexing -------------------------------------------------------------------------

    def _note(self, pos: Position, next_pos: Position, line: bytes | None) -> None:
        """Index a line at the frontier (each line once, in file order)."""
        if pos != self._frontier:
            return
        self._frontier = next_pos
        if line is None:
            self._bad_lines.add(pos)
            return
        m = _TIMES.match(line)
        if m is not None:
            no = int(m[2])
            if self._frame_no and no <= self._frame_no[-1]:
                self._bad_lines.add(pos)
                return
            try:
                tm, tw = float(m[3]), float(m[4])
            except ValueError:
                tm = tw = _NAN
            self._frame_no.append(no)
            self._t_mono.append(tm)
            self._t_wall.append(tw)
            if m[1] == b"key":
                self._keys.append(no)
                self._key_pos.append(pos)
            return
        p = _KIND.match(line)
        kind = p[1] if p else None
        if kind == b"layout":
            self._layout_line(pos, line)
        elif kind == b"end":
            try:
                obj = _LOADS(line)
                if isinstance(obj, dict):
                    self.end = obj
            except ValueError:
                self._bad_lines.add(pos)
        else:
            self._bad_lines.add(pos)

    def _register(self, key: str, fields: object) -> None:
        lay = _Layout(key, fields)
        self._layouts[key] = lay
        self._by_class[lay.klass] = lay

    def _layout_line(self, pos: Position, line: bytes) -> None:
        try:
            obj = _LOADS(line)
            key = obj["layout"]
            if key not in self._layouts:
                self._register(key, obj["fields"])
        except (ValueError, KeyError, TypeError):
            self._bad_lines.add(pos)

    def scan(self, until: int | None = None) -> None:
        """Index ahead (prefix parsing only) to frame ``until``, or to the end of the file."""
        if self._done:
            return
        if self._frame_no and until is not None and self._frame_no[-1] >= until:
            return
        if self._scan_src is None:
            self._scan_src = _open_source(self.path, self._max_line)
        src = self._scan_src
        src.seek(self._frontier)
        while True:
            got = src.readline()
            if got is None:
                self._done = True
                return
            pos, line = got
            self._note(pos, self._next_pos(src, pos, line), line)
            if until is not None and self._frame_no and self._frame_no[-1] >= until:
                return

    def _next_pos(self, src: _Source, pos: Position, line: bytes | None) -> Position:
        if isinstance(src, _GzipSource):
            return src.tell()
        if line is None:
            return src._pos  # type: ignore[attr-defined]
        return int(pos) + len(line) + 1

    # -- the cursor -----------------------------------------------------------------------

    def rewind(self) -> None:
        """Go back to the first frame."""
        self._set_cursor(self._body)
        self._last_no = -1

    def _set_cursor(self, pos: Position) -> None:
        self._pending = None
        self._cursor = pos
        self._state_no = None
        self._tasks = {}
        self._tgids = {}
        self._edits = {}
        self._held = None

    def seek(self, number: int) -> int:
        """Make ``read()`` return frame ``number`` next (or the first good frame after it).

        Returns the number of the frame that comes next (``frame_count`` at the end). Costs at
        most one keyframe and the deltas after it, once the file is indexed that far.
        """
        number = max(0, number)
        self.scan(until=number)
        if not self._frame_no:
            self.rewind()
            return 0
        number = min(number, self._frame_no[-1])
        pending = self._pending
        if pending is not None and self._state_no == number:
            return number
        self._pending = None
        here = self._state_no if pending is None else None
        if here is None or here != number - 1:
            k = bisect.bisect_right(self._keys, number) - 1
            if number == 0 or k < 0:
                self._set_cursor(self._body)
            elif here is None or not self._keys[k] <= here < number:
                self._set_cursor(self._key_pos[k])
            while self._state_no is None or self._state_no < number - 1:
                got = self._advance(stop_before=number)
                if got is _EOF or got is _STOP:
                    break
        # Rebuild the frame to serve now: it may be lost (a corrupt line), then a later one is.
        frame = self.read()
        if frame is None:
            return self.frame_count
        self._pending = frame
        assert self._state_no is not None
        self._last_no = self._state_no - 1
        return self._state_no

    def seek_time(self, t: float, *, clock: str = "elapsed") -> int:
        """Seek to the last frame at or before time ``t`` (the first frame if none is).

        ``clock``: "elapsed" (seconds since the first frame), "mono" (the recorded monotonic
        clock) or "wall" (seconds since the epoch). Returns the frame number that comes next.
        """
        self.scan()
        if not self._frame_no:
            return self.seek(0)
        if clock == "wall":
            times = self._t_wall
        elif clock in ("mono", "elapsed"):
            times = self._t_mono
            if clock == "elapsed":
                t += self._t_mono[0]
        else:
            raise ValueError(f"unknown clock {clock!r}")
        i = bisect.bisect_right(times, t) - 1
        return self.seek(self._frame_no[max(i, 0)])

    def read(self) -> RawFrame | None:
        """The next frame, or None at the end."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            assert self._state_no is not None
            self._last_no = self._state_no
            return pending
        while True:
            got = self._advance(stop_before=None)
            if got is _EOF:
                return None
            if isinstance(got, RawFrame):
                return got

    def __iter__(self) -> Iterator[RawFrame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def _readline(self) -> tuple[Position, bytes | None, Position] | None:
        """The line at the cursor: (position, line or None if overlong, next position)."""
        peeked = self._peeked
        if peeked is not None and peeked[0] == self._cursor:
            self._peeked = None
            return peeked
        src = self._src
        if self._src_at != self._cursor:
            src.seek(self._cursor)
            self._src_at = self._cursor
        got = src.readline()
        if got is None:
            if self._frontier == self._cursor:
                self._done = True
            return None
        pos, line = got
        nxt = self._next_pos(src, pos, line)
        self._src_at = nxt
        self._note(pos, nxt, line)
        return pos, line, nxt

    def _advance(self, stop_before: int | None) -> object:
        """Read one line at the cursor and apply it.

        Returns the frame (when reading), _EOF, _STOP (a frame at or past ``stop_before``,
        left unread), _APPLIED (a frame applied without building it) or _NOTHING.
        """
        got = self._readline()
        if got is None:
            return _EOF
        pos, line, nxt = got
        # A bad line changes no state: the delta after a lost frame finds its predecessor
        # missing (frame numbers are consecutive) and is skipped until the next keyframe.
        if line is None or pos in self._bad_lines:
            self._cursor = nxt
            return _NOTHING
        m = _KIND.match(line)
        kind = m[1].decode() if m is not None else ""
        if kind not in ("key", "delta"):
            self._cursor = nxt
            if kind == "layout":
                self._layout_line(pos, line)
            return _NOTHING
        no = int(m[2]) if m is not None and m[2] is not None else None
        if no is None:
            self._cursor = nxt
            self._bad_lines.add(pos)
            return _NOTHING
        if stop_before is not None and no >= stop_before:
            self._peeked = (pos, line, nxt)
            return _STOP
        self._cursor = nxt
        if kind == "delta" and self._state_no != no - 1:
            self._skipped.add(no)
            return _NOTHING
        try:
            obj = _LOADS(line)
            if obj[kind] != no:
                raise _Corrupt
            frame = self._apply(obj, kind == "key", materialize=stop_before is None)
        except (
            _Corrupt,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            AttributeError,
            OverflowError,
        ):
            self._bad_lines.add(pos)
            self._set_cursor(nxt)  # the state was changed in part: drop it
            return _NOTHING
        self._state_no = no
        if frame is None:
            return _APPLIED
        self._last_no = no
        return frame

    def _apply(self, obj: dict[str, Any], key: bool, materialize: bool) -> RawFrame | None:
        layouts = self._layouts
        default = layouts.get(self._default) if self._default else None

        def record(values: list[Any], start: int) -> TaskStats:
            first = values[start] if len(values) > start else None
            if type(first) is str:
                return layouts[first].record(values[start + 1 :])
            if default is None:
                raise _Corrupt
            return default.record(values[start:])

        if key:
            entries = obj["tasks"]
            tasks = self._fast_keyframe(entries, default)
            if tasks is None:  # some entry needs the careful path
                tasks = {}
                for entry in entries:
                    tid = entry[0]
                    if type(tid) is not int:
                        raise _Corrupt
                    tasks[tid] = record(entry, 1)
            tgids = _pairs(obj.get("tg", []))
            cmd: dict[int, str] = {}
            if "cmdk" in obj:
                cmd = _cmdlines(obj["cmdk"])
        else:
            # Changes go into the state in place (a failure drops the whole state: the next
            # delta then waits for a keyframe), and records changed since the last frame built
            # stay mutable lists (``edits``) until a frame is built: a seek through many
            # deltas makes each record's tuple once.
            tasks = self._tasks
            tgids = self._tgids
            edits = self._edits
            cmd = self._cmd
            for tid in obj.get("g", ()):
                del tasks[tid]
                edits.pop(tid, None)
            if "ck" in obj or "cs" in obj or "cj" in obj or "e" in obj or "j" in obj:
                self._apply_clock(tasks, edits, obj, defer=not materialize)
            elif self._held is not None:
                self._flush_held(tasks, edits)  # the next ages step from values in c rows
            changed = obj.get("c", ())
            held = self._held
            if (
                changed
                and held is not None
                and not held.places.isdisjoint(chain.from_iterable(map(_FIELDS, changed)))
            ):
                self._flush_held(tasks, edits)  # a change to a clock field itself
            if changed and self._fast_changes(tasks, edits, changed):
                changed = ()
            for entry in changed:
                tid = entry[0]
                old = tasks[tid]
                raw = edits.get(tid)
                if raw is None:
                    raw = edits[tid] = list(old.values())
                ci = _COMM_INDEX[type(old)]
                where = self._by_class.get(type(old))
                local = where.local_index if where is not None else None
                if len(entry) % 2 != 1:
                    raise _Corrupt
                for i in range(1, len(entry), 2):
                    j, v = entry[i], entry[i + 1]
                    if type(j) is not int or j < 0:
                        raise _Corrupt
                    if local is not None:
                        mapped = local[j]
                        if mapped is None:
                            continue  # a field this tsmon does not know
                        j = mapped
                    if j == ci:
                        raw[j] = _comm_to_bytes(v)
                    elif type(v) is int:
                        raw[j] += v
                    else:
                        raise _Corrupt
            for entry in obj.get("n", ()):
                tid = entry[0]
                if type(tid) is not int:
                    raise _Corrupt
                new = record(entry, 1)
                edits.pop(tid, None)
                if self._held is not None and not self._held.take(tid, new):
                    self._flush_held(tasks, edits)  # before a record of another layout joins
                tasks[tid] = new
            if "a" in obj:
                tasks = _place(tasks, obj["a"])
            elif "o" in obj:
                order = obj["o"]
                if len(order) != len(tasks) or set(order) != tasks.keys():
                    raise _Corrupt
                tasks = {t: tasks[t] for t in order}
            if "tg" in obj:
                tgids.update(_pairs(obj["tg"]))
            for tid in obj.get("tgr", ()):
                del tgids[tid]
        cmdlines = _cmdlines(obj["cmd"]) if "cmd" in obj else {}
        exits: list[ExitEvent] = []
        cgroups = {}
        if materialize:  # a frame passed over in a seek needs neither
            exits = [self._exit(x, record) for x in obj.get("exits", ())]
            for path, counts in obj.get("cg", {}).items():
                if len(counts) != 5 or not all(type(c) is int for c in counts):
                    raise _Corrupt
                cgroups[path] = CgroupStats(*counts)
        lost = obj.get("lost", 0)
        tm, tw = obj["tm"], obj["tw"]
        if type(lost) is not int or type(tm) not in (int, float) or type(tw) not in (int, float):
            raise _Corrupt
        if "da" in obj:
            da = obj["da"]
            if da is not None and not isinstance(da, bool):
                raise _Corrupt
        else:
            da = self._da
        self._tasks = tasks
        self._tgids = tgids
        if key:
            self._cmd = cmd
            self._edits = {}
            self._held = None
        self._cmd.update(cmdlines)
        self._da = da
        if not materialize:
            return None
        self._flush_held(tasks, self._edits)
        edits = self._edits
        if edits:
            for tid, raw in edits.items():
                tasks[tid] = type(tasks[tid]).from_values(raw)
            self._edits = {}
        return RawFrame(
            t_mono=float(tm),
            t_wall=float(tw),
            tasks=dict(tasks),
            tgids=dict(tgids),
            exits=exits,
            lost=lost,
            cmdlines=cmdlines,
            cgroups=cgroups,
        )

    def _apply_clock(
        self,
        tasks: dict[int, TaskStats],
        edits: dict[int, list[Any]],
        obj: dict[str, Any],
        *,
        defer: bool = False,
    ) -> None:
        """Apply the ``ck`` and ``cs`` rows (or schema 2's ``cj``, schema 1's ``e`` and ``j``
        rows): the clock fields of the tasks that stayed."""
        lay = self._layouts[obj["ek"]]
        klass = lay.klass
        primary, jitter = lay.clock
        if not primary or ("cj" in obj and self.header.schema >= 4):
            raise _Corrupt
        packed = self._clock_rows(lay)
        if defer and self.header.schema >= 3 and not ("cj" in obj or "e" in obj or "j" in obj):
            self._hold_ages(tasks, edits, lay, obj, packed)
            return
        self._flush_held(tasks, edits)
        if "ck" in obj or "cj" in obj or "cs" in obj:
            self._apply_columns(tasks, edits, lay, obj, packed)
        for name, fields in (("e", primary), ("j", primary + jitter)):
            rows = obj.get(name)
            if not rows:
                continue
            width = 1 + len(fields)
            if len(rows) % width or not set(map(type, rows)) <= _INT_ONLY:
                raise _Corrupt
            if name == "e" and len(primary) == 2 and None not in primary:
                self._apply_aged(tasks, edits, klass, primary, rows)  # the common case
                continue
            groups = [(0, fields[: len(primary)]), (len(primary), fields[len(primary) :])]
            tid = 0
            for i in range(0, len(rows), width):
                tid += rows[i]
                old = tasks[tid]
                if type(old) is not klass:
                    raise _Corrupt
                raw = edits.get(tid)
                if raw is None:
                    raw = edits[tid] = list(old.values())
                for at, group in groups:
                    if not group:
                        continue
                    first = rows[i + 1 + at]
                    for k, j in enumerate(group):
                        if j is not None:  # None: a field this tsmon does not know
                            raw[j] = first if k == 0 else first + rows[i + 1 + at + k]

    @staticmethod
    def _fast_keyframe(entries: list[Any], lay: _Layout | None) -> dict[int, TaskStats] | None:
        """A keyframe's tasks when all are in the default layout, read as written: checked in
        one pass over every value instead of record by record. None when that does not hold.
        """
        if lay is None or lay.mapping is not None or not entries:
            return None
        if set(map(len, entries)) != {lay.size + 1} or str in set(map(_second_type, entries)):
            return None  # some entry names its layout
        ci = lay.ci
        if ci is not None:
            at = ci + 1
            for entry in entries:
                entry[at] = _comm_to_bytes(entry[at])
        if not set(map(type, chain.from_iterable(entries))) <= _INT_BYTES:
            raise _Corrupt  # bytes come only from the command names just converted
        values = itemgetter(slice(1, None))
        klass = lay.klass
        made = map(klass.from_values, map(values, entries))
        tasks = dict(zip(map(itemgetter(0), entries), made, strict=True))
        if len(tasks) != len(entries):
            raise _Corrupt  # a tid twice
        return tasks

    def _fast_changes(
        self, tasks: dict[int, TaskStats], edits: dict[int, list[Any]], changed: list[Any]
    ) -> bool:
        """Apply ``c`` entries that are numbers only, in layouts this tsmon reads as written.

        False (nothing applied) when some entry needs the careful path.
        """
        if any(lay.local_index is not None for lay in self._layouts.values()):
            return False
        if set(map(type, chain.from_iterable(changed))) != _INT_ONLY:
            return False  # a command name, or garbage
        if not all(map(_odd, map(len, changed))):
            raise _Corrupt
        if min(chain.from_iterable(map(_FIELDS, changed)), default=0) < 0:
            raise _Corrupt
        get = edits.get
        for entry in changed:
            tid = entry[0]
            raw = get(tid)
            if raw is None:
                raw = edits[tid] = list(tasks[tid].values())
            pairs = iter(entry)
            next(pairs)
            for j, v in zip(pairs, pairs, strict=True):
                raw[j] += v  # an index past the record raises IndexError: corrupt
        return True

    @staticmethod
    def _apply_aged(
        tasks: dict[int, TaskStats],
        edits: dict[int, list[Any]],
        klass: type[TaskStats],
        primary: tuple[int | None, ...],
        rows: list[int],
    ) -> None:
        """``e`` rows of a layout with ac_etime and ac_tgetime: [tid step, etime, tge - etime]."""
        e, t = primary
        assert e is not None and t is not None
        tids = list(accumulate(rows[0::3]))
        olds = list(map(tasks.__getitem__, tids))
        if len(rows) % 3 or set(map(type, olds)) != {klass}:
            raise _Corrupt
        get = edits.get
        for tid, old, etime, offset in zip(tids, olds, rows[1::3], rows[2::3], strict=True):
            raw = get(tid)
            if raw is None:
                raw = edits[tid] = list(old.values())
            raw[e] = etime
            raw[t] = etime + offset

    def _clock_rows(self, lay: _Layout) -> list[_ClockRow]:
        """The packed clock rows of this file's schema. ``ck``: the ages (steps since schema
        3, coded since 4: see ``_age_code``); start times in ``cj`` (schema 2, as they are) or
        ``cs`` (schema 4, steps); schema 3 wrote them in ``c``."""
        schema, split = self.header.schema, len(lay.clock[0])
        starts = range(split, len(lay.clock_codes))
        return [
            _ClockRow("ck", range(split), stepped=schema >= 3, coded=schema >= 4),
            _ClockRow("cs" if schema >= 4 else "cj", starts, stepped=schema >= 4, coded=False),
        ]

    def _hold_ages(
        self,
        tasks: dict[int, TaskStats],
        edits: dict[int, list[Any]],
        lay: _Layout,
        obj: dict[str, Any],
        rows: list[_ClockRow],
    ) -> None:
        """``ck``/``cs`` rows read while seeking: the clock fields go into ``_held`` (columns
        by tid), not into the records; a frame built later writes them once (see
        ``_flush_held``)."""
        klass = lay.klass
        held = self._held
        if held is not None and held.lay is not lay:
            self._flush_held(tasks, edits)
            held = None
        if set(map(type, tasks.values())) != {klass}:
            raise _Corrupt
        count = len(tasks)
        joined: bytearray | None = None  # the records, for a field not held yet
        columns: dict[int, array[int]] = {}
        for _, code, name, place, step in _packed_columns(lay, obj, rows, count):
            if held is not None and place in held.columns:
                values = held.column(place, tasks, code)
            else:
                if joined is None:
                    joined = bytearray().join(tasks.values())
                values = _state_column(tasks, edits, joined, klass, name, place, code)
            columns[place] = _local_column(klass, name, code, _unstep(values, step))
        if held is not None:  # fields held that did not move: their lanes in the tasks' order
            lanes = list(map(held.index.__getitem__, tasks))
            for place, column in held.columns.items():
                if place not in columns:
                    columns[place] = array(column.typecode, map(column.__getitem__, lanes))
        self._held = _HeldAges(lay, dict(zip(tasks, range(count), strict=True)), columns)

    def _flush_held(self, tasks: dict[int, TaskStats], edits: dict[int, list[Any]]) -> None:
        """Write the ages held into the records (and the edits pending), in one pass."""
        held = self._held
        if held is None:
            return
        self._held = None
        klass = held.lay.klass
        if not tasks or not held.columns:
            return
        if set(map(type, tasks.values())) != {klass}:
            raise _Corrupt
        lanes = list(map(held.index.__getitem__, tasks))
        names = dict(zip(held.lay.clock_places, held.lay.clock_names, strict=True))
        ordered = [
            (place, names[place], array(column.typecode, map(column.__getitem__, lanes)))
            for place, column in held.columns.items()
        ]
        _rewrite_records(tasks, edits, klass, ordered, bytearray().join(tasks.values()))

    @staticmethod
    def _apply_columns(
        tasks: dict[int, TaskStats],
        edits: dict[int, list[Any]],
        lay: _Layout,
        obj: Any,
        rows: list[_ClockRow],
    ) -> None:
        """The packed clock rows (see ``_clock_rows``): every task's ages and, when they
        wobbled, start times, in the order held (see ``SessionWriter``).

        The records take them in bulk: joined, written a column at a time, cut back into
        records (no Python step per task); a task with edits pending gets them there too.
        """
        klass = lay.klass
        if set(map(type, tasks.values())) != {klass}:
            raise _Corrupt
        joined = bytearray().join(tasks.values())
        count = len(tasks)
        columns: list[tuple[int, str, array[int]]] = []
        for row, code, name, place, packed in _packed_columns(lay, obj, rows, count):
            if row.stepped:
                ages = _state_column(tasks, edits, joined, klass, name, place, code)
                packed = _unstep(ages, packed)
            columns.append((place, name, _local_column(klass, name, code, packed)))
        _rewrite_records(tasks, edits, klass, columns, joined)

    @staticmethod
    def _exit(x: list[Any], record: Any) -> ExitEvent:
        tid, tgid, lost, tm, stats, group = x
        if type(tid) is not int or (tgid is not None and type(tgid) is not int):
            raise _Corrupt
        if type(lost) is not int or type(tm) not in (int, float):
            raise _Corrupt
        return ExitEvent(
            tid=tid,
            stats=record(stats, 0),
            tgid=tgid,
            group_stats=record(group, 0) if group is not None else None,
            lost=lost,
            t_mono=float(tm),
        )

    # -- what the replay backend asks ---------------------------------------------------------

    @property
    def delayacct(self) -> bool | None:
        """Whether delay accounting was on at the current frame."""
        return self._da

    def cmdline(self, tgid: int) -> str | None:
        """A process's command line, as recorded up to the current frame."""
        return self._cmd.get(tgid)

    def known_cmdlines(self) -> dict[int, str]:
        """Command lines of the processes known at the current frame."""
        return dict(self._cmd)

    def close(self) -> None:
        """Close the file."""
        self._src.close()
        if self._scan_src is not None:
            self._scan_src.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_COMM_INDEX: dict[type[TaskStats], int | None] = {
    layout_class(v, n): _comm_index([(a, c) for a, c, _ in abi.LAYOUTS[v].fields])
    for v in abi.LAYOUTS
    for n in (False, True)
}


def _frame_no_of(line: bytes) -> int | None:
    m = _KIND.match(line)
    return int(m[2]) if m is not None and m[2] is not None and m[1] in (b"key", b"delta") else None


_FIELDS = itemgetter(slice(1, None, 2))  # the field indexes of a ``c`` entry


def _second_type(entry: list[Any]) -> type:
    """The type of an entry's second item (a layout key when it is a string)."""
    return type(entry[1]) if len(entry) > 1 else type(None)


def _odd(n: int) -> bool:
    return n % 2 == 1


def _place(tasks: dict[int, TaskStats], after: list[Any]) -> dict[int, TaskStats]:
    """Move new tasks (appended last) to where they belong: each right after a given tid."""
    if len(after) % 2:
        raise _Corrupt
    new = after[0::2]
    if len(set(new)) != len(new):
        raise _Corrupt
    moving = set(new)
    order = list(filterfalse(moving.__contains__, tasks))
    # In the order the writer listed them, so a tid's predecessor is always placed already.
    for tid, before in zip(new, after[1::2], strict=True):
        order.insert(0 if before is None else order.index(before) + 1, tid)
    if len(order) != len(tasks):
        raise _Corrupt
    return dict(zip(order, map(tasks.__getitem__, order), strict=True))


def _pairs(flat: list[Any]) -> dict[int, int]:
    if len(flat) % 2:
        raise _Corrupt
    out = dict(zip(flat[0::2], flat[1::2], strict=True))
    if not set(map(type, flat)) <= _INT_ONLY:
        raise _Corrupt
    return out


def _cmdlines(obj: Mapping[str, Any]) -> dict[int, str]:
    out = {}
    for k, v in obj.items():
        if not isinstance(v, str):
            raise _Corrupt
        out[int(k)] = v
    return out
