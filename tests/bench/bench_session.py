"""Benchmark: recording and replaying sessions (issue 5's speed and size targets).

Run on purpose (pytest does not collect tests/bench); the CPU and real-thread parts need root
on a taskstats kernel and are skipped, saying so, elsewhere:

    python tests/bench/bench_session.py                      # everything, full size
    python tests/bench/bench_session.py --only cpu,size      # some parts
    python tests/bench/bench_session.py --big-mb 256 --seek-tasks 500   # smaller, faster

Parts and targets:

cpu   With --threads parked threads (and --busy busy ones) at --interval: CPU time per refresh
      of what every live tsmon does (collect + sampler) and of the session writer on the same
      frames, plain and gzip, a keyframe counted once per keyframe interval (the default
      --frames passes one): the writer's own cost, and its share of collect + sampler. No
      verdict: a live tsmon also sorts and draws (or formats), so this share is a bound
      tighter than the target, kept to follow the writer's cost.
tui   The same population shown by the TUI (headless, Textual's test driver) for
      --tui-seconds without recording and with R on (counted from two refreshes after R, the
      steady state), twice each: the process's CPU time per refresh. Target: recording adds
      at most 10 % (the issue's figure: tsmon's CPU time with and without recording).
proc  Whole tsmon commands on that population for --proc-frames refreshes: `tsmon record`
      (plain, gzip) beside `tsmon batch -o`, the headless monitor, twice each: CPU per
      refresh (start-up taken off by a one-refresh run). No target: a headless recorder has
      no non-recording twin; this shows what it costs beside one.
size  File growth per task per frame on that mostly-sleeping population (real threads) and
      on the simulator (2,000 tasks). Target: <= 150 bytes uncompressed, <= 40 gzip.
seek  A one-hour recording (3,600 frames at 1 s; --seek-tasks tasks, simulated): the first
      pass (index) once, then seeks to random frames. Target: <= 200 ms per seek after the
      first pass.
rss   Replaying a --big-mb recording through the sampler, in a child process: its peak RSS.
      Target: < 300 MB for 1 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tsmon_core.backends import RawFrame  # noqa: E402
from tsmon_core.backends.sim import SimulatedBackend  # noqa: E402
from tsmon_core.errors import TsmonError  # noqa: E402
from tsmon_core.runtime import tune_gc  # noqa: E402
from tsmon_core.sampler import Sampler  # noqa: E402
from tsmon_core.session import SessionReader, SessionWriter  # noqa: E402

PARKED = r"""
import sys, threading
threading.stack_size(64 * 1024)
stop = threading.Event()
for _ in range(int(sys.argv[1])):
    threading.Thread(target=stop.wait, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

BUSY = r"""
import sys, threading, time
def spin():
    x = 0
    while True:
        for _ in range(200000):
            x += 1
        time.sleep(0.005)
for _ in range(int(sys.argv[1])):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

RESULTS: list[tuple[str, str, str]] = []


def result(name: str, value: str, verdict: str = "") -> None:
    RESULTS.append((name, value, verdict))
    print(f"  {name:<58} {value:>18}  {verdict}", flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def population(threads: int, busy: int) -> list[subprocess.Popen[str]]:
    procs = []
    left = threads
    while left > 0:
        n = min(200, left)
        procs.append(_spawn(PARKED, n))
        left -= n
    if busy:
        procs.append(_spawn(BUSY, busy))
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a population process did not start")
    return procs


def _spawn(code: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def per_task_frame(path: Path, tasks: float, frames: int) -> float:
    return path.stat().st_size / (tasks * frames)


# --- cpu and size on real threads ----------------------------------------------------------------


def bench_real(args: argparse.Namespace, where: Path) -> None:
    print(
        f"cpu/size: {args.threads} parked + {args.busy} busy threads, {args.frames} frames "
        f"every {args.interval:g} s (real kernel)"
    )
    try:
        from tsmon_core.backends.live import NetlinkBackend

        backend = NetlinkBackend()
    except (TsmonError, OSError) as exc:
        result("real threads", "skipped", f"(no taskstats here: {exc})")
        return
    procs = population(args.threads, args.busy)
    try:
        sampler = Sampler(backend)
        plain = SessionWriter(where / "real.jsonl", info=backend.info, interval=args.interval)
        packed = SessionWriter(where / "real.jsonl.gz", info=backend.info, interval=args.interval)
        collect, feed, w_plain, w_gz, tasks, keys = [], [], [], [], [], []
        clock = time.process_time
        start = time.monotonic()
        for n in range(args.frames):
            due = start + n * args.interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            t0 = clock()
            frame = backend.collect(sampler.listener, ())
            t1 = clock()
            snapshot = sampler.feed(frame)
            t2 = clock()
            written = plain.keyframes
            plain.write_snapshot(snapshot)
            t3 = clock()
            packed.write_snapshot(snapshot)
            t4 = clock()
            collect.append(t1 - t0)
            feed.append(t2 - t1)
            w_plain.append(t3 - t2)
            w_gz.append(t4 - t3)
            tasks.append(len(frame.tasks))
            keys.append(plain.keyframes > written)
        plain.close()
        packed.close()
        sampler.close()
    finally:
        for proc in procs:
            proc.kill()
        backend.close()
    # Steady state: the first refresh (opening, every keyframe text made) is left out.
    collect, feed, w_plain, w_gz, tasks, keys = (
        x[1:] for x in (collect, feed, w_plain, w_gz, tasks, keys)
    )
    live = (sum(collect) + sum(feed)) / len(collect)
    result("tasks per frame (mean)", f"{statistics.mean(tasks):.0f}")
    result("tsmon live: collect + sampler, ms CPU per refresh", f"{live * 1000:.2f}")
    result("  of which collect", f"{statistics.mean(collect) * 1000:.2f}")
    result("  of which sampler", f"{statistics.mean(feed) * 1000:.2f}")
    every = plain.keyframe_every
    for label, costs in (("plain", w_plain), ("gzip", w_gz)):
        # A keyframe's cost counts once per keyframe interval, whatever the run's length.
        deltas = [c for c, k in zip(costs, keys, strict=True) if not k]
        wholes = [c for c, k in zip(costs, keys, strict=True) if k]
        cost = statistics.mean(deltas)
        if wholes:
            cost += (statistics.mean(wholes) - cost) / every
        share = cost / live * 100
        result(f"session writer ({label}), ms CPU per refresh", f"{cost * 1000:.2f}")
        if wholes:
            result(
                f"  delta {statistics.mean(deltas) * 1000:.2f}, keyframe "
                f"{statistics.mean(wholes) * 1000:.2f} (one in {every})",
                "",
            )
        result(f"  its share of collect + sampler ({label})", f"{share:.1f} %", "(see tui)")
    result("  writer plain, median frame (ms)", f"{statistics.median(w_plain) * 1000:.2f}")
    mean_tasks = statistics.mean(tasks)
    b = per_task_frame(where / "real.jsonl", mean_tasks, args.frames)
    result("bytes per task per frame, real threads, plain", f"{b:.1f}", verdict(b <= 150))
    b = per_task_frame(where / "real.jsonl.gz", mean_tasks, args.frames)
    result("bytes per task per frame, real threads, gzip", f"{b:.1f}", verdict(b <= 40))


def bench_tui(args: argparse.Namespace, where: Path) -> None:
    """The TUI (headless) on the kernel for --tui-seconds, with R off then on: process CPU."""
    print(
        f"tui: tsmon's TUI on the kernel, {args.threads} parked + {args.busy} busy threads, "
        f"{args.tui_seconds:g} s each without and with recording (interval {args.interval:g} s)"
    )
    try:
        from tsmon_core.backends.live import NetlinkBackend

        NetlinkBackend().close()
    except (TsmonError, OSError) as exc:
        result("tui", "skipped", f"(no taskstats here: {exc})")
        return
    import asyncio

    from tsmon.app import TsmonApp
    from tsmon.commands.record import recorder_factory
    from tsmon_core.backends.live import NetlinkBackend

    def usage() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    async def run(record: bool) -> tuple[float, int]:
        backend = NetlinkBackend()
        app = TsmonApp(
            backend=backend,
            sampler=Sampler(backend),
            interval=args.interval,
            cgroup2_dirs=[],
            recorder_factory=recorder_factory(backend, args.interval, directory=str(where)),
        )
        async with app.run_test(size=(200, 50)) as pilot:
            while app.generation < 2:
                await pilot.pause(0.05)
            if record:  # steady state, as the cpu part: the opening frame is left out
                await pilot.press("R")
                opened = app.generation
                while app.generation < opened + 2:
                    await pilot.pause(0.05)
            start_gen, start_cpu = app.generation, usage()
            await pilot.pause(args.tui_seconds)
            cpu, frames = usage() - start_cpu, app.generation - start_gen
            if record:
                await pilot.press("R")
        backend.close()
        return cpu, frames

    procs = population(args.threads, args.busy)
    try:
        runs = {}
        for record in (False, True, False, True):
            cpu, frames = asyncio.run(run(record))
            runs.setdefault(record, []).append(cpu / max(frames, 1))
    finally:
        for proc in procs:
            proc.kill()
    off, on = statistics.mean(runs[False]), statistics.mean(runs[True])
    result("TUI CPU per refresh, not recording (ms)", f"{off * 1000:.1f}")
    result("TUI CPU per refresh, recording with R (ms)", f"{on * 1000:.1f}")
    share = (on - off) / off * 100
    result("  recording adds to the TUI's CPU", f"{share:.1f} %", verdict(share <= 10))


def bench_proc(args: argparse.Namespace, where: Path) -> None:
    """Whole commands: tsmon record (plain, gzip) beside tsmon batch -o, CPU per refresh."""
    n = args.proc_frames
    print(
        f"proc: tsmon commands on the kernel, {args.threads} parked + {args.busy} busy threads, "
        f"{n} refreshes every {args.interval:g} s"
    )
    commands = {
        "tsmon batch -o": ["batch", "-o"],
        "tsmon record (plain)": ["record", "-q", str(where / "proc.jsonl")],
        "tsmon record (gzip)": ["record", "-q", str(where / "proc.jsonl.gz")],
    }

    def cpu(args_: list[str], count: int) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "tsmon", *args_, "-d", str(args.interval), "-n", str(count)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its notes (delay accounting off, ...)
            cwd=REPO,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    procs = population(args.threads, args.busy)
    costs: dict[str, list[float]] = {}
    try:
        for _ in range(2):
            for name, command in commands.items():
                per = (cpu(command, n) - cpu(command, 1)) / (n - 1)
                costs.setdefault(name, []).append(per)
    finally:
        for proc in procs:
            proc.kill()
    batch = statistics.mean(costs["tsmon batch -o"])
    for name, runs in costs.items():
        mean = statistics.mean(runs)
        ratio = "" if name.startswith("tsmon batch") else f"{mean / batch:.2f}x batch -o"
        result(f"{name}, ms CPU per refresh", f"{mean * 1000:.2f}", ratio)


# --- size on the simulator ---------------------------------------------------------------


def bench_sim_size(args: argparse.Namespace, where: Path) -> None:
    print(f"size: simulator, 2,000 tasks, {args.frames} frames at 1 s (virtual clock)")
    for churn in (1.0, 0.0):
        sim = SimulatedBackend(seed=1, tasks=2000, clock="virtual", churn=churn)
        listener = sim.open_listener()
        plain = SessionWriter(where / "sim.jsonl", info=sim.info, interval=1.0)
        packed = SessionWriter(where / "sim.jsonl.gz", info=sim.info, interval=1.0)
        counts = []
        cpu = 0.0
        for _ in range(args.frames):
            sim.advance(1.0)
            frame = sim.collect(listener)
            t = time.process_time()
            plain.write(frame, delayacct=True)
            cpu += time.process_time() - t
            packed.write(frame, delayacct=True)
            counts.append(len(frame.tasks))
        plain.close()
        packed.close()
        sim.close()
        tasks = statistics.mean(counts)
        label = f"churn {churn:g}"
        b = per_task_frame(where / "sim.jsonl", tasks, args.frames)
        result(
            f"bytes per task per frame, simulator ({label}), plain", f"{b:.1f}", verdict(b <= 150)
        )
        b = per_task_frame(where / "sim.jsonl.gz", tasks, args.frames)
        result(f"bytes per task per frame, simulator ({label}), gzip", f"{b:.1f}", verdict(b <= 40))
        result(f"  writer ms CPU per frame, simulator ({label})", f"{cpu * 1000 / args.frames:.2f}")


# --- seek in a one-hour recording ---------------------------------------------------------


def _make_hour(args: argparse.Namespace, paths: list[Path]) -> None:
    sim = SimulatedBackend(seed=3, tasks=args.seek_tasks, clock="virtual")
    listener = sim.open_listener()
    writers = [SessionWriter(p, info=sim.info, interval=1.0) for p in paths]
    made = time.monotonic()
    for _ in range(args.seek_frames):
        sim.advance(1.0)
        frame = sim.collect(listener)
        for writer in writers:
            writer.write(frame, delayacct=True)
    for writer in writers:
        writer.close()
    sim.close()
    result("  made in (s)", f"{time.monotonic() - made:.0f}")


def bench_seek(args: argparse.Namespace, where: Path) -> None:
    frames = args.seek_frames
    if args.seek_file:
        paths = [Path(args.seek_file)]
        frames = SessionReader(paths[0]).frame_count
        print(f"seek: {frames} frames of {args.seek_file}")
    else:
        paths = [where / "hour.jsonl", where / "hour.jsonl.gz"]
        print(f"seek: {frames} frames at 1 s of {args.seek_tasks} simulated tasks (made first)")
        _make_hour(args, paths)
    for path in paths:
        kind = "gzip" if path.suffix == ".gz" else "plain"
        result(f"recording size, {kind}", f"{path.stat().st_size / 1e6:.1f} MB")
        # In a fresh process, as tsmon replay would seek (not beside a simulator's heap).
        done = subprocess.run(
            [sys.executable, "-c", SEEKS, str(path), str(REPO), str(frames), str(args.seeks)],
            capture_output=True,
            text=True,
            check=True,
        )
        count, first, median, worst, cpu_median, cpu_worst, n = done.stdout.split()
        assert int(count) == frames, done.stdout
        result(f"first pass (index {count} frames), {kind} (s)", first)
        result(f"seek + read a frame, {kind}: median (ms)", median)
        result(
            f"seek + read a frame, {kind}: worst of {n} (ms)",
            worst,
            verdict(float(worst) <= 200),
        )
        result(f"  its CPU time, {kind}: median / worst (ms)", f"{cpu_median} / {cpu_worst}")


SEEKS = r"""
import random, statistics, sys, time
sys.path.insert(0, sys.argv[2])
from tsmon_core.runtime import tune_gc
from tsmon_core.session import SessionReader
tune_gc()
path, frames, seeks = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
start = time.perf_counter()
reader = SessionReader(path)
count = reader.frame_count
first = time.perf_counter() - start
rnd = random.Random(7)
targets = [rnd.randrange(frames) for _ in range(seeks)] + [frames - 1, 0, frames // 2]
wall, cpu = [], []
for target in targets:
    t, c = time.perf_counter(), time.process_time()
    got = reader.seek(target)
    frame = reader.read()
    wall.append((time.perf_counter() - t) * 1000)
    cpu.append((time.process_time() - c) * 1000)
    assert got == target and frame is not None
print(count, f"{first:.2f}", f"{statistics.median(wall):.1f}", f"{max(wall):.1f}",
      f"{statistics.median(cpu):.0f}", f"{max(cpu):.0f}", len(targets))
"""


# --- replaying a big file -----------------------------------------------------------------

REPLAY = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from tsmon_core.runtime import tune_gc
from tsmon_core.backends.replay import ReplayBackend
tune_gc()
from tsmon_core.errors import EndOfRecordingError
from tsmon_core.sampler import Sampler
start = time.perf_counter()
backend = ReplayBackend(sys.argv[1])
count = backend.frame_count
indexed = time.perf_counter() - start
sampler = Sampler(backend, listen=False)
n = 0
rows = 0
while True:
    try:
        snapshot = sampler.poll()
    except EndOfRecordingError:
        break
    n += 1
    rows += len(snapshot.threads)
elapsed = time.perf_counter() - start
# VmHWM: this process's own peak (ru_maxrss would also count the parent's RSS when this child
# was forked, which the parent's 1 GB recording had made large)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(count, n, rows, f"{indexed:.1f}", f"{elapsed:.1f}", peak)
"""


def make_big(path: Path, megabytes: int, keyframe_every: int) -> tuple[int, int]:
    """A recording of at least ``megabytes`` MB: simulator frames, repeated with time moving."""
    sim = SimulatedBackend(seed=4, tasks=2000, clock="virtual")
    listener = sim.open_listener()
    base: list[RawFrame] = []
    for _ in range(40):
        sim.advance(1.0)
        base.append(sim.collect(listener))
    sim.close()
    target = megabytes * 1024 * 1024
    span = base[-1].t_mono - base[0].t_mono + 1.0
    frames = 0
    with SessionWriter(path, info=sim.info, interval=1.0, keyframe_every=keyframe_every) as out:
        while out.bytes_written < target:
            lap, i = divmod(frames, len(base))
            frame = base[i]
            shift = lap * span
            out.write(
                replace(frame, t_mono=frame.t_mono + shift, t_wall=frame.t_wall + shift),
                delayacct=True,
            )
            frames += 1
    return frames, path.stat().st_size


def bench_rss(args: argparse.Namespace, where: Path) -> None:
    path = where / "big.jsonl"
    print(
        f"rss: a {args.big_mb} MB recording (2,000 simulated tasks, a keyframe every "
        f"{args.big_keyframe_every} frames), replayed through the sampler in a child"
    )
    t = time.monotonic()
    frames, size = make_big(path, args.big_mb, args.big_keyframe_every)
    result("  made in (s)", f"{time.monotonic() - t:.0f}")
    result("recording size (MB)", f"{size / 1e6:.0f}")
    result("frames", f"{frames}")
    done = subprocess.run(
        [sys.executable, "-c", REPLAY, str(path), str(REPO)],
        capture_output=True,
        text=True,
        check=True,
    )
    count, replayed, rows, indexed, elapsed, peak = done.stdout.split()
    assert int(count) == frames == int(replayed), done.stdout
    peak_mb = int(peak) / 1024
    result("replayed frames / rows", f"{replayed} / {rows}")
    result("first pass (index) (s)", indexed)
    result("whole replay through the sampler (s)", elapsed)
    budget = 300 * args.big_mb / 1024 if args.big_mb < 1024 else 300
    result("peak RSS of the replay (MB)", f"{peak_mb:.0f}", verdict(peak_mb < max(budget, 300)))


def main() -> int:
    tune_gc()  # as every tsmon command does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="cpu,tui,proc,size,seek,rss", help="parts to run (comma list)"
    )
    parser.add_argument("--tui-seconds", type=float, default=30.0)
    parser.add_argument("--proc-frames", type=int, default=31)
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument(
        "--frames", type=int, default=70, help="frames for cpu and size (past a keyframe)"
    )
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seek-frames", type=int, default=3600)
    parser.add_argument("--seek-tasks", type=int, default=2000)
    parser.add_argument("--seeks", type=int, default=40)
    parser.add_argument("--seek-file", default=None, help="seek in this recording instead")
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--big-keyframe-every", type=int, default=30)
    parser.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        where = Path(tmp)
        if "cpu" in parts or "size" in parts:
            if os.geteuid() == 0:
                bench_real(args, where)
            else:
                result("real threads", "skipped", "(needs root)")
        if "tui" in parts:
            if os.geteuid() == 0:
                bench_tui(args, where)
            else:
                result("tui", "skipped", "(needs root)")
        if "proc" in parts:
            if os.geteuid() == 0:
                bench_proc(args, where)
            else:
                result("proc", "skipped", "(needs root)")
        if "size" in parts:
            bench_sim_size(args, where)
        if "seek" in parts:
            bench_seek(args, where)
        if "rss" in parts:
            bench_rss(args, where)
    failed = [name for name, _, v in RESULTS if v == "FAIL"]
    print("all targets met" if not failed else f"missed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
