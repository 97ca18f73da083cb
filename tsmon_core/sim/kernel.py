"""A model of kernel/taskstats.c: netlink request bytes in, reply datagrams out.

``SimKernel.handle(request, portid)`` does what ``netlink_rcv_skb`` + ``genl_rcv_msg`` +
``taskstats_user_cmd``/``cgroupstats_user_cmd`` do with a datagram: each message is checked
(family, header length, command, CAP_NET_ADMIN, attribute policy) and answered with the bytes
the kernel sends, errors as NLMSG_ERROR echoing the request, ACKs when NLM_F_ACK is set.
Exit events go to the per-CPU listener lists, into per-socket receive queues that have the
kernel's byte budget and overflow rules (drop, count, ENOBUFS once per congestion episode).

Behaviour measured on Linux 6.18 (shared/reference/taskstats-kernel.md sections 1.5-3 and a
probe on the build machine) is followed where the sources and the reference disagree.
"""

from __future__ import annotations

import errno
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable

from .. import abi
from ..encode import encode_attr, encode_cgroupstats_reply, encode_taskstats_message
from ..model import CgroupStats, TaskStats, layout_class
from .cgroup import CgroupFS, Node
from .task import DELAY_KINDS, LIN_FIELDS, Process, Profile, Task, kind_fields, mix64

__all__ = [
    "DEFAULT_RCVBUF",
    "RMEM_MAX",
    "NetlinkSocket",
    "SimKernel",
    "parse_cpulist",
    "skb_truesize",
]

NLMSG_MIN_TYPE = 0x10
NLM_F_CAPPED = 0x100  # ACKs carry only the request's header
CTRL_CMD_NEWFAMILY = 1
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3
CTRL_ATTR_HDRSIZE = 4
CTRL_ATTR_MAXATTR = 5
CTRL_ATTR_OPS = 6
GENL_ADMIN_PERM = 0x01
GENL_CMD_CAP_DO = 0x02
GENL_CMD_CAP_HASPOL = 0x08

DEFAULT_RCVBUF = 212992  # net.core.rmem_default
RMEM_MAX = 4194304  # net.core.rmem_max (SO_RCVBUF is capped there; SO_RCVBUFFORCE is not)
SOCK_MIN_RCVBUF = 2304
RESERVED_PIDS = 300
AUTOBIND_ROVER = -4096

_SKB_OVERHEAD = 256  # SKB_DATA_ALIGN(sizeof(struct sk_buff)) on x86_64
_SHINFO = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
_KMALLOC = (32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)

_HDR = abi.NLMSG_HDR
_REQ = struct.Struct("=IHHIIBBHHHI")  # a PID/TGID request with one u32 attribute (28 bytes)
_REPLY = struct.Struct("=IHHIIBBHHHHHIHH")  # reply headers up to the STATS payload (36 bytes)
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")
_HDR_IDS = struct.Struct("=II").pack_into  # nlmsg_seq, nlmsg_pid
_PUT_U8 = struct.Struct("=B").pack_into
_PUT_U32 = struct.Struct("=I").pack_into
PAYLOAD = 36  # where the record starts in a PID/TGID reply datagram


_TRUESIZE: dict[int, int] = {}


def skb_truesize(alloc: int) -> int:
    """The receive-buffer charge of a message allocated with ``alloc`` bytes.

    ``alloc_skb``: data aligned to 64 plus the shared info, rounded up to a kmalloc bucket,
    plus the sk_buff itself. A 596-byte v16 event costs 1280 bytes, so 166 events fill the
    default 212992-byte buffer, as measured (reference 3.6).
    """
    cached = _TRUESIZE.get(alloc)
    if cached is not None:
        return cached
    need = ((alloc + 63) & ~63) + _SHINFO
    size = 1 << (need - 1).bit_length()  # beyond the kmalloc buckets: a power-of-two allocation
    for bucket in _KMALLOC:
        if need <= bucket:
            size = bucket
            break
    if len(_TRUESIZE) < 4096:
        _TRUESIZE[alloc] = size + _SKB_OVERHEAD
    return size + _SKB_OVERHEAD


def parse_cpulist(text: str, nbits: int) -> set[int]:
    """``bitmap_parselist()``: "0-3,8", "0-7:2/4", "N", "all"; raises OSError(EINVAL/ERANGE)."""
    cpus: set[int] = set()
    s = text
    i, n = 0, len(s)
    last = nbits - 1

    def end_of_str(j: int) -> bool:
        return j >= n or s[j] in "\0\n"

    def end_of_region(j: int) -> bool:
        return end_of_str(j) or s[j].isspace() or s[j] == ","

    def getnum(j: int) -> tuple[int, int]:
        if j < n and s[j] == "N":
            return last, j + 1
        k = j
        while k < n and s[k].isdigit():
            k += 1
        if k == j:
            raise OSError(errno.EINVAL, "invalid cpulist")
        value = int(s[j:k])
        if value > 0xFFFFFFFF:
            raise OSError(errno.EOVERFLOW, "cpu number overflows")
        return value, k

    while True:
        while i < n and (s[i].isspace() or s[i] == ","):
            i += 1
        if end_of_str(i):
            return cpus
        if s[i : i + 3].lower() == "all":
            start, end, i = 0, last, i + 3
            pattern = True
        else:
            start, i = getnum(i)
            end = start
            pattern = False
            if not end_of_region(i):
                if s[i] != "-":
                    raise OSError(errno.EINVAL, "invalid cpulist")
                end, i = getnum(i + 1)
                pattern = True
        off, group = end + 1, end + 1
        if pattern and not end_of_region(i):
            if s[i] != ":":
                raise OSError(errno.EINVAL, "invalid cpulist")
            off, i = getnum(i + 1)
            if i >= n or s[i] != "/":
                raise OSError(errno.EINVAL, "invalid cpulist")
            group, i = getnum(i + 1)
        if start > end or group == 0 or off > group:
            raise OSError(errno.EINVAL, "invalid cpulist")
        if end >= nbits:
            raise OSError(errno.ERANGE, "cpu out of range")
        first = start
        while first <= end:
            cpus.update(range(first, min(end + 1, first + off)))
            first += group
        if end_of_str(i):
            return cpus


class NetlinkSocket:
    """A netlink socket as the kernel sees it: a portid and a receive queue with a budget.

    ``drops`` is the kernel's drop count (the Drops column of /proc/net/netlink).
    """

    __slots__ = (
        "_kernel",
        "closed",
        "congested",
        "drops",
        "err",
        "no_enobufs",
        "portid",
        "queue",
        "rcvbuf",
        "rmem",
    )

    def __init__(self, kernel: SimKernel, portid: int) -> None:
        self._kernel = kernel
        self.portid = portid
        self.rcvbuf = DEFAULT_RCVBUF
        self.rmem = 0
        self.queue: deque[tuple[bytes, int]] = deque()
        self.drops = 0
        self.err = 0
        self.congested = False
        self.no_enobufs = False
        self.closed = False

    def set_rcvbuf(self, size: int, *, force: bool = False) -> int:
        """SO_RCVBUF (capped at rmem_max) or SO_RCVBUFFORCE; the kernel doubles it."""
        if force and not self._kernel.privileged:
            raise OSError(errno.EPERM, "SO_RCVBUFFORCE needs CAP_NET_ADMIN")
        value = max(0, size) if force else min(max(0, size), RMEM_MAX)
        self.rcvbuf = max(2 * value, SOCK_MIN_RCVBUF)
        return self.rcvbuf

    def send(self, data: bytes) -> None:
        """sendmsg(): the kernel processes every request in ``data`` before returning."""
        if self.closed:
            raise OSError(errno.EBADF, "socket closed")
        self._kernel.sendmsg(self, data)

    def recv(self) -> bytes | None:
        """recv(MSG_DONTWAIT): the next datagram, None when empty; a pending error raises once."""
        if self.err:
            err, self.err = self.err, 0
            self._rcv_wake()
            raise OSError(err, os.strerror(err))
        if not self.queue:
            self._rcv_wake()
            return None
        data, truesize = self.queue.popleft()
        self.rmem -= truesize
        if not self.queue:
            self.congested = False
        return data

    def recv_many(self, limit: int) -> list[bytes]:
        """recvmmsg(MSG_DONTWAIT): up to ``limit`` datagrams; a pending error raises first."""
        if self.err:
            err, self.err = self.err, 0
            self._rcv_wake()
            raise OSError(err, os.strerror(err))
        queue = self.queue
        out: list[bytes] = []
        popleft = queue.popleft
        freed = 0
        while queue and len(out) < limit:
            data, truesize = popleft()
            freed += truesize
            out.append(data)
        self.rmem -= freed
        if not queue:
            self.congested = False
        return out

    def _rcv_wake(self) -> None:
        if not self.queue:
            self.congested = False

    def deliver(self, data: bytes, truesize: int) -> bool:
        """netlink_attachskb() without waiting: queue ``data`` or drop it (overrun)."""
        if not self.congested:
            rmem = self.rmem + truesize
            if rmem == truesize or rmem <= self.rcvbuf:
                self.rmem = rmem
                self.queue.append((data, truesize))
                return True
        # netlink_overrun(): ENOBUFS once per congestion episode, every drop counted.
        if not self.no_enobufs and not self.congested:
            self.congested = True
            self.err = errno.ENOBUFS
        self.drops += 1
        return False

    def close(self) -> None:
        """Release the portid; listener entries for it go away on the next send (ECONNREFUSED)."""
        if not self.closed:
            self.closed = True
            self._kernel._sockets.pop(self.portid, None)
            self.queue.clear()
            self.rmem = 0


class _Slots:
    """Where each field of one struct version sits: in a record's value list, and as a byte
    offset in a PID reply datagram (the record starts at byte 36).

    A thread's reply bytearray has 8 scratch bytes after the datagram for the fields its
    version lacks (only versions without them get the scratch bytes).
    """

    def __init__(self, version: int) -> None:
        layout = abi.LAYOUTS[version]
        self.layout = layout
        self.index: dict[str, int] = {}
        self.offsets: dict[str, int] = {}
        i = 0
        for name, code, off in layout.fields:
            self.index[name] = i
            self.offsets[name] = PAYLOAD + off
            i += 2 if code == "T" else 1
        self.n = i
        self.length = PAYLOAD + layout.size  # the datagram
        self.lin = tuple(self.offset(name) for name in LIN_FIELDS)
        self.kinds = tuple(tuple(self.offset(name) for name in kind_fields(k)) for k in DELAY_KINDS)
        self.scratch = any(o == self.length for o in (*self.lin, *sum(self.kinds, ())))
        cpu_sum = ["cpu_count", "cpu_delay_total", "cpu_run_real_total",
                   "cpu_scaled_run_real_total", "cpu_run_virtual_total"]  # fmt: skip
        self.cpu_add = self._present(cpu_sum)
        self.cpu_set = self._present(kind_fields("cpu")[2:])
        others = [k for k in DELAY_KINDS if k != "cpu"]
        self.delay_add = self._present([f for k in others for f in kind_fields(k)[:2]])
        self.delay_set = self._present([f for k in others for f in kind_fields(k)[2:]])
        self.basic_add = self._present(["ac_etime", "ac_utime", "ac_stime", "nvcsw", "nivcsw"])
        self.template: list[object] = [0] * self.n
        if "ac_comm" in self.index:
            self.template[self.index["ac_comm"]] = b""

    def offset(self, name: str) -> int:
        """The byte offset of a field in the reply ("x_delay_max_ts.nsec" for a timespec's
        second half); the scratch offset when this version lacks it."""
        base, _, part = name.partition(".")
        off = self.offsets.get(base)
        return self.length if off is None else off + 8 * (part == "nsec")

    def _present(self, names: Iterable[str]) -> list[int]:
        out = []
        for name in names:
            base, _, part = name.partition(".")
            if base in self.index:
                out.append(self.index[base] + (part == "nsec"))
        return out

    def get(self, name: str) -> int | None:
        return self.index.get(name)


def _kernel_release(version: int) -> str:
    # Releases that shipped each struct version (approximate before v13).
    table = {
        17: "7.3.4",
        16: "6.18.0",
        15: "6.14.0",
        14: "6.12.0",
        13: "6.1.0",
        12: "5.19.0",
        11: "5.10.0",
        10: "5.4.0",
        9: "4.20.0",
        8: "4.19.0",
        7: "3.10.0",
        6: "2.6.32",
        5: "2.6.24",
        4: "2.6.20",
        3: "2.6.19",
        2: "2.6.19",
        1: "2.6.18",
    }
    return f"{table.get(version, '7.3.4')}-tsmon-sim"


class SimKernel:
    """The simulated kernel: tasks, the TASKSTATS family, listeners, sockets and cgroups.

    Args:
        version: the struct taskstats version it answers with (1..17).
        possible: the possible CPUs, as a cpulist ("0-3"); nr_cpu_ids is the highest + 1.
        nr_cpus: CONFIG_NR_CPUS, which bounds the cpumask string (100 + 6 * NR_CPUS bytes).
        privileged: whether the caller has CAP_NET_ADMIN (else TASKSTATS_CMD_GET gets EPERM).
        delayacct: kernel.task_delayacct at boot.
        family_id: the generic-netlink id of TASKSTATS.
        seed: seeds the per-CPU sequence numbers and the portid of the first socket.
        now_ns: the monotonic clock at start (ns since boot).
        wall_offset_ns: wall clock minus monotonic clock (ns).
        bad_fd: what cgroupstats does with a bad fd: "silent" (6.18: no reply) or "ebadf" (7.3).
        null_pad: where a TASKSTATS_TYPE_NULL attribute goes ("none" on x86_64).
        cgroup2_root: where cgroup2 is mounted (everything under it gets EINVAL).
        init_ns: whether the caller is in the initial user and pid namespaces.
        release: ``uname -r``.
    """

    def __init__(
        self,
        *,
        version: int = abi.LATEST_VERSION,
        possible: str = "0-3",
        nr_cpus: int = 256,
        privileged: bool = True,
        delayacct: bool = True,
        family_id: int = 31,
        seed: int = 1,
        now_ns: int = 0,
        wall_offset_ns: int = 0,
        bad_fd: str | None = None,
        null_pad: str = "none",
        cgroup2_root: str = "/sys/fs/cgroup/unified",
        init_ns: bool = True,
        release: str | None = None,
    ) -> None:
        if version not in abi.LAYOUTS:
            raise ValueError(f"struct taskstats version {version} is not one of 1..17")
        if null_pad not in ("none", "inside", "outside"):
            raise ValueError("null_pad is 'none', 'inside' or 'outside'")
        self.version = version
        self.family_id = family_id
        self.nr_cpus = nr_cpus
        self.possible = sorted(parse_cpulist(possible, nr_cpus))
        if not self.possible:
            raise ValueError("no possible CPU")
        self.possible_set = frozenset(self.possible)
        self.nr_cpu_ids = self.possible[-1] + 1
        self.privileged = privileged
        self.delayacct_on = delayacct
        self.seed = seed
        self.now_ns = now_ns
        self.wall_offset_ns = wall_offset_ns
        self.bad_fd = bad_fd or ("ebadf" if version >= 17 else "silent")
        self.null_pad = null_pad
        self.init_ns = init_ns
        self.release = release or _kernel_release(version)
        self.cgroups = CgroupFS(cgroup2_root)

        self.tasks: dict[int, Task] = {}  # findable by PID: live threads and zombie leaders
        self.procs: dict[int, Process] = {}
        self._tgid_of: dict[int, int] = {}
        self._serial = 0
        self._last_pid = 0
        self.pid_max = 4194304
        self.self_pid = 0  # the tgid of the process that opens sockets (tsmon itself)
        self._sockets: dict[int, NetlinkSocket] = {}
        self._rover = AUTOBIND_ROVER
        self._listeners: dict[int, list[int]] = {cpu: [] for cpu in self.possible}
        self._seqnum = {cpu: 10_000 + mix64(seed, 77, cpu) % 200_000 for cpu in self.possible}
        self.exits: dict[int, int] = dict.fromkeys(self.possible, 0)  # taskstats_exit() per CPU
        self._fds: dict[int, Node] = {}

        self._slots = _Slots(version)
        self._lin_slots = self._slots.lin
        self._kind_slots = self._slots.kinds
        self._scratch = self._slots.scratch
        self._padded = null_pad != "none"
        self._record_class = layout_class(version, False)
        self._struct = self._slots.layout.struct
        self._stats_size = self._slots.layout.size
        s = self._slots.get
        self._s_etime = s("ac_etime")
        self._s_tgetime = s("ac_tgetime")
        self._s_btime = s("ac_btime")
        self._s_btime64 = s("ac_btime64")
        self._s_ppid = s("ac_ppid")
        self._s_flag = s("ac_flag")
        self._s_exitcode = s("ac_exitcode")
        offsets = self._slots.offsets
        # btime (u32) and etime (u64) are neighbours in every layout that has them.
        self._patch_times: Callable[..., None] | None = None
        self._patch_btime64: Callable[..., None] | None = None
        self._patch_tgetime: Callable[..., None] | None = None
        if "ac_etime" in offsets:
            gap = offsets["ac_etime"] - offsets["ac_btime"] - 4
            self._patch_times = struct.Struct(f"=I{gap}xQ").pack_into
            self._off_btime = offsets["ac_btime"]
        if "ac_btime64" in offsets:
            self._off_btime64 = offsets["ac_btime64"]
            self._patch_btime64 = struct.Struct("=Q").pack_into
        if "ac_tgetime" in offsets:
            self._off_tgetime = offsets["ac_tgetime"]
            self._patch_tgetime = struct.Struct("=Q").pack_into
        # taskstats_packet_size(): PID/TGID attribute, STATS attribute, the nest's header.
        stats_attr = (4 + self._stats_size + 3) & ~3
        self._packet = 8 + stats_attr + 4 + (4 if null_pad != "none" else 0)

    # --- clock ----------------------------------------------------------------------------
    @property
    def wall_ns(self) -> int:
        """ktime_get_real_ns()."""
        return self.now_ns + self.wall_offset_ns

    # --- tasks ----------------------------------------------------------------------------
    def alloc_pid(self) -> int:
        """The next free pid, wrapping to RESERVED_PIDS past pid_max."""
        pid = self._last_pid
        for _ in range(self.pid_max):
            pid += 1
            if pid >= self.pid_max:
                pid = RESERVED_PIDS
            if pid not in self.tasks and pid not in self.procs:
                self._last_pid = pid
                return pid
        raise OSError(errno.EAGAIN, "no free pid")

    def spawn_process(
        self,
        comm: bytes,
        profile: Profile,
        *,
        parent: Process | None,
        cpu: int,
        uid: int = 0,
        gid: int = 0,
        cmdline: str | None = None,
        exe: tuple[int, int] = (0, 0),
        rss_kb: int = 0,
        vm_kb: int = 0,
        forknoexec: bool = False,
        superpriv: bool = False,
        kthread: bool = False,
        cgroup: str = "",
        nice: int = 0,
        policy: int = 0,
        start_ns: int | None = None,
        history_until: int = 0,
        pid: int | None = None,
    ) -> Process:
        """fork() (+ exec): a new thread group with its leader thread."""
        tgid = pid if pid is not None else self.alloc_pid()
        if tgid in self.tasks or tgid in self.procs:
            raise ValueError(f"pid {tgid} is in use")
        start = self.now_ns if start_ns is None else start_ns
        proc = Process(
            tgid,
            comm[:15],
            cmdline,
            uid,
            gid,
            parent,
            exe_dev=exe[0],
            exe_inode=exe[1],
            rss_kb=0 if kthread else rss_kb,
            vm_kb=0 if kthread else vm_kb,
            forknoexec=forknoexec,
            superpriv=superpriv,
            kthread=kthread,
            cgroup=self.cgroups.norm(cgroup),
            start_ns=start,
        )
        if parent is not None:
            parent.children.add(proc)
        self.procs[tgid] = proc
        leader = self._new_task(tgid, proc, comm, profile, cpu, start, nice, policy, history_until)
        proc.leader = leader
        return proc

    def spawn_thread(
        self,
        proc: Process,
        comm: bytes,
        profile: Profile,
        *,
        cpu: int,
        nice: int = 0,
        policy: int = 0,
        start_ns: int | None = None,
        history_until: int = 0,
    ) -> Task:
        """clone(CLONE_THREAD): a new thread in ``proc``."""
        if proc.live == 0:
            raise ValueError(f"process {proc.tgid} has exited")
        start = self.now_ns if start_ns is None else start_ns
        tid = self.alloc_pid()
        return self._new_task(tid, proc, comm, profile, cpu, start, nice, policy, history_until)

    def _new_task(
        self,
        tid: int,
        proc: Process,
        comm: bytes,
        profile: Profile,
        cpu: int,
        start: int,
        nice: int,
        policy: int,
        history_until: int,
    ) -> Task:
        if cpu not in self.possible_set:
            raise ValueError(f"cpu {cpu} is not possible")
        self._serial += 1
        task = Task(
            tid,
            proc,
            self._serial,
            self.seed,
            comm[:15],
            profile,
            cpu,
            start,
            delays=self.delayacct_on,
            delayacct_on=self.delayacct_on,
            nice=nice,
            policy=policy,
            history_until=history_until,
        )
        self.tasks[tid] = task
        self._tgid_of[tid] = proc.tgid
        proc.threads.append(task)
        proc.live += 1
        self.cgroups.join(proc.cgroup, tid)
        return task

    def task_list(self) -> dict[int, int]:
        """Every task /proc shows (live threads and zombie leaders): tid -> tgid."""
        return dict(self._tgid_of)

    def set_delayacct(self, on: bool) -> None:
        """kernel.task_delayacct: only tasks forked while it is on ever get non-CPU delays."""
        if on == self.delayacct_on:
            return
        self.delayacct_on = on
        now = self.now_ns
        for task in self.tasks.values():
            task.set_delay_accounting(now, on)

    def exit_task(
        self, tid: int, code: int = 0, *, signaled: bool = False, core: bool = False
    ) -> None:
        """do_exit(): account the thread, tell the listeners of its CPU, release it.

        ``code`` is the wait status (exit(3) -> 768; killed by SIGKILL -> 9).
        """
        task = self.tasks.get(tid)
        if task is None or task.exit_ns is not None:
            return
        proc = task.proc
        now = self.now_ns
        task.sync(now)
        task.exit_ns = now
        task.exit_code = code & 0xFFFFFFFF
        task.signaled = signaled
        task.core = core
        proc.live -= 1
        group_dead = proc.live == 0
        self._mark_exiting(task)  # PF_EXITING: ac_exitcode and AXSIG/ACORE from now on
        raw = self._fill(task)
        # taskstats_exit(): the group's accumulator exists once it has had a second thread.
        if proc.stats is None and len(proc.threads) > 1:
            proc.stats = list(self._slots.template)
        is_thread_group = proc.stats is not None
        if proc.stats is not None:
            self._tgid_add(proc.stats, raw, task)
            proc.stats[0] = self.version
        cpu = task.cpu
        self.exits[cpu] += 1
        listeners = self._listeners[cpu]
        if listeners:
            self._seqnum[cpu] += 1
            record = list(raw)
            if group_dead and self._s_flag is not None:
                record[self._s_flag] = int(record[self._s_flag]) | abi.AGROUP  # type: ignore[call-overload]
            tgid_stats = None
            if proc.stats is not None and group_dead:
                tgid_stats = self.record(proc.stats)
            data = encode_taskstats_message(
                self.family_id,
                pid=tid,
                pid_stats=self.record(record),
                tgid=proc.tgid if tgid_stats is not None else None,
                tgid_stats=tgid_stats,
                seq=self._seqnum[cpu] & 0xFFFFFFFF,
                portid=0,
                null_pad=self.null_pad,
            )
            size = self._packet * (2 if is_thread_group else 1)
            truesize = skb_truesize((abi.NLMSG_HDR.size + abi.GENL_HDR.size + size + 3) & ~3)
            self._send_cpu_listeners(listeners, data, truesize)
        if task is not proc.leader or group_dead:
            self._release(task)
        if group_dead:
            for other in list(proc.threads):
                self._release(other)  # the zombie leader, reaped with its group
            self.procs.pop(proc.tgid, None)
            init = self.procs.get(1)
            for child in list(proc.children):
                child.parent = init if init is not None and init is not child else None
                if child.parent is not None:
                    child.parent.children.add(child)
                if self._s_ppid is not None:
                    offset = self._slots.offsets["ac_ppid"]
                    for thread in child.threads:
                        if thread.reply is not None:
                            _PUT_U32(thread.reply, offset, child.ppid)
            proc.children.clear()
            if proc.parent is not None:
                proc.parent.children.discard(proc)

    def _release(self, task: Task) -> None:
        if self.tasks.get(task.tid) is task:
            del self.tasks[task.tid]
            del self._tgid_of[task.tid]
        if task in task.proc.threads:
            task.proc.threads.remove(task)
        self.cgroups.leave(task.proc.cgroup, task.tid)

    def _send_cpu_listeners(self, listeners: list[int], data: bytes, truesize: int) -> None:
        dead = []
        for portid in listeners:
            sock = self._sockets.get(portid)
            if sock is None:
                dead.append(portid)  # genlmsg_unicast() -> ECONNREFUSED: entry invalidated
                continue
            sock.deliver(data, truesize)
        for portid in dead:
            listeners.remove(portid)

    # --- records --------------------------------------------------------------------------
    def _fill(self, task: Task) -> list[object]:
        """fill_stats(): the thread's record now, as a value list of this kernel's layout."""
        buf = task.reply
        if buf is None:
            buf = self._new_reply(task)
        task.fill(buf, self.now_ns, self.wall_offset_ns, self._lin_slots, self._kind_slots)
        self._patch_clock(task, buf)
        return list(self._struct.unpack_from(buf, PAYLOAD))

    def _patch_clock(self, task: Task, buf: bytearray) -> None:
        """bacct_add_tsk()'s clock fields: elapsed times and the begin time derived from them."""
        patch = self._patch_times
        if patch is None:
            return
        now = self.now_ns
        etime = (now - task.start_ns) // 1000
        # btime = now (s) - etime (s), so it may move by a second between queries.
        btime = (now + self.wall_offset_ns) // 1_000_000_000 - etime // 1_000_000
        clamped = btime if 0 <= btime <= 0xFFFFFFFF else min(max(btime, 0), 0xFFFFFFFF)
        patch(buf, self._off_btime, clamped, etime)
        if self._patch_btime64 is not None:
            self._patch_btime64(buf, self._off_btime64, btime)
        if self._patch_tgetime is not None:
            self._patch_tgetime(buf, self._off_tgetime, (now - task.proc.start_ns) // 1000)

    def _new_reply(self, task: Task) -> bytearray:
        """The thread's PID reply, created with its static fields; fill() does the rest."""
        raw = list(self._slots.template)
        raw[0] = self.version
        proc = task.proc
        values: dict[str, object] = {
            "ac_comm": task.comm,
            "ac_sched": task.policy,
            "ac_nice": task.nice,
            "ac_uid": proc.uid,
            "ac_gid": proc.gid,
            "ac_pid": task.tid,
            "ac_tgid": proc.tgid,
            "ac_ppid": proc.ppid,
            "ac_flag": self._flags(task),
            "ac_exitcode": task.exit_code if task.exit_ns is not None else 0,
            "ac_exe_dev": proc.exe_dev,
            "ac_exe_inode": proc.exe_inode,
            "hiwater_rss": proc.rss_kb,
            "hiwater_vm": proc.vm_kb,
        }
        for name, value in values.items():
            slot = self._slots.get(name)
            if slot is not None:
                raw[slot] = value
        size = self._stats_size
        buf = bytearray(
            _REPLY.pack(
                PAYLOAD + size,
                self.family_id,
                0,
                0,
                0,
                abi.TASKSTATS_CMD_NEW,
                abi.TASKSTATS_GENL_VERSION,
                0,
                16 + size,
                abi.TASKSTATS_TYPE_AGGR_PID,
                8,
                abi.TASKSTATS_TYPE_PID,
                task.tid,
                4 + size,
                abi.TASKSTATS_TYPE_STATS,
            )
            + self._struct.pack(*raw)
        )
        if self._slots.scratch:
            buf += bytes(8)
        task.reply = buf
        task.refill()
        return buf

    def _flags(self, task: Task) -> int:
        proc = task.proc
        flags = 0
        if task is proc.leader and proc.forknoexec:
            flags |= abi.AFORK
        if proc.superpriv:
            flags |= abi.ASU
        if task.core:
            flags |= abi.ACORE
        if task.signaled:
            flags |= abi.AXSIG
        return flags

    def _mark_exiting(self, task: Task) -> None:
        buf = task.reply
        if buf is None:
            return  # created later with the exit fields in
        if self._s_flag is not None:
            _PUT_U8(buf, self._slots.offsets["ac_flag"], self._flags(task))
        if self._s_exitcode is not None:
            _PUT_U32(buf, self._slots.offsets["ac_exitcode"], task.exit_code)

    def _tgid_add(self, acc: list[object], raw: list[object], task: Task) -> None:
        """delayacct_add_tsk() + the elapsed/CPU time and context switches of one thread."""
        s = self._slots
        for slot in s.cpu_add:
            acc[slot] += raw[slot]  # type: ignore[operator]
        for slot in s.cpu_set:
            acc[slot] = raw[slot]  # assigned, not max-reduced: the last thread's win
        if task.delays:
            for slot in s.delay_add:
                acc[slot] += raw[slot]  # type: ignore[operator]
            for slot in s.delay_set:
                acc[slot] = raw[slot]
        for slot in s.basic_add:
            acc[slot] += raw[slot]  # type: ignore[operator]

    def record(self, raw: list[object]) -> TaskStats:
        """A value list as this kernel's record type (TaskStats of its version)."""
        return self._record_class.from_values(raw)

    # --- sockets --------------------------------------------------------------------------
    def socket(self, portid: int | None = None) -> NetlinkSocket:
        """socket(AF_NETLINK, NETLINK_GENERIC) + bind(): autobinds like netlink_autobind()."""
        if portid is None:
            portid = self.self_pid
            while portid == 0 or portid in self._sockets:
                portid = self._rover & 0xFFFFFFFF
                self._rover -= 1
        elif portid in self._sockets:
            raise OSError(errno.EADDRINUSE, "portid in use")
        sock = NetlinkSocket(self, portid)
        self._sockets[portid] = sock
        return sock

    def sendmsg(self, sock: NetlinkSocket, data: bytes) -> None:
        """Process ``data`` as sent from ``sock``; replies go to its receive queue."""
        deliver = sock.deliver
        for reply in self._process(data, sock.portid):
            deliver(reply, skb_truesize(len(reply)))

    def handle(self, request: bytes, portid: int) -> list[bytes]:
        """The reply datagrams the kernel sends back for ``request`` (from socket ``portid``)."""
        return self._process(request, portid)

    def listeners(self, cpu: int) -> list[int]:
        """The portids registered on ``cpu``, in delivery order."""
        return list(self._listeners.get(cpu, []))

    # --- netlink_rcv_skb / genl_rcv_msg ---------------------------------------------------
    def _process(self, data: bytes, portid: int) -> list[bytes]:
        """Every reply datagram, in order (each allocated at its own size)."""
        out: list[bytes] = []
        pos, end = 0, len(data)
        fam = self.family_id
        while end - pos >= 16:
            if end - pos >= 28:
                n_len, n_type, flags, seq, _, cmd, _v, _r, a_len, a_type, value = _REQ.unpack_from(
                    data, pos
                )
                if (
                    n_len == 28
                    and n_type == fam
                    and flags == abi.NLM_F_REQUEST
                    and cmd == abi.TASKSTATS_CMD_GET
                    and a_len == 8
                    and self.privileged
                ):
                    # The common case: one PID or TGID query, no ACK.
                    if a_type == abi.TASKSTATS_CMD_ATTR_PID:
                        err = self._cmd_pid(value, seq, portid, out)
                    elif a_type == abi.TASKSTATS_CMD_ATTR_TGID:
                        err = self._cmd_tgid(value, seq, portid, out)
                    else:
                        err = -1
                    if err >= 0:
                        if err:
                            out.append(self._ack(err, data[pos : pos + 28], seq, portid))
                        pos += 28
                        continue
            n_len, n_type, flags, seq, _ = _HDR.unpack_from(data, pos)
            if n_len < 16 or n_len > end - pos:
                break  # netlink_rcv_skb() stops at a malformed length
            msg = data[pos : pos + n_len]
            err = 0
            if flags & abi.NLM_F_REQUEST and n_type >= NLMSG_MIN_TYPE:
                err = self._genl_rcv(msg, n_type, seq, portid, out)
            if err or flags & abi.NLM_F_ACK:
                out.append(self._ack(err, msg, seq, portid))
            pos += (n_len + 3) & ~3
        return out

    def _ack(self, err: int, msg: bytes, seq: int, portid: int) -> bytes:
        """netlink_ack(): errors echo the whole request, ACKs only its header."""
        if err:
            echo = msg + b"\0" * (-len(msg) % 4)
            flags = 0
        else:
            echo = msg[:16]
            flags = NLM_F_CAPPED
        length = 16 + 4 + len(echo)
        return _HDR.pack(length, abi.NLMSG_ERROR, flags, seq, portid) + _ERR.pack(-err) + echo

    def _genl_rcv(self, msg: bytes, n_type: int, seq: int, portid: int, out: list[bytes]) -> int:
        if n_type == abi.GENL_ID_CTRL:
            return self._ctrl(msg, seq, portid, out)
        if n_type != self.family_id:
            return errno.ENOENT
        if len(msg) < 20:
            return errno.EINVAL
        cmd = msg[16]
        if cmd == abi.TASKSTATS_CMD_GET:
            if not self.privileged:
                return errno.EPERM  # GENL_ADMIN_PERM
            policy = {1: "u32", 2: "u32", 3: "string", 4: "string"}
        elif cmd == abi.CGROUPSTATS_CMD_GET:
            policy = {1: "u32"}
        else:
            return errno.EOPNOTSUPP
        attrs, err = self._parse_attrs(msg, 20, policy)
        if err:
            return err
        if cmd == abi.CGROUPSTATS_CMD_GET:
            return self._cmd_cgroupstats(attrs, seq, portid, out)
        if abi.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK in attrs:
            return self._cmd_cpumask(attrs[abi.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK], portid, True)
        if abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK in attrs:
            return self._cmd_cpumask(
                attrs[abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK], portid, False
            )
        if abi.TASKSTATS_CMD_ATTR_PID in attrs:
            return self._cmd_pid(_U32.unpack_from(attrs[1])[0], seq, portid, out)
        if abi.TASKSTATS_CMD_ATTR_TGID in attrs:
            return self._cmd_tgid(_U32.unpack_from(attrs[2])[0], seq, portid, out)
        return errno.EINVAL

    @staticmethod
    def _parse_attrs(msg: bytes, pos: int, policy: dict[int, str]) -> tuple[dict[int, bytes], int]:
        """Liberal attribute parsing (GENL_DONT_VALIDATE_STRICT): the last of a type wins."""
        attrs: dict[int, bytes] = {}
        end = len(msg)
        while end - pos >= 4:
            a_len, a_type = abi.NLA_HDR.unpack_from(msg, pos)
            if a_len < 4 or a_len > end - pos:
                break
            a_type &= abi.NLA_TYPE_MASK
            kind = policy.get(a_type)
            if kind is not None:
                payload = msg[pos + 4 : pos + a_len]
                if kind == "u32" and len(payload) < 4:
                    return attrs, errno.ERANGE
                if kind == "string" and not payload:
                    return attrs, errno.ERANGE  # measured on 6.18
                attrs[a_type] = payload
            pos += (a_len + 3) & ~3
        return attrs, 0

    def _ctrl(self, msg: bytes, seq: int, portid: int, out: list[bytes]) -> int:
        """CTRL_CMD_GETFAMILY for "TASKSTATS" (the only family this kernel has)."""
        if len(msg) < 20:
            return errno.EINVAL
        if msg[16] != CTRL_CMD_GETFAMILY:
            return errno.EOPNOTSUPP
        attrs, err = self._parse_attrs(
            msg, 20, {CTRL_ATTR_FAMILY_ID: "u16", CTRL_ATTR_FAMILY_NAME: "string"}
        )
        if err:
            return err
        name = attrs.get(CTRL_ATTR_FAMILY_NAME, b"").split(b"\0", 1)[0]
        fam_id = attrs.get(CTRL_ATTR_FAMILY_ID)
        if name:
            if name.decode("ascii", "replace") != abi.TASKSTATS_GENL_NAME:
                return errno.ENOENT
        elif fam_id is None or struct.unpack_from("=H", fam_id)[0] != self.family_id:
            return errno.ENOENT if fam_id is not None else errno.EINVAL
        ops = b""
        for i, (cmd, flags) in enumerate(
            (
                (abi.TASKSTATS_CMD_GET, GENL_ADMIN_PERM | GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL),
                (abi.CGROUPSTATS_CMD_GET, GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL),
            ),
            start=1,
        ):
            ops += encode_attr(i, encode_attr(1, _U32.pack(cmd)) + encode_attr(2, _U32.pack(flags)))
        body = (
            encode_attr(CTRL_ATTR_FAMILY_NAME, abi.TASKSTATS_GENL_NAME.encode() + b"\0")
            + encode_attr(CTRL_ATTR_FAMILY_ID, struct.pack("=H", self.family_id))
            + encode_attr(CTRL_ATTR_VERSION, _U32.pack(abi.TASKSTATS_GENL_VERSION))
            + encode_attr(CTRL_ATTR_HDRSIZE, _U32.pack(0))
            + encode_attr(CTRL_ATTR_MAXATTR, _U32.pack(abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK))
            + encode_attr(CTRL_ATTR_OPS, ops)
        )
        genl = bytes((CTRL_CMD_NEWFAMILY, 2, 0, 0)) + body
        data = _HDR.pack(16 + len(genl), abi.GENL_ID_CTRL, 0, seq, portid) + genl
        out.append(data)
        return 0

    # --- TASKSTATS_CMD_GET ----------------------------------------------------------------
    def _reply(
        self, aggr: int, id_type: int, task_id: int, raw: list[object], seq: int, portid: int
    ) -> bytes:
        if self.null_pad != "none":
            record = self.record(raw)
            if aggr == abi.TASKSTATS_TYPE_AGGR_PID:
                return encode_taskstats_message(
                    self.family_id, pid=task_id, pid_stats=record, seq=seq, portid=portid,
                    null_pad=self.null_pad,
                )  # fmt: skip
            return encode_taskstats_message(
                self.family_id, tgid=task_id, tgid_stats=record, seq=seq, portid=portid,
                null_pad=self.null_pad,
            )  # fmt: skip
        size = self._stats_size
        # The same bytes encode_taskstats_message() builds (a test holds them equal).
        return _REPLY.pack(
            36 + size,
            self.family_id,
            0,
            seq,
            portid,
            abi.TASKSTATS_CMD_NEW,
            abi.TASKSTATS_GENL_VERSION,
            0,
            16 + size,
            aggr,
            8,
            id_type,
            task_id,
            4 + size,
            abi.TASKSTATS_TYPE_STATS,
        ) + (self._struct.pack(*raw))

    def _cmd_pid(self, pid: int, seq: int, portid: int, out: list[bytes]) -> int:
        task = self.tasks.get(pid)
        if task is None:
            return errno.ESRCH
        buf = task.reply
        if buf is None:
            buf = self._new_reply(task)
        task.fill(buf, self.now_ns, self.wall_offset_ns, self._lin_slots, self._kind_slots)
        self._patch_clock(task, buf)
        if self._padded:
            record = self.record(list(self._struct.unpack_from(buf, PAYLOAD)))
            out.append(
                encode_taskstats_message(
                    self.family_id, pid=pid, pid_stats=record, seq=seq, portid=portid,
                    null_pad=self.null_pad,
                )
            )  # fmt: skip
            return 0
        _HDR_IDS(buf, 8, seq, portid)
        out.append(bytes(buf) if not self._scratch else bytes(buf[: self._slots.length]))
        return 0

    def _cmd_tgid(self, tgid: int, seq: int, portid: int, out: list[bytes]) -> int:
        """fill_stats_for_tgid(): dead threads' accumulator + each live thread, from ``first``."""
        first = self.tasks.get(tgid)
        if first is None:
            return errno.ESRCH
        proc = first.proc
        acc = list(proc.stats) if proc.stats is not None else list(self._slots.template)
        threads = proc.threads
        start = threads.index(first)
        for task in threads[start:] + threads[:start]:
            if task.exit_ns is not None:
                continue  # zombies were added to the accumulator when they exited
            self._tgid_add(acc, self._fill(task), task)
        acc[0] = self.version
        data = self._reply(
            abi.TASKSTATS_TYPE_AGGR_TGID, abi.TASKSTATS_TYPE_TGID, tgid, acc, seq, portid
        )
        out.append(data)
        return 0

    def _cmd_cpumask(self, payload: bytes, portid: int, register: bool) -> int:
        """parse() + add_del_listener()."""
        if len(payload) > abi.cpumask_maxlen(self.nr_cpus):
            return errno.E2BIG
        if len(payload) < 1:
            return errno.EINVAL
        text = payload[: len(payload) - 1].split(b"\0", 1)[0]  # nla_strscpy(data, na, len)
        try:
            mask = parse_cpulist(text.decode("latin-1"), self.nr_cpu_ids)
        except OSError as exc:
            return exc.errno or errno.EINVAL
        if not mask <= self.possible_set:
            return errno.EINVAL
        if not self.init_ns:
            return errno.EINVAL
        for cpu in sorted(mask):
            entries = self._listeners[cpu]
            if register:
                if portid not in entries:
                    entries.insert(0, portid)  # list_add(): newest first
            elif portid in entries:
                entries.remove(portid)
        return 0

    # --- cgroupstats ----------------------------------------------------------------------
    def open(self, path: str) -> int:
        """open(path, O_RDONLY) in the simulated filesystem: the lowest free fd."""
        node = self.cgroups.resolve(path)
        fd = 3
        while fd in self._fds:
            fd += 1
        self._fds[fd] = node
        return fd

    def fd_node(self, fd: int) -> Node:
        """What an open fd refers to (KeyError when it is not open)."""
        return self._fds[fd]

    def close_fd(self, fd: int) -> None:
        """close(fd)."""
        self._fds.pop(fd, None)

    def _cmd_cgroupstats(
        self, attrs: dict[int, bytes], seq: int, portid: int, out: list[bytes]
    ) -> int:
        payload = attrs.get(abi.CGROUPSTATS_CMD_ATTR_FD)
        if payload is None:
            return errno.EINVAL
        node = self._fds.get(_U32.unpack_from(payload)[0])
        if node is None:
            return errno.EBADF if self.bad_fd == "ebadf" else 0  # 6.18: no reply at all
        if node.kind != "v1dir":
            return errno.EINVAL  # cgroup2, a control file or a plain directory
        counts = self.cgroup_counts(node.group)
        data = encode_cgroupstats_reply(
            self.family_id, CgroupStats(*counts), seq=seq, portid=portid
        )
        out.append(data)
        return 0

    def cgroup_counts(self, group: str) -> tuple[int, int, int, int, int]:
        """cgroupstats_build(): (sleeping, running, stopped, uninterruptible, io_wait)."""
        sleeping = running = stopped = blocked = 0
        now = self.now_ns
        tasks = self.tasks
        for tid in self.cgroups.members.get(group, ()):
            task = tasks.get(tid)
            if task is None:
                continue
            state = "R" if tid == self.self_pid else task.state(now)
            if state == "R":
                running += 1
            elif state == "S":
                sleeping += 1
            elif state == "D":
                blocked += 1
            elif state == "T":
                stopped += 1
            # TASK_IDLE kernel threads and zombies are not counted; nr_io_wait needs a state
            # outside these with in_iowait set, which never happens here (nor, in practice,
            # on a real kernel).
        return sleeping, running, stopped, blocked, 0
