"""Sampler memory: 10,000 simulated tasks churning, sampled every 0.1 s (virtual) for 10 minutes.

Run on purpose: ``python tests/bench/bench_sampler_memory.py [--minutes 10] [--tasks 10000]``.
Target (issue 2): RSS under 100 MB, and no growth after the first minute. Prints RSS per
simulated minute, the growth from minute 1 to the end, and the baseline RSS of the same
process before the simulator and sampler existed.
"""

from __future__ import annotations

import argparse
import gc
import time

from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.runtime import tune_gc
from tsmon_core.sampler import Sampler


def rss_mb() -> float:
    """This process's resident set size, MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()

    tune_gc()  # as every tsmon command does
    baseline = rss_mb()
    backend = SimulatedBackend(tasks=args.tasks, clock="virtual", seed=7)
    sampler = Sampler(backend)
    print(f"baseline RSS (interpreter + tsmon_core imported): {baseline:.1f} MB")
    print(f"after opening the simulator with {args.tasks} tasks: {rss_mb():.1f} MB")

    polls_per_minute = round(60 / args.interval)
    total = round(args.minutes * polls_per_minute)
    per_minute: list[float] = []
    exits = 0
    started = time.perf_counter()
    poll_seconds = 0.0
    for i in range(1, total + 1):
        backend.advance(args.interval)
        t0 = time.perf_counter()
        snapshot = sampler.poll()
        poll_seconds += time.perf_counter() - t0
        exits += len(snapshot.exits)
        if i % polls_per_minute == 0:
            gc.collect()
            per_minute.append(rss_mb())
            print(
                f"minute {len(per_minute):3d}: RSS {per_minute[-1]:6.1f} MB, "
                f"{len(snapshot.threads)} threads, {exits} exits so far, "
                f"{poll_seconds / i * 1000:.1f} ms per poll"
            )
    elapsed = time.perf_counter() - started
    peak = max(per_minute) if per_minute else rss_mb()
    growth = per_minute[-1] - per_minute[0] if len(per_minute) > 1 else 0.0
    print(f"polls: {total} in {elapsed:.0f} s wall; exits merged: {exits}")
    print(f"peak RSS {peak:.1f} MB (target < 100 MB): {'PASS' if peak < 100 else 'FAIL'}")
    print(
        f"growth from minute 1 to the end: {growth:+.1f} MB "
        f"({'PASS' if growth <= 2.0 else 'FAIL'}: the target is none beyond noise)"
    )


if __name__ == "__main__":
    main()
