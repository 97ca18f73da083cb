"""The built wheel carries the themes and the man page, and the checkout finds the themes too."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [path] = out.glob("tsmon-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_has_both_packages(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "tsmon_core/__init__.py" in names
    assert "tsmon_core/py.typed" in names
    assert "tsmon/cli.py" in names


def test_wheel_ships_every_theme(wheel: zipfile.ZipFile) -> None:
    shipped = {Path(n).name for n in wheel.namelist() if n.startswith("tsmon/themes/")}
    in_tree = {p.name for p in (ROOT / "themes").glob("*.tcss")}
    assert in_tree and in_tree <= shipped


def test_wheel_installs_the_man_page(wheel: zipfile.ZipFile) -> None:
    pages = [n for n in wheel.namelist() if n.endswith("share/man/man1/tsmon.1")]
    assert pages, "the man page is not in the wheel's data"
    assert wheel.read(pages[0]).startswith(b".")  # roff, not empty


def test_console_script_is_declared(wheel: zipfile.ZipFile) -> None:
    [entry] = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "tsmon = tsmon.cli:main" in wheel.read(entry).decode()
