"""Records to bytes: the exact inverse of decode.py, plus request builders.

The simulated kernel answers with these bytes, the live backend sends the requests, and the
tests build golden payloads with them.
"""

from __future__ import annotations

import struct

from . import abi
from .model import CgroupStats, TaskStats, record_class

__all__ = [
    "encode_attr",
    "encode_cgroupstats",
    "encode_cgroupstats_reply",
    "encode_error",
    "encode_genl",
    "encode_request",
    "encode_taskstats",
    "encode_taskstats_message",
]


def encode_taskstats(record: TaskStats, version: int | None = None) -> bytes:
    """The ``struct taskstats`` bytes of ``record``, in the layout of ``version``.

    ``version`` defaults to the record's own; another version gets the fields both share
    (the rest are 0). A record of a newer, unknown version keeps its version number and is
    written in the newest known layout.
    """
    if version is not None and version != record.version:
        record = TaskStats.from_fields(version, **{
            k: v for k, v in record.as_dict().items()
            if k != "version" and k in record_class(version).layout.names
        })  # fmt: skip
    return bytes(record)


def encode_cgroupstats(stats: CgroupStats) -> bytes:
    """The ``struct cgroupstats`` bytes of ``stats``."""
    return abi.CGROUPSTATS_STRUCT.pack(*stats)


def encode_attr(attr_type: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return abi.NLA_HDR.pack(length, attr_type) + payload + b"\0" * (-length % 4)


def encode_genl(
    family_id: int, cmd: int, attrs: bytes, *, seq: int = 0, portid: int = 0, flags: int = 0
) -> bytes:
    """A generic-netlink message: nlmsghdr + genlmsghdr + attributes."""
    body = abi.GENL_HDR.pack(cmd, abi.TASKSTATS_GENL_VERSION, 0) + attrs
    return abi.NLMSG_HDR.pack(abi.NLMSG_HDR.size + len(body), family_id, flags, seq, portid) + body


def encode_request(
    family_id: int,
    cmd: int,
    attr_type: int,
    value: int | str,
    *,
    seq: int = 0,
    portid: int = 0,
    ack: bool = False,
) -> bytes:
    """A TASKSTATS/CGROUPSTATS request with one u32 or string attribute."""
    payload = value.encode() + b"\x00" if isinstance(value, str) else struct.pack("=I", value)
    flags = abi.NLM_F_REQUEST | (abi.NLM_F_ACK if ack else 0)
    return encode_genl(
        family_id, cmd, encode_attr(attr_type, payload), seq=seq, portid=portid, flags=flags
    )


def _nest(aggr_type: int, id_type: int, task_id: int, record: TaskStats, pad: bool) -> bytes:
    inner = encode_attr(id_type, struct.pack("=I", task_id))
    if pad:
        inner += encode_attr(abi.TASKSTATS_TYPE_NULL, b"")
    inner += encode_attr(abi.TASKSTATS_TYPE_STATS, encode_taskstats(record))
    return encode_attr(aggr_type, inner)


def encode_taskstats_message(
    family_id: int,
    *,
    pid: int | None = None,
    pid_stats: TaskStats | None = None,
    tgid: int | None = None,
    tgid_stats: TaskStats | None = None,
    seq: int = 0,
    portid: int = 0,
    null_pad: str = "none",
) -> bytes:
    """A TASKSTATS_CMD_NEW message: a query reply or an exit event.

    ``null_pad`` places a TASKSTATS_TYPE_NULL attribute as kernels without efficient unaligned
    access do: ``"inside"`` each nest (modern), ``"outside"`` before them (old), or ``"none"``.
    """
    attrs = b""
    if null_pad == "outside":
        attrs += encode_attr(abi.TASKSTATS_TYPE_NULL, b"")
    inside = null_pad == "inside"
    if pid_stats is not None:
        attrs += _nest(abi.TASKSTATS_TYPE_AGGR_PID, abi.TASKSTATS_TYPE_PID, pid or 0, pid_stats,
                       inside)  # fmt: skip
    if tgid_stats is not None:
        attrs += _nest(abi.TASKSTATS_TYPE_AGGR_TGID, abi.TASKSTATS_TYPE_TGID, tgid or 0,
                       tgid_stats, inside)  # fmt: skip
    return encode_genl(family_id, abi.TASKSTATS_CMD_NEW, attrs, seq=seq, portid=portid)


def encode_cgroupstats_reply(
    family_id: int, stats: CgroupStats, *, seq: int = 0, portid: int = 0
) -> bytes:
    """A CGROUPSTATS_CMD_NEW reply."""
    attrs = encode_attr(abi.CGROUPSTATS_TYPE_CGROUP_STATS, encode_cgroupstats(stats))
    return encode_genl(family_id, abi.CGROUPSTATS_CMD_NEW, attrs, seq=seq, portid=portid)


def encode_error(errno: int, request: bytes, *, seq: int = 0, portid: int = 0) -> bytes:
    """An NLMSG_ERROR reply carrying the original request (errno 0 is an ACK with its header)."""
    echoed = request if errno else request[: abi.NLMSG_HDR.size]
    body = struct.pack("=i", -errno) + echoed
    return abi.NLMSG_HDR.pack(16 + len(body), abi.NLMSG_ERROR, 0, seq, portid) + body
