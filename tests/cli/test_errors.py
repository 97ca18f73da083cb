"""Bad input: each case gives one line on stderr with the reason and the fix, a non-zero exit
status of its own, and never a traceback. Parsing through CliRunner; the kernel, privileges
and exit codes through real subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli import (
    assert_one_line_error,
    nobody_pythonpath,
    requires_kernel,
    tsmon,
    tsmon_as_nobody,
)
from tsmon.cli import cli
from tsmon.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_RUN,
    EXIT_NO_TASK,
    EXIT_NOT_FOUND,
    EXIT_PERMISSION,
    EXIT_USAGE,
)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="tsmon")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "-x"], "No such option"),
        (["report", "-p", "abc"], "not a valid integer"),
        (["report", "-p", "0"], "-p 0 is not a task id"),
        (["report", "-t", "-5"], "-t -5 is not a task id"),
        (["report", "-t", "1", "-C", "/sys/fs/cgroup/cpu"], "either -t or -C"),
        (["report", "-p", "1", "-m", "0"], "cannot be combined"),
        (["report", "-d"], "nothing to report"),
        (["report", "-l", "-p", "1"], "-l listens for exits"),
        (["report", "-m", "0", "-r", "-1"], "invalid receive buffer size"),
        (["report", "-c"], "-c needs a command"),
        (["report", "sleep", "1"], "put -c before it"),
        (["batch", "-d", "0"], "-d"),
        (["batch", "-n", "0"], "-n"),
        (["batch", "--columns", "cpu,bogus"], "unknown column 'bogus'"),
        (["batch", "-u", "no-such-user-here"], "unknown user"),
        (["batch", "extra"], "unexpected extra argument"),
        (["delayacct", "maybe"], "'maybe' is not one of"),
        (["report", "--backend", "psychic", "-p", "1"], "--backend"),
    ],
)
def test_usage_errors_are_one_line_with_the_fix(args: list[str], needle: str) -> None:
    status, stderr = _invoke(*args)
    assert status == EXIT_USAGE
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tsmon: ")
    assert needle.lower() in lines[0].lower()
    assert f"see 'tsmon {args[0]} --help'" in lines[0]
    assert "Traceback" not in stderr


def test_command_that_does_not_exist(tmp_path: Path) -> None:
    done = tsmon("report", "-d", "-c", "no-such-command-tsmon")
    line = assert_one_line_error(done, EXIT_NOT_FOUND)
    assert "command not found" in line and "no-such-command-tsmon" in line
    assert done.stdout == ""
    quoted = tsmon("report", "-d", "-c", "sleep 1")
    assert "separate words" in assert_one_line_error(quoted, EXIT_NOT_FOUND)
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\nexit 0\n")
    plain.chmod(0o644)
    not_exec = tsmon("report", "-c", str(plain))
    assert "chmod +x" in assert_one_line_error(not_exec, EXIT_CANNOT_RUN)


@requires_kernel
def test_unknown_pid() -> None:
    done = tsmon("report", "-d", "-p", "4000000", "--backend", "netlink")
    line = assert_one_line_error(done, EXIT_NO_TASK)
    assert "no such task: 4000000" in line and "ps -eLf" in line
    group = tsmon("report", "-t", "4000000", "--backend", "netlink")
    assert "no such process: 4000000" in assert_one_line_error(group, EXIT_NO_TASK)


@requires_kernel
def test_pid_zero_is_refused_before_the_kernel_is_asked() -> None:
    done = tsmon("report", "-d", "-p", "0", "--backend", "netlink")
    assert "-p 0 is not a task id" in assert_one_line_error(done, EXIT_USAGE)
    assert done.stdout == ""


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    return None


@pytest.fixture
def cgroup2_dir() -> Iterator[str]:
    """A cgroup2 directory: an existing mount, or one mounted in a temporary directory."""
    existing = _cgroup2_mount()
    if existing is not None:
        yield existing
        return
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("no cgroup2 mount, and mounting one needs root")
    target = tempfile.mkdtemp(prefix="tsmon-cg2-")
    mounted = subprocess.run(["mount", "-t", "cgroup2", "none", target], capture_output=True)
    if mounted.returncode != 0:
        os.rmdir(target)
        pytest.skip(f"cannot mount cgroup2: {mounted.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", target], check=False)
        os.rmdir(target)


@requires_kernel
def test_cgroup2_directory(cgroup2_dir: str) -> None:
    done = tsmon("report", "-C", cgroup2_dir, "--backend", "netlink")
    line = assert_one_line_error(done, EXIT_BAD_INPUT)
    assert "cgroup v1" in line and cgroup2_dir in line and "e.g. /sys/fs/cgroup/cpu" in line


@requires_kernel
def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    done = tsmon("report", "-C", str(missing), "--backend", "netlink")
    line = assert_one_line_error(done, EXIT_BAD_INPUT)
    assert "no such directory" in line and str(missing) in line
    a_file = tmp_path / "file"
    a_file.write_text("x")
    not_dir = tsmon("report", "-C", str(a_file), "--backend", "netlink")
    assert "not a directory" in assert_one_line_error(not_dir, EXIT_BAD_INPUT)


def _nr_possible() -> int:
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    return max(int(part.split("-")[-1]) for part in text.split(",")) + 1


@requires_kernel
@pytest.mark.parametrize(
    ("mask", "needle"),
    [
        ("garbage", "not a valid CPU list"),
        ("0-", "not a valid CPU list"),
        ("0," * 2000 + "0", "too long"),
        ("__NONEXISTENT__", "does not have"),
    ],
)
def test_bad_cpumasks(mask: str, needle: str) -> None:
    if mask == "__NONEXISTENT__":
        mask = f"0-{_nr_possible() + 7}"
    done = tsmon("report", "-m", mask, "-d", "--backend", "netlink")
    line = assert_one_line_error(done, EXIT_BAD_INPUT)
    assert needle in line and "this machine's CPUs are" in line


@requires_kernel
def test_netlink_as_nobody_is_a_permission_error() -> None:
    with nobody_pythonpath() as env:
        done = tsmon_as_nobody("report", "-d", "-p", "1", "--backend", "netlink", env=env)
    line = assert_one_line_error(done, EXIT_PERMISSION)
    assert "CAP_NET_ADMIN" in line and "root" in line
    assert done.stdout == "print delayacct stats ON\n"


def test_closed_stdout_is_not_an_error() -> None:
    """A reader that goes away (| head) ends the run quietly."""
    proc = subprocess.Popen(
        ["sh", "-c", f"'{sys.executable}' -m tsmon batch --backend sim -d 0.05 -n 50 | head -1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    out, err = proc.communicate(timeout=120)
    assert out.startswith("Total DISK READ")
    assert "Traceback" not in err and "Broken pipe" not in err


def test_switching_delay_accounting_needs_root() -> None:
    with nobody_pythonpath() as env:
        done = tsmon_as_nobody("delayacct", "on", env=env)
        status = tsmon_as_nobody("delayacct", env=env)
    line = assert_one_line_error(done, EXIT_PERMISSION)
    assert "needs root" in line and "sudo tsmon delayacct on" in line
    assert status.returncode == 0 and "kernel.task_delayacct" in status.stdout
    assert "SIMULATED" in status.stderr


@requires_kernel
def test_delayacct_on_and_off_as_root_restores_the_setting() -> None:
    path = Path("/proc/sys/kernel/task_delayacct")
    before = path.read_text().strip()
    try:
        on = tsmon("delayacct", "on", "--backend", "netlink")
        assert on.returncode == 0, on.stderr
        assert path.read_text().strip() == "1"
        assert on.stdout.startswith("kernel.task_delayacct = 1: delay accounting ")
        shown = tsmon("delayacct", "--backend", "netlink")
        assert shown.stdout.startswith("kernel.task_delayacct = 1: delay accounting is on")
        off = tsmon("delayacct", "off", "--backend", "netlink")
        assert off.returncode == 0 and path.read_text().strip() == "0"
        shown = tsmon("delayacct", "status", "--backend", "netlink")
        assert "is off" in shown.stdout and "never get I/O" in shown.stdout
    finally:
        path.write_text(before + "\n")
