"""tsmon in a real terminal, as a person uses it: tmux runs it, send-keys types, capture-pane reads.

As root it opens on the kernel (LIVE); as uid 65534 (setpriv, no capabilities) auto falls back
to the simulator and says so (SIMULATED). Each run sorts, toggles processes, opens a detail,
goes back, quits with q, and checks the terminal is restored (alternate screen left, mouse
reporting off, cursor visible, the shell's line discipline back).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# What tsmon imports at run time (copied world-readable for the unprivileged run).
RUNTIME_MODULES = (
    "textual",
    "rich",
    "click",
    "markdown_it",
    "mdurl",
    "mdit_py_plugins",
    "linkify_it",
    "uc_micro",
    "platformdirs",
    "pygments",
    "typing_extensions",
    "humanize",
    "pyroute2",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Terminal:
    """One tmux session running a command in a 160x50 terminal."""

    def __init__(self, command: str) -> None:
        self.name = f"tsmon-test-{uuid.uuid4().hex[:8]}"
        # a server of our own: other sessions' window-size settings cannot shrink ours
        self.tmux = ["tmux", "-L", self.name]
        script = (
            f"{command}; echo TSMON-EXIT=$?; stty -a | tr ' ;' '\\n\\n' "
            "| grep -x -e '-\\?icanon' -e '-\\?echo'; sleep 120"
        )
        # COLUMNS/LINES inherited from the test runner would override the terminal's real size
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", script],
            check=True,
            env=env,
        )

    def screen(self) -> str:
        done = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return done.stdout

    def flag(self, name: str) -> str:
        done = subprocess.run(
            [*self.tmux, "display-message", "-p", "-t", self.name, f"#{{{name}}}"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.tmux, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.3)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on screen after {timeout}s:\n{screen}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def nobody_env() -> Iterator[dict[str, str]]:
    """PYTHONPATH with world-readable copies of tsmon's dependencies (pyenv sits under /root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a command as another user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    top = tempfile.mkdtemp(prefix="tsmon-tmux-", dir="/tmp")
    try:
        for name in RUNTIME_MODULES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            origin = Path(spec.origin)
            if origin.name == "__init__.py":
                shutil.copytree(origin.parent, Path(top) / name)
            else:
                shutil.copy2(origin, Path(top) / origin.name)
        for root, _dirs, files in os.walk(top):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        os.chmod(top, 0o755)
        if (REPO.stat().st_mode & 0o005) != 0o005:
            pytest.skip(f"{REPO} is not readable by other users")
        yield {"PYTHONPATH": f"{top}:{REPO}", "HOME": "/tmp", "TERM": "xterm-256color"}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _python_for_nobody() -> str:
    """An interpreter uid 65534 can run with its standard library (not one under /root)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no system python3 for the unprivileged run")


def _session(terminal: Terminal, badge: str) -> None:
    """Sort, toggle, open a detail, go back, quit; check what the screen says at each step."""
    screen = terminal.wait_for(badge, "DISK WRITE▼", "COMMAND", timeout=60)
    assert " TID " in screen
    terminal.keys("Left")  # sort by DISK READ
    screen = terminal.wait_for("DISK READ▼")
    assert "DISK WRITE▼" not in screen
    terminal.keys("r")  # reversed: the arrow turns
    terminal.wait_for("DISK READ▲")
    terminal.keys("p")  # processes: the first column becomes PID
    screen = terminal.wait_for(" PID ")
    assert " TID " not in screen
    terminal.keys("Enter")
    terminal.wait_for("Delays (since the task started)", "process ", "CPU, memory, I/O")
    terminal.keys("Escape")
    terminal.wait_for("DISK READ▲")
    terminal.keys("q")
    screen = terminal.wait_for("TSMON-EXIT=0", "icanon", "echo", timeout=60)
    # the terminal is restored: no TUI left on screen, normal screen, no mouse, cursor on
    assert "DISK READ" not in screen
    assert terminal.flag("alternate_on") == "0"
    assert terminal.flag("mouse_any_flag") == "0"
    assert terminal.flag("cursor_flag") == "1"
    lines = screen.split("TSMON-EXIT=0", 1)[1].split()
    assert "icanon" in lines and "echo" in lines, lines


def test_tmux_as_root_live() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for the live backend")
    env = f"env -u COLUMNS -u LINES PYTHONPATH={REPO} TERM=xterm-256color"
    terminal = Terminal(f"cd / && {env} {sys.executable} -m tsmon")
    try:
        screen = terminal.wait_for("DISK WRITE", timeout=60)
        badge = "LIVE" if " LIVE " in screen else "SIMULATED"
        if badge == "SIMULATED":
            pytest.skip("taskstats is not usable here: the root run fell back to the simulator")
        _session(terminal, " LIVE ")
    finally:
        terminal.close()


def test_tmux_as_nobody_shows_the_simulated_badge(nobody_env: dict[str, str]) -> None:
    python = _python_for_nobody()
    env = " ".join(f"{k}={v}" for k, v in nobody_env.items())
    terminal = Terminal(
        f"cd / && {' '.join(NOBODY)} env -u COLUMNS -u LINES {env} {python} -m tsmon"
    )
    try:
        screen = terminal.wait_for("SIMULATED", timeout=60)
        assert "not this machine's data" in screen
        assert "auto: simulated" in screen  # the reason auto chose the simulator
        _session(terminal, "SIMULATED")
    finally:
        terminal.close()
