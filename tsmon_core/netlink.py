"""Raw generic-netlink sockets for the TASKSTATS family: requests, replies, exit events.

This is the only module allowed to import pyroute2, and it does not need to: the family id is
resolved with a CTRL_CMD_GETFAMILY request of our own (importing pyroute2 alone costs about
150 ms, a PID query about 2 µs). The hot path sends prebuilt request bytes, batches many
requests into one datagram, receives their replies with one recvmmsg into the slots of a
preallocated buffer (``mmsg.DatagramReader``) and decodes them in place, a batch of replies
alike at once (``decode.decode_reply_batch``), else slot by slot
(``decode.decode_reply_slots``), falling back to ``decode.decode_datagram`` for anything
unusual.

Kernel errnos become the typed errors of ``errors.py``. Nothing here blocks forever: query
sockets carry a kernel receive timeout, cgroupstats requests ask for an ACK.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from array import array
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from . import abi
from .decode import (
    Buffer,
    CgroupstatsMessage,
    ErrorReply,
    decode_datagram,
    decode_reply_batch,
    decode_reply_fast,
    decode_reply_slots,
    iter_attrs,
)
from .encode import encode_request
from .errors import (
    BackendError,
    CgroupUnsupportedError,
    CpumaskError,
    DecodeError,
    FamilyUnavailableError,
    KernelError,
    ListenerOverflowError,
    NamespaceError,
    NoReplyError,
    PermissionDeniedError,
    TaskGoneError,
    error_from_errno,
)
from .model import CgroupStats, ExitEvent, TaskStats, TaskstatsMessage

if TYPE_CHECKING:
    from .mmsg import DatagramReader

__all__ = [
    "DEFAULT_LISTENER_RCVBUF",
    "DEFAULT_QUERY_RCVBUF",
    "ExitListenerSocket",
    "TaskstatsSocket",
    "in_initial_namespaces",
    "netlink_drops",
    "resolve_family",
]

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
CTRL_CMD_NEWFAMILY = 1
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

#: Receive buffer asked for a query socket, bytes (the kernel doubles it).
DEFAULT_QUERY_RCVBUF = 4 << 20
#: Receive buffer asked for an exit listener, bytes: a burst of 20,000 thread exits needs ~46 MB.
DEFAULT_LISTENER_RCVBUF = 64 << 20
#: Requests sent in one datagram by query_many (their replies must fit the receive buffer).
DEFAULT_BATCH = 64
#: Bytes set aside for each reply of a batch (a v17 reply is 724; a longer one is asked again).
REPLY_SLOT = 8192
#: Longest wait for a reply the kernel produces synchronously, seconds.
REPLY_TIMEOUT = 2.0

_REQ_WORDS = 7  # a PID/TGID request is 28 bytes: nlmsghdr, genlmsghdr, one u32 attribute
_SEQ_PORT_ID = struct.Struct("=8xII12xI")  # nlmsg_seq, nlmsg_pid, and the PID/TGID echoed
_PACK_U32 = struct.Struct("=I").pack_into
_SEQ_MAX = 0x7FFF0000
_BUF_SIZE = 1 << 16


def _open_socket() -> socket.socket:
    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_GENERIC
        )
    except OSError as exc:
        raise FamilyUnavailableError(f"no generic netlink in this kernel: {exc}") from exc
    try:
        sock.bind((0, 0))
    except OSError as exc:
        sock.close()
        raise BackendError(f"cannot bind a generic netlink socket: {exc}") from exc
    with suppress(OSError):  # Linux >= 4.2: errors echo only the request's header
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    return sock


def _set_rcvbuf(sock: socket.socket, size: int) -> int:
    """Size the receive buffer (SO_RCVBUFFORCE when allowed, else SO_RCVBUF); return the result."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def _set_timeout(sock: socket.socket, seconds: float) -> None:
    whole = int(seconds)
    sock.setsockopt(
        socket.SOL_SOCKET,
        socket.SO_RCVTIMEO,
        struct.pack("=qq", whole, int((seconds - whole) * 1e6)),
    )


def resolve_family(sock: socket.socket | None = None, name: str = abi.TASKSTATS_GENL_NAME) -> int:
    """The generic-netlink family id of ``name`` (FamilyUnavailableError when absent)."""
    own = sock is None
    if sock is None:
        sock = _open_socket()
    try:
        _set_timeout(sock, REPLY_TIMEOUT)
        seq = 0x7FFFFFFE
        sock.send(
            encode_request(
                abi.GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name, seq=seq
            )
        )
        while True:
            try:
                data = sock.recv(_BUF_SIZE)
            except BlockingIOError as exc:
                raise NoReplyError(f"no reply to the {name} family lookup") from exc
            family = _parse_family_reply(data, seq, name)
            if family is not None:
                return family
    finally:
        if own:
            sock.close()


def _parse_family_reply(data: bytes, seq: int, name: str) -> int | None:
    pos = 0
    while pos + abi.NLMSG_HDR.size <= len(data):
        n_len, n_type, _flags, n_seq, _pid = abi.NLMSG_HDR.unpack_from(data, pos)
        if n_len < abi.NLMSG_HDR.size or pos + n_len > len(data):
            raise DecodeError("malformed generic netlink controller reply")
        body, end = pos + abi.NLMSG_HDR.size, pos + n_len
        if n_seq == seq and n_type == abi.NLMSG_ERROR:
            err = -struct.unpack_from("=i", data, body)[0]
            if err in (errno.ENOENT, errno.EOPNOTSUPP):
                raise FamilyUnavailableError(
                    f"the kernel has no {name} generic netlink family "
                    "(built without CONFIG_TASKSTATS?)"
                )
            if err:
                raise KernelError(err)
        elif n_seq == seq and n_type == abi.GENL_ID_CTRL and data[body] == CTRL_CMD_NEWFAMILY:
            for a_type, a_start, _a_end in iter_attrs(data, body + abi.GENL_HDR.size, end):
                if a_type == CTRL_ATTR_FAMILY_ID:
                    return int(struct.unpack_from("=H", data, a_start)[0])
            raise DecodeError("controller reply without CTRL_ATTR_FAMILY_ID")
        pos += (n_len + 3) & ~3
    return None


class TaskstatsSocket:
    """A socket for PID/TGID queries and cgroupstats requests, each answered synchronously.

    Not for exit events (see ExitListenerSocket). Safe to share between threads: each call
    holds a lock while it talks to the kernel.
    """

    def __init__(
        self,
        family_id: int | None = None,
        *,
        rcvbuf: int = DEFAULT_QUERY_RCVBUF,
        batch: int = DEFAULT_BATCH,
        slot_size: int = REPLY_SLOT,
    ) -> None:
        self._sock = _open_socket()
        try:
            self.family_id = family_id if family_id is not None else resolve_family(self._sock)
            _set_timeout(self._sock, REPLY_TIMEOUT)
            self.rcvbuf = _set_rcvbuf(self._sock, rcvbuf)
        except BaseException:
            self._sock.close()
            raise
        self.portid: int = self._sock.getsockname()[0]
        self.batch = max(1, batch)
        self._lock = threading.Lock()
        self._buf = bytearray(_BUF_SIZE)
        self._view = memoryview(self._buf)
        self._seq = 1
        self._templates = {
            attr: array(
                "I", encode_request(self.family_id, abi.TASKSTATS_CMD_GET, attr, 0) * self.batch
            )
            for attr in (abi.TASKSTATS_CMD_ATTR_PID, abi.TASKSTATS_CMD_ATTR_TGID)
        }
        self._single = {attr: bytearray(t[:_REQ_WORDS]) for attr, t in self._templates.items()}
        self._slot_size = slot_size
        self._datagrams: DatagramReader | None = None

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self._datagrams is not None:
            self._datagrams.close()
            self._datagrams = None
        self._sock.close()

    def _next_seqs(self, n: int) -> int:
        seq0 = self._seq
        self._seq = seq0 + n if seq0 + n < _SEQ_MAX else 1
        return seq0

    def query_pid(self, tid: int) -> TaskStats:
        """The record of one thread (TaskGoneError, PermissionDeniedError)."""
        return self._query_one(abi.TASKSTATS_CMD_ATTR_PID, tid)

    def query_tgid(self, tgid: int) -> TaskStats:
        """The kernel's record of a thread group."""
        return self._query_one(abi.TASKSTATS_CMD_ATTR_TGID, tgid)

    def _query_one(self, attr: int, task_id: int) -> TaskStats:
        if not 0 <= task_id <= 0xFFFFFFFF:
            raise TaskGoneError(task_id)
        request, buf, fam, portid = self._single[attr], self._buf, self.family_id, self.portid
        with self._lock:
            seq = self._next_seqs(1)
            _PACK_U32(request, 8, seq)
            _PACK_U32(request, 24, task_id)
            self._sock.send(request)
            while True:
                try:
                    nbytes = self._sock.recv_into(buf)
                except BlockingIOError:
                    raise NoReplyError(f"the kernel did not answer a query for {task_id}") from None
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    seq = self._next_seqs(1)  # our reply may have been dropped: ask again
                    _PACK_U32(request, 8, seq)
                    self._sock.send(request)
                    continue
                record = decode_reply_fast(buf, nbytes, fam)
                if record is not None:
                    if _SEQ_PORT_ID.unpack_from(buf, 0)[:2] == (seq, portid):
                        return record
                    continue
                for reply in decode_datagram(self._view[:nbytes], fam):
                    if reply.seq != seq:
                        continue
                    if isinstance(reply, ErrorReply) and reply.errno:
                        raise error_from_errno(reply.errno, task_id=task_id)
                    if isinstance(reply, TaskstatsMessage) and reply.portid == portid:
                        stats = reply.pid_stats if reply.pid_stats is not None else reply.tgid_stats
                        if stats is not None:
                            return stats

    def query_many(
        self, ids: Sequence[int], attr: int = abi.TASKSTATS_CMD_ATTR_PID
    ) -> dict[int, TaskStats]:
        """Records of many tasks; those that are gone (ESRCH) are left out.

        Requests go out ``batch`` to a datagram; the kernel answers each in order.
        Raises PermissionDeniedError on EPERM and KernelError on any other errno.
        """
        ids = [i for i in ids if 0 <= i <= 0xFFFFFFFF] if ids else []
        found: dict[int, TaskStats] = {}
        errors: dict[int, int] = {}
        batch = self.batch
        with self._lock:
            for start in range(0, len(ids), batch):
                self._exchange(attr, ids[start : start + batch], found, errors)
        for task_id, err in errors.items():
            if err != errno.ESRCH:
                raise error_from_errno(err, task_id=task_id)
        return found

    def _exchange(
        self, attr: int, chunk: list[int], found: dict[int, TaskStats], errors: dict[int, int]
    ) -> None:
        """Send one datagram of requests and collect a reply (or error) for each."""
        n = len(chunk)
        words = n * _REQ_WORDS
        template = self._templates[attr]
        seq0 = self._next_seqs(n)
        template[2:words:_REQ_WORDS] = array("I", range(seq0, seq0 + n))
        template[6:words:_REQ_WORDS] = array("I", chunk)
        fam, portid = self.family_id, self.portid
        reader = self._datagrams if self._datagrams is not None else self._open_datagrams()
        buf, view, stride = reader.buffer, reader.view, reader.slot_size
        self._sock.send(memoryview(template)[:words])
        pending = n
        cut_ids: list[int] = []
        while pending:
            try:
                slots = reader.read(pending)
            except BlockingIOError:
                raise NoReplyError(f"the kernel did not answer {pending} of {n} queries") from None
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                pending = self._recover(attr, chunk, seq0, found, errors)
                continue
            batch = decode_reply_batch(buf, slots, stride, fam)
            if batch is not None:  # the usual case: replies alike, checked a column at a time
                seqs, reply_port, task_ids, records = batch
                if reply_port == portid and seq0 <= min(seqs) and max(seqs) < seq0 + n:
                    found.update(zip(task_ids, records, strict=True))
                    pending -= len(records)
                    continue
            replies, others = decode_reply_slots(buf, slots, stride, fam)
            for seq, reply_port, task_id, record in replies:
                if reply_port == portid and 0 <= seq - seq0 < n:
                    found[task_id] = record
                    pending -= 1
                # else: a stray exit event (a stale listener entry for our portid)
            for slot in others:
                at = slot * stride
                nbytes, cut = slots[slot]
                if cut:  # longer than a slot: ask again below, one datagram per read
                    seq, reply_port = _SEQ_PORT_ID.unpack_from(buf, at)[:2]
                    if reply_port == portid and 0 <= seq - seq0 < n:
                        cut_ids.append(chunk[seq - seq0])
                        pending -= 1
                    continue
                pending -= self._file_replies(view[at : at + nbytes], chunk, seq0, found, errors)
        if cut_ids:
            from .mmsg import DatagramReader

            reader.close()
            self._datagrams = DatagramReader(self._sock, 1, _BUF_SIZE, native=False)
            self._exchange(attr, cut_ids, found, errors)

    def _file_replies(
        self,
        data: Buffer,
        chunk: list[int],
        seq0: int,
        found: dict[int, TaskStats],
        errors: dict[int, int],
    ) -> int:
        """File the replies of one datagram (any shape) to the requests of ``chunk`` (sequence
        numbers from ``seq0``); returns how many requests they answered."""
        answered = 0
        for reply in decode_datagram(data, self.family_id):
            index = reply.seq - seq0
            if not 0 <= index < len(chunk):
                continue
            if isinstance(reply, ErrorReply):
                if reply.errno:  # NETLINK_CAP_ACK: no ACKs were asked for
                    errors[chunk[index]] = reply.errno
                    answered += 1
            elif isinstance(reply, TaskstatsMessage) and reply.portid == self.portid:
                stats = reply.pid_stats if reply.pid_stats is not None else reply.tgid_stats
                if stats is not None:
                    found[chunk[index]] = stats
                    answered += 1
        return answered

    def _open_datagrams(self) -> DatagramReader:
        """The reader of query replies: up to a batch of them per system call."""
        from .mmsg import DatagramReader  # ctypes: loaded only by those who query many

        self._datagrams = DatagramReader(self._sock, self.batch, self._slot_size)
        return self._datagrams

    def _recover(
        self,
        attr: int,
        chunk: list[int],
        seq0: int,
        found: dict[int, TaskStats],
        errors: dict[int, int],
    ) -> int:
        """After ENOBUFS (replies dropped): keep what arrived, ask again for the rest."""
        buf = self._buf
        while True:
            try:
                nbytes = self._sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    continue
                raise
            self._file_replies(self._view[:nbytes], chunk, seq0, found, errors)
        for task_id in chunk:
            if task_id not in found and task_id not in errors:
                self._exchange(attr, [task_id], found, errors)
        return 0

    def cgroupstats(self, fd: int, path: str = "") -> CgroupStats:
        """Task-state counts of the cgroup v1 directory open as ``fd`` (``path`` for messages).

        Asks for an ACK, so a descriptor the kernel ignores (6.18 sends no reply for a bad fd)
        gives KernelError(EBADF) instead of a hang.
        """
        label = path or f"fd {fd}"
        with self._lock:
            seq = self._next_seqs(1)
            self._sock.send(
                encode_request(
                    self.family_id,
                    abi.CGROUPSTATS_CMD_GET,
                    abi.CGROUPSTATS_CMD_ATTR_FD,
                    fd,
                    seq=seq,
                    ack=True,
                )
            )
            stats: CgroupStats | None = None
            while True:
                try:
                    nbytes = self._sock.recv_into(self._buf)
                except BlockingIOError:
                    raise NoReplyError(f"no cgroupstats reply for {label}") from None
                for reply in decode_datagram(self._view[:nbytes], self.family_id):
                    if reply.seq != seq:
                        continue
                    if isinstance(reply, CgroupstatsMessage):
                        stats = reply.stats
                    elif isinstance(reply, ErrorReply):
                        if reply.errno == errno.EINVAL:
                            raise CgroupUnsupportedError(label)
                        if reply.errno == errno.EPERM:
                            raise PermissionDeniedError()
                        if reply.errno:
                            raise KernelError(
                                reply.errno, f"cgroupstats for {label}: {os.strerror(reply.errno)}"
                            )
                        if stats is None:
                            raise KernelError(
                                errno.EBADF,
                                f"cgroupstats for {label}: the kernel "
                                "sent no data (not an open cgroup directory?)",
                            )
                        return stats


def netlink_drops(inode: int) -> int | None:
    """The Drops column of /proc/net/netlink for the socket with this inode (None if absent)."""
    try:
        with open("/proc/net/netlink", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = str(inode)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 10 and fields[9] == wanted:
            return int(fields[8])
    return None


def in_initial_namespaces() -> bool:
    """Whether this process runs in the initial pid and user namespaces (as listeners need)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:") and len(line.split()) > 2:
                    return False
        with open("/proc/self/uid_map", encoding="ascii") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def _cpumask_valid(mask: str) -> bool:
    """Whether ``mask`` is a well-formed cpulist naming only possible CPUs."""
    try:
        with open("/sys/devices/system/cpu/possible", encoding="ascii") as f:
            possible = _parse_cpulist(f.read())
        cpus = _parse_cpulist(mask)
    except (OSError, ValueError):
        return False
    return bool(cpus) and cpus <= possible


def _parse_cpulist(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.strip().split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(part)  # "0-", "-1", "1_0", "+2": the kernel's cpulist_parse refuses
        first, last = int(low), int(high or low)
        if last < first:
            raise ValueError(part)
        cpus.update(range(first, last + 1))
    return cpus


class ExitListenerSocket:
    """A cpumask listener on its own socket: hears the exits of every task on those CPUs.

    Implements the backends' ExitListener protocol. ``lost`` is the kernel's own drop count for
    this socket (the Drops column of /proc/net/netlink).
    """

    def __init__(self, family_id: int, cpumask: str, rcvbuf: int = DEFAULT_LISTENER_RCVBUF) -> None:
        if not cpumask.strip():
            raise CpumaskError(errno.EINVAL, cpumask, "an empty cpumask would hear no exits")
        self.family_id = family_id
        self._cpumask = cpumask
        self._sock = _open_socket()
        self._closed = False
        try:
            self.rcvbuf = _set_rcvbuf(self._sock, rcvbuf)
            self.portid: int = self._sock.getsockname()[0]
            self._inode = os.fstat(self._sock.fileno()).st_ino
            self._buf = bytearray(_BUF_SIZE)
            self._view = memoryview(self._buf)
            self._pending: list[ExitEvent] = []
            self._raw: list[tuple[float, TaskstatsMessage]] = []
            self._overflowed = False
            self._overflow_pending = False
            self._lost = 0
            self._register()
        except BaseException:
            self._sock.close()
            raise

    @property
    def cpumask(self) -> str:
        """The cpulist registered."""
        return self._cpumask

    @property
    def lost(self) -> int:
        """Events dropped by the kernel for this socket so far (read fresh each time)."""
        if not self._closed:
            drops = netlink_drops(self._inode)
            if drops is not None:
                self._lost = drops
        return self._lost

    def fileno(self) -> int | None:
        """The socket's descriptor, to wait on with select/poll."""
        return None if self._closed else self._sock.fileno()

    def _register(self) -> None:
        """Register the cpumask and wait for the kernel's ACK (or its error)."""
        sock = self._sock
        seq = 0x7FFFFFF0
        sock.send(
            encode_request(
                self.family_id,
                abi.TASKSTATS_CMD_GET,
                abi.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK,
                self._cpumask,
                seq=seq,
                ack=True,
            )
        )
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            try:
                nbytes = sock.recv_into(self._buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    raise NoReplyError("no reply to the cpumask registration") from None
                continue
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self._overflow_pending = True
                continue
            now = time.monotonic()
            for reply in decode_datagram(self._view[:nbytes], self.family_id):
                if isinstance(reply, TaskstatsMessage) and reply.pid_stats is not None:
                    self._raw.append((now, reply))  # an exit heard before the ACK
                elif isinstance(reply, ErrorReply) and reply.seq == seq:
                    if reply.errno:
                        raise self._register_error(reply.errno)
                    return

    def _register_error(self, err: int) -> KernelError:
        if err == errno.EPERM:
            return PermissionDeniedError()
        if err == errno.EINVAL and (not in_initial_namespaces() or _cpumask_valid(self._cpumask)):
            return NamespaceError()
        if err in (errno.EINVAL, errno.ERANGE, errno.E2BIG):
            return CpumaskError(err, self._cpumask)
        return KernelError(err)

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        """Every event available now, waiting up to ``timeout`` seconds for the first.

        ``None`` waits until at least one event arrives. After an overflow the queue is drained
        and ListenerOverflowError raised once; the events read meanwhile come with the next call.
        """
        if self._closed:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        overflow = self._overflow_pending
        self._overflow_pending = False
        raw = self._raw
        self._raw = []
        while True:
            overflow |= self._drain(raw)
            if raw or self._pending or overflow:
                break
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            if not select.select([self._sock], [], [], wait)[0]:
                break
        if overflow:
            self._overflowed = True
        lost = self.lost if self._overflowed else 0
        events = self._pending
        events.extend(_exit_event(t, m, lost) for t, m in raw)
        self._pending = []
        if overflow:
            self._pending = events
            raise ListenerOverflowError(lost)
        return events

    def _drain(self, raw: list[tuple[float, TaskstatsMessage]]) -> bool:
        """Receive every queued datagram into ``raw``; True when the kernel reported ENOBUFS."""
        sock, buf, view, fam = self._sock, self._buf, self._view, self.family_id
        recv_into, fast, unpack_ids = sock.recv_into, decode_reply_fast, _SEQ_PORT_ID.unpack_from
        dontwait, monotonic, append = socket.MSG_DONTWAIT, time.monotonic, raw.append
        overflow = False
        while True:
            try:
                nbytes = recv_into(buf, 0, dontwait)
            except BlockingIOError:
                return overflow
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                overflow = True
                continue
            now = monotonic()
            record = fast(buf, nbytes, fam)
            if record is not None:
                seq, _port, task_id = unpack_ids(buf, 0)
                if buf[22] == abi.TASKSTATS_TYPE_AGGR_PID:
                    append((now, TaskstatsMessage(task_id, record, None, None, seq)))
                continue
            for reply in decode_datagram(view[:nbytes], fam):
                if isinstance(reply, TaskstatsMessage) and reply.pid_stats is not None:
                    append((now, reply))

    def close(self) -> None:
        """Deregister the cpumask and close the socket (idempotent)."""
        if self._closed:
            return
        try:
            self.lost  # noqa: B018 - keep the final drop count readable after close
            # Deregistration is done inside send(); no need to wait behind queued events.
            self._sock.send(
                encode_request(
                    self.family_id,
                    abi.TASKSTATS_CMD_GET,
                    abi.TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK,
                    self._cpumask,
                )
            )
        except OSError:
            pass
        finally:
            self._closed = True
            self._sock.close()

    def __enter__(self) -> ExitListenerSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _exit_event(t_mono: float, msg: TaskstatsMessage, lost: int) -> ExitEvent:
    assert msg.pid_stats is not None
    return ExitEvent(msg.pid or 0, msg.pid_stats, msg.tgid, msg.tgid_stats, lost, t_mono)
