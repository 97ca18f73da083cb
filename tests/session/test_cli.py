"""tsmon record and tsmon replay from the command line: files, signals, messages, --batch."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsmon_core.session import SessionReader

from .conftest import simulate

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``python -m tsmon ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "tsmon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "TSMON_BACKEND": "sim"},
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tsmon", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def frames_in(path: Path) -> int:
    return len(list(SessionReader(path)))


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsmon: "), done.stderr
    return lines[0]


# --- record -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_record_n_frames_to_a_private_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    done = run("record", "-n", "3", "-d", "0.1", "--backend", "sim", str(path))
    assert done.returncode == 0, done.stderr
    assert "SIMULATED" in done.stderr and "recorded 3 frames" in done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reader = SessionReader(path)
    assert len(list(reader)) == 3 and reader.ended_cleanly and reader.end["reason"] == "done"
    header = reader.header
    assert header.backend == "sim" and header.interval == 0.1 and header.struct_version == 17
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_record_for_a_duration(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    done = run("record", "-q", "-d", "0.2", "--duration", "0.5", "--backend", "sim", str(path))
    assert done.returncode == 0 and done.stderr == ""
    assert frames_in(path) == 3  # at 0, 0.2 and 0.4 s


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-n", "2", "--duration", "3"], "give one of them"),
        (["-n", "0"], "-n"),
        (["-d", "0"], "--delay"),
    ],
)
def test_record_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    line = one_line_error(run("record", *args, str(tmp_path / "x.jsonl")), 2)
    assert words in line
    assert not (tmp_path / "x.jsonl").exists()


def test_record_into_a_missing_directory(tmp_path: Path) -> None:
    line = one_line_error(run("record", "-n", "1", str(tmp_path / "no" / "x.jsonl")), 1)
    assert "No such file or directory" in line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_the_file_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    path = tmp_path / "sig.jsonl.gz"
    proc = start("record", "-d", "0.1", "--backend", "sim", str(path))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and frames_in(path) >= 3:
                break
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "recorded" in err
    reader = SessionReader(path)
    assert len(list(reader)) >= 3
    assert reader.ended_cleanly and reader.end["reason"] == "signal"
    assert reader.problems() == []


# --- replay --batch ---------------------------------------------------------------------------


def test_replay_batch_prints_every_frame_as_batch_does(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    simulate(path, frames=6, tasks=80)
    done = run("replay", "--batch", str(path))
    assert done.returncode == 0, done.stderr
    assert "REPLAYED" in done.stderr
    reports = done.stdout.count("Total DISK READ")
    assert reports == 5  # frame 0 is the baseline
    assert "  TID  PRIO  USER     DISK READ  DISK WRITE  SWAPIN      IO    COMMAND" in done.stdout

    as_json = run("replay", "--batch", "--json", "-n", "2", "--at", "#3", "-P", str(path))
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [obj["frame"] for obj in lines] == [3, 4]
    assert all(obj["backend"] == "replay" and obj["tasks"] for obj in lines)
    assert "pid" in lines[0]["tasks"][0]


def test_replay_batch_of_a_truncated_file_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    simulate(path, frames=6, tasks=40)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b'{"delta":5') + 100])
    done = run("replay", "--batch", "-q", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Total DISK READ") == 4  # frames 1..4; 5 was cut
    warnings = [line for line in done.stderr.splitlines() if "truncated" in line]
    assert len(warnings) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"format": "other-tool", "schema": 1}\n', "not a tsmon session"),
        ('{"format": "tsmon-session", "schema": 7, "layouts": {}}\n', "newer than this tsmon"),
        ('{"key":0,"tm":1,"tw":2,"tasks":[]}\n', "header is missing"),
        ("", "empty file"),
    ],
)
def test_replay_of_a_bad_file_is_one_line(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    for args in (["replay", str(path)], ["replay", "--batch", str(path)]):
        line = one_line_error(run(*args), 6)
        assert words in line and str(path) in line


def test_replay_of_a_missing_file(tmp_path: Path) -> None:
    line = one_line_error(run("replay", str(tmp_path / "nope.jsonl")), 6)
    assert "no such file" in line


def test_replay_options_that_need_batch(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    simulate(path, frames=2, tasks=10)
    assert "add --batch" in one_line_error(run("replay", "--json", str(path)), 2)
    assert "is not a time" in one_line_error(run("replay", "--at", "later", str(path)), 2)


def test_record_keyframe_default_is_the_library_default() -> None:
    """The CLI repeats the writer's default (importing it would cost start-up time)."""
    from tsmon.commands.record import record
    from tsmon_core.session import DEFAULT_KEYFRAME_EVERY

    [option] = [p for p in record.params if p.name == "keyframe_every"]
    assert option.default == DEFAULT_KEYFRAME_EVERY
