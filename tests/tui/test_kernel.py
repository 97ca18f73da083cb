"""The TUI on the real kernel (root): a writer shows its write rate, then its exit is logged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from tsmon.app import TsmonApp
from tsmon.columns import COLUMNS
from tsmon.widgets.summary import SummaryBar
from tsmon.widgets.table import VirtualTable
from tsmon_core.sampler import Sampler

from .helpers import SIZE, static_text, table_lines, wait_for

pytestmark = pytest.mark.kernel

WRITER = r"""
import os, sys
path = sys.argv[1]
with open(path, "wb") as f:
    print("ready", flush=True)
    chunk = b"w" * (1 << 20)
    while True:
        f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        f.seek(0)
        if os.path.exists(path + ".stop"):
            break
os.unlink(path)
sys.exit(7)
"""


def _netlink_backend() -> Any:
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_NET_ADMIN) for taskstats")
    try:
        from tsmon_core.backends.live import NetlinkBackend
    except ImportError:
        pytest.skip("the live netlink backend is not in this tree")
    from tsmon_core.errors import TsmonError

    try:
        return NetlinkBackend()
    except TsmonError as exc:
        pytest.skip(f"taskstats unavailable here: {exc}")


async def _poll(app: TsmonApp, pilot: Any) -> None:
    target = app.generation + 1
    app.request_sample()
    await wait_for(pilot, lambda: app.generation >= target, timeout=20)
    await pilot.pause()


async def test_live_writer_shows_a_write_rate_and_its_exit_is_logged() -> None:
    backend = _netlink_backend()
    sampler = Sampler(backend)
    app = TsmonApp(backend=backend, sampler=sampler, manual=True, cgroup2_dirs=[])
    tmpdir = tempfile.mkdtemp(prefix="tsmon-tui-", dir="/var/tmp")
    path = os.path.join(tmpdir, "out")
    writer = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.generation >= 1, timeout=20)
            badge = app.main.query_one(SummaryBar).query_one("#badge")
            assert "LIVE" in static_text(badge)  # type: ignore[arg-type]
            assert app.backend.info.kind == "netlink"

            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True
            )
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
            rates = []
            for _ in range(2):  # within two refreshes
                await asyncio.sleep(0.5)
                await _poll(app, pilot)
                row = next(
                    (r for r in app.snapshot.threads if r.tid == writer.pid),  # type: ignore[union-attr]
                    None,
                )
                rates.append(row.value("write_bps") if row is not None else None)
                if rates[-1]:
                    break
            assert rates[-1] and rates[-1] > 0, rates
            # the table shows it too
            app.table.filter_text = str(writer.pid)
            app.table.refilter()
            await pilot.pause()
            line = table_lines(app.table)[1]
            assert str(writer.pid) in line and "python" in line
            shown = app.table.rows[0]
            assert shown.tid == writer.pid
            assert COLUMNS["write_bps"].cell(shown, app.table.ctx) != "0.00 B/s"

            open(path + ".stop", "w").close()
            assert writer.wait(timeout=20) == 7
            for _ in range(10):
                await asyncio.sleep(0.2)
                await _poll(app, pilot)
                if any(e.tid == writer.pid for e in app.tracked.exit_entries()):
                    break
            entry = next(e for e in app.tracked.exit_entries() if e.tid == writer.pid)
            assert entry.exit_code == 7 and entry.write_bytes > 0
            await pilot.press("2")
            table = app.main.query_one("#exit-table", VirtualTable)
            await wait_for(pilot, lambda: bool(table.rows))
            lines = [ln for ln in table_lines(table) if f" {writer.pid} " in ln]
            assert lines and "exit 7" in lines[0]
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        sampler.close()
        backend.close()
        for name in (path, path + ".stop"):
            if os.path.exists(name):
                os.unlink(name)
        os.rmdir(tmpdir)


async def test_live_cgroups_tab_cgroupstats_on_v1_and_derived_on_cgroup2() -> None:
    from tsmon.tracking import cgroup_version, default_cgroup_dirs

    backend = _netlink_backend()
    v1 = [p for p in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory") if cgroup_version(p) == 1]
    v2 = default_cgroup_dirs()[:3]
    if not v1 and not v2:
        backend.close()
        pytest.skip("no cgroup directories here")
    sampler = Sampler(backend, cgroups=v1)
    app = TsmonApp(backend=backend, sampler=sampler, manual=True, cgroup2_dirs=v2)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.tracked_generation >= 1, timeout=30)
            await pilot.press("3")
            table = app.main.query_one("#cgroup-table", VirtualTable)
            await wait_for(pilot, lambda: len(table.rows) == len(v1) + len(v2), timeout=30)
            by_path = {r.path: r for r in table.rows}
            for path in v1:
                row = by_path[path]
                assert row.source == "cgroupstats"
                assert sum(row.counts) > 0  # every task is somewhere in a v1 hierarchy root
            for path in v2:
                row = by_path[path]
                assert row.source == "derived"
                assert all(c is not None for c in row.counts)
            if v2:
                root = by_path[v2[0]]
                assert root.members and root.members > 0
                assert "cpu some" in root.pressure or not os.path.exists(f"{v2[0]}/cpu.pressure")
            lines = table_lines(table)
            assert any("derived" in ln for ln in lines) or not v2
            assert any("cgroupstats" in ln for ln in lines) or not v1
    finally:
        sampler.close()
        backend.close()
