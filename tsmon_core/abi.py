"""Kernel ABI of the TASKSTATS genl family: constants and one field table per struct version.

Offsets are those of x86_64 (and of i386 from v4 on), as measured on a real kernel; see
shared/reference/taskstats-kernel.md sections 1 and 2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ACCT_FLAGS",
    "AGROUP",
    "CGROUPSTATS_CMD_ATTR_FD",
    "CGROUPSTATS_CMD_GET",
    "CGROUPSTATS_CMD_NEW",
    "CGROUPSTATS_FIELDS",
    "CGROUPSTATS_SIZE",
    "CGROUPSTATS_STRUCT",
    "CGROUPSTATS_TYPE_CGROUP_STATS",
    "DELAY_KINDS",
    "LATEST_VERSION",
    "LAYOUTS",
    "RECORD_FIELDS",
    "TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK",
    "TASKSTATS_CMD_ATTR_PID",
    "TASKSTATS_CMD_ATTR_REGISTER_CPUMASK",
    "TASKSTATS_CMD_ATTR_TGID",
    "TASKSTATS_CMD_GET",
    "TASKSTATS_CMD_NEW",
    "TASKSTATS_GENL_NAME",
    "TASKSTATS_GENL_VERSION",
    "TASKSTATS_TYPE_AGGR_PID",
    "TASKSTATS_TYPE_AGGR_TGID",
    "TASKSTATS_TYPE_NULL",
    "TASKSTATS_TYPE_PID",
    "TASKSTATS_TYPE_STATS",
    "TASKSTATS_TYPE_TGID",
    "TS_COMM_LEN",
    "Layout",
    "cpumask_maxlen",
    "layout_for",
]

# --- netlink / generic netlink -------------------------------------------------------------
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
GENL_ID_CTRL = 0x10
NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
GENL_HDR = struct.Struct("=BBH")  # cmd, version, reserved
NLA_HDR = struct.Struct("=HH")  # len, type
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

# --- TASKSTATS family (include/uapi/linux/taskstats.h, cgroupstats.h) ----------------------
TASKSTATS_GENL_NAME = "TASKSTATS"
TASKSTATS_GENL_VERSION = 1
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_NEW = 2
CGROUPSTATS_CMD_GET = 4
CGROUPSTATS_CMD_NEW = 5

TASKSTATS_CMD_ATTR_PID = 1
TASKSTATS_CMD_ATTR_TGID = 2
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3
TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK = 4

TASKSTATS_TYPE_PID = 1
TASKSTATS_TYPE_TGID = 2
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_PID = 4
TASKSTATS_TYPE_AGGR_TGID = 5
TASKSTATS_TYPE_NULL = 6

CGROUPSTATS_CMD_ATTR_FD = 1
CGROUPSTATS_TYPE_CGROUP_STATS = 1

TS_COMM_LEN = 32
LATEST_VERSION = 17

# ac_flag bits (include/uapi/linux/acct.h)
AFORK = 0x01
ASU = 0x02
ACOMPAT = 0x04
ACORE = 0x08
AXSIG = 0x10
AGROUP = 0x20
ACCT_FLAGS = {"AFORK": AFORK, "ASU": ASU, "ACORE": ACORE, "AXSIG": AXSIG, "AGROUP": AGROUP}

#: The eight delay kinds, in kernel order, with getdelays' label for each.
DELAY_KINDS: tuple[tuple[str, str], ...] = (
    ("cpu", "CPU"),
    ("blkio", "IO"),
    ("swapin", "SWAP"),
    ("freepages", "RECLAIM"),
    ("thrashing", "THRASHING"),
    ("compact", "COMPACT"),
    ("wpcopy", "WPCOPY"),
    ("irq", "IRQ"),
)


def cpumask_maxlen(nr_cpus: int) -> int:
    """TASKSTATS_CPUMASK_MAXLEN: the longest cpumask attribute (with its NUL) the kernel takes."""
    return 100 + 6 * nr_cpus


# --- struct taskstats ----------------------------------------------------------------------
# (name, struct code, offset in v4..v14/v16/v17, version that added it)
# Codes: H/I/Q unsigned, b signed byte (ac_nice), 32s comm, T a struct __kernel_timespec.
_V4_FIELDS: tuple[tuple[str, str, int, int], ...] = (
    ("version", "H", 0, 1),
    ("ac_exitcode", "I", 4, 2),
    ("ac_flag", "B", 8, 2),
    ("ac_nice", "b", 9, 2),
    ("cpu_count", "Q", 16, 1),
    ("cpu_delay_total", "Q", 24, 1),
    ("blkio_count", "Q", 32, 1),
    ("blkio_delay_total", "Q", 40, 1),
    ("swapin_count", "Q", 48, 1),
    ("swapin_delay_total", "Q", 56, 1),
    ("cpu_run_real_total", "Q", 64, 1),
    ("cpu_run_virtual_total", "Q", 72, 1),
    ("ac_comm", "32s", 80, 2),
    ("ac_sched", "B", 112, 2),
    ("ac_uid", "I", 120, 2),
    ("ac_gid", "I", 124, 2),
    ("ac_pid", "I", 128, 2),
    ("ac_ppid", "I", 132, 2),
    ("ac_btime", "I", 136, 2),
    ("ac_etime", "Q", 144, 2),
    ("ac_utime", "Q", 152, 2),
    ("ac_stime", "Q", 160, 2),
    ("ac_minflt", "Q", 168, 2),
    ("ac_majflt", "Q", 176, 2),
    ("coremem", "Q", 184, 2),
    ("virtmem", "Q", 192, 2),
    ("hiwater_rss", "Q", 200, 2),
    ("hiwater_vm", "Q", 208, 2),
    ("read_char", "Q", 216, 2),
    ("write_char", "Q", 224, 2),
    ("read_syscalls", "Q", 232, 2),
    ("write_syscalls", "Q", 240, 2),
    ("read_bytes", "Q", 248, 3),
    ("write_bytes", "Q", 256, 3),
    ("cancelled_write_bytes", "Q", 264, 3),
    ("nvcsw", "Q", 272, 5),
    ("nivcsw", "Q", 280, 5),
    ("ac_utimescaled", "Q", 288, 6),
    ("ac_stimescaled", "Q", 296, 6),
    ("cpu_scaled_run_real_total", "Q", 304, 6),
    ("freepages_count", "Q", 312, 7),
    ("freepages_delay_total", "Q", 320, 7),
    ("thrashing_count", "Q", 328, 9),
    ("thrashing_delay_total", "Q", 336, 9),
    ("ac_btime64", "Q", 344, 10),
    ("compact_count", "Q", 352, 11),
    ("compact_delay_total", "Q", 360, 11),
    ("ac_tgid", "I", 368, 12),
    ("ac_tgetime", "Q", 376, 12),
    ("ac_exe_dev", "Q", 384, 12),
    ("ac_exe_inode", "Q", 392, 12),
    ("wpcopy_count", "Q", 400, 13),
    ("wpcopy_delay_total", "Q", 408, 13),
    ("irq_count", "Q", 416, 14),
    ("irq_delay_total", "Q", 424, 14),
    *(
        (f"{kind}_delay_{end}", "Q", 432 + 16 * i + 8 * j, 16)
        for i, (kind, _) in enumerate(DELAY_KINDS)
        for j, end in enumerate(("max", "min"))
    ),
    *((f"{kind}_delay_max_ts", "T", 560 + 16 * i, 17) for i, (kind, _) in enumerate(DELAY_KINDS)),
)

#: Every field a record carries, in record order (the v17 order; ac_pad is padding, not data).
RECORD_FIELDS: tuple[str, ...] = tuple(name for name, *_ in _V4_FIELDS)

_SIZES = {1: 72, 2: 240, 3: 264, 4: 272, 5: 288, 6: 312, 7: 328, 8: 328, 9: 344, 10: 352,
          11: 368, 12: 400, 13: 416, 14: 432, 15: 560, 16: 560, 17: 688}  # fmt: skip

# v1: version, padding[3], then the eight delay-accounting u64s from offset 8.
_V1_OFFSETS = {name: 8 + 8 * i for i, name in enumerate(RECORD_FIELDS[4:12])}
# v2/v3: before the v4 alignment fix, ac_uid and everything after it sit 4 or 8 bytes lower.
_V2_SHIFT = {**{n: -4 for n in ("ac_uid", "ac_gid", "ac_pid", "ac_ppid", "ac_btime")}}


def _v2_offset(name: str, v4_offset: int) -> int:
    if v4_offset < 120:
        return v4_offset
    return v4_offset + _V2_SHIFT.get(name, -8)


def _v15_fields() -> list[tuple[str, str, int]]:
    """v15 (Linux 6.14): max/min inserted right after each delay total (an ABI break)."""
    order: list[str] = []
    totals = {f"{kind}_delay_total": kind for kind, _ in DELAY_KINDS}
    for name in RECORD_FIELDS:
        if name.endswith(("_delay_max", "_delay_min", "_max_ts")):
            continue
        order.append(name)
        if name in totals:
            order += [f"{totals[name]}_delay_max", f"{totals[name]}_delay_min"]
    codes = {name: code for name, code, *_ in _V4_FIELDS}
    fields: list[tuple[str, str, int]] = []
    offset = 0
    for name in order:
        code = codes[name]
        size = struct.calcsize("=" + code)
        align = 8 if code in ("Q", "T") else size if code in ("H", "I") else 1
        if name in ("cpu_count", "ac_sched", "ac_uid", "ac_etime"):
            align = 8  # the v4 aligned(8) attributes
        offset = (offset + align - 1) // align * align
        fields.append((name, code, offset))
        offset += size + (3 if name == "ac_sched" else 0)  # ac_pad[3] follows ac_sched
    return fields


@dataclass(frozen=True, slots=True)
class Layout:
    """How one struct version lies in memory.

    Attributes:
        version: the struct version this layout decodes.
        size: sizeof(struct taskstats) of that version, in bytes.
        fields: (name, code, offset) in increasing offset order.
        struct: a compiled little/native-endian unpacker of the whole struct.
        prefix: True when the fields are a prefix of RECORD_FIELDS (every version but 1 and 15).
    """

    version: int
    size: int
    fields: tuple[tuple[str, str, int], ...]
    struct: struct.Struct
    prefix: bool

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in this layout's order."""
        return tuple(name for name, _, _ in self.fields)


def _compile(version: int, fields: list[tuple[str, str, int]]) -> Layout:
    size = _SIZES[version]
    fmt = ["="]
    pos = 0
    for _name, code, offset in fields:
        if offset < pos:
            raise AssertionError(f"v{version}: overlapping field at {offset}")
        if offset > pos:
            fmt.append(f"{offset - pos}x")
        fmt.append("qq" if code == "T" else code)
        pos = offset + struct.calcsize("=" + ("qq" if code == "T" else code))
    if pos > size:
        raise AssertionError(f"v{version}: fields end at {pos}, past sizeof {size}")
    if size > pos:
        fmt.append(f"{size - pos}x")
    compiled = struct.Struct("".join(fmt))
    names = [name for name, _, _ in fields]
    prefix = names == list(RECORD_FIELDS[: len(names)])
    return Layout(version, size, tuple(fields), compiled, prefix)


def _build_layouts() -> dict[int, Layout]:
    layouts: dict[int, Layout] = {}
    layouts[1] = _compile(
        1, [("version", "H", 0)] + [(name, "Q", off) for name, off in _V1_OFFSETS.items()]
    )
    for version in range(2, 18):
        if version == 15:
            layouts[15] = _compile(15, _v15_fields())
            continue
        fields = [(name, code, off) for name, code, off, added in _V4_FIELDS if added <= version]
        if version == 16:
            fields = [f for f in fields if not f[0].endswith("_max_ts")]
        if version < 4:
            fields = [(name, code, _v2_offset(name, off)) for name, code, off in fields]
        layouts[version] = _compile(version, fields)
    return layouts


#: Layout per known struct version, 1..17.
LAYOUTS: dict[int, Layout] = _build_layouts()


def layout_for(version: int) -> Layout | None:
    """The layout of a known version, or None for an unknown one."""
    return LAYOUTS.get(version)


# --- struct cgroupstats --------------------------------------------------------------------
CGROUPSTATS_FIELDS = ("nr_sleeping", "nr_running", "nr_stopped", "nr_uninterruptible", "nr_io_wait")
CGROUPSTATS_STRUCT = struct.Struct("=5Q")
CGROUPSTATS_SIZE = CGROUPSTATS_STRUCT.size  # 40
