"""The simulated kernel and backend: parity with kernel/taskstats.c, byte for byte.

Reply sizes and errnos are those of the reference (shared/reference/taskstats-kernel.md) and of
a probe of the 6.18 kernel this was written on; where that kernel is reachable, one test sends
the same requests to both and compares the shapes of the answers.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Callable

import pytest

from tsmon_core import abi
from tsmon_core.backends import Backend, ExitListener, RawFrame, open_backend
from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.decode import (
    CgroupstatsMessage,
    ErrorReply,
    decode_datagram,
    decode_reply_fast,
    iter_attrs,
)
from tsmon_core.encode import encode_attr, encode_genl, encode_request, encode_taskstats_message
from tsmon_core.errors import (
    CgroupPathError,
    CgroupUnsupportedError,
    CpumaskError,
    DecodeError,
    ListenerOverflowError,
    PermissionDeniedError,
    TaskGoneError,
)
from tsmon_core.model import ExitEvent, TaskStats, TaskstatsMessage, record_class
from tsmon_core.sim import PROFILES, Profile, SimKernel, parse_cpulist, skb_truesize

GET = abi.TASKSTATS_CMD_GET
PID = abi.TASKSTATS_CMD_ATTR_PID
TGID = abi.TASKSTATS_CMD_ATTR_TGID
REGISTER = abi.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK
DEREGISTER = abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK
NLM_F_CAPPED = 0x100

ADDITIVE = ("cpu_count", "cpu_delay_total", "cpu_run_real_total", "cpu_run_virtual_total",
            "blkio_count", "blkio_delay_total", "ac_etime", "ac_utime", "ac_stime", "nvcsw",
            "nivcsw")  # fmt: skip
COUNTERS = (*ADDITIVE, "ac_minflt", "ac_majflt", "read_char", "write_char", "read_syscalls",
            "write_syscalls", "read_bytes", "write_bytes", "cancelled_write_bytes", "coremem",
            "virtmem", "swapin_count", "swapin_delay_total", "freepages_count",
            "freepages_delay_total", "thrashing_count", "thrashing_delay_total", "compact_count",
            "compact_delay_total", "wpcopy_count", "wpcopy_delay_total", "irq_count",
            "irq_delay_total", "ac_tgetime")  # fmt: skip
NON_CPU_DELAYS = tuple(f"{k}_count" for k, _ in abi.DELAY_KINDS if k != "cpu")
# Waits for I/O on every other wake-up, never quiet: I/O delays are certain within a second.
IO_BOUND = Profile("io-bound", rate=200.0, run_us=100.0, wchar=4096.0, syscw=1.0,
                   write_bytes=4096.0, blkio=(0.5, 900.0), wpcopy=(0.1, 3.0), running=0.2,
                   blocked=0.5)  # fmt: skip


def quiet(version: int = 17, **options: object) -> SimulatedBackend:
    """An empty machine on a virtual clock: nothing starts or ends unless a test says so."""
    settings: dict[str, object] = {"clock": "virtual", "tasks": 0, "churn": 0, "cpus": 2}
    settings.update(options)
    return SimulatedBackend(seed=11, version=version, **settings)  # type: ignore[arg-type]


def ask(kernel: SimKernel, data: bytes, portid: int = 4242) -> list[bytes]:
    return kernel.handle(data, portid)


def errno_of(replies: list[bytes]) -> int:
    assert len(replies) == 1, replies
    (reply,) = decode_datagram(replies[0])
    assert isinstance(reply, ErrorReply)
    return reply.errno


def pid_request(kernel: SimKernel, task_id: int, attr: int = PID, **kw: object) -> bytes:
    return encode_request(kernel.family_id, GET, attr, task_id, **kw)  # type: ignore[arg-type]


def thread_ids(backend: SimulatedBackend, tgid: int) -> list[int]:
    return [t.tid for t in backend.kernel.procs[tgid].threads]


# --- bytes: sizes, layouts, the encoder's inverse -----------------------------------------


@pytest.mark.parametrize(("version", "size"), [(16, 596), (17, 724)])
def test_pid_and_tgid_reply_sizes_match_the_kernel(version: int, size: int) -> None:
    b = quiet(version)
    tgid = b.spawn("sleep")
    for attr in (PID, TGID):
        (data,) = ask(b.kernel, pid_request(b.kernel, tgid, attr, seq=9))
        assert len(data) == size == 36 + abi.LAYOUTS[version].size
        n_len, n_type, flags, seq, portid = abi.NLMSG_HDR.unpack_from(data)
        assert (n_len, n_type, flags, seq, portid) == (size, b.kernel.family_id, 0, 9, 4242)
        assert data[16:18] == bytes((abi.TASKSTATS_CMD_NEW, abi.TASKSTATS_GENL_VERSION))


@pytest.mark.parametrize("version", range(1, 18))
def test_every_version_decodes_into_its_record_type(version: int) -> None:
    b = quiet(version)
    tgid = b.spawn("cat", threads=2, profile="writer")
    b.advance(3)
    for attr in (PID, TGID):
        (data,) = ask(b.kernel, pid_request(b.kernel, tgid, attr))
        (msg,) = decode_datagram(data, b.kernel.family_id)
        assert isinstance(msg, TaskstatsMessage)
        stats = msg.pid_stats if attr == PID else msg.tgid_stats
        assert type(stats) is record_class(version)
        assert stats is not None and stats.version == version
        assert len(data) == 36 + abi.LAYOUTS[version].size
        assert decode_reply_fast(data, len(data), b.kernel.family_id) == stats
    record = b.query_pid(tgid)
    assert record.cpu_count and record.cpu_count > 0
    assert (record.ac_comm == "cat") is (version >= 2)
    assert (record.cpu_delay_max_ts is None) is (version < 17)
    assert (record.cpu_delay_max is None) is (version < 15)


@pytest.mark.parametrize("version", [4, 12, 15, 16, 17])
def test_replies_are_exactly_what_the_encoder_builds(version: int) -> None:
    """The kernel's fast reply path (and its patched cache) equals encode_taskstats_message."""
    b = quiet(version)
    tgid = b.spawn("dd", threads=3, profile="writer")
    fam = b.kernel.family_id
    for step in (0.0, 0.0, 0.37, 0.001, 2.0):  # cached, then patched, then repacked replies
        b.advance(step)
        for tid in thread_ids(b, tgid):
            (data,) = ask(b.kernel, pid_request(b.kernel, tid, seq=tid + 1), portid=77)
            (msg,) = decode_datagram(data, fam)
            assert isinstance(msg, TaskstatsMessage) and msg.pid_stats is not None
            again = encode_taskstats_message(
                fam, pid=tid, pid_stats=msg.pid_stats, seq=tid + 1, portid=77
            )
            assert data == again


def test_padding_attribute_variants_decode() -> None:
    for pad in ("inside", "outside"):
        b = quiet(17, null_pad=pad)
        tgid = b.spawn("ls")
        (data,) = ask(b.kernel, pid_request(b.kernel, tgid))
        assert len(data) == 724 + 4
        assert b.query_pid(tgid).ac_comm == "ls"


def test_error_replies_echo_the_request_and_acks_only_its_header() -> None:
    b = quiet()
    k = b.kernel
    request = pid_request(k, 0, seq=43)
    (err,) = ask(k, request)
    assert len(err) == 48 == 16 + 4 + len(request)  # as measured: 48 bytes for ESRCH
    n_len, n_type, flags, seq, portid = abi.NLMSG_HDR.unpack_from(err)
    assert (n_len, n_type, flags, seq, portid) == (48, abi.NLMSG_ERROR, 0, 43, 4242)
    assert struct.unpack_from("=i", err, 16)[0] == -errno.ESRCH
    assert err[20:] == request

    tgid = b.spawn("true")
    acked = pid_request(k, tgid, seq=42, ack=True, portid=12345)
    data, ack = ask(k, acked)  # the reply, then the ACK
    assert len(data) == 724
    assert len(ack) == 36
    assert abi.NLMSG_HDR.unpack_from(ack) == (36, abi.NLMSG_ERROR, NLM_F_CAPPED, 42, 4242)
    assert ack[20:36] == acked[:16]

    short = struct.pack("=IHHII", 18, k.family_id, 1, 44, 0) + b"\x01\x01"
    (err,) = ask(k, short)
    assert len(err) == 40 and err[20:38] == short and err[38:] == b"\0\0"
    assert errno_of([err]) == errno.EINVAL


def test_several_requests_in_one_datagram_are_answered_in_order() -> None:
    b = quiet()
    k = b.kernel
    tgid = b.spawn("sleep")
    batch = (
        pid_request(k, tgid, seq=7)
        + pid_request(k, 0, seq=8)
        + pid_request(k, tgid, TGID, seq=9, ack=True)
    )
    replies = [decode_datagram(d, k.family_id) for d in ask(k, batch)]
    assert [type(r[0]).__name__ for r in replies] == [
        "TaskstatsMessage", "ErrorReply", "TaskstatsMessage", "ErrorReply"
    ]  # fmt: skip
    assert [r[0].seq for r in replies] == [7, 8, 9, 9]
    assert [r[0].errno for r in replies if isinstance(r[0], ErrorReply)] == [errno.ESRCH, 0]


def test_skb_truesize_gives_the_measured_buffer_capacity() -> None:
    assert skb_truesize(596) == 1280
    assert 212992 // skb_truesize(596) == 166  # default rcvbuf: 166 events (reference 3.6)
    assert 16384 // skb_truesize(596) == 12  # SO_RCVBUF 8192: 12 events
    assert skb_truesize(1172) > skb_truesize(596)


# --- the kernel's errnos --------------------------------------------------------------------


def _raw(kernel: SimKernel, cmd: int, attrs: bytes, flags: int = abi.NLM_F_REQUEST) -> bytes:
    return encode_genl(kernel.family_id, cmd, attrs, seq=5, flags=flags)


ERRNO_CASES: list[tuple[str, Callable[[SimKernel], bytes], int | None]] = [
    ("pid 0", lambda k: pid_request(k, 0), errno.ESRCH),
    ("no such pid", lambda k: pid_request(k, 4_000_000), errno.ESRCH),
    ("no such tgid", lambda k: pid_request(k, 4_000_000, TGID), errno.ESRCH),
    ("short pid", lambda k: _raw(k, GET, encode_attr(PID, b"\x01\x00")), errno.ERANGE),
    ("no attribute", lambda k: _raw(k, GET, b""), errno.EINVAL),
    ("unknown attribute only", lambda k: _raw(k, GET, encode_attr(9, b"abcd")), errno.EINVAL),
    ("truncated attribute", lambda k: _raw(k, GET, encode_attr(PID, b"\1\0\0\0")[:6]),
     errno.EINVAL),
    ("cmd 2", lambda k: _raw(k, abi.TASKSTATS_CMD_NEW, encode_attr(PID, b"\1\0\0\0")),
     errno.EOPNOTSUPP),
    ("cmd 99", lambda k: _raw(k, 99, encode_attr(PID, b"\1\0\0\0")), errno.EOPNOTSUPP),
    ("unknown family", lambda k: encode_request(999, GET, PID, 1), errno.ENOENT),
    ("not a request", lambda k: _raw(k, GET, encode_attr(PID, b"\1\0\0\0"), flags=0), None),
    ("not a request + ack", lambda k: _raw(k, GET, encode_attr(PID, b"\1\0\0\0"), flags=4), 0),
    ("empty cpumask attribute", lambda k: _raw(k, GET, encode_attr(REGISTER, b"")),
     errno.ERANGE),
    ("garbage cpumask", lambda k: _raw(k, GET, encode_attr(REGISTER, b"garbage\0")),
     errno.EINVAL),
    ("reversed range", lambda k: _raw(k, GET, encode_attr(REGISTER, b"1-0\0")), errno.EINVAL),
    ("cpu beyond nr_cpu_ids", lambda k: _raw(k, GET, encode_attr(REGISTER, b"0-3\0")),
     errno.ERANGE),
    ("cpu 300", lambda k: _raw(k, GET, encode_attr(DEREGISTER, b"300\0")), errno.ERANGE),
    ("cpumask without NUL", lambda k: _raw(k, GET, encode_attr(REGISTER, b"0-1")), errno.EINVAL),
    ("cpumask 1636 bytes", lambda k: _raw(k, GET, encode_attr(REGISTER, b"0" * 1635 + b"\0"),
                                          flags=5), 0),
    ("cpumask 1637 bytes", lambda k: _raw(k, GET, encode_attr(REGISTER, b"0" * 1636 + b"\0")),
     errno.E2BIG),
    ("cpulist syntax", lambda k: _raw(k, GET, encode_attr(REGISTER, b" 0,N 0-1:1/2\0"),
                                      flags=5), 0),
    ("cgroupstats without fd", lambda k: _raw(k, abi.CGROUPSTATS_CMD_GET, b""), errno.EINVAL),
    ("cgroupstats short fd", lambda k: _raw(k, abi.CGROUPSTATS_CMD_GET, encode_attr(1, b"\1")),
     errno.ERANGE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "build", "expected"), ERRNO_CASES, ids=[c[0] for c in ERRNO_CASES]
)
def test_kernel_errnos_match_the_measured_kernel(
    label: str, build: Callable[[SimKernel], bytes], expected: int | None
) -> None:
    k = quiet().kernel  # 2 possible CPUs, NR_CPUS 256: the measured machine
    replies = ask(k, build(k))
    if expected is None:
        assert replies == []
    else:
        assert errno_of(replies) == expected


def test_unprivileged_gets_eperm_but_cgroupstats_still_answers() -> None:
    b = quiet(privileged=False)
    k = b.kernel
    tgid = b.spawn("sleep", cgroup="/system.slice/cron.service")
    assert errno_of(ask(k, pid_request(k, tgid))) == errno.EPERM
    assert errno_of(ask(k, _raw(k, GET, encode_attr(REGISTER, b"0\0")))) == errno.EPERM
    with pytest.raises(PermissionDeniedError) as info:
        b.query_pid(tgid)
    assert info.value.errno == errno.EPERM and "CAP_NET_ADMIN" in str(info.value)
    with pytest.raises(PermissionDeniedError):
        b.query_many([tgid])
    with pytest.raises(PermissionDeniedError):
        b.open_listener()
    with pytest.raises(PermissionDeniedError):
        b.set_delayacct(False)
    stats = b.cgroup_stats("/sys/fs/cgroup/cpu/system.slice/cron.service")
    assert stats.nr_sleeping == 1


def test_bad_cgroup_fd_is_silent_on_6_18_and_ebadf_on_7_3() -> None:
    for version, expected in ((16, []), (17, [errno.EBADF])):
        k = quiet(version).kernel
        request = _raw(k, abi.CGROUPSTATS_CMD_GET, encode_attr(1, struct.pack("=I", 999)))
        replies = [decode_datagram(d)[0] for d in ask(k, request)]
        assert [r.errno for r in replies if isinstance(r, ErrorReply)] == expected
        acked = _raw(k, abi.CGROUPSTATS_CMD_GET, encode_attr(1, struct.pack("=I", 999)), flags=5)
        last = decode_datagram(ask(k, acked)[-1])[0]
        assert isinstance(last, ErrorReply) and last.errno == (expected or [0])[0]


def test_backend_errors_are_typed() -> None:
    b = quiet(cpus="0-1,3")
    with pytest.raises(TaskGoneError) as gone:
        b.query_pid(4_000_000)
    assert gone.value.errno == errno.ESRCH and gone.value.task_id == 4_000_000
    with pytest.raises(TaskGoneError):
        b.query_tgid(0)
    for mask, err in (("garbage", errno.EINVAL), ("0-7", errno.ERANGE), ("2", errno.EINVAL),
                      ("0" * 2000, errno.E2BIG), ("", errno.EINVAL)):  # fmt: skip
        with pytest.raises(CpumaskError) as bad:
            b.open_listener(mask)
        assert bad.value.errno == err, mask
    with pytest.raises(CgroupUnsupportedError) as v2:
        b.cgroup_stats("/sys/fs/cgroup/unified")
    assert v2.value.errno == errno.EINVAL
    with pytest.raises(CgroupUnsupportedError):
        b.cgroup_stats("/sys/fs/cgroup/unified/system.slice")
    with pytest.raises(CgroupUnsupportedError):
        b.cgroup_stats("/sys/fs/cgroup")  # tmpfs, not a cgroup
    with pytest.raises(CgroupPathError) as missing:
        b.cgroup_stats("/sys/fs/cgroup/cpu/no-such.slice")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(CgroupPathError) as not_dir:
        b.cgroup_stats("/sys/fs/cgroup/cpu/tasks")
    assert not_dir.value.errno == errno.ENOTDIR


def test_cpulist_parser_follows_bitmap_parselist() -> None:
    assert parse_cpulist("0-3,8", 16) == {0, 1, 2, 3, 8}
    assert parse_cpulist("0-7:2/4", 16) == {0, 1, 4, 5}
    assert parse_cpulist("N", 4) == {3}
    assert parse_cpulist("all", 3) == {0, 1, 2}
    assert parse_cpulist(" 1 , 2\n", 4) == {1, 2}
    assert parse_cpulist("", 4) == set()
    for text, err in (("1-", errno.EINVAL), ("a", errno.EINVAL), ("4", errno.ERANGE),
                      ("0-1:3/2", errno.EINVAL), ("0-1:1/0", errno.EINVAL)):  # fmt: skip
        with pytest.raises(OSError) as info:
            parse_cpulist(text, 4)
        assert info.value.errno == err, text


# --- TGID replies -------------------------------------------------------------------------


def test_tgid_is_dead_threads_plus_live_threads_and_nothing_else() -> None:
    b = quiet()
    listener = b.open_listener()
    tgid = b.spawn("python3", threads=4, profile=IO_BOUND, cpu=0)
    b.advance(4)
    victim = thread_ids(b, tgid)[2]
    b.exit_thread(victim)
    b.advance(3)
    (dead,) = [e for e in listener.read() if e.tid == victim]
    assert dead.group_stats is None  # the group lives on
    live = [b.query_pid(t) for t in thread_ids(b, tgid)]
    group = b.query_tgid(tgid)
    assert len(live) == 3
    for name in ADDITIVE:
        expected = getattr(dead.stats, name) + sum(getattr(r, name) for r in live)
        assert getattr(group, name) == expected, name
    assert group.nvcsw >= sum(r.nvcsw for r in live)  # what the reference verified on 6.18
    for name in ("ac_pid", "ac_ppid", "ac_tgid", "ac_uid", "ac_gid", "ac_btime", "ac_btime64",
                 "read_bytes", "write_bytes", "read_char", "write_syscalls", "ac_minflt",
                 "hiwater_rss", "ac_exe_inode", "ac_flag", "ac_exitcode"):  # fmt: skip
        assert getattr(group, name) == 0, name
    assert group.ac_comm == ""
    assert all(r.write_bytes > 0 and r.blkio_count > 0 for r in live)


def test_tgid_max_and_min_are_the_last_iterated_threads() -> None:
    """fill_stats_for_tgid() assigns max/min per thread: the last one iterated wins."""
    b = quiet()
    tgid = b.spawn("python3", profile=IO_BOUND, threads=2)
    proc = b.kernel.procs[tgid]
    last = b.kernel.spawn_thread(proc, b"python3", PROFILES["idle"], cpu=1)
    b.advance(5)
    tids = thread_ids(b, tgid)
    records = {t: b.query_pid(t) for t in tids}
    by_leader = b.query_tgid(tgid)
    assert last.tid == tids[-1]
    for kind in ("cpu", "blkio", "wpcopy"):
        for end in ("max", "min", "max_ts"):
            name = f"{kind}_delay_{end}"
            assert getattr(by_leader, name) == getattr(records[last.tid], name), name
    # The idle thread never waited for I/O: the process "max" is 0 though its writer waited.
    assert by_leader.blkio_delay_max == 0
    assert max(r.blkio_delay_max for r in records.values()) > 0
    # Asking with another thread's id starts the walk there: the one before it is last.
    by_second = b.query_tgid(tids[1])
    assert by_second.cpu_delay_max == records[tids[0]].cpu_delay_max
    assert by_second.cpu_count == by_leader.cpu_count


# --- exit events --------------------------------------------------------------------------


def test_single_threaded_exit_has_agroup_and_no_tgid_record() -> None:
    b = quiet(16)
    listener = b.open_listener()
    sock = b.kernel.socket()
    ask(b.kernel, _raw(b.kernel, GET, encode_attr(REGISTER, b"0-1\0")), portid=sock.portid)
    tgid = b.spawn("sh", lifetime=0.5, exit_code=3, cmdline="sh -c exit 3")
    b.advance(1)
    (event,) = listener.read()
    assert event.tid == tgid and event.tgid is None and event.group_stats is None
    assert event.stats.ac_exitcode == 768
    assert event.stats.ac_flag & abi.AGROUP and not event.stats.ac_flag & abi.AXSIG
    assert 500_000 <= event.stats.ac_etime < 500_100
    assert event.stats.ac_comm == "sh"
    data = sock.recv()
    assert data is not None and len(data) == 596  # as captured on 6.18
    assert abi.NLMSG_HDR.unpack_from(data)[4] == 0  # events come from the kernel: nlmsg_pid 0


@pytest.mark.parametrize(("version", "size"), [(16, 1172), (17, 1428)])
def test_group_death_carries_both_nests_in_one_message(version: int, size: int) -> None:
    b = quiet(version)
    sock = b.kernel.socket()
    sock.set_rcvbuf(1 << 20)
    ask(b.kernel, _raw(b.kernel, GET, encode_attr(REGISTER, b"0-1\0")), portid=sock.portid)
    listener = b.open_listener()
    tgid = b.spawn("python3", threads=3, profile="daemon")
    b.advance(2)
    etimes = [b.query_pid(t).ac_etime for t in thread_ids(b, tgid)]
    b.kill(tgid, 9)
    events = listener.read()
    assert [e.stats.ac_exitcode for e in events] == [9, 9, 9]
    assert all(e.stats.ac_flag & abi.AXSIG for e in events)
    assert [bool(e.stats.ac_flag & abi.AGROUP) for e in events] == [False, False, True]
    assert [e.tgid for e in events] == [None, None, tgid]
    group = events[-1].group_stats
    assert group is not None and group.version == version and group.ac_comm == ""
    assert group.ac_etime == sum(etimes)  # the sum of the threads' elapsed times
    assert group.cpu_count == sum(e.stats.cpu_count for e in events)
    sizes = []
    while (data := sock.recv()) is not None:
        sizes.append(len(data))
    single = 36 + abi.LAYOUTS[version].size
    assert sizes == [single, single, size] and size == 20 + 2 * (16 + abi.LAYOUTS[version].size)


def test_exit_group_zaps_the_other_threads_and_any_thread_group_gets_a_tgid_record() -> None:
    b = quiet()
    listener = b.open_listener()
    tgid = b.spawn("java", threads=2, cpu=1)
    b.advance(1)
    b.exit_thread(thread_ids(b, tgid)[1])  # the process is single-threaded again...
    b.advance(1)
    b.exit(tgid, 2)
    first, last = listener.read()
    assert first.group_stats is None and first.stats.ac_exitcode == 0
    assert last.tid == tgid and last.group_stats is not None  # ...but it had two threads once
    assert last.stats.ac_exitcode == 2 << 8 and not last.stats.ac_flag & abi.AXSIG

    tgid = b.spawn("java", threads=3, cpu=1)
    b.advance(1)
    b.exit(tgid, 1)
    events = listener.read()
    flags = [e.stats.ac_flag & (abi.AXSIG | abi.AGROUP) for e in events]
    # The caller exits first without AXSIG; the zapped threads have it; the last has AGROUP.
    assert flags == [0, abi.AXSIG, abi.AXSIG | abi.AGROUP]
    assert [e.stats.ac_exitcode for e in events] == [256] * 3


def test_zombie_leader_answers_until_its_group_dies() -> None:
    b = quiet()
    tgid = b.spawn("node", threads=2)
    b.advance(1)
    b.exit_thread(tgid, 0)  # the leader leaves; a thread lives on
    b.advance(1)
    assert tgid in b.list_tasks()
    zombie = b.query_pid(tgid)
    b.advance(1)
    later = b.query_pid(tgid)
    assert later.cpu_count == zombie.cpu_count and later.ac_etime > zombie.ac_etime
    other = thread_ids(b, tgid)[1]
    group = b.query_tgid(tgid)  # the zombie is skipped; its stats are in the accumulator
    assert group.cpu_count == zombie.cpu_count + b.query_pid(other).cpu_count
    b.exit_thread(other)
    with pytest.raises(TaskGoneError):
        b.query_pid(tgid)
    assert tgid not in b.list_tasks()


def test_listeners_hear_only_the_cpus_they_registered() -> None:
    b = quiet(cpus=2)
    cpu0 = b.open_listener("0")
    cpu1 = b.open_listener("1")
    both = b.open_listener()
    cpu_of = {b.spawn("true", cpu=i % 3 % 2, lifetime=0.01): i % 3 % 2 for i in range(60)}
    b.advance(1)
    heard0 = {e.tid for e in cpu0.read()}
    heard1 = {e.tid for e in cpu1.read()}
    assert heard0 == {tid for tid, cpu in cpu_of.items() if cpu == 0} and len(heard0) == 40
    assert heard1 == {tid for tid, cpu in cpu_of.items() if cpu == 1} and len(heard1) == 20
    assert {e.tid for e in both.read()} == set(cpu_of)
    assert (b.kernel.exits[0], b.kernel.exits[1]) == (40, 20)
    # Per-CPU sequence numbers: each CPU counts its own events.
    seqs = [b.kernel._seqnum[cpu] for cpu in (0, 1)]
    b.spawn("true", cpu=0, lifetime=0.01)
    b.advance(1)
    assert b.kernel._seqnum[0] == seqs[0] + 1 and b.kernel._seqnum[1] == seqs[1]
    assert cpu1.read() == [] and len(cpu0.read()) == 1


def test_registration_is_idempotent_and_deregistration_and_dead_sockets_stop_delivery() -> None:
    b = quiet()
    k = b.kernel
    sock = k.socket()
    register = _raw(k, GET, encode_attr(REGISTER, b"0-1\0"), flags=5)
    assert errno_of(ask(k, register, sock.portid)) == 0
    assert errno_of(ask(k, register, sock.portid)) == 0
    assert k.listeners(0).count(sock.portid) == k.listeners(1).count(sock.portid) == 1
    ask(k, _raw(k, GET, encode_attr(DEREGISTER, b"1\0")), sock.portid)
    assert sock.portid in k.listeners(0) and sock.portid not in k.listeners(1)
    b.spawn("true", cpu=1, lifetime=0.01)
    b.advance(1)
    assert sock.recv() is None
    # A socket closed without deregistering: a new socket on the same portid still hears
    # exits until a send fails (ECONNREFUSED removes the entry), as measured.
    portid = sock.portid
    sock.close()
    reborn = k.socket(portid)
    b.spawn("true", cpu=0, lifetime=0.01)
    b.advance(1)
    assert reborn.recv() is not None
    reborn.close()
    b.spawn("true", cpu=0, lifetime=0.01)
    b.advance(1)
    assert portid not in k.listeners(0)
    again = k.socket(portid)
    b.spawn("true", cpu=0, lifetime=0.01)
    b.advance(1)
    assert again.recv() is None


@pytest.mark.parametrize(("version", "delivered"), [(16, 12), (17, 7)])
def test_overflow_raises_once_per_episode_and_counts_every_lost_event(
    version: int, delivered: int
) -> None:
    b = quiet(version)
    listener = b.open_listener(rcvbuf=8192)
    assert listener.rcvbuf == 16384  # the kernel doubles SO_RCVBUF
    for i in range(500):
        b.spawn("true", lifetime=0.001 + i * 1e-5)
    b.advance(1)
    with pytest.raises(ListenerOverflowError) as info:
        listener.read()
    assert info.value.errno == errno.ENOBUFS
    events = listener.read()  # no second error in the same episode
    assert len(events) == delivered  # 12 x 1280 bytes fit in 16384 (the reference: 12 events)
    assert len(events) + listener.lost == 500 == sum(b.kernel.exits.values())
    assert info.value.lost == listener.lost and events[-1].lost == listener.lost
    assert listener.read() == []
    # Drained empty: the episode is over; small bursts get through, a big one starts another.
    for _ in range(5):
        b.spawn("true", lifetime=0.001)
    b.advance(1)
    assert len(listener.read()) == 5
    lost = listener.lost
    for _ in range(100):
        b.spawn("true", lifetime=0.001)
    b.advance(1)
    with pytest.raises(ListenerOverflowError):
        listener.read()
    assert len(listener.read()) + listener.lost - lost == 100


def test_collect_survives_an_overflow_and_reports_the_loss() -> None:
    b = quiet()
    listener = b.open_listener(rcvbuf=4096)
    b.collect(listener)
    for _ in range(200):
        b.spawn("true", lifetime=0.002)
    b.advance(1)
    frame = b.collect(listener)
    assert frame.lost == listener.lost > 0
    assert len(frame.exits) + frame.lost == 200


# --- delay accounting ---------------------------------------------------------------------


def test_tasks_forked_while_delayacct_is_off_never_get_non_cpu_delays() -> None:
    b = quiet(delayacct=False)
    old = [b.spawn(p, profile=p) for p in ("swapper", "writer", "reader", "browser")]
    b.advance(5)
    assert b.delayacct() is False
    for tgid in old:
        record = b.query_pid(tgid)
        assert record.cpu_count > 0 and record.cpu_delay_total > 0
        assert all(getattr(record, name) == 0 for name in NON_CPU_DELAYS)
    b.set_delayacct(True)
    assert b.delayacct() is True
    new = [b.spawn(p, profile=p) for p in ("swapper", "writer", "reader", "browser")]
    b.advance(10)
    for tgid in old:
        assert all(getattr(b.query_pid(tgid), name) == 0 for name in NON_CPU_DELAYS)
    swapper = b.query_pid(new[0])
    assert swapper.swapin_count > 0 and swapper.thrashing_count > 0
    assert swapper.freepages_count > 0 and swapper.blkio_count > 0
    assert b.query_pid(new[1]).blkio_delay_total > 0
    # Switched off again: the delays stop growing, the CPU delay goes on.
    b.set_delayacct(False)
    before = b.query_pid(new[0])
    b.advance(10)
    after = b.query_pid(new[0])
    assert after.swapin_count == before.swapin_count
    assert after.cpu_count > before.cpu_count


# --- the workload: determinism, short tasks, monotonic counters, names, scale -------------


def _frames(seed: int, steps: list[float]) -> list[RawFrame]:
    b = SimulatedBackend(seed=seed, clock="virtual", tasks=200)
    listener = b.open_listener()
    frames = []
    for step in steps:
        b.advance(step)
        frames.append(b.collect(listener, ["/sys/fs/cgroup/cpu"]))
    return frames


def test_same_seed_same_frames_and_another_seed_differs() -> None:
    steps = [0.5, 1.0, 0.01, 3.0, 2.0]
    first, second, other = _frames(5, steps), _frames(5, steps), _frames(6, steps)
    assert first == second
    assert any(f.exits for f in first)
    assert [f.tasks for f in first] != [f.tasks for f in other]


def test_what_a_task_reports_does_not_depend_on_when_it_was_looked_at() -> None:
    """Lazy integration is a pure function of time: polling often or once gives one history."""
    often = SimulatedBackend(seed=8, clock="virtual", tasks=150)
    once = SimulatedBackend(seed=8, clock="virtual", tasks=150)
    heard_often, heard_once = often.open_listener(), once.open_listener()
    exits: list[ExitEvent] = []
    for _ in range(40):
        often.advance(0.25)
        frame = often.collect(heard_often)
        exits += frame.exits
    once.advance(10)
    last = once.collect(heard_once)
    assert frame.tasks == last.tasks
    assert [(e.tid, e.stats, e.group_stats) for e in exits] == [
        (e.tid, e.stats, e.group_stats) for e in last.exits
    ]


def test_a_5ms_task_between_two_collects_is_in_the_exits() -> None:
    b = SimulatedBackend(seed=2, clock="virtual", tasks=100)
    listener = b.open_listener()
    b.collect(listener)
    tgid = b.spawn("ls", lifetime=0.005, cmdline="ls -l")
    b.advance(1)
    frame = b.collect(listener)
    assert tgid not in frame.tasks
    (event,) = [e for e in frame.exits if e.tid == tgid]
    assert 5000 <= event.stats.ac_etime <= 5100
    assert event.stats.ac_comm == "ls" and event.stats.is_group_exit


def test_counters_never_go_backwards() -> None:
    b = SimulatedBackend(seed=9, clock="virtual", tasks=300)
    previous: dict[int, TaskStats] = {}
    for step in [0.3, 0.001, 1.7, 0.05, 6.0, 0.0, 25.0, 0.2, 0.2, 60.0]:
        b.advance(step)
        frame = b.collect()
        for tid, record in frame.tasks.items():
            before = previous.get(tid)
            if before is None or before.ac_tgid != record.ac_tgid:
                continue
            for name in COUNTERS:
                assert getattr(record, name) >= getattr(before, name), (tid, name)
            for kind, _ in abi.DELAY_KINDS:
                assert getattr(record, f"{kind}_delay_max") >= getattr(before, f"{kind}_delay_max")
                low, was = (
                    getattr(record, f"{kind}_delay_min"),
                    getattr(before, f"{kind}_delay_min"),
                )
                assert was == 0 or 0 < low <= was
                assert getattr(record, f"{kind}_delay_max") <= getattr(
                    record, f"{kind}_delay_total"
                )
        previous = frame.tasks


def test_records_hold_together() -> None:
    """Units and relations the kernel guarantees, on a busy simulated machine."""
    b = SimulatedBackend(seed=4, clock="virtual", tasks=300)
    b.advance(30)
    frame = b.collect()
    wall = b.wall()
    busy = 0
    for tid, r in frame.tasks.items():
        assert r.ac_pid == tid and r.ac_tgid == frame.tgids[tid]
        for name in ("read_char", "write_char", "read_syscalls", "write_syscalls"):
            assert getattr(r, name) % 1024 == 0, name  # xacct_add_tsk(): KB_MASK
        assert r.ac_utime % 4000 == 0 and r.ac_stime % 4000 == 0  # tick-sampled
        assert r.cpu_run_real_total == (r.ac_utime + r.ac_stime) * 1000
        assert r.cpu_count == r.nvcsw + r.nivcsw
        assert abs(r.ac_btime64 - (wall - r.ac_etime / 1e6)) <= 1.001
        assert r.ac_tgetime >= r.ac_etime  # the group began with its leader
        for kind, _ in abi.DELAY_KINDS:
            ts = getattr(r, f"{kind}_delay_max_ts")
            assert (ts == 0) == (getattr(r, f"{kind}_delay_max") == 0)
            assert ts == 0 or (wall - r.ac_etime / 1e6 - 1) * 1e9 <= ts <= wall * 1e9
        kthread = b.cmdline(frame.tgids[tid]) is None
        assert (r.ac_exe_inode == 0) is kthread and (r.hiwater_rss == 0) is kthread
        busy += r.cpu_run_virtual_total > 10**12
    assert 0 < busy < len(frame.tasks) / 4  # most tasks sleep, a few are busy
    assert frame.tasks[1].ac_comm == "systemd" and frame.tasks[2].ac_comm == "kthreadd"


def test_collect_reports_cmdlines_of_new_processes_and_the_cgroups_asked_for() -> None:
    b = SimulatedBackend(seed=3, clock="virtual", tasks=300, churn=0)
    frame = b.collect(cgroups=["/sys/fs/cgroup/cpu"])
    assert frame.cmdlines[1] == "/sbin/init splash"
    assert all(b.kernel.procs[t].cmdline for t in frame.cmdlines)
    assert 2 not in frame.cmdlines  # kthreadd has no command line
    assert b.cmdline(2) is None and b.cmdline(4_000_000) is None
    tgid = b.spawn("vim", cmdline="vim README.md")
    b.advance(1)
    again = b.collect()
    assert again.cmdlines == {tgid: "vim README.md"}
    assert set(frame.cgroups) == {"/sys/fs/cgroup/cpu"}
    assert again.t_mono == pytest.approx(frame.t_mono + 1)
    assert again.t_wall == pytest.approx(frame.t_wall + 1)


def test_cgroupstats_counts_the_member_threads_states() -> None:
    b = quiet()
    group = "/test.slice"
    b.spawn("vim", profile="stopped", cgroup=group)
    b.spawn("vi", profile="stopped", cgroup=group)
    for _ in range(3):
        b.spawn("top", profile="monitor", cgroup=group)  # always running
    pool = b.spawn("java", threads=4, profile="idle", cgroup=group)
    b.spawn("kworker/0:1", profile="kthread", cgroup=group)  # TASK_IDLE: not counted
    b.advance(1)
    expected = (4, 3, 2, 0, 0)
    paths = ("/sys/fs/cgroup/cpu/test.slice", "/sys/fs/cgroup/cpu,cpuacct/test.slice/",
             "/sys/fs/cgroup/memory/test.slice", "/sys/fs/cgroup/pids//test.slice")  # fmt: skip
    for path in paths:
        assert tuple(b.cgroup_stats(path)) == expected, path
    b.kill(pool)
    assert tuple(b.cgroup_stats("/sys/fs/cgroup/cpu/test.slice")) == (0, 3, 2, 0, 0)
    assert tuple(b.cgroup_stats("/sys/fs/cgroup/cpu")) == (0, 0, 0, 0, 0)  # only direct members
    pure = quiet(cgroup2_root="/sys/fs/cgroup")
    with pytest.raises(CgroupPathError):
        pure.cgroup_stats("/sys/fs/cgroup/cpu")
    with pytest.raises(CgroupUnsupportedError):
        pure.cgroup_stats("/sys/fs/cgroup/system.slice")


def test_hostile_names_come_through_raw_in_cmdlines_and_clean_in_comm() -> None:
    b = SimulatedBackend(seed=1, clock="virtual", tasks=300, hostile_names=True)
    frame = b.collect()
    cmdlines = list(frame.cmdlines.values())
    assert any(c.startswith("[red]x[/red]") for c in cmdlines)
    assert any(c.startswith("\x1b[2Jevil") for c in cmdlines)
    assert any(c.startswith("a\tb") for c in cmdlines)
    comms = {r.ac_comm for r in frame.tasks.values()}
    assert {"[red]x[/red]", "[2Jevil", "ab"} <= comms  # decode drops control characters
    assert not any(ch in comm for comm in comms for ch in "\x1b\t\n")


def test_no_decode_error_on_any_sim_bytes() -> None:
    """Every datagram a busy simulated machine sends goes through the slow decoder too."""
    for version in (1, 3, 9, 15, 16, 17):
        b = SimulatedBackend(seed=version, clock="virtual", tasks=150, version=version,
                             hostile_names=True)  # fmt: skip
        sock = b.kernel.socket()
        sock.set_rcvbuf(8 << 20, force=True)
        ask(b.kernel, _raw(b.kernel, GET, encode_attr(REGISTER, b"0-3\0")), sock.portid)
        b.advance(20)
        tids = list(b.list_tasks())
        data = b"".join(pid_request(b.kernel, t, seq=i) for i, t in enumerate(tids))
        data += b"".join(pid_request(b.kernel, t, TGID) for t in tids[:40])
        replies = ask(b.kernel, data)
        while (event := sock.recv()) is not None:
            replies.append(event)
        assert len(replies) > len(tids)
        for reply in replies:
            try:
                (msg,) = decode_datagram(reply, b.kernel.family_id)
            except DecodeError as exc:  # pragma: no cover - the point of the test
                pytest.fail(f"v{version}: {exc}")
            assert isinstance(msg, TaskstatsMessage)


@pytest.mark.slow
def test_10k_tasks_with_churn_stay_fast_and_bounded() -> None:
    b = SimulatedBackend(seed=1, clock="virtual", tasks=10_000)
    listener = b.open_listener()
    assert len(b.list_tasks()) == 10_000
    b.collect(listener)
    costs = []
    exits = 0
    for _ in range(5):
        b.advance(1)
        start = time.thread_time()
        frame = b.collect(listener)
        costs.append(time.thread_time() - start)
        exits += len(frame.exits)
        assert len(frame.tasks) >= 9_900
    assert exits > 100  # ~70 short commands a second at this size
    assert min(costs) < 1.0, costs  # ~0.1 s here; "seconds" would mean a regression
    b.advance(60)
    assert 9_500 < len(b.list_tasks()) < 10_500  # churn does not grow the machine
    assert b.workload.pending() < 200
    assert sum(len(q.queue) for q in b.kernel._sockets.values()) < 50_000


# --- clocks and the factory ---------------------------------------------------------------


def test_virtual_clock_moves_only_when_told() -> None:
    b = quiet()
    start = b.now()
    time.sleep(0.02)
    assert b.now() == start
    assert b.advance(2.5) == pytest.approx(start + 2.5)
    assert b.collect().t_mono == pytest.approx(start + 2.5)
    with pytest.raises(ValueError):
        b.advance(-1)


def test_real_clock_follows_time_monotonic() -> None:
    b = SimulatedBackend(seed=1, clock="real", tasks=50)
    first = b.now()
    time.sleep(0.05)
    second = b.now()
    assert 0.04 <= second - first < 1.0
    assert b.advance(10) >= second + 10
    assert abs(b.wall() - time.time()) < 11  # wall time is real, plus what was advanced


def test_virtual_read_with_timeout_waits_in_virtual_time() -> None:
    b = quiet()
    listener = b.open_listener()
    b.spawn("sleep", lifetime=0.5)
    start = b.now()
    (event,) = listener.read(timeout=2.0)
    assert b.now() - start == pytest.approx(0.5)  # the clock ran to the exit, no further
    assert listener.read(timeout=0.3) == [] and b.now() - start == pytest.approx(0.8)
    assert isinstance(event, ExitEvent) and event.t_mono == pytest.approx(start + 0.5)
    assert listener.read(None) == [] and b.now() - start == pytest.approx(3600.8)


def test_open_backend_builds_the_simulator_with_a_reason() -> None:
    b = open_backend("sim", seed=2, clock="virtual", tasks=20, reason="asked for it")
    assert isinstance(b, SimulatedBackend) and isinstance(b, Backend)
    info = b.info
    assert (info.kind, info.struct_version, info.reason) == ("sim", 17, "asked for it")
    assert info.kernel_release.endswith("-tsmon-sim") and info.simulated
    assert (info.cpus, info.nr_cpus, info.delayacct, info.hostname) == ("0-3", 4, True, "tsmon-sim")
    listener = b.open_listener()
    assert isinstance(listener, ExitListener) and listener.fileno() is None
    assert listener.cpumask == "0-3"
    b.close()
    b.close()
    assert SimulatedBackend(version=16, cpus="0-1,3", clock="virtual", tasks=0).info.cpus == "0-1,3"


# --- against the real kernel, where it answers --------------------------------------------


def _live_socket() -> tuple[socket.socket, int] | None:
    try:
        from tsmon_core.netlink import resolve_family
    except ImportError:  # pragma: no cover - the live backend is another module
        return None
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
        sock.bind((0, 0))
        sock.settimeout(2.0)
        family = resolve_family(sock)
        sock.send(encode_request(family, GET, PID, os.getpid(), seq=1))
        (reply,) = decode_datagram(sock.recv(65536), family)
    except Exception:  # any failure means: no live kernel to compare with
        return None
    if isinstance(reply, ErrorReply):
        sock.close()
        return None
    return sock, family


def _shape(data: bytes) -> list[object]:
    """A datagram's structure: header fields but ids, and the attribute tree with lengths."""
    n_len, n_type, flags, _seq, _pid = abi.NLMSG_HDR.unpack_from(data)
    if n_type == abi.NLMSG_ERROR:
        return [n_len, "error", flags, struct.unpack_from("=i", data, 16)[0]]
    tree: list[object] = [n_len, flags, data[16], data[17]]
    for a_type, start, end in iter_attrs(data, 20, n_len):
        inner = [(t, e - s) for t, s, e in iter_attrs(data, start, end)] if a_type in (4, 5) else []
        tree.append((a_type, end - start, inner))
    return tree


def test_same_requests_same_shapes_as_the_live_kernel() -> None:
    live = _live_socket()
    if live is None:
        pytest.skip("no taskstats kernel answering here (needs root and the TASKSTATS family)")
    sock, family = live
    try:
        sock.send(encode_request(family, GET, PID, os.getpid(), seq=2))
        (version_probe,) = decode_datagram(sock.recv(65536), family)
        assert isinstance(version_probe, TaskstatsMessage) and version_probe.pid_stats
        version = version_probe.pid_stats.version or 16
        b = quiet(min(version, 17), cpus=os.cpu_count() or 2)
        k = b.kernel
        tgid = b.spawn("python3", threads=2)
        cases = [
            (lambda fam, who: encode_request(fam, GET, PID, who, seq=3)),
            (lambda fam, who: encode_request(fam, GET, TGID, who, seq=4)),
            (lambda fam, who: encode_request(fam, GET, PID, who, seq=5, ack=True)),
            (lambda fam, who: encode_request(fam, GET, PID, 0, seq=6)),
            (lambda fam, who: encode_request(fam, 99, PID, who, seq=7)),
            (lambda fam, who: encode_genl(fam, GET, encode_attr(PID, b"\1\0"), seq=8, flags=1)),
            (lambda fam, who: encode_genl(fam, GET, encode_attr(REGISTER, b"garbage\0"), flags=1)),
            (lambda fam, who: encode_genl(fam, abi.CGROUPSTATS_CMD_GET, b"", flags=1)),
        ]
        for build in cases:
            sock.send(build(family, os.getpid()))
            live_replies = [sock.recv(65536)]
            if build(family, 1)[6] & abi.NLM_F_ACK:
                live_replies.append(sock.recv(65536))
            sim_replies = ask(k, build(k.family_id, tgid))
            assert [_shape(d) for d in sim_replies] == [_shape(d) for d in live_replies]
        path = "/sys/fs/cgroup/cpu"
        if os.path.isdir(path):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.send(encode_request(family, abi.CGROUPSTATS_CMD_GET, 1, fd, seq=9))
                live_cg = sock.recv(65536)
            finally:
                os.close(fd)
            sim_fd = k.open(path)
            (sim_cg,) = ask(k, encode_request(k.family_id, abi.CGROUPSTATS_CMD_GET, 1, sim_fd))
            assert len(sim_cg) == len(live_cg) == 64
            assert isinstance(decode_datagram(sim_cg)[0], CgroupstatsMessage)
    finally:
        sock.close()


@pytest.mark.parametrize("seed", [1, 7])
def test_no_thread_accounts_more_time_than_it_has_lived(seed: int) -> None:
    # A thread runs, waits for a CPU or waits in a delay, one at a time: its run time and
    # every delay together stay within its elapsed time, for every profile (compilers too).
    backend = SimulatedBackend(seed=seed, clock="virtual", tasks=600)
    delays = [f"{kind}_delay_total" for kind, _ in abi.DELAY_KINDS]
    checked = 0
    for _ in range(90):
        backend.advance(1.0)
        for st in backend.query_many(list(backend.list_tasks())).values():
            accounted = st.cpu_run_real_total + sum(getattr(st, name) for name in delays)
            assert accounted <= st.ac_etime * 1000, (st.ac_comm, accounted, st.ac_etime)
            checked += 1
    assert checked > 600 * 90 * 0.9
