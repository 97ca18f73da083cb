"""A seeded workload for the simulated kernel, on its virtual clock.

A machine like a real one: kernel threads, system services, a user session, a few busy tasks
(a writer, a reader, CPU hogs, a swapper that gets OOM-killed and comes back, compile bursts,
a backup), and a stream of short commands and short multi-threaded jobs. Everything is drawn
from ``random.Random(seed)`` in event order, so a seed gives the same history however the
clock is advanced.
"""

from __future__ import annotations

import heapq
import math
import random
import zlib
from collections.abc import Callable
from typing import Any

from .kernel import SimKernel
from .task import PROFILES, Process, Profile, Task

__all__ = ["Workload", "exe_of"]

NS_PER_S = 1_000_000_000
SIGKILL = 9
SIGTERM = 15
SIGSEGV = 11
USER = 1000
SESSION = "/user.slice/user-1000.slice/session-2.scope"


def exe_of(path: str | None) -> tuple[int, int]:
    """(ac_exe_dev, ac_exe_inode) of an executable: 254:1 (new_encode_dev) and a stable inode."""
    if not path:
        return 0, 0
    return (1 & 0xFF) | (254 << 8), 131072 + zlib.crc32(
        path.encode("utf-8", "surrogateescape")
    ) % 900_000


_COMMANDS: tuple[tuple[str, str, int], ...] = (
    # (comm, command line, wait status)
    ("ls", "ls -la /var/log", 0),
    ("grep", "grep -r TODO src", 0),
    ("grep", "grep -q needle haystack.txt", 256),
    ("cat", "cat /proc/loadavg", 0),
    ("date", "date +%s", 0),
    ("git", "git status --porcelain", 0),
    ("sed", "sed -n 1,20p notes.md", 0),
    ("awk", "awk {print $1} access.log", 0),
    ("curl", "curl -s http://localhost:8080/health", 0),
    ("curl", "curl -s http://10.0.0.9/down", 7 << 8),
    ("ps", "ps aux", 0),
    ("sh", "sh -c exit 3", 3 << 8),
    ("sh", "sh -c true", 0),
    ("find", "find /home/alice/src -name *.py", 0),
    ("stat", "stat /etc/passwd", 0),
    ("sleep", "sleep 0.2", 0),
    ("gzip", "gzip -9 app.log.1", 0),
    ("python3", "python3 -c import sys", 0),
    ("xargs", "xargs -n1 echo", 123 << 8),
    ("rm", "rm -f /tmp/x", 0),
)


class Workload:
    """Populates a SimKernel and keeps it busy as its clock moves.

    Args:
        kernel: the kernel to drive (its clock is moved by ``advance_to``).
        seed: the seed of every choice.
        tasks: how many threads (kernel threads included) exist at the start.
        hostile_names: add processes named like markup and terminal escapes.
        churn: how much starts and exits (0 switches every generator off; 1 is a busy
            workstation: about two short commands a second per 300 threads).
    """

    def __init__(
        self,
        kernel: SimKernel,
        *,
        seed: int = 1,
        tasks: int = 300,
        hostile_names: bool = False,
        churn: float = 1.0,
    ) -> None:
        self.kernel = kernel
        self.rng = random.Random(seed)
        self.start_ns = kernel.now_ns
        self._heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._shells: list[Process] = []
        self._threaded: list[Process] = []
        self._named: dict[str, Process] = {}
        self.scale = churn * max(1.0, tasks / 300.0)
        self._build(tasks, hostile_names)
        if churn > 0:
            self._start_generators()

    # --- the clock ------------------------------------------------------------------------
    def at(self, t_ns: int, action: Callable[..., None], *args: Any) -> None:
        """Schedule ``action(*args)`` at monotonic time ``t_ns``."""
        self._seq += 1
        heapq.heappush(self._heap, (max(t_ns, self.kernel.now_ns), self._seq, action, args))

    def advance_to(self, t_ns: int) -> None:
        """Run every event up to ``t_ns`` in order, then set the kernel's clock to it."""
        heap, kernel = self._heap, self.kernel
        while heap and heap[0][0] <= t_ns:
            t, _, action, args = heapq.heappop(heap)
            if t > kernel.now_ns:
                kernel.now_ns = t
            action(*args)
        if t_ns > kernel.now_ns:
            kernel.now_ns = t_ns

    def next_time(self) -> int | None:
        """When the next scheduled event happens (monotonic ns), or None."""
        return self._heap[0][0] if self._heap else None

    def pending(self) -> int:
        """Scheduled events (bounded: one per generator and per task with a set lifetime)."""
        return len(self._heap)

    # --- starting and stopping things -----------------------------------------------------
    def spawn(
        self,
        comm: str | bytes,
        *,
        threads: int = 1,
        profile: str | Profile = "idle",
        thread_profile: str | Profile | None = None,
        cpu: int | None = None,
        lifetime: float | None = None,
        exit_code: int = 0,
        signal: int = 0,
        uid: int = USER,
        cmdline: str | None = None,
        cgroup: str = SESSION,
        parent: Process | None = None,
        exe: str | None = None,
        start_ns: int | None = None,
        history_until: int = 0,
        forknoexec: bool = False,
        nice: int = 0,
    ) -> Process:
        """Start a process with ``threads`` threads on ``cpu`` (random by default).

        ``profile`` names one of PROFILES or is a Profile. With ``lifetime`` (seconds) it ends
        then: ``exit(exit_code)`` (wait status ``exit_code << 8``), or killed by ``signal``
        when that is non-zero.
        """
        k = self.kernel
        leader_profile = PROFILES[profile] if isinstance(profile, str) else profile
        other = thread_profile if thread_profile is not None else leader_profile
        thread_prof = PROFILES[other] if isinstance(other, str) else other
        raw = comm.encode("utf-8", "surrogateescape") if isinstance(comm, str) else comm
        name = raw.decode("utf-8", "replace")
        choose = self.rng.choice
        possible = k.possible
        if parent is None or k.procs.get(parent.tgid) is not parent:
            parent = self._named.get("bash") or k.procs.get(1)
            if parent is not None and k.procs.get(parent.tgid) is not parent:
                parent = k.procs.get(1)
        proc = k.spawn_process(
            raw,
            leader_profile,
            parent=parent,
            cpu=cpu if cpu is not None else choose(possible),
            uid=uid,
            gid=uid,
            cmdline=name if cmdline is None else cmdline,
            exe=exe_of(exe or f"/usr/bin/{name}"),
            rss_kb=self._rss(leader_profile.name),
            vm_kb=self._rss(leader_profile.name) * 4 + 2048,
            forknoexec=forknoexec,
            superpriv=uid == 0 and self.rng.random() < 0.5,
            cgroup=cgroup,
            nice=nice,
            start_ns=start_ns,
            history_until=history_until,
        )
        for _ in range(threads - 1):
            k.spawn_thread(
                proc,
                raw,
                thread_prof,
                cpu=cpu if cpu is not None else choose(possible),
                nice=nice,
                start_ns=start_ns,
                history_until=history_until,
            )
        if lifetime is not None:
            when = k.now_ns + max(1, int(lifetime * NS_PER_S))
            if signal:
                self.at(when, self._kill_event, proc, signal)
            else:
                self.at(when, self._exit_event, proc, exit_code)
        return proc

    def exit_group(self, proc: Process, code: int = 0) -> None:
        """exit_group(code) from the first live thread: the others are zapped (AXSIG)."""
        self._group_exit(proc, (code & 0xFF) << 8, signal=0)

    def kill(self, proc: Process, signal: int = SIGKILL, *, core: bool = False) -> None:
        """A fatal signal: every thread exits with it as the wait status (AXSIG)."""
        self._group_exit(proc, signal | (0x80 if core else 0), signal=signal, core=core)

    def exit_thread(self, task: Task, code: int = 0) -> None:
        """pthread_exit(): one thread ends; the process goes on if others are alive."""
        self.kernel.exit_task(task.tid, (code & 0xFF) << 8)

    def _group_exit(self, proc: Process, status: int, *, signal: int, core: bool = False) -> None:
        k = self.kernel
        if k.procs.get(proc.tgid) is not proc or proc.live == 0:
            return
        live = [t for t in proc.threads if t.exit_ns is None]
        for i, task in enumerate(live):
            # The caller (or the thread that took the signal) exits first; the others are
            # zapped with SIGKILL and go through get_signal(): PF_SIGNALED, so AXSIG.
            zapped = i > 0 or signal != 0
            k.exit_task(task.tid, status, signaled=zapped, core=core and i == 0)

    def _exit_event(self, proc: Process, code: int) -> None:
        self.exit_group(proc, code)

    def _kill_event(self, proc: Process, signal: int) -> None:
        self.kill(proc, signal, core=signal == SIGSEGV)

    def _thread_exit_event(self, task: Task) -> None:
        alive = self.kernel.tasks.get(task.tid) is task and task.exit_ns is None
        if alive and task.proc.live > 1:
            self.exit_thread(task)

    # --- the initial population -----------------------------------------------------------
    def _rss(self, profile: str) -> int:
        base = {
            "swapper": 900_000,
            "browser": 350_000,
            "database": 180_000,
            "cpuhog": 40_000,
            "compiler": 120_000,
            "monitor": 60_000,
            "server": 30_000,
        }.get(profile, 6_000)
        return int(base * (0.5 + self.rng.random()))

    def _build(self, total: int, hostile: bool) -> None:
        k = self.kernel
        now = k.now_ns
        rng = self.rng
        budget = [total]

        def boot(seconds: float) -> int:
            return min(now - NS_PER_S, int(seconds * NS_PER_S))

        def proc(
            comm: str,
            profile: str,
            *,
            threads: tuple[tuple[str, str], ...] = (),
            uid: int = 0,
            cmdline: str | None = None,
            parent: str | None = "systemd",
            started: float | None = None,
            cgroup: str = "",
            kthread: bool = False,
            cpu: int | None = None,
            nice: int = 0,
            policy: int = 0,
            forknoexec: bool = False,
            pid: int | None = None,
            exe: str | None = None,
        ) -> Process | None:
            if budget[0] <= 0:
                return None
            when = boot(started) if started is not None else self._recent(now)
            raw = comm.encode("utf-8", "surrogateescape")
            up = self._named.get(parent) if parent else None
            p = k.spawn_process(
                raw,
                PROFILES[profile],
                parent=up,
                cpu=cpu if cpu is not None else rng.choice(k.possible),
                uid=uid,
                gid=uid,
                cmdline=None if kthread else (cmdline or comm),
                exe=(0, 0) if kthread else exe_of(exe or f"/usr/bin/{comm}"),
                rss_kb=self._rss(profile),
                vm_kb=self._rss(profile) * 5 + 4096,
                forknoexec=forknoexec or kthread,
                superpriv=uid == 0 and not kthread and rng.random() < 0.6,
                kthread=kthread,
                cgroup=cgroup,
                nice=nice,
                policy=policy,
                start_ns=when,
                history_until=now,
                pid=pid,
            )
            budget[0] -= 1
            for t_comm, t_profile in threads:
                if budget[0] <= 0:
                    break
                k.spawn_thread(
                    p,
                    t_comm.encode(),
                    PROFILES[t_profile],
                    cpu=rng.choice(k.possible),
                    nice=nice,
                    start_ns=when + int(rng.random() * 2 * NS_PER_S),
                    history_until=now,
                )
                budget[0] -= 1
            self._named.setdefault(comm, p)
            if comm == "bash":
                self._shells.append(p)
            if len(p.threads) > 1:
                self._threaded.append(p)
            return p

        # init and the kernel's threads.
        proc(
            "systemd",
            "daemon",
            parent=None,
            started=0.4,
            cgroup="/init.scope",
            pid=1,
            cmdline="/sbin/init splash",
            exe="/usr/lib/systemd/systemd",
        )
        proc("kthreadd", "kthread", parent=None, started=0.4, kthread=True, pid=2)
        kthreads = [
            ("pool_workqueue_", "kthread"),
            ("kworker/R-rcu_g", "kthread"),
            ("kworker/R-sync_", "kthread"),
            ("kworker/R-kbloc", "kthread"),
            ("rcu_preempt", "kworker"),
            ("rcu_tasks_kthre", "kthread"),
            ("kdevtmpfs", "kthread"),
            ("kauditd", "kthread"),
            ("khungtaskd", "kthread"),
            ("oom_reaper", "kthread"),
            ("kworker/R-write", "kthread"),
            ("kcompactd0", "kcompactd"),
            ("ksmd", "kthread"),
            ("khugepaged", "kthread"),
            ("kswapd0", "kswapd"),
            ("kworker/u8:0", "kworker"),
            ("kworker/u8:1", "flusher"),
            ("jbd2/vda1-8", "jbd2"),
            ("ext4-rsv-conver", "kthread"),
            ("irq/24-virtio0", "ksoftirqd"),
        ]
        for cpu in k.possible:
            for name, profile, policy in (
                (f"cpuhp/{cpu}", "kthread", 0),
                (f"migration/{cpu}", "kthread", 1),
                (f"ksoftirqd/{cpu}", "ksoftirqd", 0),
                (f"kworker/{cpu}:0", "kworker", 0),
                (f"kworker/{cpu}:0H", "kworker", 0),
                (f"kworker/{cpu}:1", "kworker", 0),
            ):
                nice = -20 if name.endswith("H") else 0
                proc(
                    name,
                    profile,
                    parent="kthreadd",
                    started=0.5,
                    kthread=True,
                    cpu=cpu,
                    nice=nice,
                    policy=policy,
                )
        for name, profile in kthreads:
            nice = {"ksmd": 5, "khugepaged": 19}.get(name, 0)
            proc(
                name,
                profile,
                parent="kthreadd",
                started=0.6 + rng.random(),
                kthread=True,
                nice=nice,
            )

        # System services.
        svc = "/system.slice/"
        tsmon = proc(
            "tsmon",
            "monitor",
            uid=0,
            parent="bash",
            cgroup=SESSION,
            cmdline="/usr/bin/python3 /usr/local/bin/tsmon",
            started=None,
        )
        if tsmon is not None:
            k.self_pid = tsmon.tgid
        proc(
            "systemd-journal",
            "writer",
            started=1.2,
            cgroup=svc + "systemd-journald.service",
            cmdline="/usr/lib/systemd/systemd-journald",
            exe="/usr/lib/systemd/systemd-journald",
        )
        proc(
            "systemd-udevd",
            "idle",
            started=1.4,
            cgroup=svc + "systemd-udevd.service",
            cmdline="/usr/lib/systemd/systemd-udevd",
        )
        proc(
            "dbus-daemon",
            "daemon",
            uid=101,
            started=3.0,
            cgroup=svc + "dbus.service",
            cmdline="@dbus-daemon --system --address=systemd: --nofork --nopidfile",
        )
        proc("systemd-logind", "idle", started=3.1, cgroup=svc + "systemd-logind.service")
        proc(
            "rsyslogd",
            "idle",
            uid=104,
            started=3.2,
            cgroup=svc + "rsyslog.service",
            threads=(("in:imuxsock", "daemon"), ("in:imklog", "idle"), ("rs:main Q:Reg", "daemon")),
            cmdline="/usr/sbin/rsyslogd -n -iNONE",
        )
        proc("cron", "idle", started=3.3, cgroup=svc + "cron.service", cmdline="/usr/sbin/cron -f")
        proc(
            "sshd",
            "idle",
            started=4.0,
            cgroup=svc + "ssh.service",
            cmdline="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
        )
        proc(
            "containerd",
            "idle",
            started=4.5,
            cgroup=svc + "containerd.service",
            threads=tuple(("containerd", "idle") for _ in range(9)),
            cmdline="/usr/bin/containerd",
        )
        proc(
            "agetty",
            "idle",
            started=4.6,
            cgroup=svc + "getty@tty1.service",
            cmdline="/sbin/agetty -o -p -- \\u --noclear - linux",
        )
        proc(
            "nginx",
            "idle",
            started=5.0,
            cgroup=svc + "nginx.service",
            cmdline="nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
        )
        for _ in range(2):
            proc(
                "nginx",
                "server",
                uid=33,
                parent="nginx",
                started=5.1,
                cgroup=svc + "nginx.service",
                forknoexec=True,
                cmdline="nginx: worker process",
            )
        pg = "/system.slice/docker-4f1c2a9be07d.scope"
        proc(
            "postgres",
            "idle",
            uid=113,
            started=6.0,
            cgroup=pg,
            cmdline="postgres -D /var/lib/postgresql/data",
        )
        for title, profile in (
            ("checkpointer", "idle"),
            ("walwriter", "writer"),
            ("autovacuum launcher", "idle"),
            ("alice app 10.0.0.5(41922) idle", "database"),
        ):
            proc(
                "postgres",
                profile,
                uid=113,
                parent="postgres",
                started=6.2,
                cgroup=pg,
                forknoexec=True,
                cmdline=f"postgres: {title}",
            )

        # The user's session: a shell, an app with an I/O thread, busy tasks.
        proc(
            "sshd",
            "idle",
            uid=USER,
            parent="sshd",
            cgroup=SESSION,
            cmdline="sshd: alice@pts/0",
            started=None,
            forknoexec=True,
        )
        proc("bash", "idle", uid=USER, parent="sshd", cgroup=SESSION, cmdline="-bash", started=None)
        proc(
            "tmux: server",
            "idle",
            uid=USER,
            parent="systemd",
            cgroup=SESSION,
            cmdline="tmux new -s work",
        )
        proc("vim", "stopped", uid=USER, parent="bash", cgroup=SESSION, cmdline="vim notes.md")
        proc(
            "python3",
            "idle",
            uid=USER,
            parent="bash",
            cgroup=SESSION,
            threads=(("io-writer", "writer"), ("worker-1", "daemon"), ("worker-2", "daemon")),
            cmdline="python3 app.py --serve",
            started=None,
        )
        proc(
            "stress-ng-cpu",
            "cpuhog",
            uid=USER,
            parent="bash",
            cgroup=SESSION,
            cmdline="stress-ng --cpu 1 --timeout 0",
            started=None,
        )
        proc(
            "rsync",
            "reader",
            uid=USER,
            parent="bash",
            cgroup=SESSION,
            cmdline="rsync -a /data/photos /mnt/backup",
            started=None,
        )
        proc(
            "dd",
            "writer",
            uid=USER,
            parent="bash",
            cgroup=SESSION,
            cmdline="dd if=/dev/zero of=/tmp/blob bs=1M count=4096",
            started=None,
        )
        proc(
            "memhog",
            "swapper",
            uid=USER,
            parent="bash",
            cgroup=SESSION,
            cmdline="./memhog --size 6G",
            started=None,
        )
        proc(
            "firefox",
            "browser",
            uid=USER,
            parent="systemd",
            cgroup=SESSION,
            threads=(
                ("Renderer", "browser"),
                ("IPC I/O Parent", "idle"),
                ("Timer", "idle"),
                ("DOM Worker", "browser"),
                ("Socket Thread", "idle"),
            ),
            cmdline="/usr/lib/firefox/firefox",
        )
        if hostile:
            for comm, cmdline in (
                ("[red]x[/red]", "[red]x[/red] --title [bold]pwn[/bold]"),
                ("\x1b[2Jevil", "\x1b[2Jevil \x1b]0;owned\x07 --run"),
                ("a\tb", "a\tb --opt\nsecond line\rcr"),
                ("caf\udcc3", "caf\udcc3 \u202eevil\u202c"),
            ):
                proc(comm, "idle", uid=USER, parent="bash", cgroup=SESSION, cmdline=cmdline)

        # Fill up to the requested size with the kinds of processes big machines have.
        fillers: list[tuple[float, Callable[[], object]]] = [
            (
                3.0,
                lambda: proc(
                    "bash", "idle", uid=USER, parent="tmux: server", cgroup=SESSION, cmdline="-bash"
                ),
            ),
            (
                3.0,
                lambda: proc(
                    "php-fpm8.2",
                    "idle",
                    uid=33,
                    parent="systemd",
                    cgroup=svc + "php8.2-fpm.service",
                    forknoexec=True,
                    cmdline="php-fpm: pool www",
                ),
            ),
            (
                1.2,
                lambda: proc(
                    "java",
                    "idle",
                    uid=USER,
                    cgroup=svc + "app.service",
                    threads=self._java_threads(),
                    cmdline="java -Xmx2g -jar app.jar",
                ),
            ),
            (
                1.5,
                lambda: proc(
                    "node",
                    "daemon",
                    uid=USER,
                    cgroup=svc + "web.service",
                    threads=tuple(("node", "idle") for _ in range(rng.randint(5, 10))),
                    cmdline="node server.js",
                ),
            ),
            (
                1.0,
                lambda: proc(
                    "redis-server",
                    "server",
                    uid=110,
                    cgroup=svc + "redis.service",
                    threads=(
                        ("bio_close_file", "idle"),
                        ("bio_aof", "idle"),
                        ("bio_lazy_free", "idle"),
                        ("io_thd_1", "idle"),
                    ),
                    cmdline="/usr/bin/redis-server 127.0.0.1:6379",
                ),
            ),
            (
                2.0,
                lambda: proc(
                    "gunicorn",
                    "server",
                    uid=USER,
                    cgroup=svc + "api.service",
                    forknoexec=True,
                    cmdline="gunicorn: worker [api]",
                ),
            ),
            (
                2.0,
                lambda: proc(
                    "sleep",
                    "stopped" if rng.random() < 0.05 else "idle",
                    uid=USER,
                    parent="bash",
                    cgroup=SESSION,
                    cmdline="sleep infinity",
                ),
            ),
            (
                0.8,
                lambda: proc(
                    "containerd-shim",
                    "idle",
                    cgroup=svc + "containerd.service",
                    threads=tuple(("containerd-shim", "idle") for _ in range(9)),
                    cmdline="/usr/bin/containerd-shim-runc-v2 -namespace moby",
                ),
            ),
            (
                0.5,
                lambda: proc(
                    rng.choice(("postgres", "dd", "rsync", "ffmpeg", "chrome")),
                    rng.choice(("database", "writer", "reader", "cpuhog", "browser")),
                    uid=USER,
                    cgroup=svc + "batch.service",
                ),
            ),
        ]
        weights = [w for w, _ in fillers]
        while budget[0] > 0:
            rng.choices(fillers, weights)[0][1]()

    def _java_threads(self) -> tuple[tuple[str, str], ...]:
        rng = self.rng
        names = [
            ("VM Thread", "daemon"),
            ("GC Thread#0", "daemon"),
            ("G1 Main Marker", "idle"),
            ("C2 CompilerThre", "idle"),
            ("C1 CompilerThre", "idle"),
            ("Signal Dispatch", "idle"),
            ("Finalizer", "idle"),
            ("Reference Handl", "idle"),
        ]
        pool = [(f"pool-1-thread-{i}", "idle") for i in range(1, rng.randint(10, 50))]
        return tuple(names + pool)

    def _recent(self, now: int) -> int:
        """A start time for a process started after boot: minutes to a day ago."""
        age = math.exp(self.rng.uniform(math.log(60.0), math.log(86_000.0)))
        return max(NS_PER_S, now - int(age * NS_PER_S))

    # --- churn ----------------------------------------------------------------------------
    def _start_generators(self) -> None:
        now = self.kernel.now_ns
        rng = self.rng
        self.at(now + self._exp(1.0 / (2.0 * self.scale)), self._gen_command)
        self.at(now + self._exp(1.0 / (0.5 * self.scale)), self._gen_thread)
        self.at(now + self._exp(1.0 / (0.15 * self.scale)), self._gen_job)
        self.at(now + int(rng.uniform(5, 20) * NS_PER_S), self._gen_build)
        self.at(now + int(rng.uniform(20, 60) * NS_PER_S), self._gen_backup)
        memhog = self._named.get("memhog")
        if memhog is not None:
            self.at(now + int(rng.uniform(20, 90) * NS_PER_S), self._oom_kill, memhog)

    def _exp(self, mean_s: float) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean_s) * NS_PER_S))

    def _gen_command(self) -> None:
        rng = self.rng
        comm, cmdline, status = rng.choice(_COMMANDS)
        lifetime = min(5.0, max(0.001, rng.expovariate(4.0)))
        roll = rng.random()
        signal = SIGTERM if roll < 0.02 else SIGSEGV if roll < 0.03 else 0
        parent = rng.choice(self._shells) if self._shells else self._named.get("bash")
        self.spawn(
            comm,
            profile="shortcmd",
            lifetime=lifetime,
            exit_code=status >> 8,
            signal=signal,
            cmdline=cmdline,
            parent=parent,
            cgroup=parent.cgroup if parent else SESSION,
        )
        self.at(self.kernel.now_ns + self._exp(1.0 / (2.0 * self.scale)), self._gen_command)

    def _gen_thread(self) -> None:
        k, rng = self.kernel, self.rng
        threaded = self._threaded
        while threaded:
            i = rng.randrange(len(threaded))
            proc = threaded[i]
            if k.procs.get(proc.tgid) is proc and proc.live > 0:
                task = k.spawn_thread(
                    proc, proc.comm, PROFILES["daemon"], cpu=rng.choice(k.possible)
                )
                self.at(k.now_ns + self._exp(3.0), self._thread_exit_event, task)
                break
            threaded[i] = threaded[-1]  # gone: forget it
            threaded.pop()
        self.at(k.now_ns + self._exp(1.0 / (0.5 * self.scale)), self._gen_thread)

    def _gen_job(self) -> None:
        rng = self.rng
        self.spawn(
            "python3",
            threads=3,
            profile="shortcmd",
            thread_profile="daemon",
            lifetime=rng.uniform(0.5, 4.0),
            exit_code=rng.choice((0, 0, 0, 1)),
            cmdline="python3 jobs/report.py --daily",
        )
        self.at(self.kernel.now_ns + self._exp(1.0 / (0.15 * self.scale)), self._gen_job)

    def _gen_build(self) -> None:
        k, rng = self.kernel, self.rng
        make = self.spawn("make", profile="idle", cmdline="make -j4")
        span = rng.uniform(8.0, 20.0)
        jobs = rng.randint(8, 24)
        for _ in range(jobs):
            self.at(k.now_ns + int(rng.uniform(0.0, span) * NS_PER_S), self._compile, make)
        self.at(k.now_ns + int((span + 3.5) * NS_PER_S), self._exit_event, make, 0)
        self.at(k.now_ns + int(rng.uniform(60, 120) * NS_PER_S), self._gen_build)

    def _compile(self, make: Process) -> None:
        if self.kernel.procs.get(make.tgid) is not make:
            return
        rng = self.rng
        source = rng.choice(("main.c", "util.c", "parse.c", "net.c", "db.c", "ui.c"))
        self.spawn(
            "cc1",
            profile="compiler",
            parent=make,
            lifetime=rng.uniform(0.3, 3.0),
            cmdline=f"/usr/libexec/gcc/x86_64-linux-gnu/13/cc1 -quiet src/{source} -O2",
        )

    def _gen_backup(self) -> None:
        rng = self.rng
        self.spawn(
            "tar",
            profile="reader",
            lifetime=rng.uniform(20, 60),
            uid=0,
            cgroup="/system.slice/backup.service",
            cmdline="tar -czf /mnt/backup/home.tgz /home",
        )
        self.at(self.kernel.now_ns + int(rng.uniform(150, 240) * NS_PER_S), self._gen_backup)

    def _oom_kill(self, memhog: Process) -> None:
        """The OOM killer takes the swapper (SIGKILL); it is started again a little later."""
        self.kill(memhog, SIGKILL)
        self.at(self.kernel.now_ns + int(self.rng.uniform(3, 10) * NS_PER_S), self._restart_memhog)

    def _restart_memhog(self) -> None:
        proc = self.spawn("memhog", profile="swapper", cmdline="./memhog --size 6G")
        self.at(
            self.kernel.now_ns + int(self.rng.uniform(30, 120) * NS_PER_S), self._oom_kill, proc
        )
