"""Command-line tests: helpers to run tsmon, detect the kernel, and read getdelays' layout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL_OUTPUT = Path("/work/shared/reference/tool-output")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _kernel_reason() -> str | None:
    """Why the kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) for taskstats queries and listeners"
    try:
        from tsmon_core.backends import open_backend

        open_backend("netlink").close()
    except Exception as exc:  # any failure means: no usable taskstats here
        return f"the kernel's taskstats cannot be used here: {exc}"
    return None


KERNEL_REASON = _kernel_reason()
requires_kernel = pytest.mark.skipif(KERNEL_REASON is not None, reason=KERNEL_REASON or "")


def tsmon(
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tsmon ARGS`` to completion; text stdout and stderr."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tsmon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        input=input,
        cwd=str(REPO),
    )


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The non-empty lines a run wrote on stderr."""
    return [line for line in done.stderr.splitlines() if line.strip()]


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The run failed with ``status`` and said why in exactly one ``tsmon:`` line."""
    lines = stderr_lines(done)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("tsmon: "), lines
    return lines[0]


@contextmanager
def nobody_pythonpath() -> Iterator[dict[str, str]]:
    """An environment in which uid 65534 can import tsmon and click.

    The interpreter's own site-packages may sit under a directory nobody cannot enter
    (pyenv under /root); click is pure Python, so a world-readable copy next to the
    repository's path is enough for the command line.
    """
    import click

    if shutil.which(NOBODY[0]) is None:
        pytest.skip("setpriv is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another user")
    top = tempfile.mkdtemp(prefix="tsmon-nobody-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        shutil.copytree(Path(click.__file__).parent, Path(top) / "click")
        for root, dirs, files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        if not os.access(REPO, os.R_OK | os.X_OK) or (REPO.stat().st_mode & 0o005) != 0o005:
            pytest.skip(f"{REPO} is not readable by other users")
        yield {"PYTHONPATH": os.pathsep.join([top, str(REPO)]), "HOME": "/", "TSMON_BACKEND": ""}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def tsmon_as_nobody(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run tsmon as uid/gid 65534 with no supplementary groups."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("TSMON_BACKEND",)}
    full_env.update({k: v for k, v in env.items() if v})
    done = subprocess.run(
        [*NOBODY, sys.executable, "-m", "tsmon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd="/",
    )
    if "No module named" in done.stderr:
        pytest.skip(f"the interpreter cannot import tsmon as nobody: {done.stderr.strip()}")
    return done


class LineReader:
    """Lines from a pipe with a timeout (select on the raw descriptor, no hidden buffering)."""

    def __init__(self, pipe: object) -> None:
        self.fd = pipe.fileno()  # type: ignore[attr-defined]
        self.buf = b""
        self.eof = False

    def readline(self, timeout: float) -> str | None:
        """The next line, or None when none came within ``timeout`` seconds (or at EOF)."""
        import select
        import time

        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            self.eof = not chunk
            self.buf += chunk
        if b"\n" not in self.buf:
            return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace")


# --- getdelays' layout ---------------------------------------------------------------------

DELAY_LABELS = ("CPU", "IO", "SWAP", "RECLAIM", "THRASHING", "COMPACT", "WPCOPY", "IRQ")
_KIND_OF = dict(
    zip(
        DELAY_LABELS,
        ("cpu", "blkio", "swapin", "freepages", "thrashing", "compact", "wpcopy", "irq"),
        strict=True,
    )
)


def header_columns(header: str) -> tuple[str, list[str]]:
    """A delay header line: its label and its column names (15 wide, the timestamp 25)."""
    label = header[:10].strip()
    rest = header[10:]
    columns = []
    while rest:
        width = 25 if rest.strip() == "delay max timestamp" else 15
        columns.append(rest[:width].strip())
        rest = rest[width:]
    return label, columns


def expected_values_line(tokens: list[str], columns: list[str]) -> str:
    """The values line getdelays would print for these tokens under these columns."""
    widths = {"delay average": 17, "delay max": 15, "delay min": 15, "delay max timestamp": 23}
    return " " * 10 + "".join(
        t.rjust(widths.get(c, 15)) for t, c in zip(tokens, columns, strict=True)
    )


def parse_delay_block(lines: list[str]) -> dict[str, dict[str, str]]:
    """``-d`` rows (header and values line pairs) to {label: {column: token}}, checking widths.

    Raises AssertionError when a values line is not laid out in getdelays' widths.
    """
    table: dict[str, dict[str, str]] = {}
    for header, values in zip(lines[0::2], lines[1::2], strict=True):
        label, columns = header_columns(header)
        assert label in DELAY_LABELS, header
        if columns and columns[-1] == "delay max timestamp":
            tokens = [*values[10:-23].split(), values[-23:].strip()]
        else:
            tokens = values.split()
        assert len(tokens) == len(columns), (header, values)
        assert values == expected_values_line(tokens, columns), (header, values)
        table[label] = dict(zip(columns, tokens, strict=True))
    return table


def delay_fields(table: dict[str, dict[str, str]]) -> dict[str, int]:
    """Record fields (kernel names, ns) from a parsed ``-d`` table (max/min rounded to ns)."""
    fields: dict[str, int] = {}
    for label, row in table.items():
        kind = _KIND_OF[label]
        fields["cpu_count" if kind == "cpu" else f"{kind}_count"] = int(row["count"])
        fields[f"{kind}_delay_total"] = int(row["delay total"])
        if kind == "cpu":
            fields["cpu_run_real_total"] = int(row["real total"])
            fields["cpu_run_virtual_total"] = int(row["virtual total"])
        for end in ("max", "min"):
            if f"delay {end}" in row:
                ms = row[f"delay {end}"].removesuffix("ms")
                fields[f"{kind}_delay_{end}"] = round(float(ms) * 1_000_000)
    return fields


IO_LINE = re.compile(
    r"^(?P<comm>.*): read=(?P<read>\d+), write=(?P<write>\d+), cancelled_write=(?P<cancelled>\d+)$"
)


def split_report(text: str) -> list[dict[str, object]]:
    """A report's stdout (after the echo lines) as records: kind, id, delays, io, switches."""
    lines = text.splitlines()
    records: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(("PID\t", "TGID\t")):
            kind, _, ident = line.partition("\t")
            current = {"kind": kind, "id": int(ident)}
            records.append(current)
            i += 1
            continue
        if line == "" and i + 2 < len(lines) and lines[i + 2].startswith("CPU "):
            end = i + 2
            while end < len(lines) and lines[end][:10].strip() in DELAY_LABELS:
                end += 2
            assert current is not None
            current["delays"] = parse_delay_block(lines[i + 2 : end])
            i = end
            continue
        if line == "" and i + 2 < len(lines) and lines[i + 2].startswith("Task "):
            assert lines[i + 2] == "Task         voluntary   nonvoluntary", lines[i + 2]
            voluntary, involuntary = lines[i + 3].split()
            assert lines[i + 3] == " " * 7 + voluntary.rjust(15) + involuntary.rjust(15)
            if current is None:
                current = {}
                records.append(current)
            current["switches"] = (int(voluntary), int(involuntary))
            i += 4
            continue
        match = IO_LINE.match(line)
        if match:
            if current is None or "io" in current:
                current = {}
                records.append(current)
            current["io"] = (
                match["comm"],
                int(match["read"]),
                int(match["write"]),
                int(match["cancelled"]),
            )
            i += 1
            continue
        current = current if current is not None else {}
        current.setdefault("other", []).append(line)  # type: ignore[union-attr]
        i += 1
    return records
