"""``tsmon replay FILE``: a recorded session in the TUI (pause, step, seek, speed), or printed
as ``tsmon batch`` prints live refreshes (``--batch``).

The replay runs the recorded raw frames through the same sampler as live data, so every
table, detail, exit log and cgroup view shows what it showed at that moment. Only this
module's ``--batch`` path runs without Textual; the TUI lives in ``_replay_tui``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

import click

from ._common import (
    EXIT_BAD_INPUT,
    EXIT_USAGE,
    OneLineCommand,
    announce_backend,
    fail,
    handle_errors,
    note,
    open_backend_or_exit,
    usage_error,
)

__all__ = ["SPEEDS", "parse_when", "replay", "resolve_when"]

#: The replay speeds the TUI steps through.
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

_SPAN = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?")


def parse_when(text: str) -> tuple[str, float]:
    """A moment of a recording, as written by a person.

    Returns (kind, value): ("frame", N) for ``#N`` (numbered from 1); ("elapsed", seconds)
    for ``90``, ``1m30s``, ``+90`` or ``-30`` (from the end when negative); ("wall", epoch) for
    ``YYYY-MM-DDTHH:MM:SS``; ("clock", seconds since midnight) for ``HH:MM[:SS]``.
    Raises ValueError with the accepted forms.
    """
    value = text.strip()
    if value.startswith("#") and value[1:].isdigit():
        return "frame", float(value[1:])
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    span = _SPAN.fullmatch(body)
    if body and span and any(span.groups()):
        hours, minutes, seconds = (float(x) if x else 0.0 for x in span.groups())
        return "elapsed", sign * (hours * 3600 + minutes * 60 + seconds)
    clock = _CLOCK.fullmatch(value)
    if clock:
        h, m, s = int(clock[1]), int(clock[2]), float(clock[3] or 0)
        if h < 24 and m < 60 and s < 60:
            return "clock", h * 3600 + m * 60 + s
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return "wall", time.mktime(time.strptime(value, fmt))
        except ValueError:
            pass
    raise ValueError(
        f"{text!r} is not a time: give seconds from the start (90, 1m30s; -30 from the end), "
        "a clock time (14:05:00), a date and time (2026-11-26T14:05:00) or a frame (#120)"
    )


def resolve_when(backend: Any, when: tuple[str, float]) -> int:
    """The frame number a parsed moment names in ``backend`` (a ReplayBackend)."""
    kind, value = when
    count = backend.frame_count
    if count == 0:
        return 0
    if kind == "frame":  # numbered from 1, as the position bar shows them
        return min(max(int(value) - 1, 0), count - 1)
    reader = backend.reader
    if kind == "elapsed":
        if value < 0:
            value += backend.duration
        return _last_at(reader.times()[0], reader.frame_numbers(), reader.times()[0][0] + value)
    if kind == "clock":
        start = backend.frame_time(0)[1]
        day = time.localtime(start)
        midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, day.tm_isdst))
        value += midnight
        if value < start - 1:
            value += 86400  # the recording ran past midnight
    return _last_at(reader.times()[1], reader.frame_numbers(), value)


def _last_at(times: Any, numbers: Any, t: float) -> int:
    """The last frame at or before ``t`` (a millisecond early still counts: times are sums)."""
    import bisect

    i = bisect.bisect_right(times, t + 1e-3) - 1
    return int(numbers[max(i, 0)])


@click.command("replay", cls=OneLineCommand)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-b", "--batch", "batch_mode", is_flag=True, help="Print the frames as tsmon batch does."
)
@click.option(
    "--at",
    "at_time",
    metavar="TIME",
    help="Start at TIME: seconds from the start (90, 1m30s; -30 from the end), a clock time "
    "(14:05:00) or a frame (#120).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.25, max=16.0),
    default=1.0,
    show_default=True,
    help="Replay speed, x0.25 to x16 (< and > change it in the app).",
)
@click.option("--paused", is_flag=True, help="Open the TUI paused.")
@click.option("--theme", default=None, metavar="NAME", help="Colour theme (TUI).")
@click.option("-P", "--processes", is_flag=True, help="Processes, not threads.")
@click.option("-o", "--only", is_flag=True, help="Only tasks doing I/O or waiting.")
@click.option("-a", "--accumulated", is_flag=True, help="Amounts since the start, not rates.")
@click.option(
    "-p", "--pid", "pids", type=click.IntRange(min=1), multiple=True, help="Only these (repeat)."
)
@click.option(
    "-n",
    "--iter",
    "iterations",
    type=click.IntRange(min=1),
    metavar="NUM",
    help="--batch: print this many reports [every frame].",
)
@click.option("-k", "--kilobytes", is_flag=True, help="--batch: kilobytes, not a human unit.")
@click.option("-t", "--time", "timestamps", is_flag=True, help="--batch: a timestamp per line.")
@click.option("-q", "--quiet", count=True, help="--batch: fewer header lines.")
@click.option("-u", "--user", "users", multiple=True, metavar="USER", help="--batch: only uids.")
@click.option("--columns", metavar="LIST", help="--batch: more columns, as tsmon batch.")
@click.option("--json", "as_json", is_flag=True, help="--batch: one JSON object per report.")
@handle_errors
def replay(
    file: str,
    batch_mode: bool,
    at_time: str | None,
    speed: float,
    paused: bool,
    theme: str | None,
    processes: bool,
    only: bool,
    accumulated: bool,
    pids: tuple[int, ...],
    iterations: int | None,
    kilobytes: bool,
    timestamps: bool,
    quiet: int,
    users: tuple[str, ...],
    columns: str | None,
    as_json: bool,
) -> None:
    """Replay a recording (tsmon record, or R in the TUI) as it looked live.

    \b
    Keys: space pause, [ ] one frame back/forward, { } ten, g go to a time,
    < > speed (x0.25 to x16), and every key of the live view.
    \b
    tsmon replay spike.jsonl.gz
    tsmon replay spike.jsonl.gz --at 14:03:00 --paused
    tsmon replay spike.jsonl.gz --batch -o -n 5
    """
    when = None
    if at_time is not None:
        try:
            when = parse_when(at_time)
        except ValueError as exc:
            usage_error(f"--at: {exc}")
    batch_only = iterations or kilobytes or timestamps or quiet or users or columns or as_json
    if batch_only and not batch_mode:
        usage_error("-n, -k, -t, -q, -u, --columns and --json shape --batch output: add --batch")
    if not os.path.isfile(file):
        what = "is a directory" if os.path.isdir(file) else "no such file"
        fail(f"{file}: {what} (make a recording with tsmon record FILE)", EXIT_BAD_INPUT)
    backend = open_backend_or_exit("replay", path=file)
    try:
        if backend.frame_count == 0:
            fail(f"{file}: the recording holds no frames", EXIT_BAD_INPUT)
        start = resolve_when(backend, when) if when is not None else 0
        if batch_mode:
            _batch(backend, start, locals())
        else:
            _tui(backend, start, speed, paused, theme, processes, only, accumulated, pids)
    finally:
        backend.close()


def _uids(users: tuple[str, ...]) -> frozenset[int] | None:
    """-u: login names or numeric uids (a recording's uids are those of its machine)."""
    if not users:
        return None
    import pwd

    found = set()
    for user in users:
        if user.isdigit():
            found.add(int(user))
            continue
        try:
            found.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            usage_error(f"-u: unknown user {user!r} (give a login name or a numeric uid)")
    return frozenset(found)


def _warn(backend: Any) -> None:
    for problem in backend.problems():
        note(f"{backend.path}: {problem}")


def _batch(backend: Any, start: int, args: dict[str, Any]) -> None:
    """Every frame from ``start`` as a batch report (the one before it is the baseline)."""
    from tsmon_core.errors import EndOfRecordingError
    from tsmon_core.sampler import Sampler

    from .batch import BatchOptions, BatchRenderer, resolve_columns

    opts = BatchOptions(
        iterations=args["iterations"],
        delay=backend.header.interval or 1.0,
        only=args["only"],
        processes=args["processes"],
        accumulated=args["accumulated"],
        kilobytes=args["kilobytes"],
        timestamps=args["timestamps"],
        quiet=args["quiet"],
        pids=frozenset(args["pids"]),
        uids=_uids(args["users"]),
        columns=resolve_columns(args["columns"]),
        as_json=args["as_json"],
    )
    announce_backend(backend, quiet=bool(args["as_json"]) or args["quiet"] > 0)
    renderer = BatchRenderer(backend, opts)
    sampler = Sampler(backend, listen=False)
    write = sys.stdout.write
    try:
        backend.seek(max(start - 1, 0))
        sampler.poll()  # the baseline: frame 0 has no interval before it, so reports start at 1
        done = 0
        while opts.iterations is None or done < opts.iterations:
            try:
                snap = sampler.poll()
            except EndOfRecordingError:
                break
            result = renderer.render(snap)
            if isinstance(result, dict):
                result["frame"] = backend.position + 1  # as the TUI's position bar
                write(json.dumps(result) + "\n")
            elif result:
                write("\n".join(result) + "\n")
            done += 1
        sys.stdout.flush()
    except BrokenPipeError:
        from ._common import quiet_stdout

        quiet_stdout()
        return
    _warn(backend)


def _tui(
    backend: Any,
    start: int,
    speed: float,
    paused: bool,
    theme: str | None,
    processes: bool,
    only: bool,
    accumulated: bool,
    pids: tuple[int, ...],
) -> None:
    from ..themes import available_names
    from ._replay_tui import ReplayApp

    if theme is not None and theme not in available_names():
        fail(
            f"unknown theme {theme!r}; choose one of: {', '.join(available_names())}",
            EXIT_USAGE,
        )
    app = ReplayApp(
        backend,
        start=start,
        speed=speed,
        paused=paused,
        theme=theme,
        processes=processes,
        only_active=only,
        accumulated=accumulated,
        pids=pids,
    )
    app.run()
    _warn(backend)
    if app.return_code:
        sys.exit(app.return_code)
