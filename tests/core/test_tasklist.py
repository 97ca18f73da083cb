"""Thread listing on this machine's kernel: a process's listing is reused only while it holds.

A child keeps three parked threads and, on each line read, either replaces its oldest thread
with a new one (the count stays the same: the case a reused listing would miss) or adds one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tsmon_core.backends.live import NetlinkBackend
from tsmon_core.tasklist import ThreadLister, list_threads

pytestmark = pytest.mark.kernel

SWAPPER = """
import os, sys, threading
threads = []
def start():
    ready, stop = threading.Event(), threading.Event()
    box = []
    def park():
        box.append(threading.get_native_id())
        ready.set()
        stop.wait()
    t = threading.Thread(target=park)
    t.start()
    ready.wait()
    threads.append((t, stop, box[0]))
for _ in range(3):
    start()
print(*[tid for _, _, tid in threads], flush=True)
for line in sys.stdin:
    if line.strip() == "swap":
        t, stop, old = threads.pop(0)
        stop.set()
        t.join()
        while str(old) in os.listdir("/proc/self/task"):  # until the kernel released it
            pass
        start()
        print(old, threads[-1][2], flush=True)
    else:
        start()
        print(threads[-1][2], flush=True)
"""


@contextmanager
def swapper() -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """The child above and its first three thread ids; killed and reaped on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SWAPPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc, [int(t) for t in proc.stdout.readline().split()]
    finally:
        proc.kill()
        proc.wait()


def ask(proc: subprocess.Popen[str], command: str) -> list[int]:
    """Send a command to the child; the thread ids it answers with."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return [int(t) for t in proc.stdout.readline().split()]


def threads_of(pid: int) -> set[int]:
    return {int(t) for t in os.listdir(f"/proc/{pid}/task")}


@pytest.fixture
def backend() -> Iterator[NetlinkBackend]:
    b = NetlinkBackend()
    try:
        yield b
    finally:
        b.close()


def test_a_full_listing_names_every_thread_with_its_group() -> None:
    with swapper() as (proc, tids):
        listed = list_threads()
        assert {t: listed.get(t) for t in threads_of(proc.pid)} == dict.fromkeys(
            threads_of(proc.pid), proc.pid
        )
        assert set(tids) < threads_of(proc.pid)


def test_a_process_keeping_its_thread_count_reuses_its_listing() -> None:
    lister = ThreadLister()
    with swapper() as (proc, _tids):
        first, reused = lister.listing()
        assert proc.pid not in reused  # never listed before
        assert {t for t, g in first.items() if g == proc.pid} == threads_of(proc.pid)
        second, reused = lister.listing()
        assert proc.pid in reused
        assert {t for t, g in second.items() if g == proc.pid} == threads_of(proc.pid)
        old, new = ask(proc, "swap")
        # Same count: the listing is reused, and is stale (the caller finds out by querying).
        stale, reused = lister.listing()
        assert proc.pid in reused and old in stale and new not in stale
        fresh = lister.relist([proc.pid])
        assert set(fresh) == threads_of(proc.pid) and new in fresh and old not in fresh
        again, reused = lister.listing()
        assert new in again and old not in again and proc.pid in reused


def test_a_process_that_gained_a_thread_is_listed_again() -> None:
    lister = ThreadLister()
    with swapper() as (proc, _tids):
        lister.listing()
        (added,) = ask(proc, "add")
        listed, reused = lister.listing()
        assert proc.pid not in reused
        assert listed[added] == proc.pid


def test_collect_finds_a_thread_that_replaced_another_with_the_same_count(
    backend: NetlinkBackend,
) -> None:
    with swapper() as (proc, tids):
        first = backend.collect()
        assert set(tids) <= set(first.tasks)
        backend.collect()  # this one reuses the child's listing
        old, new = ask(proc, "swap")
        frame = backend.collect()
        assert new in frame.tasks and frame.tgids[new] == proc.pid
        assert frame.tasks[new].ac_pid == new
        assert old not in frame.tasks and old not in frame.tgids
        assert {t for t, g in frame.tgids.items() if g == proc.pid} == threads_of(proc.pid)


def test_collect_finds_a_new_thread_and_forgets_an_exited_process(
    backend: NetlinkBackend,
) -> None:
    with swapper() as (proc, _tids):
        backend.collect()
        (added,) = ask(proc, "add")
        frame = backend.collect()
        assert frame.tgids.get(added) == proc.pid
        pid = proc.pid
    frame = backend.collect()  # the child was killed and reaped
    assert pid not in frame.tgids and added not in frame.tgids
