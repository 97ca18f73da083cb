"""Simulated task_struct and signal_struct: what the kernel keeps per thread and per process.

A thread's counters are not stepped on every tick. Between two changes of behaviour (a
*segment*) they grow linearly with the number ``k`` of scheduling events the thread had, and
``k`` is a pure function of the time: ``floor((t - t0) * rate + carry)``. A thread is
integrated only when it is queried or exits, in O(1) (plus one fold per phase boundary crossed),
so tens of thousands of mostly idle threads cost nothing between queries.

Every random choice about a thread (its rate, its phases, the jitter of its maxima) comes from
a hash of (seed, serial, salt), so a thread's history does not depend on when it is looked at.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

__all__ = [
    "DELAY_KINDS",
    "KB_MASK",
    "LIN_FIELDS",
    "PROFILES",
    "TICK_NS",
    "Process",
    "Profile",
    "Task",
    "kind_fields",
    "mix64",
    "unit",
]

NS_PER_S = 1_000_000_000
TICK_NS = 4_000_000  # HZ=250: utime/stime are tick-sampled
KB_MASK = ~1023  # xacct_add_tsk() reports the I/O counters rounded down to whole KiB
PAGE = 4096

#: Delay kinds in kernel order; "cpu" comes from sched_info, the rest need tsk->delays.
DELAY_KINDS = ("cpu", "blkio", "swapin", "freepages", "thrashing", "compact", "wpcopy", "irq")

#: The accounting fields that grow with a thread's events, in the order Task.fill() takes
#: their slots.
LIN_FIELDS: tuple[str, ...] = (
    "cpu_run_real_total",
    "cpu_run_virtual_total",
    "ac_utime",
    "ac_stime",
    "ac_utimescaled",
    "ac_stimescaled",
    "cpu_scaled_run_real_total",
    "ac_minflt",
    "ac_majflt",
    "coremem",
    "virtmem",
    "read_char",
    "write_char",
    "read_syscalls",
    "write_syscalls",
    "read_bytes",
    "write_bytes",
    "cancelled_write_bytes",
    "nvcsw",
    "nivcsw",
)


def kind_fields(kind: str) -> tuple[str, ...]:
    """The fields of one delay kind, in the order Task.fill() takes their slots.

    ``<kind>_delay_max_ts`` is a struct __kernel_timespec: ``.sec`` and ``.nsec`` slots.
    """
    return (
        f"{kind}_count",
        f"{kind}_delay_total",
        f"{kind}_delay_max",
        f"{kind}_delay_min",
        f"{kind}_delay_max_ts.sec",
        f"{kind}_delay_max_ts.nsec",
    )


_N_DELAY = len(DELAY_KINDS)
_PUT = struct.Struct("=Q").pack_into  # every accounting field is a u64 (or an s64 >= 0)

_M64 = (1 << 64) - 1


def mix64(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): the simulator's deterministic dice."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        z = (h + (part & _M64) + 0x9E3779B97F4A7C15) & _M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        h = z ^ (z >> 31)
    return h


def unit(*parts: int) -> float:
    """A number in [0, 1) from a hash of integers."""
    return mix64(*parts) / 18446744073709551616.0


@dataclass(frozen=True, slots=True)
class Profile:
    """How a thread behaves: a rate of scheduling events and what each event does.

    Rates and amounts are per *event* (a wake-up or a time slice); the thread's own rate
    multiplier and its active/quiet phases scale the event rate only.
    """

    name: str
    rate: float  # scheduling events per second
    run_us: float  # CPU time per event, µs
    user: float = 0.5  # share of the CPU time spent in user mode
    invol: float = 0.05  # share of events that were preemptions (nivcsw)
    cpu_wait_us: float = 20.0  # mean run-queue wait per event (cpu delay), µs
    rchar: float = 0.0  # bytes read per event (read_char)
    wchar: float = 0.0  # bytes written per event (write_char)
    syscr: float = 0.0  # read syscalls per event
    syscw: float = 0.0  # write syscalls per event
    read_bytes: float = 0.0  # storage bytes read per event
    write_bytes: float = 0.0  # storage bytes written (dirtied) per event
    cancelled: float = 0.0  # cancelled write bytes per event
    minflt: float = 0.0  # minor faults per event
    majflt: float = 0.0  # major faults per event
    # (delay events per scheduling event, mean delay µs) per non-CPU delay kind
    blkio: tuple[float, float] = (0.0, 0.0)
    swapin: tuple[float, float] = (0.0, 0.0)
    freepages: tuple[float, float] = (0.0, 0.0)
    thrashing: tuple[float, float] = (0.0, 0.0)
    compact: tuple[float, float] = (0.0, 0.0)
    wpcopy: tuple[float, float] = (0.0, 0.0)
    irq: tuple[float, float] = (0.0, 0.0)
    running: float = 0.0  # share of the time in TASK_RUNNING while active
    blocked: float = 0.0  # share of the time in TASK_UNINTERRUPTIBLE while active
    idle_state: str = "S"  # the state when not running: "S", "I" (kernel idle) or "T"
    active_s: float = 0.0  # mean active phase, s (0: always active)
    quiet_s: float = 0.0  # mean quiet phase, s
    quiet: float = 0.02  # event-rate factor while quiet


_MAX_BUSY = 0.98  # the largest share of the wall clock one thread accounts


def _p(name: str, rate: float, run_us: float, **kw: object) -> Profile:
    return Profile(name, rate, run_us, **kw)  # type: ignore[arg-type]


#: The behaviours the workload draws from.
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        _p("idle", 0.15, 40, user=0.4, invol=0.02, cpu_wait_us=15, rchar=300, wchar=80, syscr=3,
           syscw=1, minflt=0.3, wpcopy=(0.01, 3.0), irq=(0.002, 6.0)),
        _p("daemon", 4.0, 60, user=0.5, invol=0.03, cpu_wait_us=25, rchar=2048, wchar=512,
           syscr=4, syscw=2, minflt=0.5, read_bytes=40, write_bytes=200, wpcopy=(0.02, 3.0),
           irq=(0.01, 6.0), running=0.01),
        _p("kthread", 1.0, 12, user=0.0, invol=0.01, cpu_wait_us=8, idle_state="I"),
        _p("kworker", 12.0, 18, user=0.0, invol=0.02, cpu_wait_us=10, idle_state="I",
           irq=(0.01, 4.0), running=0.01),
        _p("ksoftirqd", 6.0, 25, user=0.0, invol=0.05, cpu_wait_us=12, irq=(0.2, 5.0),
           running=0.02),
        _p("kswapd", 40.0, 300, user=0.0, invol=0.2, cpu_wait_us=40, running=0.3,
           active_s=6, quiet_s=20, quiet=0.01),
        _p("kcompactd", 5.0, 200, user=0.0, invol=0.1, cpu_wait_us=30, running=0.1,
           active_s=4, quiet_s=30, quiet=0.01),
        _p("jbd2", 10.0, 30, user=0.0, invol=0.02, cpu_wait_us=20, write_bytes=16384,
           blkio=(0.5, 900.0), blocked=0.2),
        _p("flusher", 20.0, 80, user=0.0, invol=0.05, cpu_wait_us=20, write_bytes=65536,
           blkio=(0.3, 1500.0), blocked=0.3, running=0.05, active_s=5, quiet_s=15, quiet=0.02),
        _p("writer", 200.0, 150, user=0.3, invol=0.1, cpu_wait_us=60, wchar=65536, syscw=1.0,
           rchar=512, syscr=0.2, write_bytes=65536, cancelled=200, minflt=0.2,
           blkio=(0.1, 2500.0), wpcopy=(0.005, 4.0), irq=(0.02, 7.0), running=0.2,
           blocked=0.4, active_s=12, quiet_s=6, quiet=0.03),
        _p("reader", 300.0, 120, user=0.4, invol=0.08, cpu_wait_us=50, rchar=131072, syscr=1.0,
           read_bytes=90000, majflt=0.05, minflt=0.5, blkio=(0.6, 800.0), irq=(0.02, 7.0),
           running=0.25, blocked=0.5, active_s=20, quiet_s=8, quiet=0.05),
        _p("cpuhog", 250.0, 3900, user=0.96, invol=0.92, cpu_wait_us=1800, minflt=0.3,
           wpcopy=(0.004, 3.0), irq=(0.3, 9.0), running=0.95, active_s=25, quiet_s=8,
           quiet=0.004),
        _p("compiler", 250.0, 3800, user=0.9, invol=0.85, cpu_wait_us=1500, rchar=20000,
           syscr=0.3, wchar=4000, syscw=0.1, write_bytes=2000, minflt=40, compact=(0.001, 400.0),
           wpcopy=(0.05, 3.0), irq=(0.3, 9.0), running=0.9),
        _p("swapper", 120.0, 900, user=0.6, invol=0.3, cpu_wait_us=300, minflt=6, majflt=0.7,
           read_bytes=2400, rchar=100, syscr=0.1, blkio=(0.1, 3000.0), swapin=(0.6, 2800.0),
           freepages=(0.25, 1600.0), thrashing=(0.35, 2100.0), compact=(0.03, 600.0),
           wpcopy=(0.05, 5.0), irq=(0.05, 8.0), running=0.2, blocked=0.6, active_s=15,
           quiet_s=10, quiet=0.05),
        _p("browser", 60.0, 700, user=0.8, invol=0.2, cpu_wait_us=120, rchar=8000, wchar=3000,
           syscr=3, syscw=2, minflt=20, read_bytes=500, write_bytes=900, wpcopy=(0.4, 6.0),
           compact=(0.002, 300.0), irq=(0.05, 7.0), running=0.15, active_s=10, quiet_s=10,
           quiet=0.1),
        _p("server", 40.0, 120, user=0.5, invol=0.05, cpu_wait_us=40, rchar=2048, wchar=8192,
           syscr=3, syscw=2, minflt=0.4, irq=(0.05, 6.0), running=0.05),
        _p("database", 50.0, 250, user=0.6, invol=0.08, cpu_wait_us=60, rchar=16384,
           wchar=8192, syscr=2, syscw=1, read_bytes=4096, write_bytes=6000, cancelled=100,
           minflt=1, blkio=(0.08, 1100.0), wpcopy=(0.02, 4.0), irq=(0.03, 6.0), running=0.05,
           blocked=0.1, active_s=8, quiet_s=8, quiet=0.1),
        _p("shortcmd", 300.0, 400, user=0.5, invol=0.05, cpu_wait_us=40, rchar=8192, wchar=1024,
           syscr=6, syscw=2, minflt=25, read_bytes=1500, wpcopy=(0.2, 3.0), irq=(0.01, 6.0),
           running=0.6),
        _p("monitor", 10.0, 1500, user=0.7, invol=0.1, cpu_wait_us=80, rchar=30000, wchar=4000,
           syscr=40, syscw=4, minflt=3, running=1.0),
        _p("stopped", 0.0, 0, idle_state="T"),
    )
}  # fmt: skip


class Process:
    """What the simulated kernel keeps per thread group (signal_struct, mm, exe, cmdline)."""

    __slots__ = (
        "cgroup",
        "children",
        "cmdline",
        "comm",
        "exe_dev",
        "exe_inode",
        "forknoexec",
        "gid",
        "group_exit",
        "kthread",
        "leader",
        "live",
        "parent",
        "rss_kb",
        "start_ns",
        "stats",
        "superpriv",
        "tgid",
        "threads",
        "uid",
        "vm_kb",
    )

    def __init__(
        self,
        tgid: int,
        comm: bytes,
        cmdline: str | None,
        uid: int,
        gid: int,
        parent: Process | None,
        *,
        exe_dev: int = 0,
        exe_inode: int = 0,
        rss_kb: int = 0,
        vm_kb: int = 0,
        forknoexec: bool = False,
        superpriv: bool = False,
        kthread: bool = False,
        cgroup: str = "",
        start_ns: int = 0,
    ) -> None:
        self.tgid = tgid
        self.comm = comm
        self.cmdline = cmdline
        self.uid = uid
        self.gid = gid
        self.parent = parent
        self.children: set[Process] = set()
        self.threads: list[Task] = []  # creation order, leader first (signal->thread_head)
        self.live = 0  # signal->live: threads not yet exited
        self.stats: list[object] | None = None  # signal->stats, allocated when >1 thread exits
        self.leader: Task | None = None
        self.exe_dev = exe_dev
        self.exe_inode = exe_inode
        self.rss_kb = rss_kb
        self.vm_kb = vm_kb
        self.forknoexec = forknoexec
        self.superpriv = superpriv
        self.kthread = kthread
        self.cgroup = cgroup
        self.start_ns = start_ns
        self.group_exit = False

    @property
    def ppid(self) -> int:
        """The parent's tgid (0 for init and kthreadd)."""
        return self.parent.tgid if self.parent is not None else 0

    def __repr__(self) -> str:
        return f"Process({self.tgid}, {self.comm!r}, threads={len(self.threads)})"


class Task:
    """One simulated thread: identity, scheduling state and lazily integrated accounting."""

    __slots__ = (
        "_active",
        "_carry",
        "_d",
        "_dactive",
        "_dc",
        "_delay_on",
        "_djit",
        "_dm",
        "_fgen",
        "_fk",
        "_gen",
        "_inc",
        "_invol",
        "_lin",
        "_mult",
        "_niv",
        "_nv",
        "_phase",
        "_phase_end",
        "_rate",
        "_t0",
        "comm",
        "core",
        "cpu",
        "delays",
        "exit_code",
        "exit_ns",
        "nice",
        "policy",
        "proc",
        "profile",
        "reply",
        "seed",
        "serial",
        "signaled",
        "start_ns",
        "tid",
    )

    def __init__(
        self,
        tid: int,
        proc: Process,
        serial: int,
        seed: int,
        comm: bytes,
        profile: Profile,
        cpu: int,
        start_ns: int,
        *,
        delays: bool,
        delayacct_on: bool,
        nice: int = 0,
        policy: int = 0,
        history_until: int = 0,
    ) -> None:
        self.tid = tid
        self.proc = proc
        self.serial = serial
        self.seed = seed
        self.comm = comm
        self.profile = profile
        self.cpu = cpu
        self.nice = nice
        self.policy = policy
        self.start_ns = start_ns
        self.delays = delays  # tsk->delays allocated: forked while delay accounting was on
        self.exit_ns: int | None = None
        self.exit_code = 0
        self.signaled = False
        self.core = False
        # The kernel's PID reply for this thread, kept up to date in place: it is the record's
        # storage (a bytearray, which the garbage collector never has to walk).
        self.reply: bytearray | None = None
        # A per-thread speed: some threads wake a hundred times as often as others.
        self._mult = math.exp(-2.3 + 3.0 * unit(seed, serial, 1))
        self._gen = 0
        self._fk = -1  # the event count and segment ``raw`` was last filled at
        self._fgen = -1
        self._phase = 0
        self._active = True
        self._phase_end: int | None = None
        if profile.active_s > 0:
            if history_until > start_ns:
                # A thread that was running before the simulation began: its past is one
                # segment at the average rate of its duty cycle (phase -1), not thousands.
                self._phase = -1
                self._phase_end = history_until
            else:
                self._enter_cycle(start_ns)
        self._lin = array("d", bytes(8 * 11))
        self._nv = 0
        self._niv = 0
        # Per delay kind j, at _d[9j:9j+9]: count, total, max, monotonic ns of the max (0:
        # never) and min of the closed segments, then the last fill's (p, max, min, when).
        # One flat list: fewer objects for the garbage collector to walk.
        self._d = array("q", bytes(8 * 9 * _N_DELAY))
        self._delay_on = delays and delayacct_on
        self._start_segment(start_ns, unit(seed, serial, 2))

    # --- segments -------------------------------------------------------------------------
    def _enter_cycle(self, t: int) -> None:
        """Start the active/quiet cycle at ``t``, at a random point of it."""
        p = self.profile
        self._phase = 0
        self._active = unit(self.seed, self.serial, 3) < p.active_s / (p.active_s + p.quiet_s)
        self._phase_end = t + self._phase_len()

    def _phase_len(self) -> int:
        p = self.profile
        mean = p.active_s if self._active else p.quiet_s
        u = unit(self.seed, self.serial, 100 + self._phase)
        return max(50_000_000, int(-mean * math.log(1.0 - u) * NS_PER_S))

    def _start_segment(self, t0: int, carry: float) -> None:
        p = self.profile
        self._t0 = t0
        self._carry = carry
        self._gen += 1
        if self._phase < 0:
            scale = (p.active_s + p.quiet_s * p.quiet) / (p.active_s + p.quiet_s)
        else:
            scale = 1.0 if self._active else p.quiet
        self._rate = p.rate * self._mult * scale / NS_PER_S
        run = p.run_us * 1000.0
        self._inc = (
            run * p.user,
            run * (1.0 - p.user),
            p.rchar,
            p.wchar,
            p.syscr,
            p.syscw,
            p.read_bytes,
            p.write_bytes,
            p.cancelled,
            p.minflt,
            p.majflt,
        )
        self._invol = p.invol
        on = self._delay_on
        off = (0.0, 0.0)
        pairs = (
            (1.0, p.cpu_wait_us),
            p.blkio if on else off,
            p.swapin if on else off,
            p.freepages if on else off,
            p.thrashing if on else off,
            p.compact if on else off,
            p.wpcopy if on else off,
            p.irq if on else off,
        )
        seed, serial = self.seed, self.serial
        self._dc = tuple(c for c, _ in pairs)
        # Each thread waits a little more or less than its profile says.
        self._dm = tuple(
            max(1, int(m * 1000.0 * (0.6 + 0.8 * unit(seed, serial, 10 + j)))) if c else 0
            for j, (c, m) in enumerate(pairs)
        )
        self._djit = tuple(1.0 + 0.25 * unit(seed, serial, 20 + j) for j in range(_N_DELAY))
        self._dactive = tuple(j for j in range(_N_DELAY) if self._dc[j] > 0.0)
        # A thread runs, waits for a CPU or waits in one of the delays, one at a time: what
        # it accounts can never outgrow the wall clock (a busy thread at most _MAX_BUSY of it).
        busy = self._rate * (run + sum(c * m for c, m in zip(self._dc, self._dm, strict=True)))
        if busy > _MAX_BUSY:
            self._rate *= _MAX_BUSY / busy
        # Per kind: (p of the last fill, max, min, when) - the maxima change only when p does.
        d = self._d
        for i in range(0, 9 * _N_DELAY, 9):
            d[i + 5] = -1
            d[i + 6] = d[i + 2]
            d[i + 7] = d[i + 4]
            d[i + 8] = d[i + 3]

    def _events(self, t: int) -> int:
        """Scheduling events in the current segment up to time ``t``."""
        if t <= self._t0:
            return 0
        return int((t - self._t0) * self._rate + self._carry)

    def _extremes(self, j: int, kj: int) -> tuple[int, int, int]:
        """(max, min, monotonic ns of the max) of the ``kj`` kind-``j`` waits of this segment.

        The largest wait grows stepwise with the number of waits (it was recorded at the
        2**p-th one) and the smallest shrinks; both stay within [1, total].
        """
        m = self._dm[j]
        p = kj.bit_length() - 1
        seg_max = m if p == 0 else int(m * (1.0 + 0.6 * p * self._djit[j]))
        seg_min = max(1, int(m / (1.0 + 0.5 * p)))
        i = math.ceil((1 << p) / self._dc[j])
        when = self._t0 + math.ceil((i - self._carry) / self._rate)
        return seg_max, seg_min, when

    def _fold(self, t: int) -> None:
        """Close the current segment at ``t``: its totals become the next one's base."""
        k = self._events(t)
        lin = self._lin
        for i, inc in enumerate(self._inc):
            lin[i] += k * inc
        niv = int(k * self._invol)
        self._niv += niv
        self._nv += k - niv
        for j in self._dactive:
            kj = int(k * self._dc[j])
            if kj <= 0:
                continue
            d, i = self._d, 9 * j
            d[i] += kj
            d[i + 1] += kj * self._dm[j]
            seg_max, seg_min, when = self._extremes(j, kj)
            if seg_max > d[i + 2]:
                d[i + 2] = seg_max
                d[i + 3] = when
            if d[i + 4] == 0 or seg_min < d[i + 4]:
                d[i + 4] = seg_min
        carry = (t - self._t0) * self._rate + self._carry - k if t > self._t0 else self._carry
        self._start_segment(t, carry)

    def _advance_phases(self, t: int) -> None:
        end = self._phase_end
        while end is not None and end <= t:
            # Move to the next phase, then close the old segment (which keeps its own rates).
            if self._phase < 0:
                self._enter_cycle(end)
            else:
                self._phase += 1
                self._active = not self._active
                self._phase_end = end + self._phase_len()
            self._fold(end)
            end = self._phase_end

    def set_delay_accounting(self, t: int, on: bool) -> None:
        """delayacct switched at ``t``: non-CPU delays accrue only while it is on."""
        on = on and self.delays
        if on == self._delay_on or self.exit_ns is not None:
            return
        self._advance_phases(t)
        self._fold(t)
        self._delay_on = on
        self._start_segment(self._t0, self._carry)

    def set_profile(self, t: int, profile: Profile) -> None:
        """Change behaviour from ``t`` on (counters carry over)."""
        self._advance_phases(t)
        self._fold(t)
        self.profile = profile
        self._phase = 0
        self._phase_end = None
        self._active = True
        if profile.active_s > 0:
            self._phase_end = t + self._phase_len()
        self._start_segment(t, self._carry)

    # --- values ---------------------------------------------------------------------------
    def sync(self, now: int) -> int:
        """Integrate up to ``now`` (or the exit); the event count of the current segment."""
        t = now if self.exit_ns is None else self.exit_ns
        if self._phase_end is not None and self._phase_end <= t:
            self._advance_phases(t)
        return self._events(t)

    def refill(self) -> None:
        """Forget what was filled: the next fill() writes every field."""
        self._fgen = -1

    def fill(
        self,
        buf: bytearray,
        now: int,
        wall_offset: int,
        lin: tuple[int, ...],
        kinds: tuple[tuple[int, ...], ...],
    ) -> bool:
        """Write the accounting fields into the record in ``buf`` as the kernel reports them now.

        ``lin`` holds the byte offsets of LIN_FIELDS and ``kinds`` those of kind_fields() per
        delay kind (a scratch offset for a field the version lacks). Nothing is written, and
        False returned, when no event happened since the last fill.
        """
        k = self.sync(now)
        gen = self._gen
        if k == self._fk and gen == self._fgen:
            return False
        full = gen != self._fgen
        self._fk = k
        self._fgen = gen
        put = _PUT
        base = self._lin
        inc = self._inc
        user = base[0] + k * inc[0]
        system = base[1] + k * inc[1]
        utime = int(user) // TICK_NS * TICK_NS
        stime = int(system) // TICK_NS * TICK_NS
        run = int(user + system)
        niv = int(k * self._invol)
        proc = self.proc
        cpu_us = run >> 10
        (o_real, o_run, o_ut, o_st, o_uts, o_sts, o_sreal, o_minflt, o_majflt, o_core, o_virt,
         o_rc, o_wc, o_sr, o_sw, o_rb, o_wb, o_cb, o_nv, o_niv) = lin  # fmt: skip
        put(buf, o_real, utime + stime)
        put(buf, o_sreal, utime + stime)
        put(buf, o_run, run)
        put(buf, o_ut, utime // 1000)
        put(buf, o_uts, utime // 1000)
        put(buf, o_st, stime // 1000)
        put(buf, o_sts, stime // 1000)
        put(buf, o_minflt, int(base[9] + k * inc[9]))
        put(buf, o_majflt, int(base[10] + k * inc[10]))
        put(buf, o_core, cpu_us * (proc.rss_kb >> 2) * PAGE // 1_024_000)
        put(buf, o_virt, cpu_us * (proc.vm_kb >> 2) * PAGE // 1_024_000)
        put(buf, o_rc, int(base[2] + k * inc[2]) & KB_MASK)
        put(buf, o_wc, int(base[3] + k * inc[3]) & KB_MASK)
        put(buf, o_sr, int(base[4] + k * inc[4]) & KB_MASK)
        put(buf, o_sw, int(base[5] + k * inc[5]) & KB_MASK)
        put(buf, o_rb, int(base[6] + k * inc[6]) // PAGE * PAGE & KB_MASK)
        put(buf, o_wb, int(base[7] + k * inc[7]) // PAGE * PAGE & KB_MASK)
        put(buf, o_cb, int(base[8] + k * inc[8]) // PAGE * PAGE & KB_MASK)
        put(buf, o_nv, self._nv + k - niv)
        put(buf, o_niv, self._niv + niv)
        dc, dm, d = self._dc, self._dm, self._d
        for j in range(_N_DELAY) if full else self._dactive:
            o_cnt, o_tot, o_max, o_min, o_sec, o_nsec = kinds[j]
            kj = int(k * dc[j])
            i = 9 * j
            put(buf, o_cnt, d[i] + kj)
            put(buf, o_tot, d[i + 1] + kj * dm[j])
            p = kj.bit_length() - 1
            if d[i + 5] != p:
                high, low, when = d[i + 2], d[i + 4], d[i + 3]
                if kj > 0:
                    seg_max, seg_min, seg_when = self._extremes(j, kj)
                    if seg_max > high:
                        high, when = seg_max, seg_when
                    if low == 0 or seg_min < low:
                        low = seg_min
                d[i + 5] = p
                d[i + 6] = high
                d[i + 7] = low
                d[i + 8] = when
            elif not full:
                continue
            put(buf, o_max, d[i + 6])
            put(buf, o_min, d[i + 7])
            when = d[i + 8]
            stamp = when + wall_offset if when else 0
            put(buf, o_sec, stamp // NS_PER_S)
            put(buf, o_nsec, stamp % NS_PER_S)
        return True

    def state(self, now: int) -> str:
        """The scheduler state now: "R", "S", "D", "T", "I" (TASK_IDLE) or "X" (exited)."""
        if self.exit_ns is not None:
            return "X"
        p = self.profile
        if p.idle_state == "T":
            return "T"
        self.sync(now)
        if self._active:
            u = unit(self.seed, self.serial, 7, now // 50_000_000)
            if u < p.running:
                return "R"
            if u < p.running + p.blocked:
                return "D"
        return p.idle_state

    def __repr__(self) -> str:
        return f"Task({self.tid}, {self.comm!r}, {self.profile.name}, cpu={self.cpu})"
