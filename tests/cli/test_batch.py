"""tsmon batch: iotop -b's header, columns and options on a scripted backend; on the kernel,
a writer's DISK WRITE against /proc/PID/io and a short-lived task marked as exited; as an
unprivileged user, every command on the simulator, saying so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.cli import (
    REPO,
    LineReader,
    nobody_pythonpath,
    requires_kernel,
    tsmon,
    tsmon_as_nobody,
)
from tsmon.cli import cli
from tsmon.commands import batch as batch_module
from tsmon_core.backends import BackendInfo, RawFrame
from tsmon_core.model import ExitEvent, TaskStats

# --- a scripted backend ---------------------------------------------------------------------

MB = 1 << 20


def _rec(tid: int, tgid: int, comm: str, **counters: int) -> TaskStats:
    return TaskStats.from_fields(
        16, ac_pid=tid, ac_tgid=tgid, ac_comm=comm, ac_btime64=1_700_000_000, ac_uid=0, **counters
    )


class ScriptedBackend:
    """Frames one second apart: a writer, a reader with I/O wait, an idle thread, and a task
    that lives and dies between two refreshes (and lingers as a zombie)."""

    def __init__(self, delayacct: bool = True) -> None:
        self._delayacct = delayacct
        self._t = 100.0
        self._n = 0
        self.info = BackendInfo("sim", "6.18-test", 16, "0-1", 2, delayacct, "scripted", "test")

    def now(self) -> float:
        return self._t

    def open_listener(self, cpumask: str | None = None, rcvbuf: int | None = None) -> Any:
        return _NoListener()

    def delayacct(self) -> bool:
        return self._delayacct

    def cmdline(self, tgid: int) -> str | None:
        return {10: "/usr/bin/writer --out /data", 20: "reader", 30: "idle\x1b[31m red"}.get(tgid)

    def collect(self, listener: Any = None, cgroups: Any = ()) -> RawFrame:
        n = self._n
        self._n += 1
        self._t += 1.0
        tasks = {
            10: _rec(10, 10, "writer", write_bytes=4 * MB * n, cancelled_write_bytes=0,
                     blkio_count=n, blkio_delay_total=100_000_000 * n, ac_etime=n),
            11: _rec(11, 10, "flusher", write_bytes=MB * n, ac_etime=n),
            20: _rec(20, 20, "reader", read_bytes=2 * MB * n, swapin_count=n,
                     swapin_delay_total=50_000_000 * n, cpu_count=n,
                     cpu_delay_total=250_000_000 * n, ac_etime=n),
            30: _rec(30, 30, "idle", ac_etime=n),
        }  # fmt: skip
        exits = []
        if n >= 2:
            # tid 40 was born and died inside the interval before frame 2; its zombie stays.
            final = _rec(40, 40, "blip", write_bytes=3 * MB, ac_exitcode=3 << 8, ac_flag=0x20)
            if n == 2:
                exits.append(ExitEvent(40, final, None, None, 0, self._t - 0.5))
            tasks[40] = final.replace(ac_etime=5)
        tgids = {tid: rec.ac_tgid for tid, rec in tasks.items()}
        cmdlines = {g: c for g in set(tgids.values()) if (c := self.cmdline(g))}
        return RawFrame(self._t, 1_700_000_000.0 + self._t, tasks, tgids, exits, 0, cmdlines)

    def close(self) -> None:
        pass


class _NoListener:
    lost = 0
    cpumask = "0-1"

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"delayacct": True}

    def opener(kind: str, seed: int = 1, **options: Any) -> ScriptedBackend:
        state["backend"] = ScriptedBackend(state["delayacct"])
        return state["backend"]

    monkeypatch.setattr(batch_module, "open_backend_or_exit", opener)
    monkeypatch.setattr(batch_module, "_pid_width", lambda: 5)
    yield state


def _run(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(cli, ["batch", "-d", "0.01", *args], prog_name="tsmon")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout.splitlines(), result.stderr


TITLES = "  TID  PRIO  USER     DISK READ  DISK WRITE  SWAPIN      IO    COMMAND"


def test_iotop_header_and_columns(scripted: dict[str, Any]) -> None:
    status, lines, stderr = _run("-b", "-n", "2")
    assert status == 0, stderr
    assert lines[0] == "Total DISK READ :       2.00 M/s | Total DISK WRITE :       5.00 M/s"
    assert lines[1] == "Actual DISK READ:       2.00 M/s | Actual DISK WRITE:       5.00 M/s"
    assert lines[2] == TITLES
    rows = lines[3:7]
    # Sorted as iotop sorts: IO wait first, then bytes moved.
    assert [int(r[:5]) for r in rows] == [10, 20, 11, 30]
    assert (
        rows[0] == "   10 be/4 root        0.00 B/s    4.00 M/s  0.00 % 10.00 % writer --out /data"
    )
    assert rows[1] == "   20 be/4 root        2.00 M/s    0.00 B/s  5.00 %  0.00 % reader"
    assert rows[2].endswith("writer --out /data [flusher]")  # iotop's thread-name suffix
    assert rows[3].endswith(" idle[31m red")  # the ESC is gone: nothing left to interpret
    assert "\x1b" not in "\n".join(lines)
    # The second report repeats the titles (no -q) and shows the task that came and went.
    second = lines[7:]
    assert second[2] == TITLES
    blip = [r for r in second if r.startswith("   40 ")]
    assert blip == [
        "   40 be/4 root        0.00 B/s    3.00 M/s  0.00 %  0.00 % [blip] <exited: exit 3>"
    ]


def test_a_zombie_is_shown_once_at_its_exit(scripted: dict[str, Any]) -> None:
    status, lines, _ = _run("-n", "3", "-q", "-q", "-q")
    assert status == 0
    assert not any(line.startswith("Total") for line in lines)
    reports = [lines[0:4], lines[4:9], lines[9:]]
    assert [len(r) for r in reports] == [4, 5, 4]
    assert not any(r.startswith("   40 ") for r in reports[2])


def test_only_processes_accumulated_kilobytes_timestamps(scripted: dict[str, Any]) -> None:
    status, lines, _ = _run("-n", "2", "-o", "-P", "-a", "-k", "-t", "-q")
    assert status == 0
    stamp = r"\d\d:\d\d:\d\d "
    assert re.fullmatch(
        stamp + r"Total DISK READ :\s+\d+\.\d\d K/s \| Total DISK WRITE :\s+\d+\.\d\d K/s", lines[0]
    )
    assert (
        lines[2] == "    TIME  PID  PRIO  USER     DISK READ  DISK WRITE  SWAPIN      IO    COMMAND"
    )
    body = [line[9:] for line in lines[3:] if not line[9:].startswith(("Total", "Actual"))]
    first = body[:2]
    # -P: thread 11 folds into process 10 (4 + 1 MiB per second, in K); -o hides idle 30.
    assert first[0].startswith("   10 be/4 root          0.00 K   5120.00 K")
    assert first[1].startswith("   20 be/4 root       2048.00 K      0.00 K")
    later = body[2:]
    assert later[0].startswith("   10 be/4 root          0.00 K  10240.00 K")  # accumulated
    assert any(r.startswith("   40 ") and r.endswith("<exited: exit 3>") for r in later)
    assert not any(r.startswith("   30 ") for r in body)
    assert sum(1 for line in lines if "TIME" in line) == 1  # -q: titles only once


def test_pid_and_user_filters(scripted: dict[str, Any]) -> None:
    _, lines, _ = _run("-n", "1", "-p", "10", "-q", "-q", "-q")
    assert sorted(int(r[:5]) for r in lines) == [10, 11]
    _, lines, _ = _run("-n", "1", "-u", "root", "-P", "-q", "-q", "-q")
    assert sorted(int(r[:5]) for r in lines) == [10, 20, 30]
    _, lines, _ = _run("-n", "1", "-u", "12345", "-q", "-q", "-q")
    assert lines == []


def test_more_columns(scripted: dict[str, Any]) -> None:
    _, lines, _ = _run("-n", "1", "-q", "--columns", "cpu,irq,cpu_delay_avg,wchar_bps")
    assert lines[2] == TITLES.replace(
        "    COMMAND", "      CPU      IRQ   CPU AVG       WCHAR    COMMAND"
    )
    reader = next(r for r in lines if r.startswith("   20 "))
    assert reader.endswith(" 0.00 %  25.00 %   0.00 %    250 ms    0.00 B/s reader")


def test_delay_accounting_off(scripted: dict[str, Any]) -> None:
    scripted["delayacct"] = False
    _, lines, stderr = _run("-n", "1", "-q", "-q", "--columns", "cpu,irq")
    assert "delay accounting is off" in stderr
    reader = next(r for r in lines if r.startswith("   20 "))
    assert reader.split()[7:12] == ["N/A", "N/A", "25.00", "%", "N/A"]


def test_json_one_object_per_report(scripted: dict[str, Any]) -> None:
    status, lines, _ = _run("-n", "2", "--json", "--columns", "cpu")
    assert status == 0
    first, second = (json.loads(line) for line in lines)
    assert first["backend"] == "sim" and first["struct_version"] == 16
    assert first["interval"] == 1.0 and first["total"]["write_bps"] == 5 * MB
    writer = next(t for t in first["tasks"] if t["tid"] == 10)
    assert writer["write_bps"] == 4 * MB and writer["blkio_delay_pct"] == pytest.approx(10.0)
    assert writer["command"] == "writer --out /data" and writer["exited"] is False
    reader = next(t for t in first["tasks"] if t["tid"] == 20)
    assert reader["cpu_delay_pct"] == pytest.approx(25.0)
    blip = next(t for t in second["tasks"] if t["tid"] == 40)
    assert blip["exited"] is True and blip["exit_status"] == 3 << 8


# --- on the kernel --------------------------------------------------------------------------

WRITER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
print(os.getpid(), flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    os.write(fd, b"w" * 262144)
    os.fsync(fd)
    time.sleep(0.02)
"""


def _write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes")


@requires_kernel
def test_writer_shows_in_disk_write_and_agrees_with_proc(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "w"), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        pid = int(writer.stdout.readline())
        time.sleep(0.2)
        done = tsmon("batch", "-b", "-n", "3", "-d", "0.2", "-o", "--backend", "netlink")
        assert done.returncode == 0, done.stderr
        rows = [line for line in done.stdout.splitlines() if line.split()[:1] == [str(pid)]]
        assert len(rows) >= 2, done.stdout
        for row in rows:
            fields = row.split()
            value, unit = float(fields[5]), fields[6]
            assert unit in ("K/s", "M/s") and value > 0, row
        # JSON: every report's bytes over its interval, against /proc/PID/io around the run.
        before = _write_bytes(pid)
        start = time.monotonic()
        as_json = tsmon("batch", "-n", "3", "-d", "0.3", "-o", "--json", "--backend", "netlink")
        elapsed = time.monotonic() - start
        after = _write_bytes(pid)
        assert as_json.returncode == 0, as_json.stderr
        reports = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert len(reports) == 3
        seen = 0.0
        for report in reports:
            (task,) = [t for t in report["tasks"] if t["tid"] == pid]
            assert task["write_bps"] > 0
            seen += task["write_bps"] * report["interval"]
        covered = sum(r["interval"] for r in reports)
        # The reports cover part of the time between the two /proc reads: never more bytes
        # than /proc counted, and about the writer's average rate over what they cover.
        assert seen <= after - before + 262144
        proc_rate = (after - before) / elapsed
        assert 0.5 * proc_rate * covered <= seen
    finally:
        writer.kill()
        writer.wait()


@requires_kernel
def test_short_lived_task_is_marked_exited() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsmon", "batch", "-n", "2", "-d", "0.6", "--json", "--backend",
         "netlink"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    out = LineReader(proc.stdout)
    first = out.readline(60)  # once a report is out, the exit listener is surely registered
    assert first is not None, proc.stderr.read() if proc.stderr else ""
    blip = subprocess.Popen(["sh", "-c", "exit 4"])
    assert blip.wait() == 4
    second = out.readline(60)
    assert second is not None
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert not [t for t in json.loads(first)["tasks"] if t["tid"] == blip.pid]
    mine = [t for t in json.loads(second)["tasks"] if t["tid"] == blip.pid]
    assert len(mine) == 1, mine
    assert mine[0]["exited"] is True and mine[0]["exit_status"] == 4 << 8
    assert mine[0]["comm"] == "sh" and mine[0]["command"] == "[sh] <exited: exit 4>"


# --- without privileges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["report", "-d", "-i", "-q", "-p", "1"],
        ["report", "-t", "1", "-d"],
        ["batch", "-n", "1", "-d", "0.1"],
        ["delayacct", "status"],
    ],
)
def test_unprivileged_user_runs_on_the_simulator_and_is_told(args: list[str]) -> None:
    with nobody_pythonpath() as env:
        done = tsmon_as_nobody(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    notices = [line for line in done.stderr.splitlines() if "SIMULATED" in line]
    assert len(notices) == 1, done.stderr
    assert notices[0].startswith("tsmon: data are SIMULATED")
    assert done.stdout.strip()
    as_json = None
    if args[0] in ("report", "batch"):
        with nobody_pythonpath() as env:
            as_json = tsmon_as_nobody(*args, "--json", env=env)
        assert as_json.returncode == 0, as_json.stderr
        assert all(json.loads(line)["backend"] == "sim" for line in as_json.stdout.splitlines())


# --- the shared formatters ------------------------------------------------------------------


def test_formatters_follow_iotop_and_getdelays() -> None:
    from tsmon import formatting as f

    assert f.human_size(0) == "0.00 B"
    assert f.human_size(1536) == "1536.00 B"  # iotop: the unit where the value is at least 2
    assert f.human_size(2048) == "2.00 K"
    assert f.human_size(5 * MB) == "5.00 M"
    assert f.human_size(0.001) == "0.00 B"  # iotop's log() would pick the wrong unit here
    assert f.format_rate(4096, kilobytes=True) == "4.00 K/s"
    assert f.format_rate(None) == f.NA == "N/A"
    assert f.format_percent(150.0) == "99.99 %" and f.format_percent(150.0, cap=None) == "150.00 %"
    assert [f.format_ns(v) for v in (850, 12_345, 4_560_000, 1_230_000_000, 123e9)] == [
        "850 ns",
        "12.3 µs",
        "4.56 ms",
        "1.23 s",
        "2m03s",
    ]
    assert f.format_ms(65_000) == "0.065ms"
    assert f.format_duration(7384) == "2h03m" and f.format_duration(0.25) == "0.25 s"
    assert f.format_count(950) == "950" and f.format_count(12_345) == "12.3k"
    assert f.format_exit(3 << 8) == "exit 3" and f.format_exit(9) == "SIGKILL"
    assert f.format_exit(11 | 0x80) == "SIGSEGV (core)"
    assert f.ioprio_string(None, 0, 0) == "be/4" and f.ioprio_string(None, -20, 0) == "be/0"
    assert f.ioprio_string((1 << 13) | 2) == "rt/2" and f.ioprio_string(3 << 13) == "idle"
    assert f.ioprio_string(None, 0, 5) == "idle" and f.ioprio_string(None, 5, 1) == "rt/5"
    assert f.format_wall_ns(0) == "N/A"
    assert f.sanitize("a\x1b[2Jb\x07\u202ec") == "a[2Jbc"
    assert f.sanitize_cmdline(b"/bin/sh\x00-c\x00echo\nhi\x00") == "/bin/sh -c echo hi"
    assert f.format_command("/usr/bin/python3 app.py", "python3") == "python3 app.py"
    assert f.format_command(None, "kworker/0:1") == "[kworker/0:1]"
    assert f.format_command("app", "app", thread_name="io\x1bw") == "app [iow]"
    assert f.user_name(0) == "root" and f.user_name(None) == "N/A"


_PLAIN = batch_module._Options(
    iterations=None, delay=1.0, only=False, processes=False, accumulated=False,
    kilobytes=False, timestamps=False, quiet=0, pids=frozenset(), uids=None, columns=[],
    as_json=False,
)  # fmt: skip


def _quick_and_careful(backend: Any) -> tuple[Any, Any]:
    """Two renderers of plain ``tsmon batch`` output: one reusing idle lines, one not."""
    quick = batch_module._Renderer(backend, _PLAIN)
    careful = batch_module._Renderer(backend, _PLAIN)
    careful._quick_idle = lambda: False
    return quick, careful


def test_idle_lines_reused_are_the_lines_rendered_afresh() -> None:
    """The quick path (idle threads found list-wise, their lines reused) prints what the
    careful path prints, refresh after refresh, on a churning simulated machine."""
    from tsmon_core.backends.sim import SimulatedBackend
    from tsmon_core.sampler import Sampler

    sim = SimulatedBackend(seed=9, tasks=400, clock="virtual", churn=0.5)
    sampler = Sampler(sim)
    quick, careful = _quick_and_careful(sim)
    idle_seen = renewed = 0
    for _ in range(14):
        sim.advance(0.5)
        snap = sampler.poll()
        assert quick.render(snap) == careful.render(snap)
        idle_seen += sum(batch_module._idle_flags(snap.threads))
        renewed += len(quick._renew)  # lines kept after their priority was read again
    assert idle_seen > 1000 and quick._idle_lines and renewed > 100
    sampler.close()
    sim.close()


@pytest.mark.parametrize("renamed_at", range(2, 10))
def test_a_leader_renamed_shows_in_its_idle_threads_lines_at_once(renamed_at: int) -> None:
    """Lines of idle threads are reused, and made again when their priority is read again;
    whenever the leader's name changes, its threads' lines say so in the same refresh."""
    from tsmon_core.sampler import Sampler

    class Renaming(ScriptedBackend):
        def collect(self, listener: Any = None, cgroups: Any = ()) -> RawFrame:
            n = self._n
            self._n += 1
            self._t += 1.0
            leader = "app" if n < renamed_at else "worker"  # then the thread's line changes
            tasks = {50: _rec(50, 50, leader, ac_etime=n), 51: _rec(51, 50, "worker", ac_etime=n)}
            return RawFrame(self._t, 1_700_000_000.0 + self._t, tasks, {50: 50, 51: 50}, [], 0, {})

    backend = Renaming()
    sampler = Sampler(backend, listen=False)  # type: ignore[arg-type]
    quick, careful = _quick_and_careful(backend)
    sampler.poll()
    thread_lines = set()
    for _ in range(12):
        snap = sampler.poll()
        shown = quick.render(snap)
        assert shown == careful.render(snap)
        thread_lines.update(line for line in shown if line.lstrip().startswith("51 "))
    assert len(thread_lines) == 2  # with the thread's own name, then without


@pytest.mark.parametrize("changed_at", range(2, 12))
def test_an_idle_thread_given_another_io_priority_shows_it_when_read_again(
    changed_at: int,
) -> None:
    """Idle lines are reused between two reads of the I/O priority (every _IOPRIO_EVERY
    refreshes); a line renewed after a read that found another priority is made again."""
    from tsmon_core.backends.sim import SimulatedBackend
    from tsmon_core.sampler import Sampler

    sim = SimulatedBackend(seed=2, tasks=40, clock="virtual", churn=0.0)
    sampler = Sampler(sim)
    renderer = batch_module._Renderer(sim, _PLAIN)
    refresh = [0]

    def ioprio(tid: int) -> int:  # best-effort 4, then idle for everyone (ionice -c3)
        return (2 << 13) | 4 if refresh[0] < changed_at else 3 << 13

    renderer.ioprio = ioprio
    sampler.poll()
    settled = changed_at + batch_module._IOPRIO_EVERY
    for refresh[0] in range(1, settled + 3):
        sim.advance(1.0)
        prios = {line.split()[1] for line in renderer.render(sampler.poll())[3:]}
        if refresh[0] < changed_at:
            assert prios == {"be/4"}
        elif refresh[0] >= settled:
            assert prios == {"idle"}, refresh[0]
    sampler.close()
    sim.close()
