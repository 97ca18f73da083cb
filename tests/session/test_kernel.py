"""On the real kernel (as root): a recording of a writer replays with the writer's rates.

Skips, saying why, where the TASKSTATS family is missing or the process lacks CAP_NET_ADMIN.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsmon_core.backends.replay import ReplayBackend
from tsmon_core.errors import TsmonError
from tsmon_core.sampler import Sampler
from tsmon_core.session import SessionReader, SessionWriter

from .conftest import fingerprint

RATE = 4 * 1024 * 1024  # bytes a second
CHUNK = 64 * 1024

WRITER = f"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
block = b"x" * {CHUNK}
start = time.monotonic()
sent = 0
print("ready", flush=True)
while True:
    due = start + sent / {RATE}
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    os.write(fd, block)
    sent += len(block)
    if sent % (16 * {CHUNK}) == 0:
        os.lseek(fd, 0, 0)  # stay small on disk; wchar and write_bytes still count
"""


@pytest.fixture
def netlink() -> object:
    try:
        from tsmon_core.backends.live import NetlinkBackend

        backend = NetlinkBackend()
    except (TsmonError, OSError) as exc:
        pytest.skip(f"the kernel's taskstats interface is not usable here: {exc}")
    yield backend
    backend.close()


@pytest.fixture
def writer(tmp_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "out.bin")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.kernel
def test_a_recorded_writer_replays_with_its_rates(
    tmp_path: Path, netlink: object, writer: subprocess.Popen[str]
) -> None:
    path = tmp_path / "kernel.jsonl.gz"
    sampler = Sampler(netlink)  # type: ignore[arg-type]
    live = []
    with SessionWriter(path, info=netlink.info, interval=0.5, keyframe_every=4) as out:  # type: ignore[attr-defined]
        for _ in range(8):
            snapshot = sampler.poll()
            out.write_snapshot(snapshot)
            live.append(snapshot)
            time.sleep(0.5)
    sampler.close()

    replay = ReplayBackend(path)
    assert replay.info.kind == "replay" and replay.info.hostname == os.uname().nodename
    replayed = Sampler(replay)
    rates = []
    for n, want in enumerate(live):
        got = replayed.poll()
        assert fingerprint(got) == fingerprint(want), f"frame {n} differs from the live view"
        row = next(r for r in got.threads if r.tid == writer.pid)
        rates.append(row.value("wchar_bps"))
    measured = [r for r in rates[1:] if r is not None]
    assert len(measured) == 7
    average = sum(measured) / len(measured)
    assert 0.75 * RATE < average < 1.25 * RATE, (average, RATE)
    assert all(r > 0.4 * RATE for r in measured), measured
    last = fingerprint(live[-1])
    writer_row = next(t for t in last["threads"] if t[0] == writer.pid)  # type: ignore[union-attr]
    assert writer_row[1] == "python3" or writer_row[1].startswith("python")


@pytest.mark.kernel
def test_tsmon_record_on_the_kernel(
    tmp_path: Path, netlink: object, writer: subprocess.Popen[str]
) -> None:
    path = tmp_path / "cli.jsonl"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsmon",
            "record",
            "-q",
            "--backend",
            "netlink",
            "-d",
            "0.5",
            "-n",
            "5",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr
    reader = SessionReader(path)
    frames = list(reader)
    assert len(frames) == 5 and reader.ended_cleanly
    assert reader.header.backend == "netlink"
    assert reader.header.kernel_release == os.uname().release
    assert all(writer.pid in f.tasks for f in frames)
    sampler = Sampler(ReplayBackend(path))
    sampler.poll()
    rates = [
        next(r for r in sampler.poll().threads if r.tid == writer.pid).value("wchar_bps")
        for _ in range(4)
    ]
    assert all(r is not None and 0.4 * RATE < r < 2.0 * RATE for r in rates), rates
