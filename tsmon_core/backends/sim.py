"""The simulated backend: a seeded workload on a simulated kernel, spoken to in netlink bytes.

Every query is encoded with tsmon_core.encode, answered by tsmon_core.sim.kernel with the bytes
the kernel would send, and decoded by tsmon_core.decode (the live backend's decoder). Only the
transport differs from the live backend: a function call instead of a socket.
"""

from __future__ import annotations

import errno
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

from .. import abi
from ..decode import CgroupstatsMessage, ErrorReply, decode_datagram, decode_reply_fast, iter_attrs
from ..encode import encode_attr, encode_genl, encode_request
from ..errors import (
    CgroupPathError,
    CgroupUnsupportedError,
    CpumaskError,
    DecodeError,
    KernelError,
    ListenerOverflowError,
    NamespaceError,
    NoReplyError,
    PermissionDeniedError,
    TaskGoneError,
    error_from_errno,
)
from ..model import CgroupStats, ExitEvent, TaskStats, TaskstatsMessage
from ..sim.kernel import NetlinkSocket, SimKernel, parse_cpulist
from ..sim.task import Process, Task, mix64
from ..sim.workload import Workload
from . import BackendInfo, ExitListener, RawFrame

__all__ = ["DEFAULT_LISTENER_RCVBUF", "SimListener", "SimulatedBackend"]

NS_PER_S = 1_000_000_000
DEFAULT_LISTENER_RCVBUF = 64 << 20  # as the live backend: SO_RCVBUFFORCE, doubled by the kernel
DEFAULT_QUERY_RCVBUF = 4 << 20
VIRTUAL_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: the virtual clock's wall time at boot
_U32 = struct.Struct("=I")


def _cpulist(cpus: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for cpu in cpus:
        if start is None:
            start = prev = cpu
        elif prev is not None and cpu == prev + 1:
            prev = cpu
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = cpu
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(parts)


class SimulatedBackend:
    """A Backend whose kernel is tsmon_core.sim: deterministic for a seed on a virtual clock.

    Args:
        seed: seeds the workload (same seed and calls, same frames).
        version: the struct taskstats version the simulated kernel answers with (1..17).
        tasks: threads alive at the start, kernel threads included.
        privileged: False makes TASKSTATS_CMD_GET answer EPERM (cgroupstats still works).
        delayacct: kernel.task_delayacct at boot.
        clock: "virtual" (moves only with ``advance``) or "real" (follows time.monotonic()).
        reason: why ``auto`` chose the simulator (shown in ``info``).
        hostile_names: add processes whose names are markup and terminal escapes.
        cpus: how many CPUs are possible (4), or a cpulist ("0-3,6", holes allowed).
        nr_cpus: CONFIG_NR_CPUS (bounds the cpumask string: 100 + 6 * nr_cpus bytes).
        churn: how much starts and exits (0: nothing starts or exits unless asked).
        hostname: the simulated host name.
        kernel_release: ``uname -r`` (default: a release that shipped ``version``).
        cgroup2_root: where cgroup2 is mounted in the simulated /sys/fs/cgroup.
        batch: PID queries per sendmsg in ``query_many``.
        family_id: the TASKSTATS generic-netlink family id.
    """

    def __init__(
        self,
        seed: int = 1,
        version: int = abi.LATEST_VERSION,
        tasks: int = 300,
        privileged: bool = True,
        delayacct: bool = True,
        clock: str = "real",
        reason: str = "",
        hostile_names: bool = False,
        *,
        cpus: int | str = 4,
        nr_cpus: int = 256,
        churn: float = 1.0,
        hostname: str = "tsmon-sim",
        kernel_release: str | None = None,
        cgroup2_root: str = "/sys/fs/cgroup/unified",
        batch: int = 256,
        family_id: int = 31,
        **kernel_options: Any,
    ) -> None:
        if clock not in ("real", "virtual"):
            raise ValueError(f"clock is 'real' or 'virtual', not {clock!r}")
        if version not in abi.LAYOUTS:
            raise ValueError(f"struct version {version} is not one of 1..{abi.LATEST_VERSION}")
        if tasks < 0 or batch < 1:
            raise ValueError("tasks must be >= 0 and batch >= 1")
        possible = f"0-{int(cpus) - 1}" if isinstance(cpus, int) else cpus
        uptime_ns = (2 * 86_400 + mix64(seed, 5) % 86_400) * NS_PER_S + mix64(seed, 6) % NS_PER_S
        wall_offset = VIRTUAL_EPOCH * NS_PER_S if clock == "virtual" else time.time_ns() - uptime_ns
        self._kernel = SimKernel(
            version=version,
            possible=possible,
            nr_cpus=nr_cpus,
            privileged=privileged,
            delayacct=delayacct,
            family_id=family_id,
            seed=seed,
            now_ns=uptime_ns,
            wall_offset_ns=wall_offset,
            cgroup2_root=cgroup2_root,
            release=kernel_release,
            **kernel_options,
        )
        self._workload = Workload(
            self._kernel, seed=seed, tasks=tasks, hostile_names=hostile_names, churn=churn
        )
        self._clock = clock
        self._real0 = time.monotonic()
        self._mono0 = uptime_ns
        self._offset_ns = 0
        self._lock = threading.RLock()
        self._batch = batch
        self._seq = 0
        self._sock = self._kernel.socket()
        self._sock.set_rcvbuf(DEFAULT_QUERY_RCVBUF, force=privileged)
        self._family = self._resolve_family()
        self._requests: dict[int, bytes] = {}
        self._known: set[tuple[int, int]] = set()
        self._listeners: list[SimListener] = []
        self._closed = False
        self._info = BackendInfo(
            kind="sim",
            kernel_release=self._kernel.release,
            struct_version=version,
            cpus=_cpulist(self._kernel.possible),
            nr_cpus=len(self._kernel.possible),
            delayacct=delayacct,
            reason=reason,
            hostname=hostname,
        )

    # --- what it is -----------------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        """What this backend is; see BackendInfo."""
        return self._info

    @property
    def kernel(self) -> SimKernel:
        """The simulated kernel (for tests that speak bytes to it)."""
        return self._kernel

    @property
    def workload(self) -> Workload:
        """The workload driving the kernel (for tests that start and stop tasks)."""
        return self._workload

    @property
    def family_id(self) -> int:
        """The TASKSTATS family id, as resolved through the simulated genl controller."""
        return self._family

    # --- the clock ------------------------------------------------------------------------
    def _sync(self) -> None:
        """Bring the simulation up to the clock (the real one, in "real" mode)."""
        if self._clock == "real":
            target = (
                self._mono0 + int((time.monotonic() - self._real0) * NS_PER_S) + self._offset_ns
            )
            if target > self._kernel.now_ns:
                self._workload.advance_to(target)

    def now(self) -> float:
        """The simulated monotonic clock, in seconds since the simulated boot."""
        with self._lock:
            self._sync()
            return self._kernel.now_ns / NS_PER_S

    def wall(self) -> float:
        """The simulated wall clock, in seconds since the epoch."""
        with self._lock:
            self._sync()
            return self._kernel.wall_ns / NS_PER_S

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` ahead (running the workload meanwhile); the new now()."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._clock == "real":
                self._offset_ns += int(seconds * NS_PER_S)
                self._sync()
            else:
                self._workload.advance_to(self._kernel.now_ns + int(seconds * NS_PER_S))
            return self._kernel.now_ns / NS_PER_S

    # --- talking to the kernel ------------------------------------------------------------
    def request(self, data: bytes) -> list[bytes]:
        """Send raw request bytes on the query socket; every reply datagram, in order."""
        with self._lock:
            self._sync()
            self._sock.send(data)
            return self._drain(self._sock)

    @staticmethod
    def _drain(sock: NetlinkSocket) -> list[bytes]:
        out: list[bytes] = []
        while True:
            data = sock.recv()
            if data is None:
                return out
            out.append(data)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0x7FFFFFFF
        return self._seq

    def _resolve_family(self) -> int:
        seq = self._next_seq()
        name = encode_attr(2, abi.TASKSTATS_GENL_NAME.encode() + b"\0")  # CTRL_ATTR_FAMILY_NAME
        self._sock.send(encode_genl(abi.GENL_ID_CTRL, 3, name, seq=seq, flags=abi.NLM_F_REQUEST))
        for data in self._drain(self._sock):
            n_len, n_type, _, r_seq, _ = abi.NLMSG_HDR.unpack_from(data, 0)
            if r_seq != seq:
                continue
            if n_type == abi.NLMSG_ERROR:
                err = -struct.unpack_from("=i", data, 16)[0]
                raise KernelError(err, "the simulated kernel has no TASKSTATS family")
            for a_type, start, _end in iter_attrs(data, 20, n_len):
                if a_type == 1:  # CTRL_ATTR_FAMILY_ID
                    return int(struct.unpack_from("=H", data, start)[0])
        raise NoReplyError("no reply to CTRL_CMD_GETFAMILY")

    def _query(self, attr: int, task_id: int) -> TaskStats:
        with self._lock:
            self._sync()
            seq = self._next_seq()
            self._sock.send(
                encode_request(self._family, abi.TASKSTATS_CMD_GET, attr, task_id, seq=seq)
            )
            for data in self._drain(self._sock):
                for reply in decode_datagram(data, self._family):
                    if reply.seq != seq:
                        continue
                    if isinstance(reply, ErrorReply):
                        if reply.errno:
                            raise error_from_errno(reply.errno, task_id=task_id)
                    elif isinstance(reply, TaskstatsMessage):
                        stats = reply.pid_stats if reply.pid_stats is not None else reply.tgid_stats
                        if stats is not None:
                            return stats
            raise NoReplyError(f"no reply for task {task_id}")

    # --- the Backend protocol -------------------------------------------------------------
    def query_pid(self, tid: int) -> TaskStats:
        """The record of one thread. Raises TaskGoneError (ESRCH) or PermissionDeniedError."""
        return self._query(abi.TASKSTATS_CMD_ATTR_PID, tid)

    def query_tgid(self, tgid: int) -> TaskStats:
        """The kernel's TGID record: live threads plus the dead threads' accumulated stats."""
        return self._query(abi.TASKSTATS_CMD_ATTR_TGID, tgid)

    def query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        """Records of many threads at once; threads that are gone are left out.

        Requests are sent ``batch`` to a sendmsg, each with its tid as sequence number, and
        their encoded bytes are kept for the next refresh.
        """
        with self._lock:
            self._sync()
            return self._query_many(tids)

    def _query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        fam = self._family
        old = self._requests
        cache: dict[int, bytes] = {}
        out: dict[int, TaskStats] = {}
        sock = self._sock
        fast = decode_reply_fast
        seq_of = _U32.unpack_from
        for i in range(0, len(tids), self._batch):
            chunk = tids[i : i + self._batch]
            parts = []
            for tid in chunk:
                req = old.get(tid)
                if req is None:
                    req = encode_request(
                        fam, abi.TASKSTATS_CMD_GET, abi.TASKSTATS_CMD_ATTR_PID, tid, seq=tid
                    )
                cache[tid] = req
                parts.append(req)
            sock.send(b"".join(parts))
            replies = sock.recv_many(len(chunk))
            if len(replies) != len(chunk):
                raise NoReplyError(f"{len(chunk) - len(replies)} PID queries got no reply")
            for tid, data in zip(chunk, replies, strict=True):
                if seq_of(data, 8)[0] != tid:
                    raise DecodeError(f"reply for sequence {seq_of(data, 8)[0]}, expected {tid}")
                record = fast(data, len(data), fam)
                if record is not None:
                    out[tid] = record
                    continue
                for reply in decode_datagram(data, fam):
                    if isinstance(reply, ErrorReply):
                        if reply.errno == errno.ESRCH:
                            continue  # exited since it was listed
                        raise error_from_errno(reply.errno, task_id=tid)
                    if isinstance(reply, TaskstatsMessage) and reply.pid_stats is not None:
                        out[tid] = reply.pid_stats
        self._requests = cache
        return out

    def list_tasks(self) -> dict[int, int]:
        """Every thread /proc would list (live threads and zombie leaders): tid -> tgid."""
        with self._lock:
            self._sync()
            return self._kernel.task_list()

    def cgroup_stats(self, path: str) -> CgroupStats:
        """Task-state counts of a cgroup v1 directory of the simulated /sys/fs/cgroup.

        Raises CgroupPathError when the path does not exist or is not a directory, and
        CgroupUnsupportedError on cgroup2 (and on plain directories), as the kernel does.
        """
        with self._lock:
            self._sync()
            kernel = self._kernel
            try:
                fd = kernel.open(path)
            except OSError as exc:
                raise CgroupPathError(path, exc.errno or errno.ENOENT) from exc
            try:
                if kernel.fd_node(fd).kind.endswith("file"):
                    raise CgroupPathError(path, errno.ENOTDIR)  # O_DIRECTORY
                return self._cgroupstats(fd, path)
            finally:
                kernel.close_fd(fd)

    def _cgroupstats(self, fd: int, path: str) -> CgroupStats:
        seq = self._next_seq()
        self._sock.send(
            encode_request(
                self._family,
                abi.CGROUPSTATS_CMD_GET,
                abi.CGROUPSTATS_CMD_ATTR_FD,
                fd,
                seq=seq,
                ack=True,
            )
        )
        stats: CgroupStats | None = None
        for data in self._drain(self._sock):
            for reply in decode_datagram(data, self._family):
                if reply.seq != seq:
                    continue
                if isinstance(reply, CgroupstatsMessage):
                    stats = reply.stats
                elif isinstance(reply, ErrorReply):
                    if reply.errno == errno.EINVAL:
                        raise CgroupUnsupportedError(path)
                    if reply.errno:
                        raise KernelError(
                            reply.errno, f"cgroupstats for {path}: errno {reply.errno}"
                        )
                    if stats is None:
                        raise KernelError(
                            errno.EBADF, f"cgroupstats for {path}: the kernel sent no data"
                        )
                    return stats
        raise NoReplyError(f"no cgroupstats reply for {path}")

    def open_listener(self, cpumask: str | None = None, rcvbuf: int | None = None) -> SimListener:
        """Register a listener on ``cpumask`` (default: every possible CPU).

        ``rcvbuf`` is the SO_RCVBUF(FORCE) value (default 64 MiB); the kernel doubles it.
        """
        with self._lock:
            self._sync()
            listener = SimListener(
                self,
                self._info.cpus if cpumask is None else cpumask,
                DEFAULT_LISTENER_RCVBUF if rcvbuf is None else rcvbuf,
            )
            self._listeners.append(listener)
            return listener

    def collect(
        self, listener: ExitListener | None = None, cgroups: Sequence[str] = ()
    ) -> RawFrame:
        """One refresh: enumerate, query every thread, drain ``listener``, read ``cgroups``.

        A task that started and ended since the previous refresh is among the exits (when a
        listener hears its CPU).
        """
        with self._lock:
            self._sync()
            kernel = self._kernel
            listed = kernel.task_list()
            t_mono = kernel.now_ns / NS_PER_S
            t_wall = kernel.wall_ns / NS_PER_S
            tasks = self._query_many(list(listed))
            tgids = {tid: listed[tid] for tid in tasks}
            exits: list[ExitEvent] = []
            lost = 0
            if listener is not None:
                try:
                    exits = listener.read(0.0)
                except ListenerOverflowError:
                    exits = listener.read(0.0)
                lost = listener.lost
            procs = kernel.procs
            seen: set[tuple[int, int]] = set()
            cmdlines: dict[int, str] = {}
            for tgid in set(tgids.values()):
                proc = procs.get(tgid)
                if proc is None:
                    continue
                key = (tgid, proc.start_ns)
                seen.add(key)
                if key not in self._known and proc.cmdline:
                    cmdlines[tgid] = proc.cmdline
            self._known = seen
            stats = {path: self.cgroup_stats(path) for path in cgroups}
            return RawFrame(t_mono, t_wall, tasks, tgids, exits, lost, cmdlines, stats)

    def cmdline(self, tgid: int) -> str | None:
        """The command line of a process, or None when it is gone or has none."""
        with self._lock:
            self._sync()
            proc = self._kernel.procs.get(tgid)
            return (proc.cmdline or None) if proc is not None else None

    def delayacct(self) -> bool | None:
        """Whether the simulated ``kernel.task_delayacct`` is on."""
        return self._kernel.delayacct_on

    def set_delayacct(self, enabled: bool) -> None:
        """Switch delay accounting; tasks forked while it was off never get non-CPU delays."""
        with self._lock:
            if not self._kernel.privileged:
                raise PermissionDeniedError(
                    "permission denied: switching kernel.task_delayacct needs root"
                )
            self._sync()
            self._kernel.set_delayacct(enabled)

    def close(self) -> None:
        """Close the listeners opened here and the query socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for listener in self._listeners:
                listener.close()
            self._sock.close()

    def __enter__(self) -> SimulatedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- driving the workload (tests, demos) ----------------------------------------------
    def spawn(self, comm: str, **options: Any) -> int:
        """Start a process now (see Workload.spawn for the options); its tgid."""
        with self._lock:
            self._sync()
            return self._workload.spawn(comm, **options).tgid

    def kill(self, tgid: int, signal: int = 9) -> None:
        """Kill a process now with ``signal`` (every thread exits, AXSIG set)."""
        with self._lock:
            self._sync()
            self._workload.kill(self._process(tgid), signal)

    def exit(self, tgid: int, code: int = 0) -> None:
        """Make a process call exit(code) now (wait status code << 8)."""
        with self._lock:
            self._sync()
            self._workload.exit_group(self._process(tgid), code)

    def exit_thread(self, tid: int, code: int = 0) -> None:
        """Make one thread call pthread_exit() now."""
        with self._lock:
            self._sync()
            task: Task | None = self._kernel.tasks.get(tid)
            if task is None or task.exit_ns is not None:
                raise TaskGoneError(tid)
            self._workload.exit_thread(task, code)

    def _process(self, tgid: int) -> Process:
        proc = self._kernel.procs.get(tgid)
        if proc is None or proc.live == 0:
            raise TaskGoneError(tgid)
        return proc


class SimListener:
    """An exit listener on its own simulated socket (the ExitListener protocol).

    ``lost`` is the simulated kernel's drop count for the socket, so delivered + lost is every
    exit on the listened CPUs. ``read(timeout)`` waits by running a virtual clock forward to the
    next exit (up to ``timeout``, or an hour for None) and by sleeping on a real one.
    """

    def __init__(self, backend: SimulatedBackend, cpumask: str, rcvbuf: int) -> None:
        if not cpumask.strip():
            raise CpumaskError(errno.EINVAL, cpumask, "an empty cpumask would hear no exits")
        self._backend = backend
        self._kernel = backend.kernel
        self._family = backend.family_id
        self._cpumask = cpumask
        self._sock = self._kernel.socket()
        self._closed = False
        self._pending: list[ExitEvent] = []
        try:
            self.rcvbuf = self._sock.set_rcvbuf(rcvbuf, force=self._kernel.privileged)
            self._register()
        except BaseException:
            self._sock.close()
            raise

    @property
    def portid(self) -> int:
        """The socket's netlink port id (what the kernel's listener lists hold)."""
        return self._sock.portid

    @property
    def cpumask(self) -> str:
        """The cpulist registered."""
        return self._cpumask

    @property
    def lost(self) -> int:
        """Events the kernel dropped for this socket so far."""
        return self._sock.drops

    def fileno(self) -> int | None:
        """None: there is no descriptor to wait on in the simulator."""
        return None

    def _register(self) -> None:
        seq = 0x7FFFFFF0
        self._sock.send(
            encode_request(
                self._family,
                abi.TASKSTATS_CMD_GET,
                abi.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK,
                self._cpumask,
                seq=seq,
                ack=True,
            )
        )
        while True:
            data = self._sock.recv()
            if data is None:
                raise NoReplyError("no reply to the cpumask registration")
            for reply in decode_datagram(data, self._family):
                if isinstance(reply, ErrorReply) and reply.seq == seq:
                    if reply.errno:
                        raise self._register_error(reply.errno)
                    return

    def _register_error(self, err: int) -> KernelError:
        if err == errno.EPERM:
            return PermissionDeniedError()
        if err == errno.EINVAL and not self._kernel.init_ns:
            try:
                valid = parse_cpulist(self._cpumask, self._kernel.nr_cpu_ids) <= set(
                    self._kernel.possible
                )
            except OSError:
                valid = False
            if valid:
                return NamespaceError()
        if err in (errno.EINVAL, errno.ERANGE, errno.E2BIG):
            return CpumaskError(err, self._cpumask)
        return KernelError(err)

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        """Every event available now, waiting up to ``timeout`` seconds for the first.

        After an overflow the queue is drained and ListenerOverflowError raised once per
        episode; the events read meanwhile come with the next call.
        """
        if self._closed:
            return []
        backend = self._backend
        with backend._lock:
            backend._sync()
            events, overflow = self._drain()
            if not (events or self._pending or overflow) and timeout != 0.0:
                events, overflow = self._wait(timeout)
            events = self._pending + events
            self._pending = []
            if overflow:
                self._pending = events
                raise ListenerOverflowError(self.lost)
            return events

    def _wait(self, timeout: float | None) -> tuple[list[ExitEvent], bool]:
        backend = self._backend
        limit = 3600.0 if timeout is None else timeout
        if backend._clock == "virtual":
            # Waiting on a virtual clock: run the workload event by event up to the deadline.
            workload, kernel = backend._workload, backend._kernel
            deadline = kernel.now_ns + int(limit * NS_PER_S)
            while kernel.now_ns < deadline:
                upcoming = workload.next_time()
                workload.advance_to(deadline if upcoming is None else min(upcoming, deadline))
                events, overflow = self._drain()
                if events or overflow:
                    return events, overflow
            return [], False
        waited = 0.0
        while waited < limit:
            step = min(0.01, limit - waited)
            backend._lock.release()
            try:
                time.sleep(step)
            finally:
                backend._lock.acquire()
            backend._sync()
            waited += step
            events, overflow = self._drain()
            if events or overflow:
                return events, overflow
        return [], False

    def _drain(self) -> tuple[list[ExitEvent], bool]:
        sock, fam = self._sock, self._family
        t_mono = self._kernel.now_ns / NS_PER_S
        fast = decode_reply_fast
        events: list[ExitEvent] = []
        overflow = False
        while True:
            try:
                data = sock.recv()
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                overflow = True
                continue
            if data is None:
                return events, overflow
            record = fast(data, len(data), fam)
            if record is not None and data[22] == abi.TASKSTATS_TYPE_AGGR_PID:
                tid = _U32.unpack_from(data, 28)[0]
                events.append(ExitEvent(tid, record, None, None, sock.drops, t_mono))
                continue
            for reply in decode_datagram(data, fam):
                if isinstance(reply, TaskstatsMessage) and reply.pid_stats is not None:
                    events.append(
                        ExitEvent(
                            reply.pid or 0,
                            reply.pid_stats,
                            reply.tgid,
                            reply.tgid_stats,
                            sock.drops,
                            t_mono,
                        )
                    )

    def close(self) -> None:
        """Deregister the cpumask and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.send(
                encode_request(
                    self._family,
                    abi.TASKSTATS_CMD_GET,
                    abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK,
                    self._cpumask,
                )
            )
        finally:
            self._sock.close()

    def __enter__(self) -> SimListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
