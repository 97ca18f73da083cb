"""``tsmon report``: getdelays' options, meaning and layout, with one-line errors and JSON.

getdelays (linux/tools/accounting) echoes a line for each option as it parses it, prints a
PID/TGID record, a cgroup's task counts, or every exit a cpumask listener hears. tsmon does the
same, line for line, with these differences: errors go to stderr as one line with the reason
and the fix and a non-zero exit status; ``-t`` completes the kernel's TGID reply (which holds
one thread's delay max/min and no comm or I/O) from the live threads; ``-c`` takes the
command's stats from an exit listener opened before it starts and prints its exit status;
``--json`` prints one object per record.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Sequence
from typing import IO, Any

import click

from tsmon_core import report as layout
from tsmon_core.errors import (
    CgroupPathError,
    CgroupUnsupportedError,
    CpumaskError,
    ListenerOverflowError,
    TaskGoneError,
)

from ._common import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_RUN,
    EXIT_ERROR,
    EXIT_NO_TASK,
    EXIT_NOT_FOUND,
    EXIT_PERMISSION,
    OneLineCommand,
    announce_backend,
    backend_option,
    fail,
    handle_errors,
    note,
    open_backend_or_exit,
    stop_on_signals,
    usage_error,
)

__all__ = ["report"]

_ORDER_KEY = "tsmon.report.order"
_GONE_FIX = "it has exited or never existed; ps -eLf lists the ids alive now"
#: How long -c waits for the command's exit event once it has been reaped, seconds.
_EXIT_EVENT_WAIT = 2.0


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Record the options given on the command line, in the order they were given."""
    # click processes the options given in the order given, before the others; none of these
    # has a default or an environment variable, so "set" means "given".
    if value is not None and value is not False:
        ctx.meta.setdefault(_ORDER_KEY, []).append((param.name, value))
    return value


_ECHO_OF = {
    "delays": "d",
    "io": "i",
    "switches": "q",
    "write": "w",
    "rcvbuf": "r",
    "cpumask": "m",
    "verbose": "v",
    "listen": "l",
}


class _Out:
    """Where report lines go: text on stdout (flushed per record), JSON objects one per line."""

    def __init__(self, as_json: bool, raw: IO[bytes] | None) -> None:
        self.as_json = as_json
        self.raw = raw
        self.backend: Any = None

    def announce(self) -> None:
        """Say (once, on stderr) that data are simulated or delay accounting is off.

        Called when there is something to show, so a failing command prints only its error.
        """
        if self.backend is not None:
            announce_backend(self.backend)
            self.backend = None

    def text(self, text: str) -> None:
        if not self.as_json and text:
            sys.stdout.write(text + "\n")

    def debug(self, text: str) -> None:
        """getdelays' -v lines: stdout with the text layout, stderr beside JSON."""
        if self.as_json:
            click.echo(text, err=True)
        else:
            sys.stdout.write(text + "\n")

    def obj(self, data: dict[str, object]) -> None:
        if self.as_json:
            import json  # only for --json: the text path starts faster without it

            sys.stdout.write(json.dumps(data) + "\n")

    def flush(self) -> None:
        sys.stdout.flush()
        if self.raw is not None:
            self.raw.flush()


@click.command("report", cls=OneLineCommand, context_settings={"allow_interspersed_args": False})
@click.option("-d", "delays", is_flag=True, callback=_remember, help="Print delay accounting.")
@click.option("-i", "io", is_flag=True, callback=_remember, help="Print I/O accounting.")
@click.option(
    "-q", "switches", is_flag=True, callback=_remember, help="Print context switch counts."
)
@click.option("-p", "pid", type=int, metavar="TID", help="Report one thread (or process leader).")
@click.option("-t", "tgid", type=int, metavar="TGID", help="Report a whole process (thread group).")
@click.option(
    "-C",
    "cgroup",
    metavar="DIR",
    help="Report the task states of a cgroup v1 directory.",
)
@click.option(
    "-c",
    "run",
    is_flag=True,
    help="Run CMD [ARGS...] (must come last), wait, report the stats it exited with.",
)
@click.option(
    "-m",
    "cpumask",
    metavar="CPUMASK",
    callback=_remember,
    help="Listen for exits on these CPUs (e.g. 0-3,8); print the first, or all with -l.",
)
@click.option("-l", "listen", is_flag=True, callback=_remember, help="With -m: listen forever.")
@click.option(
    "-r",
    "rcvbuf",
    type=int,
    metavar="BYTES",
    callback=_remember,
    help="Receive buffer of the exit listener (-m, -c).",
)
@click.option("-v", "verbose", is_flag=True, callback=_remember, help="Say more (debug).")
@click.option(
    "-w",
    "write",
    metavar="FILE",
    callback=_remember,
    help="Also write each record's raw struct taskstats bytes to FILE.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
@click.option(
    "--from",
    "from_file",
    metavar="FILE",
    help="Report from a recording (tsmon record) instead of the kernel: -p, -t or -C.",
)
@click.option(
    "--at",
    "at_time",
    metavar="TIME",
    help="With --from: the frame at TIME, as tsmon replay --at takes it (90, 1m30s, -30 from "
    "the end, 14:05:00, 2026-11-26T14:05:00, #120); default: the last frame.",
)
@backend_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[CMD [ARGS]...]")
@click.pass_context
@handle_errors
def report(
    ctx: click.Context,
    delays: bool,
    io: bool,
    switches: bool,
    pid: int | None,
    tgid: int | None,
    cgroup: str | None,
    run: bool,
    cpumask: str | None,
    listen: bool,
    rcvbuf: int | None,
    verbose: bool,
    write: str | None,
    as_json: bool,
    from_file: str | None,
    at_time: str | None,
    backend_kind: str,
    seed: int,
    command: tuple[str, ...],
) -> None:
    """Report a task, a process, a cgroup or exiting tasks, as getdelays does.

    \b
    tsmon report -d -i -p PID        delays and I/O of one thread
    tsmon report -d -q -t PID        delays and context switches of a process
    tsmon report -C /sys/fs/cgroup/cpu
    tsmon report -d -m 0-3 -l        every task exiting on CPUs 0-3
    tsmon report -d -i -c CMD ARGS   run CMD and report what it did
    """
    _check(pid, tgid, cgroup, run, cpumask, listen, rcvbuf, command)
    if at_time is not None and from_file is None:
        usage_error("--at picks a moment of a recording: it needs --from FILE")
    if from_file is not None and (run or cpumask is not None):
        usage_error("a recording holds tasks and cgroups, not a live listener: use -p, -t or -C")
    at = _parse_at(at_time) if at_time is not None else None
    if run:
        _check_command(command[0])
    out = _Out(as_json, None)
    if not as_json:
        for name, value in ctx.meta.get(_ORDER_KEY, []):
            echo = layout.ECHO_LINES[_ECHO_OF[name]]
            out.text(echo.format(value) if "{}" in echo else echo)
        out.flush()
    raw = _open_raw(write) if write else None
    out.raw = raw
    if from_file is not None:
        if not os.path.isfile(from_file):
            fail(
                f"{from_file}: no such recording (make one with tsmon record FILE)", EXIT_BAD_INPUT
            )
        backend = open_backend_or_exit("replay", seed, path=from_file)
        out.backend = backend
        _seek(backend, at)
    else:
        backend = open_backend_or_exit(backend_kind, seed)
        out.backend = backend
    try:
        if verbose:
            _debug_backend(out, backend)
        sections = {"delays": delays, "io": io, "switches": switches, "verbose": verbose}
        gone_fix = _GONE_FIX if from_file is None else "it is not in that frame of the recording"
        if pid is not None:
            try:
                record = backend.query_pid(pid)
            except TaskGoneError:
                fail(f"no such task: {pid} ({gone_fix})", EXIT_NO_TASK)
            _emit(out, backend, "PID", pid, record, sections)
        elif tgid is not None:
            try:
                _report_tgid(out, backend, tgid, sections)
            except TaskGoneError:
                fail(f"no such process: {tgid} ({gone_fix})", EXIT_NO_TASK)
        elif cgroup is not None:
            _report_cgroup(out, backend, cgroup)
        elif run:
            _report_command(out, backend, list(command), rcvbuf, sections)
        else:
            assert cpumask is not None
            _report_exits(out, backend, cpumask, rcvbuf, listen, sections)
        out.flush()
    finally:
        backend.close()
        if raw is not None:
            raw.close()


def _check(
    pid: int | None,
    tgid: int | None,
    cgroup: str | None,
    run: bool,
    cpumask: str | None,
    listen: bool,
    rcvbuf: int | None,
    command: tuple[str, ...],
) -> None:
    """Refuse what getdelays would refuse (or silently misread), with the fix."""
    for name, value in (("-p", pid), ("-t", tgid)):
        if value is not None and value <= 0:
            usage_error(f"{name} {value} is not a task id (give a positive id, as ps -eLf shows)")
    if tgid is not None and cgroup is not None:
        usage_error("select either -t or -C, not both")
    chosen = [
        name
        for name, given in (
            ("-p", pid is not None),
            ("-t", tgid is not None),
            ("-C", cgroup is not None),
            ("-c", run),
            ("-m", cpumask is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        usage_error(f"{' and '.join(chosen)} cannot be combined: choose one of them")
    if not chosen:
        if command:
            usage_error(f"unexpected argument {command[0]!r} (to run a command, put -c before it)")
        usage_error("nothing to report: give -p TID, -t TGID, -C DIR, -m CPUMASK or -c CMD")
    if run and not command:
        usage_error("-c needs a command to run (-c CMD [ARGS...], last on the line)")
    if command and not run:
        usage_error(f"unexpected argument {command[0]!r} (to run a command, put -c before it)")
    if listen and cpumask is None:
        usage_error("-l listens for exits: it needs -m CPUMASK")
    if rcvbuf is not None and rcvbuf < 0:
        usage_error(f"invalid receive buffer size {rcvbuf} (give a number of bytes >= 0)")


def _parse_at(text: str) -> tuple[str, float]:
    """--at TIME, in the forms tsmon replay takes."""
    from .replay import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        usage_error(f"--at {exc}")
        raise AssertionError from None  # pragma: no cover - usage_error raises


def _seek(backend: Any, at: tuple[str, float] | None) -> None:
    """Make the replay's current frame the last one, or the one at ``at``."""
    from .replay import resolve_when

    if backend.frame_count == 0:
        fail(f"{backend.path}: the recording holds no frames", EXIT_BAD_INPUT)
    backend.seek(backend.frame_count - 1 if at is None else resolve_when(backend, at))
    backend.collect()


def _check_command(name: str) -> None:
    """Fail before anything starts when ``-c``'s command cannot be run (as env(1) would)."""
    import shutil

    from tsmon.formatting import sanitize

    shown = sanitize(name)
    if "/" in name:
        if not os.path.exists(name):
            fail(f"{shown}: no such file (check the path of the command)", EXIT_NOT_FOUND)
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            fail(f"{shown}: not an executable file (check its mode: chmod +x)", EXIT_CANNOT_RUN)
    elif shutil.which(name) is None:
        hint = (
            "give the command and its arguments as separate words, not one quoted string"
            if " " in name
            else "check its name, or give its path"
        )
        fail(f"{shown}: command not found in PATH ({hint})", EXIT_NOT_FOUND)


def _open_raw(path: str) -> IO[bytes]:
    """The -w file, created rw-r--r-- and truncated as getdelays does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "wb")


def _debug_backend(out: _Out, backend: Any) -> None:
    info = backend.info
    family = getattr(backend, "family_id", None)
    if family is not None:
        out.debug(f"family id {family}")
    out.debug(
        f"backend {info.kind}, kernel {info.kernel_release}, struct version "
        f"{info.struct_version}, cpus {info.cpus}" + (f" ({info.reason})" if info.reason else "")
    )


def _emit(
    out: _Out,
    backend: Any,
    kind: str,
    task_id: int,
    record: Any,
    sections: dict[str, bool],
    extra: dict[str, object] | None = None,
) -> None:
    """Print one record in the text layout or as JSON, and write its raw bytes with -w."""
    out.announce()
    out.text(layout.format_record(kind, task_id, record, **sections))
    out.obj(
        layout.record_json(
            record, kind=kind, task_id=task_id, backend=backend.info.kind, extra=extra
        )
    )
    if out.raw is not None:
        from tsmon_core.encode import encode_taskstats

        out.raw.write(encode_taskstats(record))


def _group_threads(backend: Any, task_id: int) -> list[int]:
    """Thread ids of the thread group ``task_id`` belongs to, leader first."""
    group, tids = task_id, []
    if backend.info.kind == "netlink":
        with contextlib.suppress(OSError, ValueError):
            tids = [int(t) for t in os.listdir(f"/proc/{task_id}/task")]
            with open(f"/proc/{task_id}/status", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Tgid:"):
                        group = int(line.split()[1])
                        break
    if not tids:
        tasks = backend.list_tasks()
        group = tasks.get(task_id, task_id)
        tids = [t for t, g in tasks.items() if g == group]
    return sorted(tids, key=lambda t: (t != group, t))


def _report_tgid(out: _Out, backend: Any, tgid: int, sections: dict[str, bool]) -> None:
    """-t: the kernel's TGID record, with max/min, comm and I/O completed from the threads."""
    group = backend.query_tgid(tgid)
    tids = _group_threads(backend, tgid)
    threads = backend.query_many(tids) if tids else {}
    ordered = [threads[t] for t in tids if t in threads]
    merged = layout.merge_thread_records(group, ordered)
    extra: dict[str, object] = {"threads": len(ordered)}
    if sections["verbose"]:
        out.debug(
            f"TGID {tgid}: delay max/min, comm and I/O from {len(ordered)} live thread(s); "
            "the kernel's TGID reply holds one thread's max/min and no comm or I/O, and "
            "threads that already exited are not included in them"
        )
    _emit(out, backend, "TGID", tgid, merged, sections, extra)


def _report_cgroup(out: _Out, backend: Any, path: str) -> None:
    """-C: task-state counts of a cgroup v1 directory."""
    if backend.info.kind == "netlink" and not os.path.isdir(path):
        why = "no such directory" if not os.path.exists(path) else "not a directory"
        fail(
            f"{path}: {why} (give a cgroup v1 directory, e.g. /sys/fs/cgroup/cpu)",
            EXIT_BAD_INPUT,
        )
    try:
        stats = backend.cgroup_stats(path)
    except CgroupPathError as exc:
        fail(f"{exc} (give a cgroup v1 directory, e.g. /sys/fs/cgroup/cpu)", EXIT_BAD_INPUT)
    except CgroupUnsupportedError as exc:
        fail(
            f"{exc}; give a cgroup v1 directory (a mount of type cgroup, e.g. "
            "/sys/fs/cgroup/cpu; see mount -t cgroup)",
            EXIT_BAD_INPUT,
        )
    out.announce()
    out.text(layout.format_cgroupstats(stats))
    out.obj(
        layout.cgroup_json(
            stats, path=path, backend=backend.info.kind, struct_version=backend.info.struct_version
        )
    )


def _emit_exit(out: _Out, backend: Any, event: Any, sections: dict[str, bool]) -> None:
    """An exit message: the PID record, then the TGID record when the group died with it."""
    extra = {"event": "exit", "lost": event.lost}
    _emit(out, backend, "PID", event.tid, event.stats, sections, extra)
    if event.group_stats is not None and event.tgid is not None:
        _emit(out, backend, "TGID", event.tgid, event.group_stats, sections, extra)
    out.flush()


def _cpulist_syntax_ok(mask: str) -> bool:
    """Whether ``mask`` reads as a cpulist ("0-3,8"): the kernel answers EINVAL otherwise."""
    for part in mask.strip().split(","):
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            return False
        if sep and int(high) < int(low):
            return False
    return True


def _report_exits(
    out: _Out,
    backend: Any,
    cpumask: str,
    rcvbuf: int | None,
    forever: bool,
    sections: dict[str, bool],
) -> None:
    """-m: print the first exit heard on ``cpumask``, or every one with -l until a signal."""
    try:
        if not _cpulist_syntax_ok(cpumask):
            raise CpumaskError(errno.EINVAL, cpumask)
        listener = backend.open_listener(cpumask, rcvbuf)
    except CpumaskError as exc:
        fail(f"{exc} (this machine's CPUs are {backend.info.cpus})", EXIT_BAD_INPUT)
    out.announce()
    if sections["verbose"]:
        out.debug(f"Sent register cpumask, retval 0 (listening on CPUs {listener.cpumask})")
    out.flush()
    try:
        with stop_on_signals():
            done = False
            while not done:
                try:
                    events = listener.read(None if forever else 1.0)
                except ListenerOverflowError as exc:
                    note(f"{exc} (a bigger receive buffer, -r BYTES, loses fewer)")
                    continue
                for event in events:
                    _emit_exit(out, backend, event, sections)
                    if not forever:
                        done = True
                        break
    except KeyboardInterrupt:
        pass  # the normal end of -l: the listener is deregistered below
    finally:
        listener.close()
    if not forever:
        out.text("Sent deregister mask, retval 0")


def _report_command(
    out: _Out,
    backend: Any,
    argv: Sequence[str],
    rcvbuf: int | None,
    sections: dict[str, bool],
) -> None:
    """-c: run a command, wait for it, and report the stats its exit message carried."""
    import subprocess

    from tsmon.formatting import sanitize

    if backend.info.kind != "netlink":
        fail(
            "-c runs a real command, so it needs the kernel's taskstats (netlink backend): "
            f"the {backend.info.kind} backend cannot see it; run as root",
            EXIT_PERMISSION,
        )
    shown = sanitize(argv[0])
    listener = backend.open_listener(None, rcvbuf)
    out.announce()
    try:
        out.flush()
        try:
            child = subprocess.Popen(list(argv))
        except FileNotFoundError:
            fail(f"{shown}: command not found (check its name, or give its path)", EXIT_NOT_FOUND)
        except PermissionError:
            fail(f"{shown}: permission denied (is it executable?)", EXIT_CANNOT_RUN)
        except OSError as exc:
            fail(f"{shown}: cannot run it: {exc.strerror or exc}", EXIT_CANNOT_RUN)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's
        try:
            returncode = child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        leader, group = _collect_exit(listener, child.pid)
    finally:
        listener.close()
    if leader is None:
        fail(
            f"the exit of {shown} (pid {child.pid}) was not heard: the listener lost "
            f"{listener.lost} events (a bigger receive buffer, -r BYTES, helps)",
            EXIT_ERROR,
        )
    status = leader.stats.ac_exitcode
    extra: dict[str, object] = {
        "command": [sanitize(a) for a in argv],
        "exit_code": returncode if returncode >= 0 else None,
        "signal": -returncode if returncode < 0 else None,
        "exit_status": status,
    }
    _emit(out, backend, "PID", child.pid, leader.stats, sections, extra)
    if group is not None:
        _emit(out, backend, "TGID", child.pid, group, sections, extra)
    if returncode >= 0:
        out.text(f"exit status {returncode}")
    else:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        core = " (core dumped)" if status is not None and status & 0x80 else ""
        out.text(f"killed by signal {-returncode}" + (f" ({name})" if name else "") + core)


def _collect_exit(listener: Any, pid: int) -> tuple[Any, Any]:
    """The exit event of ``pid`` and its group's record, from events already queued.

    The kernel queues a task's exit message before its parent can reap it, so once waitpid
    has returned, everything is in the listener's queue.
    """
    import time

    leader = None
    group = None
    deadline = time.monotonic() + _EXIT_EVENT_WAIT
    while time.monotonic() < deadline:
        try:
            events = listener.read(0.05 if leader is not None else 0.2)
        except ListenerOverflowError:
            continue
        if not events and leader is not None:
            break
        for event in events:
            if event.tid == pid:
                leader = event
            if event.group_stats is not None and event.tgid == pid:
                group = event.group_stats
    return leader, group
