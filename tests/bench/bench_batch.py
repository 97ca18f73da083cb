"""Benchmark: CPU time per refresh of ``tsmon batch`` against ``iotop-c -b`` and ``iotop -b``
with about 2,000 threads alive, and the start-up time of ``tsmon report -d -p PID``.

Run on purpose, as root on a taskstats kernel (pytest does not collect tests/bench):

    python tests/bench/bench_batch.py [--threads 2000] [--rounds 3]

Each tool runs with ``-b -n 12`` and ``-b -n 2`` (same delay); the difference in CPU time
(user + system, from the child's rusage) divided by 10 is the cost of one refresh without
start-up. Every tool is measured in the same run, on the same population, interleaved, and
the median over rounds is reported. Target: tsmon at most half of iotop-c per refresh; report
start-up at most 250 ms (median wall time, warm).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

POPULATION = r"""
import sys, threading
threading.stack_size(64 * 1024)
stop = threading.Event()
threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(int(sys.argv[1]))]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
"""


def start_population(total: int, per_process: int = 200) -> list[subprocess.Popen[str]]:
    """Processes holding ``total`` parked threads between them (cleaned up by the caller)."""
    procs = []
    left = total
    while left > 0:
        n = min(per_process, left)
        proc = subprocess.Popen(
            [sys.executable, "-c", POPULATION, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        left -= n
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a population process did not start")
    return procs


def stop_population(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def threads_alive() -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                count += len(os.listdir(f"/proc/{name}/task"))
    return count


def cpu_seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    """User + system CPU seconds of one run of ``argv`` (output discarded)."""
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def per_refresh(argv_for: dict[str, list[str]], env: dict[str, str]) -> dict[str, float]:
    """(CPU of -n 12) - (CPU of -n 2), over 10 refreshes, for each tool (interleaved)."""
    long = {name: cpu_seconds([*argv, "-n", "12"], env) for name, argv in argv_for.items()}
    short = {name: cpu_seconds([*argv, "-n", "2"], env) for name, argv in argv_for.items()}
    return {name: (long[name] - short[name]) / 10 for name in argv_for}


def startup_ms(pid: int, runs: int, env: dict[str, str]) -> list[float]:
    """Wall milliseconds of ``tsmon report -d -p PID`` (after two warm-up runs)."""
    argv = [sys.executable, "-m", "tsmon", "report", "-d", "-p", str(pid)]
    times = []
    for i in range(runs + 2):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
        )
        if i >= 2:
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2000, help="threads alive in total")
    parser.add_argument("--rounds", type=int, default=7, help="measurements per tool")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds between refreshes")
    parser.add_argument("--startup-runs", type=int, default=15)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (taskstats queries need CAP_NET_ADMIN)", file=sys.stderr)
        return 2

    env = {**os.environ, "PYTHONPATH": str(REPO), "TSMON_BACKEND": "netlink"}
    delay = str(args.delay)
    tools = {
        "tsmon": [sys.executable, "-m", "tsmon", "batch", "-b", "-d", delay, "--backend", "netlink"]
    }
    for name in ("iotop-c", "iotop"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if path:
            tools[name] = [path, "-b", "-d", delay]
        else:
            print(f"{name}: not installed (apt-get install -y iotop iotop-c), left out")

    existing = threads_alive()
    population = start_population(args.threads)
    try:
        alive = threads_alive()
        print(f"threads alive: {alive} ({args.threads} of the benchmark's own, {existing} others)")
        rounds = []
        counts = []
        for _ in range(args.rounds):
            rounds.append(per_refresh(tools, env))
            counts.append(threads_alive())
        print(f"threads alive after each round: {', '.join(map(str, counts))}")
        alive = int(statistics.median([alive, *counts]))
        medians = {name: statistics.median(r[name] for r in rounds) for name in tools}
        print(f"\nCPU time per refresh (median of {args.rounds} rounds, -n 12 minus -n 2, /10):")
        for name, value in medians.items():
            spread = ", ".join(f"{r[name] * 1000:.1f}" for r in rounds)
            print(f"  {name:8s} {value * 1000:8.2f} ms  (rounds: {spread} ms)")
        if "iotop-c" in medians and medians["iotop-c"] > 0:
            ratio = medians["tsmon"] / medians["iotop-c"]
            # Each round measures both tools under the same outside load: the median of the
            # per-round ratios is the steadier figure on a shared machine.
            per_round = [r["tsmon"] / r["iotop-c"] for r in rounds if r["iotop-c"] > 0]
            steady = statistics.median(per_round)
            verdict = "meets" if steady <= 0.5 else "MISSES"
            print(
                f"  tsmon / iotop-c = {ratio:.2f} (medians); per round: "
                f"{', '.join(f'{x:.2f}' for x in per_round)}; median {steady:.2f} "
                f"({verdict} the target of at most 0.50)"
            )
        if "iotop" in medians and medians["iotop"] > 0:
            print(f"  tsmon / iotop   = {medians['tsmon'] / medians['iotop']:.2f}")
        per_thread = medians["tsmon"] / alive * 1e6
        print(f"  tsmon per thread: {per_thread:.2f} us")

        times = startup_ms(population[0].pid, args.startup_runs, env)
        median = statistics.median(times)
        verdict = "meets" if median <= 250 else "MISSES"
        print(
            f"\ntsmon report -d -p PID start-up: median {median:.0f} ms, min {min(times):.0f}, "
            f"max {max(times):.0f} over {len(times)} warm runs ({verdict} the 250 ms target)"
        )
        bare = startup_ms_python(args.startup_runs)
        print(f"  (python -c pass on this machine: median {bare:.0f} ms)")
    finally:
        stop_population(population)
    return 0


def startup_ms_python(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
