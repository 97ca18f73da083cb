"""The live backend against this machine's kernel, cross-checked with /proc and sysfs.

Every child process is killed (if still alive) and reaped before its test ends.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tsmon_core import abi
from tsmon_core.backends import Backend, ExitListener, open_backend
from tsmon_core.backends.live import NetlinkBackend
from tsmon_core.errors import (
    CgroupPathError,
    CgroupUnsupportedError,
    CpumaskError,
    FamilyUnavailableError,
    KernelError,
    ListenerOverflowError,
    PermissionDeniedError,
    TaskGoneError,
)
from tsmon_core.model import ExitEvent
from tsmon_core.netlink import (
    DEFAULT_BATCH,
    NETLINK_GENERIC,
    ExitListenerSocket,
    TaskstatsSocket,
    resolve_family,
)

pytestmark = pytest.mark.kernel

KIB = 1024
WRITES = 2560  # write(2) calls of 1 KiB each: 640 whole pages, more than 2048 syscalls

IO_CHILD = """
import os, sys
path = sys.argv[1]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
chunk = b"x" * 1024
for _ in range(int(sys.argv[2])):
    os.write(fd, chunk)
os.fsync(fd)
os.close(fd)
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
while os.read(fd, 1024):
    pass
os.close(fd)
print("ready", flush=True)
sys.stdin.read()
"""

THREADS_CHILD = """
import sys, threading, time
def early():
    for _ in range(5):
        time.sleep(0.001)
gone = threading.Thread(target=early)
gone.start()
gone.join()
stop = threading.Event()
def worker():
    for _ in range(3):
        time.sleep(0.001)
    stop.wait()
threads = [threading.Thread(target=worker) for _ in range(int(sys.argv[1]))]
for t in threads:
    t.start()
time.sleep(0.05)
print("ready", flush=True)
sys.stdin.read()
stop.set()
"""

EXIT_CHILD = """
import os, sys, threading, time
def name(text):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(text)
tids = [0, 0, 0]
def worker(i):
    name(f"tsm-w{i}")
    tids[i] = threading.get_native_id()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
while len(os.listdir("/proc/self/task")) > 1:  # the OS threads may still be exiting
    time.sleep(0.001)
name("tsm-main")
print(" ".join(map(str, tids)), flush=True)
sys.exit(3)
"""

PIPE_CHILD = """
import os, sys, threading
r, w = os.pipe()
threads = [threading.Thread(target=os.read, args=(r, 1)) for _ in range(int(sys.argv[1]))]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
os.write(w, b"x" * len(threads))
"""

BURST_CHILD = """
import sys, threading
threads = [threading.Thread(target=int) for _ in range(int(sys.argv[1]))]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def _skip_reason() -> str | None:
    try:
        NetlinkBackend().close()
    except FamilyUnavailableError as exc:
        return f"no TASKSTATS family in this kernel: {exc}"
    except PermissionDeniedError as exc:
        return f"no CAP_NET_ADMIN here: {exc}"
    return None


@pytest.fixture(scope="module")
def backend() -> Iterator[NetlinkBackend]:
    """A live backend, or a skip saying why the kernel interface is unusable here."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with NetlinkBackend() as b:
        yield b


@pytest.fixture
def delayacct_on() -> Iterator[None]:
    """kernel.task_delayacct=1 for the test, restored afterwards."""
    path = Path("/proc/sys/kernel/task_delayacct")
    if not path.exists():
        pytest.skip("this kernel has no kernel.task_delayacct switch")
    old = path.read_text()
    path.write_text("1\n")
    try:
        yield
    finally:
        path.write_text(old)


@contextmanager
def child(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A python child running ``script``; killed if needed and always reaped."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()


def line_from(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The child's next output line (fails instead of hanging)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the child said nothing"
    line = proc.stdout.readline()
    assert line, f"the child died (status {proc.wait(timeout=10)})"
    return line.strip()


def ready(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Wait for the child's "ready", then until every thread sleeps and its counters stand still."""
    assert line_from(proc) == "ready"
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        snapshot = []
        try:
            for tid in sorted(os.listdir(f"/proc/{proc.pid}/task")):
                task = f"/proc/{proc.pid}/task/{tid}"
                state = Path(f"{task}/stat").read_text().rsplit(")", 1)[1].split()[0]
                snapshot.append((tid, state, Path(f"{task}/schedstat").read_text()))
        except FileNotFoundError:
            continue  # a thread exited while we looked
        if snapshot == previous and all(state == "S" for _, state, _ in snapshot):
            return
        previous = snapshot
        time.sleep(0.005)
    raise AssertionError(f"child {proc.pid} did not settle")


def proc_fields(path: str, sep: str = ":") -> dict[str, int]:
    """``name: number`` lines of a /proc file."""
    fields: dict[str, int] = {}
    for row in Path(path).read_text().splitlines():
        name, _, value = row.partition(sep)
        with suppress(ValueError, IndexError):
            fields[name.strip()] = int(value.split()[0])
    return fields


def kernel_drops(inode: int) -> int:
    """The Drops column of /proc/net/netlink for a socket inode (parsed here, independently)."""
    lines = Path("/proc/net/netlink").read_text().splitlines()
    header = lines[0].split()
    for line in lines[1:]:
        row = dict(zip(header, line.split(), strict=True))
        if row.get("Inode") == str(inode):
            return int(row["Drops"])
    raise AssertionError(f"socket inode {inode} is not in /proc/net/netlink")


def disk_dir(tmp_path: Path) -> Path:
    """A directory on a block-device filesystem (tmpfs would show no storage I/O)."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    for candidate in (tmp_path, Path("/var/tmp"), Path(__file__).parent):
        real = str(candidate.resolve())
        best = max(
            (m for m in mounts if real == m[1] or real.startswith(m[1].rstrip("/") + "/")),
            key=lambda m: len(m[1]),
        )
        if best[2] not in ("tmpfs", "ramfs", "overlay"):
            return candidate
    pytest.skip("no disk-backed directory to write to")


def read_events(listener: ExitListener, until: object, timeout: float = 10.0) -> list[ExitEvent]:
    """Events read until ``until(events)`` holds or ``timeout`` passes."""
    events: list[ExitEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += listener.read(0.2)
        if until(events):  # type: ignore[operator]
            break
    return events


# --- opening and identity -------------------------------------------------------------------


def test_info_describes_this_kernel(backend: NetlinkBackend) -> None:
    info = backend.info
    assert isinstance(backend, Backend)
    assert info.kind == "netlink" and not info.simulated
    assert info.kernel_release == os.uname().release
    assert info.struct_version == backend.query_pid(os.getpid()).version
    assert info.struct_version is not None and info.struct_version >= 1
    assert info.cpus == Path("/sys/devices/system/cpu/possible").read_text().strip()
    ranges = [part.split("-") for part in info.cpus.split(",")]
    assert info.nr_cpus == sum(int(r[-1]) - int(r[0]) + 1 for r in ranges)
    assert info.hostname == os.uname().nodename
    sysctl = Path("/proc/sys/kernel/task_delayacct").read_text().strip()
    assert info.delayacct is (sysctl != "0")


def test_family_id_matches_pyroute2(backend: NetlinkBackend) -> None:
    from pyroute2 import TaskStats

    ts = TaskStats()
    try:
        ts.bind()
        assert backend.family_id == ts.prid == resolve_family()
    finally:
        ts.close()


def test_missing_family_is_typed() -> None:
    with pytest.raises(FamilyUnavailableError, match="NO_SUCH_FAMILY"):
        resolve_family(name="NO_SUCH_FAMILY")


def test_open_backend_netlink(backend: NetlinkBackend) -> None:
    other = open_backend("netlink", reason="asked")
    try:
        assert isinstance(other, NetlinkBackend)
        assert other.info.kind == "netlink" and other.info.reason == "asked"
    finally:
        other.close()


# --- PID queries cross-checked with /proc ---------------------------------------------------


def test_pid_query_matches_proc_io_status_schedstat(
    backend: NetlinkBackend, tmp_path: Path
) -> None:
    target = disk_dir(tmp_path) / f"tsmon-io-{os.getpid()}.bin"
    try:
        with child(IO_CHILD, str(target), str(WRITES)) as proc:
            ready(proc)
            task = f"/proc/{proc.pid}/task/{proc.pid}"
            io = proc_fields(f"{task}/io")
            status = proc_fields(f"{task}/status")
            run, delay, count = map(int, Path(f"{task}/schedstat").read_text().split())
            comm = Path(f"{task}/comm").read_text().strip()
            rec = backend.query_pid(proc.pid)
    finally:
        target.unlink(missing_ok=True)
    assert rec.ac_pid == proc.pid and rec.ac_comm == comm
    # Storage bytes: 640 dirtied pages written back by fsync, re-read after FADV_DONTNEED.
    assert rec.write_bytes == io["write_bytes"] >= WRITES * KIB
    assert rec.read_bytes == io["read_bytes"] > 0
    # The kernel rounds these four down to whole KiB.
    mask = ~(KIB - 1)
    assert rec.write_char == io["wchar"] & mask >= WRITES * KIB
    assert rec.read_char == io["rchar"] & mask >= WRITES * KIB
    assert rec.write_syscalls == io["syscw"] & mask >= 2 * KIB
    assert rec.read_syscalls == io["syscr"] & mask >= 2 * KIB
    assert rec.nvcsw == status["voluntary_ctxt_switches"] > 0
    assert rec.nivcsw == status["nonvoluntary_ctxt_switches"]
    assert (rec.cpu_run_virtual_total, rec.cpu_delay_total, rec.cpu_count) == (run, delay, count)
    assert rec.cpu_run_virtual_total > 0 and rec.cpu_count > 0
    assert rec.ac_exitcode == 0 and rec.ac_uid == os.getuid() and rec.ac_ppid == os.getpid()


def test_tgid_query_sums_live_and_dead_threads(backend: NetlinkBackend) -> None:
    with child(THREADS_CHILD, "4") as proc:
        ready(proc)
        tids = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task"))
        assert len(tids) == 5
        live_nvcsw = sum(
            proc_fields(f"/proc/{proc.pid}/task/{t}/status")["voluntary_ctxt_switches"]
            for t in tids
        )
        threads = [backend.query_pid(t) for t in tids]
        group = backend.query_tgid(proc.pid)
        by_other_tid = backend.query_tgid(tids[-1])
    # Live threads plus the early thread that exited after at least 5 sleeps.
    assert group.nvcsw >= live_nvcsw + 5
    assert group.nvcsw >= sum(r.nvcsw for r in threads) + 5
    assert group.cpu_run_virtual_total >= sum(r.cpu_run_virtual_total for r in threads)
    assert group.cpu_count >= sum(r.cpu_count for r in threads)
    # The kernel fills only the summed fields of a TGID record.
    assert group.ac_comm == "" and group.ac_pid == 0 and group.read_bytes == 0
    assert by_other_tid.nvcsw == group.nvcsw


def test_query_many_agrees_with_query_pid(backend: NetlinkBackend) -> None:
    moving = {"ac_etime", "ac_tgetime", "ac_btime", "ac_btime64"}  # elapsed time moves on
    with child(THREADS_CHILD, str(DEFAULT_BATCH + 20)) as proc:  # more than one datagram
        ready(proc)
        tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
        gone = _gone_pid()
        many = backend.query_many([*tids, gone, 0])
        single = {t: backend.query_pid(t) for t in tids}
    assert set(many) == set(tids)
    for tid in tids:
        a = {k: v for k, v in many[tid].as_dict().items() if k not in moving}
        b = {k: v for k, v in single[tid].as_dict().items() if k not in moving}
        assert a == b, tid
        assert many[tid].ac_pid == tid and many[tid].ac_tgid == proc.pid
    assert backend.query_many([]) == {}
    assert backend.query_many([gone]) == {}


@pytest.mark.parametrize("slot_size", [64, 8192])
def test_replies_cut_short_by_their_slot_are_asked_again(
    backend: NetlinkBackend, slot_size: int
) -> None:
    """A reply longer than its slot (64 bytes here) is asked for again; nothing is lost."""
    sock = TaskstatsSocket(backend.family_id, slot_size=slot_size)
    try:
        with child(THREADS_CHILD, str(DEFAULT_BATCH + 5)) as proc:
            ready(proc)
            tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
            many = sock.query_many([*tids, _gone_pid()])
            again = sock.query_many(tids)  # after a cut, the one-per-read reader goes on
        assert set(many) == set(again) == set(tids)
        assert all(many[t].ac_pid == t and many[t].ac_tgid == proc.pid for t in tids)
        reader = sock._datagrams
        assert reader is not None and reader.native == (slot_size == 8192)  # cut: recv_into
    finally:
        sock.close()


def _gone_pid() -> int:
    """The pid of a child that has been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("which", ["reaped", "zero", "huge"])
def test_missing_task_is_task_gone(backend: NetlinkBackend, which: str) -> None:
    task_id = {"reaped": _gone_pid(), "zero": 0, "huge": 4_000_000}[which]
    with pytest.raises(TaskGoneError) as caught:
        backend.query_pid(task_id)
    assert caught.value.errno == errno.ESRCH and caught.value.task_id == task_id
    with pytest.raises(TaskGoneError):
        backend.query_tgid(task_id)


def test_list_tasks_maps_threads_to_their_group(backend: NetlinkBackend) -> None:
    with child(THREADS_CHILD, "3") as proc:
        ready(proc)
        tids = {int(t) for t in os.listdir(f"/proc/{proc.pid}/task")}
        tasks = backend.list_tasks()
    assert {t: tasks.get(t) for t in tids} == dict.fromkeys(tids, proc.pid)
    assert tasks[os.getpid()] == os.getpid()
    assert tasks[1] == 1


def test_collect_builds_a_frame(backend: NetlinkBackend) -> None:
    with backend.open_listener() as listener, child(THREADS_CHILD, "2") as proc:
        ready(proc)
        tids = {int(t) for t in os.listdir(f"/proc/{proc.pid}/task")}
        first = backend.collect(listener)
        second = backend.collect(listener)
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        later = backend.collect(listener)
        deadline = time.monotonic() + 5
        exits = list(later.exits)
        while proc.pid not in {e.tid for e in exits} and time.monotonic() < deadline:
            exits += backend.collect(listener).exits
    assert tids <= set(first.tasks) and {first.tgids[t] for t in tids} == {proc.pid}
    assert set(first.tgids) == set(first.tasks)
    assert first.cmdlines[proc.pid].startswith(sys.executable + " -c ")
    assert proc.pid not in second.cmdlines  # only groups new since the previous frame
    assert first.t_mono <= second.t_mono and abs(first.t_wall - time.time()) < 60
    assert proc.pid not in later.tasks
    assert tids <= {e.tid for e in exits}
    assert first.lost == second.lost == 0


def test_collect_survives_listener_overflow(backend: NetlinkBackend) -> None:
    with backend.open_listener(rcvbuf=8192) as listener:
        with child(BURST_CHILD, "300") as proc:
            assert proc.wait(timeout=30) == 0
        first = backend.collect(listener)
        second = backend.collect(listener)
    assert 0 < first.lost <= second.lost
    assert first.exits or second.exits  # what was drained with the error is not lost
    assert os.getpid() in first.tasks and os.getpid() in second.tasks


def test_cmdline(backend: NetlinkBackend) -> None:
    own = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ")
    assert backend.cmdline(os.getpid()) == own.decode()
    assert backend.cmdline(2) is None  # kthreadd: a kernel thread has no command line
    assert backend.cmdline(_gone_pid()) is None


# --- delay accounting -----------------------------------------------------------------------


def test_delayacct_switch(backend: NetlinkBackend, delayacct_on: None) -> None:
    assert backend.delayacct() is True
    backend.set_delayacct(False)
    assert Path("/proc/sys/kernel/task_delayacct").read_text().strip() == "0"
    assert backend.delayacct() is False
    backend.set_delayacct(True)
    assert backend.delayacct() is True


def test_io_delays_need_delayacct_at_fork(
    backend: NetlinkBackend, tmp_path: Path, delayacct_on: None
) -> None:
    target = disk_dir(tmp_path) / f"tsmon-delay-{os.getpid()}.bin"
    try:
        with child(IO_CHILD, str(target), "512") as proc:
            ready(proc)
            on = backend.query_pid(proc.pid)
        backend.set_delayacct(False)
        with child(IO_CHILD, str(target), "512") as proc:
            ready(proc)
            off = backend.query_pid(proc.pid)
    finally:
        target.unlink(missing_ok=True)
    assert on.blkio_count > 0 and on.blkio_delay_total > 0
    assert on.blkio_delay_max >= on.blkio_delay_min > 0
    assert off.blkio_count == 0 and off.blkio_delay_total == 0
    assert off.cpu_count > 0  # CPU delays come from sched_info either way


# --- exit listener ----------------------------------------------------------------------------


def test_listener_hears_threads_and_group_exit(backend: NetlinkBackend) -> None:
    with backend.open_listener() as listener:
        assert listener.cpumask == backend.info.cpus
        with child(EXIT_CHILD) as proc:
            workers = [int(t) for t in line_from(proc).split()]
            assert proc.wait(timeout=10) == 3
        events = read_events(listener, lambda evs: proc.pid in {e.tid for e in evs})
    mine = {e.tid: e for e in events if e.tid in {proc.pid, *workers}}
    assert set(mine) == {proc.pid, *workers}
    for i, tid in enumerate(workers):
        event = mine[tid]
        assert event.stats.ac_comm == f"tsm-w{i}" and event.stats.ac_pid == tid
        assert event.stats.ac_tgid == proc.pid and event.stats.ac_exitcode == 0
        assert not event.stats.is_group_exit and event.tgid is None
    last = mine[proc.pid]
    assert last.stats.ac_comm == "tsm-main" and last.stats.ac_exitcode == 768  # exit(3)
    assert last.stats.is_group_exit and last.stats.ac_flag & abi.AGROUP
    assert last.tgid == proc.pid and last.group_stats is not None  # the AGGR_TGID record
    assert last.group_stats.ac_comm == ""
    assert last.group_stats.nvcsw >= sum(mine[t].stats.nvcsw for t in workers)
    assert last.lost == 0 and last.t_mono <= time.monotonic()


def test_listener_exit_code_of_single_threaded_child(backend: NetlinkBackend) -> None:
    with backend.open_listener() as listener:
        proc = subprocess.Popen(["sh", "-c", "exit 5"])
        assert proc.wait(timeout=10) == 5
        events = read_events(listener, lambda evs: proc.pid in {e.tid for e in evs})
    event = next(e for e in events if e.tid == proc.pid)
    assert event.stats.ac_exitcode == 5 << 8 and event.stats.is_group_exit
    assert event.tgid is None and event.group_stats is None  # never had a second thread


def test_listener_only_hears_its_cpus(backend: NetlinkBackend) -> None:
    if backend.info.nr_cpus < 2 or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two usable CPUs")
    with backend.open_listener("0") as listener:
        pinned = {}
        for cpu in (0, 1):
            proc = subprocess.Popen(["taskset", "-c", str(cpu), "true"])
            assert proc.wait(timeout=10) == 0
            pinned[cpu] = proc.pid
        events = read_events(listener, lambda evs: pinned[0] in {e.tid for e in evs}, 5)
        seen = {e.tid for e in events} | {e.tid for e in listener.read(0.2)}
    assert pinned[0] in seen and pinned[1] not in seen


def _drain(listener: ExitListener, until: object, timeout: float) -> tuple[list[ExitEvent], int]:
    """Events read until ``until(events)`` holds or ``timeout`` passes, and the overflows seen.

    Other work on the machine may overflow a tiny buffer again at any time: that is counted.
    """
    events: list[ExitEvent] = []
    overflows = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events += listener.read(0.05)
        except ListenerOverflowError:
            overflows += 1
            continue
        if until(events):  # type: ignore[operator]
            break
    return events, overflows


def _settled_drops(listener: ExitListenerSocket, inode: int) -> tuple[int, int]:
    """``listener.lost`` and the kernel's count, read when no exit slipped in between."""
    for _ in range(20):
        lost, drops = listener.lost, kernel_drops(inode)
        if lost == drops:
            break
        with suppress(ListenerOverflowError):
            listener.read(0.0)
    return lost, drops


def test_listener_overflow_counts_exactly_what_the_kernel_dropped(
    backend: NetlinkBackend,
) -> None:
    burst = 400
    with backend.open_listener(rcvbuf=8192) as listener:
        assert isinstance(listener, ExitListenerSocket)
        inode = os.fstat(listener.fileno()).st_ino
        assert listener.rcvbuf <= 64 * KIB
        with child(BURST_CHILD, str(burst)) as proc:
            assert proc.wait(timeout=30) == 0
        with pytest.raises(ListenerOverflowError) as caught:
            listener.read(0.0)
        assert caught.value.errno == errno.ENOBUFS and caught.value.lost > 0
        # The events drained along with the error come with the next reads.
        events, _ = _drain(listener, lambda evs: proc.pid in {e.tid for e in evs}, 1.0)
        lost, drops = _settled_drops(listener, inode)
        assert lost == drops >= caught.value.lost
        ours = {e.tid for e in events if e.stats.ac_tgid == proc.pid}
        assert len(ours) + lost >= burst + 1
        assert all(e.lost <= lost for e in events)
        # Still registered: later exits are heard, and a second burst is a second episode.
        probes = []
        for _ in range(5):
            probe = subprocess.Popen(["true"])
            probe.wait(timeout=10)
            probes.append(probe.pid)
            pid = probe.pid
            heard, _ = _drain(listener, lambda evs, pid=pid: pid in {e.tid for e in evs}, 2.0)
            if pid in {e.tid for e in heard}:
                break
        else:
            pytest.fail(f"none of the exits of {probes} was heard after the overflow")
        with child(BURST_CHILD, str(burst)) as proc:
            assert proc.wait(timeout=30) == 0
        with pytest.raises(ListenerOverflowError):
            listener.read(0.0)
        _drain(listener, lambda evs: False, 0.2)
        again, drops = _settled_drops(listener, inode)
        assert again == drops > lost


def test_listener_close_deregisters(backend: NetlinkBackend) -> None:
    listener = backend.open_listener()
    portid = listener.portid
    listener.close()
    listener.close()
    assert listener.fileno() is None and listener.read(0.0) == []
    # A kernel entry left behind would deliver exits to the next socket owning that portid.
    heir = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        heir.bind((portid, 0))
        subprocess.run(["true"], check=True)
        assert select.select([heir], [], [], 0.3)[0] == []
    finally:
        heir.close()


def _too_long_mask() -> str:
    return "0" + ",0" * 30000  # past 100 + 6 * NR_CPUS for any NR_CPUS up to 8192


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("garbage", errno.EINVAL),
        ("", errno.EINVAL),
        ("0-1-2", errno.EINVAL),
        ("0-", errno.EINVAL),  # a range without its end: once misread as "0"
        ("NRCPU", errno.ERANGE),
        ("0-NRCPU", errno.ERANGE),
        ("TOOLONG", errno.E2BIG),
    ],
)
def test_bad_cpumask(backend: NetlinkBackend, mask: str, expected: int) -> None:
    nr_cpu_ids = max(int(p.rsplit("-", 1)[-1]) for p in backend.info.cpus.split(",")) + 1
    mask = _too_long_mask() if mask == "TOOLONG" else mask.replace("NRCPU", str(nr_cpu_ids))
    with pytest.raises(CpumaskError) as caught:
        backend.open_listener(mask)
    assert caught.value.errno == expected and caught.value.mask == mask


# --- cgroupstats ------------------------------------------------------------------------------


def _v1_hierarchy() -> Path:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _dev, mnt, fstype, opts, *_ = line.split()
        if fstype == "cgroup" and "cpu" in opts.split(","):
            return Path(mnt)
    pytest.skip("no cgroup v1 cpu hierarchy mounted")


def test_cgroupstats_counts_a_child_in_a_fresh_v1_cgroup(backend: NetlinkBackend) -> None:
    group = _v1_hierarchy() / f"tsmon-test-{os.getpid()}"
    group.mkdir()
    try:
        with child(PIPE_CHILD, "4") as proc:
            ready(proc)
            (group / "cgroup.procs").write_text(f"{proc.pid}\n")
            threads = (group / "tasks").read_text().split()
            deadline = time.monotonic() + 5
            stats = backend.cgroup_stats(str(group))
            while stats.nr_sleeping < 5 and time.monotonic() < deadline:
                time.sleep(0.01)  # the threads are on their way into read()
                stats = backend.cgroup_stats(str(group))
            proc.kill()
            proc.wait(timeout=10)
        empty = backend.cgroup_stats(str(group))
    finally:
        deadline = time.monotonic() + 5
        while True:
            try:
                group.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    assert len(threads) == 5
    assert stats.nr_sleeping == 5  # every thread blocked reading a pipe (TASK_INTERRUPTIBLE)
    assert stats.nr_running == stats.nr_stopped == stats.nr_uninterruptible == 0
    assert sum(empty) == 0
    root = backend.cgroup_stats(str(_v1_hierarchy()))
    assert root.nr_sleeping + root.nr_running >= 1


@contextmanager
def cgroup2_dir(tmp_path: Path) -> Iterator[Path]:
    """A cgroup2 directory: an existing mount, or one mounted here and unmounted after."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _dev, mnt, fstype, *_ = line.split()
        if fstype == "cgroup2":
            yield Path(mnt)
            return
    where = tmp_path / "cgroup2"
    where.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_cgroupstats_on_cgroup2_is_unsupported(backend: NetlinkBackend, tmp_path: Path) -> None:
    with cgroup2_dir(tmp_path) as where, pytest.raises(CgroupUnsupportedError) as caught:
        backend.cgroup_stats(str(where))
    assert caught.value.errno == errno.EINVAL and str(where) in str(caught.value)
    with pytest.raises(CgroupUnsupportedError):
        backend.cgroup_stats(str(tmp_path))  # a plain directory


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_cgroupstats_bad_path_is_typed(backend: NetlinkBackend, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nowhere"
    expected = errno.ENOENT
    if kind == "file":
        path = _v1_hierarchy() / "tasks"
        expected = errno.ENOTDIR
    with pytest.raises(CgroupPathError) as caught:
        backend.cgroup_stats(str(path))
    assert caught.value.errno == expected and str(path) in str(caught.value)


def test_cgroupstats_bad_fd_never_hangs(backend: NetlinkBackend) -> None:
    sock = TaskstatsSocket(backend.family_id)
    try:
        fd = os.open("/", os.O_RDONLY)
        os.close(fd)  # a descriptor number that is now closed
        started = time.monotonic()
        with pytest.raises(KernelError) as caught:
            sock.cgroupstats(fd)
        assert time.monotonic() - started < 1.0  # answered by the ACK, not a timeout
        assert caught.value.errno == errno.EBADF
    finally:
        sock.close()
