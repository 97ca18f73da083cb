"""Bytes to records: taskstats/cgroupstats structs and the netlink messages around them.

Everything here bounds-checks against the bytes it was given and raises DecodeError on malformed
input; nothing else escapes (no struct.error, IndexError or UnicodeError).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import abi
from .errors import DecodeError, KernelError, error_from_errno
from .model import CgroupStats, TaskStats, TaskstatsMessage, layout_class, record_slices

__all__ = [
    "ErrorReply",
    "Reply",
    "decode_cgroupstats",
    "decode_datagram",
    "decode_reply_fast",
    "decode_reply_slots",
    "decode_taskstats",
    "iter_attrs",
]

Buffer = bytes | bytearray | memoryview

_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_LATEST = abi.LAYOUTS[abi.LATEST_VERSION]
_CLASSES = {version: layout_class(version, False) for version in abi.LAYOUTS}
_NEWER = layout_class(abi.LATEST_VERSION, True)
_Dispatch = tuple[type[TaskStats], int]


def _dispatch_entry(klass: type[TaskStats]) -> _Dispatch:
    return klass, klass.layout.size


_DISPATCH: dict[int, _Dispatch] = {v: _dispatch_entry(k) for v, k in _CLASSES.items()}
_unpack_u16 = _U16.unpack_from


def decode_taskstats(payload: Buffer, offset: int = 0, length: int | None = None) -> TaskStats:
    """Decode the payload of a TASKSTATS_TYPE_STATS attribute.

    The layout is chosen by the ``version`` field. A payload shorter than its version's size
    raises DecodeError; bytes past it are ignored. A version newer than tsmon knows is decoded
    as the newest known layout and flagged ``unknown_version``.
    """
    if length is None:
        length = len(payload) - offset
    if length < 2 or offset < 0 or offset + length > len(payload):
        raise DecodeError(f"taskstats payload of {length} bytes is too short")
    version = _unpack_u16(payload, offset)[0]
    entry = _DISPATCH.get(version)
    if entry is None:
        entry = _dispatch_unusual(version, length)
    klass, size = entry
    if length < size:
        raise DecodeError(
            f"taskstats v{version} payload is {length} bytes, shorter than its {size}"
        )
    return klass(payload[offset : offset + size])


def _dispatch_unusual(version: int, length: int) -> _Dispatch:
    if version > abi.LATEST_VERSION:
        return _dispatch_entry(_NEWER)
    if version == 0:
        # Very old kernels copied the group's stats without setting version.
        return _DISPATCH[_layout_by_size(length).version]
    raise DecodeError(f"unknown taskstats version {version}")


def _layout_by_size(length: int) -> abi.Layout:
    for version in (14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4):
        layout = abi.LAYOUTS[version]
        if length == layout.size:
            return layout
    raise DecodeError(f"taskstats record with version 0 and unknown size {length}")


def decode_cgroupstats(payload: Buffer, offset: int = 0, length: int | None = None) -> CgroupStats:
    """Decode the payload of a CGROUPSTATS_TYPE_CGROUP_STATS attribute."""
    if length is None:
        length = len(payload) - offset
    if length < abi.CGROUPSTATS_SIZE or offset + length > len(payload):
        raise DecodeError(f"cgroupstats payload of {length} bytes is shorter than 40")
    return CgroupStats(*abi.CGROUPSTATS_STRUCT.unpack_from(payload, offset))


def iter_attrs(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield (type, payload start, payload end) of each netlink attribute in buf[start:end]."""
    if end > len(buf):
        raise DecodeError("attributes run past the end of the message")
    pos = start
    while pos < end:
        if end - pos < 4:
            raise DecodeError(f"{end - pos} stray bytes where an attribute header belongs")
        nla_len, nla_type = abi.NLA_HDR.unpack_from(buf, pos)
        if nla_len < 4 or pos + nla_len > end:
            raise DecodeError(f"attribute length {nla_len} overruns its parent")
        yield nla_type & abi.NLA_TYPE_MASK, pos + 4, pos + nla_len
        pos += (nla_len + 3) & ~3


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An NLMSG_ERROR message: an ACK when ``errno`` is 0, else the kernel's error."""

    errno: int
    seq: int

    def exception(self, task_id: int | None = None) -> KernelError:
        """The typed error for this errno."""
        return error_from_errno(self.errno, task_id=task_id)


@dataclass(frozen=True, slots=True)
class CgroupstatsMessage:
    """A CGROUPSTATS_CMD_NEW reply."""

    stats: CgroupStats
    seq: int


Reply = TaskstatsMessage | CgroupstatsMessage | ErrorReply


def _decode_nest(buf: Buffer, start: int, end: int) -> tuple[int | None, TaskStats | None]:
    task_id: int | None = None
    stats: TaskStats | None = None
    for a_type, a_start, a_end in iter_attrs(buf, start, end):
        if a_type in (abi.TASKSTATS_TYPE_PID, abi.TASKSTATS_TYPE_TGID):
            if a_end - a_start < 4:
                raise DecodeError("PID/TGID attribute shorter than 4 bytes")
            task_id = _U32.unpack_from(buf, a_start)[0]
        elif a_type == abi.TASKSTATS_TYPE_STATS:
            stats = decode_taskstats(buf, a_start, a_end - a_start)
    return task_id, stats


def _decode_genl(buf: Buffer, start: int, end: int, seq: int, portid: int) -> Reply | None:
    if end - start < abi.GENL_HDR.size:
        raise DecodeError("generic netlink message without its 4-byte header")
    cmd = buf[start]
    attrs = start + abi.GENL_HDR.size
    if cmd == abi.CGROUPSTATS_CMD_NEW:
        for a_type, a_start, a_end in iter_attrs(buf, attrs, end):
            if a_type == abi.CGROUPSTATS_TYPE_CGROUP_STATS:
                return CgroupstatsMessage(decode_cgroupstats(buf, a_start, a_end - a_start), seq)
        raise DecodeError("cgroupstats reply without CGROUPSTATS_TYPE_CGROUP_STATS")
    if cmd != abi.TASKSTATS_CMD_NEW:
        raise DecodeError(f"unexpected generic netlink command {cmd}")
    pid = tgid = None
    pid_stats = tgid_stats = None
    for a_type, a_start, a_end in iter_attrs(buf, attrs, end):
        if a_type == abi.TASKSTATS_TYPE_AGGR_PID:
            pid, pid_stats = _decode_nest(buf, a_start, a_end)
        elif a_type == abi.TASKSTATS_TYPE_AGGR_TGID:
            tgid, tgid_stats = _decode_nest(buf, a_start, a_end)
        # TASKSTATS_TYPE_NULL (padding) and unknown attributes are skipped.
    if pid_stats is None and tgid_stats is None:
        raise DecodeError("taskstats message without an AGGR_PID or AGGR_TGID record")
    return TaskstatsMessage(pid, pid_stats, tgid, tgid_stats, seq, portid)


def decode_datagram(buf: Buffer, family_id: int | None = None) -> list[Reply]:
    """Decode every netlink message in one datagram.

    NLMSG_ERROR becomes an ErrorReply (errno 0 is an ACK); NLMSG_DONE and NLMSG_NOOP are
    skipped. With ``family_id``, a message of any other type raises DecodeError.
    """
    replies: list[Reply] = []
    pos, end = 0, len(buf)
    while pos < end:
        if end - pos < abi.NLMSG_HDR.size:
            raise DecodeError(f"{end - pos} stray bytes where a netlink header belongs")
        n_len, n_type, _flags, seq, portid = abi.NLMSG_HDR.unpack_from(buf, pos)
        if n_len < abi.NLMSG_HDR.size or pos + n_len > end:
            raise DecodeError(f"netlink message length {n_len} overruns the datagram")
        body, msg_end = pos + abi.NLMSG_HDR.size, pos + n_len
        if n_type == abi.NLMSG_ERROR:
            if msg_end - body < 4:
                raise DecodeError("NLMSG_ERROR without its error code")
            replies.append(ErrorReply(-_I32.unpack_from(buf, body)[0], seq))
        elif n_type in (abi.NLMSG_DONE, abi.NLMSG_NOOP):
            pass
        elif n_type == abi.NLMSG_OVERRUN:
            raise DecodeError("NLMSG_OVERRUN: the kernel lost data")
        elif family_id is not None and n_type != family_id:
            raise DecodeError(f"message of type {n_type}, expected family {family_id}")
        else:
            reply = _decode_genl(buf, body, msg_end, seq, portid)
            if reply is not None:
                replies.append(reply)
        pos += (n_len + 3) & ~3
    return replies


# The exact shape of a PID/TGID query reply on kernels that need no padding attribute:
# nlmsghdr, genlmsghdr, AGGR nest header, PID/TGID attribute, STATS attribute header.
_FAST_HDR = struct.Struct("=IHHIIBBHHHHHIHH")
_FAST_LEN = _FAST_HDR.size  # 36


SlotReply = tuple[int, int, int, TaskStats]
_unpack_fast_hdr = _FAST_HDR.unpack_from
_AGGR_TYPES = (abi.TASKSTATS_TYPE_AGGR_PID, abi.TASKSTATS_TYPE_AGGR_TGID)


def _usual_reply(buf: Buffer, at: int, n: int, family_id: int) -> SlotReply | None:
    """(seq, portid, task id, record) of the n-byte datagram at ``at`` when it is a single
    PID/TGID reply of the usual shape, else None."""
    if n < _FAST_LEN:
        return None
    (n_len, n_type, _f, seq, portid, cmd, _v, _r, aggr_len, aggr_type, id_len, _id_type,
     task_id, st_len, st_type) = _unpack_fast_hdr(buf, at)  # fmt: skip
    if (
        n_type != family_id
        or n_len != n
        or cmd != abi.TASKSTATS_CMD_NEW
        or aggr_type not in _AGGR_TYPES
        or id_len != 8
        or st_type != abi.TASKSTATS_TYPE_STATS
        or aggr_len != n - 20
        or 32 + st_len > n
    ):
        return None
    return seq, portid, task_id, decode_taskstats(buf, at + _FAST_LEN, st_len - 4)


def decode_reply_fast(buf: Buffer, n: int, family_id: int) -> TaskStats | None:
    """Decode a single PID/TGID reply of the usual shape, or return None to use the slow path.

    Returns None for anything else (errors, padding attributes, several messages), so the caller
    falls back to decode_datagram, which handles every case.
    """
    reply = _usual_reply(buf, 0, n, family_id)
    return None if reply is None else reply[3]


def decode_reply_slots(
    buf: Buffer, slots: Sequence[tuple[int, bool]], stride: int, family_id: int
) -> tuple[list[SlotReply], list[int]]:
    """Decode datagrams laid out every ``stride`` bytes: slot i holds ``slots[i]`` (length, cut).

    Returns the replies of the usual shape as (seq, portid, task id, record), and the indexes
    of the other slots (errors, padding attributes, several messages, cut short) for the caller
    to read with decode_datagram or to ask again.
    """
    replies: list[SlotReply] = []
    others: list[int] = []
    for index, (n, cut) in enumerate(slots):
        reply = None if cut else _usual_reply(buf, index * stride, n, family_id)
        if reply is None:
            others.append(index)
        else:
            replies.append(reply)
    return replies, others


def decode_reply_batch(
    buf: bytearray, slots: Sequence[tuple[int, bool]], stride: int, family_id: int
) -> tuple[list[int], int, list[int], list[TaskStats]] | None:
    """The replies in ``slots`` (as for decode_reply_slots) when every one has the usual shape
    and the first one's header, checked a header word at a time across the slots in C:
    (sequence numbers, port id, task ids, records). None when not (the caller then reads
    slot by slot); a first reply that is malformed raises DecodeError as there.
    """
    count = len(slots)
    if count < 2 or stride % 8 or slots.count(slots[0]) != count or slots[0][1]:
        return None  # a lone reply, or lengths differ, or cut short
    first = _usual_reply(buf, 0, slots[0][0], family_id)
    if first is None:
        return None
    klass, size = type(first[3]), len(first[3])
    q, w = stride // 8, stride // 4
    with (
        memoryview(buf) as raw,
        raw[: count * stride] as span,
        span.cast("Q") as quads,
        span.cast("I") as words,
    ):
        # Shared by every reply: bytes 0-7 (length, type, flags), 16-23 (cmd to the AGGR
        # attribute's type), 24-27 (the PID/TGID attribute's length and type), 32-39 (the
        # STATS attribute's length and type, the record's version and padding) and the port
        # id (12-15). Bytes 8-11 are the sequence number and 28-31 the task id.
        shared = (quads[0::q], quads[2::q], words[6::w], quads[4::q], words[3::w])
        for column in map(memoryview.tolist, shared):
            if column.count(column[0]) != count:
                return None
        seqs, task_ids = words[2::w].tolist(), words[7::w].tolist()
        port = words[3]
        records = list(map(klass, map(span.__getitem__, _record_cuts(count, stride, size))))
    return seqs, port, task_ids, records


@functools.lru_cache(maxsize=32)
def _record_cuts(count: int, stride: int, size: int) -> tuple[slice, ...]:
    """Where the records of ``count`` usual replies laid out every ``stride`` bytes are: the
    same for every full batch, so made once (making them cost ~0.3 µs a record)."""
    return tuple(record_slices(count, size, stride, _FAST_LEN))
