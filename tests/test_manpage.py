"""The man page renders cleanly and documents every command, option, key and exit status."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from tsmon.cli import SUBCOMMANDS, cli
from tsmon.commands import _common

PAGE = Path(__file__).resolve().parents[1] / "man" / "tsmon.1"


def _render(width: int = 80) -> str:
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    done = subprocess.run(
        ["man", "-l", str(PAGE)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MANWIDTH": str(width), "MANPAGER": "cat", "PAGER": "cat"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    return done.stdout


def test_groff_finds_nothing_to_warn_about() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    done = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(PAGE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stderr == ""


def test_man_renders_every_section() -> None:
    text = _render()
    for section in (
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "INTERACTIVE KEYS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "SHELL COMPLETION",
        "EXAMPLES",
        "SEE ALSO",
    ):
        assert re.search(rf"^{section}$", text, re.MULTILINE), section
    assert "_TSMON_COMPLETE=bash_source tsmon" in text
    for variable in ("TSMON_BACKEND", "NO_COLOR"):
        assert re.search(rf"^ +{variable}$", text, re.MULTILINE), variable


def _plain(text: str) -> str:
    """Rendered text with hyphenation and line breaks undone, for searching."""
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    text = re.sub(r"(\w)[\u2010-]\n\s+(\w)", r"\1\2", text)
    return re.sub(r"\s+", " ", text)


def _commands() -> dict[str, click.Command]:
    found = {}
    for name, (module, attr, _) in SUBCOMMANDS.items():
        try:
            command = getattr(importlib.import_module(f"tsmon.commands.{module}"), attr)
        except ImportError:
            continue  # a command that has not landed yet
        found[name] = command
    return found


def test_every_command_and_option_is_documented() -> None:
    text = _plain(_render(200))
    commands = _commands()
    assert {"top", "report", "batch", "delayacct"} <= set(commands)
    for name, command in commands.items():
        assert f"tsmon {name}" in text, name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    assert re.search(rf"(^|[\s\[(,{{]){re.escape(opt)}\b", text), f"{name} {opt}"
    for opt in ("--help", "--version", "-h", "-V"):
        assert opt in text
    assert cli.name is not None


def test_every_exit_status_is_documented() -> None:
    text = _render(200)
    statuses = {
        value
        for name, value in vars(_common).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    block = text.split("EXIT STATUS", 1)[1].split("ENVIRONMENT", 1)[0]
    documented = {int(n) for n in re.findall(r"^ {7}(\d+)\s", block, re.MULTILINE)}
    assert statuses <= documented, statuses - documented


def test_every_tui_key_is_documented() -> None:
    keys = pytest.importorskip("tsmon.keys")
    block = _render(200).split("INTERACTIVE KEYS", 1)[1].split("EXIT STATUS", 1)[0]
    lowered = block.lower()
    for spec in keys.KEYS:
        shown = spec.display.replace("←", "left").replace("→", "right").lower()
        if " " in shown or ("+" in shown and len(shown) > 1):
            # a combination ("shift+← →"): each part is named in the keys section
            for part in filter(None, re.split(r"[\s+]", shown)):
                assert re.search(rf"(^|[\s+,]){re.escape(part)}(,|\s|\+|$)", lowered), spec.display
        else:
            assert re.search(rf"(^|\s){re.escape(shown)}(,|\s|$)", lowered), spec.display


def test_documented_completion_command_works() -> None:
    """``_TSMON_COMPLETE=bash_source tsmon`` prints a bash function; completing works."""
    import sys

    repo = str(PAGE.parents[1])
    env = {**os.environ, "PYTHONPATH": repo, "_TSMON_COMPLETE": "bash_source"}
    source = subprocess.run(
        [sys.executable, "-m", "tsmon"], capture_output=True, text=True, env=env, timeout=60
    )
    assert source.returncode == 0 and "_tsmon_completion()" in source.stdout
    env.update(_TSMON_COMPLETE="bash_complete", COMP_WORDS="tsmon batch --col", COMP_CWORD="2")
    words = subprocess.run(
        [sys.executable, "-m", "tsmon"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "plain,--columns" in words.stdout.splitlines()
