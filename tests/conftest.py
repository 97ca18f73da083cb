"""Shared fixtures: paths to test data and the reference struct offsets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def reference_offsets() -> dict[int, dict[str, tuple[int, int]]]:
    """Per version: field -> (offset, size), as measured with gcc on the kernel headers."""
    table: dict[int, dict[str, tuple[int, int]]] = {}
    current: dict[str, tuple[int, int]] = {}
    for line in (DATA / "struct_offsets_x86_64.txt").read_text().splitlines():
        head = re.match(r"VERSION (\d+) sizeof=(\d+)", line)
        if head:
            current = {"__sizeof__": (0, int(head[2]))}
            table[int(head[1])] = current
            continue
        row = re.match(r"\s+(\w+)\s+.+?off=\s*(\d+) size=\s*(\d+)", line)
        if row:
            current[row[1]] = (int(row[2]), int(row[3]))
    return table


@pytest.fixture(scope="session")
def offsets() -> dict[int, dict[str, tuple[int, int]]]:
    """The reference offsets table."""
    return reference_offsets()


def read_hex(name: str) -> bytes:
    """A binary fixture stored as hex."""
    return bytes.fromhex((DATA / name).read_text().strip())
