"""tsmon report: getdelays' layout (checked against real captures) and numbers (checked
against /proc on the kernel), -t, -c, -m -l, -w and --json."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import (
    DELAY_LABELS,
    REPO,
    TOOL_OUTPUT,
    LineReader,
    delay_fields,
    parse_delay_block,
    requires_kernel,
    split_report,
    tsmon,
)
from tsmon_core import report as layout
from tsmon_core.decode import decode_taskstats
from tsmon_core.model import CgroupStats, TaskStats

# --- layout, against getdelays' own output -------------------------------------------------

CAPTURES = [
    "01_getdelays_-d_-i_-p.txt",
    "02_getdelays_-d_-p_iothread.txt",
    "03_getdelays_-t_-d.txt",
    "04_getdelays_-d_-q_-i_-t.txt",
    "05_getdelays_-q_-p.txt",
    "07_getdelays_-i_-p_1.txt",
    "09_getdelays_-i_-p_iothread.txt",
    "14_getdelays_-d_-c_sleep_1.txt",
    "15_getdelays_-d_-i_-q_-c_dd.txt",
    "17_getdelays_-w.txt",
    "23_getdelays_-m_0-1_-l_-d.txt",
    "25_getdelays_-m0_no_-l.txt",
]
_ECHOES = re.compile(
    r"^(print delayacct stats ON|printing IO accounting|printing task/process context switch "
    r"rates|debug on|listen forever|write to file .*|receive buf size -?\d+|cpumask .* maskset 1)$"
)


def _capture(name: str) -> tuple[str, list[str]]:
    """A capture's command line and its output lines (the tool's stdout only)."""
    path = TOOL_OUTPUT / name
    if not path.exists():
        pytest.skip(f"reference capture {path} is not available")
    lines = path.read_text().splitlines()
    command = lines[0]
    body = [
        line
        for line in lines[1:]
        if not line.startswith(("[exit status", "[...", "-rw-", "fatal reply error"))
    ]
    first_echo = next(i for i, line in enumerate(body) if _ECHOES.match(line))
    return command, body[first_echo:]


def _flags(command: str) -> list[tuple[str, str | None]]:
    """getdelays' options in the order given (with their argument, if any)."""
    words = command.split("#")[0].split()
    words = words[words.index(next(w for w in words if w.endswith("getdelays"))) + 1 :]
    flags: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c":
            break
        if word.startswith("-") and len(word) >= 2:
            letter = word[1]
            if letter in "wrmtpC":
                value = word[2:] or words[i + 1]
                i += 0 if word[2:] else 1
                flags.append((letter, value))
            else:
                flags.extend((ch, None) for ch in word[1:])
        i += 1
    return flags


@pytest.mark.parametrize("name", CAPTURES)
def test_layout_regenerates_getdelays_captures_line_for_line(name: str) -> None:
    """Parse each real getdelays output, rebuild it with tsmon's formatters: same text."""
    command, body = _capture(name)
    flags = _flags(command)
    letters = [letter for letter, _ in flags]
    echoes = []
    for letter, value in flags:
        template = layout.ECHO_LINES.get(letter)
        if template is not None:
            echoes.append(template.format(value) if "{}" in template else template)
    assert body[: len(echoes)] == echoes
    rest = "\n".join(
        line for line in body[len(echoes) :] if line != "Sent deregister mask, retval 0"
    )
    records = split_report(rest)
    assert records, name
    rebuilt = []
    for rec in records:
        fields: dict[str, object] = {}
        if "delays" in rec:
            fields.update(delay_fields(rec["delays"]))  # type: ignore[arg-type]
        if "io" in rec:
            comm, read, write, cancelled = rec["io"]  # type: ignore[misc]
            fields.update(
                ac_comm=comm, read_bytes=read, write_bytes=write, cancelled_write_bytes=cancelled
            )
        if "switches" in rec:
            fields["nvcsw"], fields["nivcsw"] = rec["switches"]  # type: ignore[misc]
        record = TaskStats.from_fields(16, **fields)
        rebuilt.append(
            layout.format_record(
                str(rec.get("kind", "PID")),
                int(rec.get("id", 0)),  # type: ignore[call-overload]
                record,
                delays="d" in letters,
                io="i" in letters,
                switches="q" in letters,
            )
        )
    assert "\n".join(rebuilt) == rest


def test_delay_block_by_struct_version() -> None:
    """v14: no max/min and no COMPACT/WPCOPY/IRQ gaps; v16: max/min; v17: timestamps."""
    old = layout.format_delayacct(TaskStats.from_fields(14, cpu_count=2, cpu_delay_total=3_000_000))
    lines = old.splitlines()
    assert lines[:2] == ["", ""]
    assert (
        lines[2]
        == "CPU" + " " * 17 + "count     real total  virtual total    delay total  delay average"
    )
    assert lines[3] == " " * 10 + "2".rjust(15) + "0".rjust(15) * 2 + "3000000".rjust(
        15
    ) + "1.500ms".rjust(17)
    labels = [line[:10].strip() for line in lines[2::2]]
    assert labels == ["CPU", "IO", "SWAP", "RECLAIM", "THRASHING", "COMPACT", "WPCOPY", "IRQ"]
    assert lines[4] == "IO                  count    delay total  delay average"
    v10 = layout.format_delayacct(TaskStats.from_fields(10)).splitlines()
    assert [line[:10].strip() for line in v10[2::2]] == [
        "CPU",
        "IO",
        "SWAP",
        "RECLAIM",
        "THRASHING",
    ]
    assert [
        line[:10].strip()
        for line in layout.format_delayacct(TaskStats.from_fields(12)).splitlines()[2::2]
    ][-1] == "COMPACT"

    ts_ns = 1_768_489_618 * 1_000_000_000 + 5
    new = layout.format_delayacct(
        TaskStats.from_fields(
            17, irq_count=1, irq_delay_total=7, irq_delay_max=7, irq_delay_max_ts=ts_ns
        )
    ).splitlines()
    assert new[2].endswith("delay min      delay max timestamp")
    assert new[-2] == "IRQ".ljust(10) + "".join(
        h.rjust(15) for h in ("count", "delay total", "delay average", "delay max", "delay min")
    ) + "delay max timestamp".rjust(25)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(1_768_489_618))
    assert new[-1].endswith(stamp.rjust(23))
    assert new[3].endswith("N/A".rjust(23))
    parse_delay_block(new[2:])


def test_cgroup_line_order_is_getdelays() -> None:
    line = layout.format_cgroupstats(CgroupStats(33, 4, 1, 2, 5))
    assert line == "sleeping 33, blocked 5, running 4, stopped 1, uninterruptible 2"


def test_tgid_record_takes_extremes_from_threads() -> None:
    group = TaskStats.from_fields(16, blkio_count=906, blkio_delay_total=58_509_187)
    io_thread = TaskStats.from_fields(
        16,
        ac_comm="python3",
        ac_pid=10,
        blkio_delay_max=570_496,
        blkio_delay_min=13_086,
        write_bytes=100,
    )
    other = TaskStats.from_fields(
        16, ac_comm="worker", blkio_delay_max=10, blkio_delay_min=5, write_bytes=1
    )
    merged = layout.merge_thread_records(group, [io_thread, other])
    assert merged.blkio_delay_max == 570_496
    assert merged.blkio_delay_min == 5
    assert merged.blkio_count == 906 and merged.blkio_delay_total == 58_509_187
    assert merged.ac_comm == "python3" and merged.write_bytes == 101


# --- on the kernel --------------------------------------------------------------------------

CHILD = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for _ in range(16):
    os.write(fd, b"a" * 65536)
os.fsync(fd)
os.close(fd)
for _ in range(20):
    time.sleep(0.002)
x = 0
for i in range(200000):
    x += i
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
"""


def _proc(pid: int) -> dict[str, int]:
    """The /proc figures the report must agree with, for a single-threaded task."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/task/{pid}/io") as f:
        for line in f:
            key, value = line.split(":")
            values[key] = int(value)
    with open(f"/proc/{pid}/task/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                key, value = line.split(":")
                values[key] = int(value)
    runtime, wait, slices = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    values.update(sum_exec_runtime=int(runtime), run_delay=int(wait), pcount=int(slices))
    values["comm"] = 0
    return values


@pytest.fixture
def parked_child(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A child that wrote 1 MiB with fsync, slept, computed, and now blocks on stdin."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "written")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 30)
    assert ready and child.stdout.readline() == "ready\n"
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/wchan").read_text() in ("", "0") and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    yield child
    child.kill()
    child.wait()


def _stable_proc(pid: int) -> dict[str, int]:
    before = _proc(pid)
    time.sleep(0.02)
    after = _proc(pid)
    assert before == after, "the parked child is still running"
    return after


@requires_kernel
def test_report_matches_proc_for_a_known_child(parked_child: subprocess.Popen[str]) -> None:
    pid = parked_child.pid
    expected = _stable_proc(pid)
    done = tsmon("report", "-d", "-i", "-q", "-p", str(pid), "--backend", "netlink")
    assert done.returncode == 0, done.stderr
    assert _proc(pid) == expected
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        "print delayacct stats ON",
        "printing IO accounting",
        "printing task/process context switch rates",
        f"PID\t{pid}",
    ]
    (record,) = split_report("\n".join(lines[3:]))
    assert record["kind"] == "PID" and record["id"] == pid
    comm, read, write, cancelled = record["io"]  # type: ignore[misc]
    assert comm == Path(f"/proc/{pid}/comm").read_text().strip()
    assert (read, write, cancelled) == (
        expected["read_bytes"],
        expected["write_bytes"],
        expected["cancelled_write_bytes"],
    )
    assert write >= 1 << 20  # the child wrote 1 MiB and fsynced it
    assert record["switches"] == (
        expected["voluntary_ctxt_switches"],
        expected["nonvoluntary_ctxt_switches"],
    )
    cpu = record["delays"]["CPU"]  # type: ignore[index]
    assert int(cpu["count"]) == expected["pcount"]
    assert int(cpu["virtual total"]) == expected["sum_exec_runtime"]
    assert int(cpu["delay total"]) == expected["run_delay"]
    average = expected["run_delay"] / 1e6 / (expected["pcount"] or 1)
    assert cpu["delay average"] == f"{average:.3f}ms"
    assert float(cpu["delay max"][:-2]) * 1e6 <= expected["run_delay"] + 1
    # The header lines are getdelays' own (capture 01, same kernel version).
    _, captured = _capture("01_getdelays_-d_-i_-p.txt")

    def headers(text: list[str]) -> list[str]:
        return [line for line in text if line[:10].strip() in DELAY_LABELS]

    ours, theirs = headers(lines), headers(captured)
    assert len(ours) == 8
    assert ours == theirs

    as_json = tsmon("report", "-d", "-i", "-q", "-p", str(pid), "--backend", "netlink", "--json")
    assert as_json.returncode == 0, as_json.stderr
    (obj,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert obj["type"] == "pid" and obj["id"] == pid and obj["backend"] == "netlink"
    assert obj["struct_version"] == obj["version"] >= 1
    assert obj["write_bytes"] == write and obj["read_bytes"] == read
    assert obj["cancelled_write_bytes"] == cancelled
    assert (obj["nvcsw"], obj["nivcsw"]) == record["switches"]
    assert obj["cpu_count"] == expected["pcount"]
    assert obj["cpu_run_virtual_total"] == expected["sum_exec_runtime"]
    assert obj["cpu_delay_total"] == expected["run_delay"]
    assert f"{obj['cpu_delay_average_ms']:.3f}ms" == cpu["delay average"]
    assert obj["ac_comm"] == comm and obj["ac_pid"] == pid


@requires_kernel
def test_write_option_stores_the_raw_records(
    parked_child: subprocess.Popen[str], tmp_path: Path
) -> None:
    raw = tmp_path / "raw.bin"
    done = tsmon(
        "report", "-q", "-p", str(parked_child.pid), "-w", str(raw), "--backend", "netlink"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "printing task/process context switch rates",
        f"write to file {raw}",
    ]
    record = decode_taskstats(raw.read_bytes())
    assert record.ac_pid == parked_child.pid
    (parsed,) = split_report("\n".join(done.stdout.splitlines()[2:]))
    assert parsed["switches"] == (record.nvcsw, record.nivcsw)
    assert raw.stat().st_mode & 0o777 == 0o644


THREADED = r"""
import os, sys, threading, time
def work(n):
    x = 0
    for i in range(n):
        x += i
    time.sleep(0.01)
    barrier.wait()
barrier = threading.Barrier(3)
threads = [threading.Thread(target=work, args=(n,)) for n in (300000, 100000)]
for t in threads:
    t.start()
time.sleep(0.05)
print(" ".join(os.listdir("/proc/self/task")), flush=True)
sys.stdin.readline()
barrier.wait()
for t in threads:
    t.join()
"""


@requires_kernel
def test_tgid_report_sums_the_kernel_and_takes_max_from_threads() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", THREADED], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        tids = sorted(int(t) for t in child.stdout.readline().split())
        assert len(tids) == 3
        done = tsmon(
            "report", "-v", "-d", "-i", "-t", str(child.pid), "--backend", "netlink", "--json"
        )
        assert done.returncode == 0, done.stderr
        (obj,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert "3 live thread(s)" in done.stderr
        threads = [
            json.loads(tsmon("report", "-p", str(t), "--json", "--backend", "netlink").stdout)
            for t in tids
        ]
        assert obj["type"] == "tgid" and obj["threads"] == 3
        assert obj["cpu_delay_max"] >= max(t["cpu_delay_max"] for t in threads)
        mins = [t["cpu_delay_min"] for t in threads if t["cpu_delay_min"]]
        assert not mins or obj["cpu_delay_min"] <= min(mins)
        assert obj["cpu_count"] >= sum(t["cpu_count"] for t in threads) - 3
        assert (
            obj["ac_comm"]
            == threads[0]["ac_comm"]
            == Path(f"/proc/{child.pid}/comm").read_text().strip()
        )
        text = tsmon("report", "-d", "-t", str(child.pid), "--backend", "netlink")
        assert text.stdout.splitlines()[1] == f"TGID\t{child.pid}"
    finally:
        child.communicate("go\n", timeout=30)


CHILD_EXITING = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for _ in range(8):
    os.write(fd, b"b" * 65536)
os.fsync(fd)
os.close(fd)
with open("/proc/self/io") as f:
    io = dict((k, int(v)) for k, v in (line.split(":") for line in f))
print("IO " + repr(io), flush=True)
os._exit(3)
"""


@requires_kernel
def test_command_reports_its_own_stats_and_exit_code(tmp_path: Path) -> None:
    done = tsmon(
        "report", "-d", "-i", "-q", "--backend", "netlink",
        "-c", sys.executable, "-c", CHILD_EXITING, str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    io_line = next(line for line in lines if line.startswith("IO "))
    own = eval(io_line[3:], {})  # the child's own /proc/self/io just before exiting
    body = lines[lines.index(io_line) + 1 :]
    assert body[0].startswith("PID\t")
    assert body[-1] == "exit status 3"
    (record,) = split_report("\n".join(body[:-1]))
    comm, read, write, _cancelled = record["io"]  # type: ignore[misc]
    assert write == own["write_bytes"] >= 8 * 65536
    assert read == own["read_bytes"]
    assert comm.startswith("python")
    assert int(record["delays"]["CPU"]["count"]) >= 1  # type: ignore[index]

    as_json = tsmon("report", "--json", "--backend", "netlink", "-c", "sh", "-c", "exit 7")
    assert as_json.returncode == 0, as_json.stderr
    (obj,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert obj["exit_code"] == 7 and obj["ac_exitcode"] == 7 << 8 and obj["signal"] is None
    assert obj["ac_comm"] == "sh" and obj["command"] == ["sh", "-c", "exit 7"]

    killed = tsmon("report", "--backend", "netlink", "-c", "sh", "-c", "kill -KILL $$")
    assert killed.stdout.splitlines()[-1] == "killed by signal 9 (SIGKILL)"


def _possible_cpus() -> str:
    return Path("/sys/devices/system/cpu/possible").read_text().strip()


def _start_listener(*extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsmon", "report", "-v", "-m", _possible_cpus(), "-l", "-d",
         "--json", "--backend", "netlink", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO),
    )  # fmt: skip
    err = LineReader(proc.stderr)
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline:
        line = err.readline(1)
        if line is not None:
            seen += line + "\n"
            if "Sent register cpumask" in line:
                return proc
        elif err.eof:
            break
    proc.kill()
    raise AssertionError(f"the listener did not start: {seen}")


THREADS_THEN_EXIT = r"""
import os, threading
tids = []
def work():
    tids.append(threading.get_native_id())
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(os.getpid(), *tids, flush=True)
os._exit(5)
"""


@requires_kernel
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_listener_prints_exits_of_processes_and_threads(stop: signal.Signals) -> None:
    listener = _start_listener()
    try:
        single = subprocess.Popen(["sh", "-c", "exit 3"])
        assert single.wait() == 3
        child = subprocess.run(
            [sys.executable, "-c", THREADS_THEN_EXIT], capture_output=True, text=True
        )
        assert child.returncode == 5
        pid, *thread_ids = (int(x) for x in child.stdout.split())
        wanted = {pid, *thread_ids, single.pid}
        seen: dict[tuple[str, int], dict[str, object]] = {}
        out = LineReader(listener.stdout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            all(("pid", t) in seen for t in wanted) and ("tgid", pid) in seen
        ):
            line = out.readline(1)
            if line:
                obj = json.loads(line)
                seen[(obj["type"], obj["id"])] = obj
        for tid in wanted:
            assert ("pid", tid) in seen, f"exit of {tid} not reported"
            assert seen[("pid", tid)]["event"] == "exit"
        assert seen[("pid", pid)]["ac_exitcode"] == 5 << 8
        group = seen[("tgid", pid)]
        assert group["type"] == "tgid" and group["cpu_count"] >= 1
        assert seen[("pid", single.pid)]["ac_exitcode"] == 3 << 8
        assert ("tgid", single.pid) not in seen  # single-threaded: no group record
    finally:
        listener.send_signal(stop)
        _, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    assert "Traceback" not in err


@requires_kernel
def test_listener_without_l_prints_one_exit_and_deregisters() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsmon", "report", "-m", _possible_cpus(), "-d",
         "--backend", "netlink"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(REPO),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        subprocess.run(["true"], check=True)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"cpumask {_possible_cpus()} maskset 1"
    assert lines[1] == "print delayacct stats ON"
    assert lines[2].startswith("PID\t")
    assert lines[-1] == "Sent deregister mask, retval 0"
    assert len([line for line in lines if line.startswith("PID\t")]) == 1


def _imported(*args: str) -> set[str]:
    """Modules (and their top-level packages) a tsmon run imports (python -X importtime)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tsmon", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=str(REPO),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            names.update((module, module.split(".")[0]))
    assert "tsmon" in names
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["report", "-d", "-i", "-q", "-p", "1", "--backend", "sim"],
        ["batch", "-n", "1", "-d", "0.05", "--backend", "sim", "--columns", "cpu,rchar_bps"],
        ["report", "--backend", "sim", "-t", "1", "--json"],
    ],
)
def test_report_and_batch_never_load_the_ui_or_pyroute2(args: list[str]) -> None:
    loaded = _imported(*args)
    for heavy in ("textual", "rich", "humanize", "pyroute2"):
        assert heavy not in loaded, f"tsmon {args[0]} imported {heavy}"


def test_report_from_a_recording(tmp_path: Path) -> None:
    """--from FILE: the last frame by default, --at picks an earlier one; same layout."""
    session = pytest.importorskip("tsmon_core.session")
    from tsmon_core.backends import open_backend

    backend = open_backend("sim", seed=3)
    path = tmp_path / "rec.jsonl"
    writer = session.SessionWriter(str(path), info=backend.info, interval=1.0)
    frames = []
    for _ in range(4):
        frame = backend.collect()
        writer.write(frame, delayacct=backend.delayacct())
        frames.append(frame)
    writer.close()
    backend.close()
    tid = next(t for t in sorted(frames[-1].tasks) if t in frames[0].tasks)
    last, first = frames[-1].tasks[tid], frames[0].tasks[tid]

    done = tsmon("report", "--from", str(path), "-d", "-i", "-p", str(tid))
    assert done.returncode == 0, done.stderr
    assert "REPLAYED" in done.stderr
    (record,) = split_report("\n".join(done.stdout.splitlines()[2:]))
    assert int(record["delays"]["CPU"]["count"]) == last.cpu_count  # type: ignore[index]
    assert record["io"][2] == (last.write_bytes or 0)  # type: ignore[index]

    at_start = tsmon("report", "--from", str(path), "--at", "0", "--json", "-p", str(tid))
    obj = json.loads(at_start.stdout)
    assert obj["backend"] == "replay" and obj["cpu_count"] == first.cpu_count
    assert obj["cpu_delay_total"] == first.cpu_delay_total

    bad = tsmon("report", "--from", str(path), "--at", "soon", "-p", str(tid))
    assert bad.returncode == 2 and "'soon' is not a time" in bad.stderr
    needs_from = tsmon("report", "--at", "5", "-p", str(tid))
    assert needs_from.returncode == 2 and "needs --from FILE" in needs_from.stderr


@requires_kernel
def test_report_on_the_kernel_does_not_load_the_simulator() -> None:
    """auto picks netlink here: the simulator (tens of ms to import) stays unloaded."""
    loaded = _imported("report", "-d", "-p", "1")
    assert "tsmon_core.backends.live" in loaded
    assert "tsmon_core.backends.sim" not in loaded and "tsmon_core.sim" not in loaded
