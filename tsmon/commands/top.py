"""``tsmon top`` (the default command): the live TUI.

Only the CLI's ``top`` entry imports this module, so ``report`` and ``batch`` never load Textual.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tsmon_core.errors import CgroupUnsupportedError, TsmonError

from ._common import (
    EXIT_USAGE,
    OneLineCommand,
    backend_option,
    fail,
    handle_errors,
    open_backend_or_exit,
)

__all__ = ["top"]

#: cgroup v1 hierarchies shown when no --cgroup is given (if cgroupstats answers there).
_V1_CGROUPS = ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/blkio")


def _answers(backend: Any, path: str) -> bool:
    """Whether cgroupstats works on a path."""
    try:
        backend.cgroup_stats(path)
    except TsmonError:
        return False
    return True


@click.command("top", cls=OneLineCommand)
@backend_option
@click.option(
    "-d",
    "--delay",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes (+ and - change it in the app).",
)
@click.option("--theme", default=None, metavar="NAME", help="Colour theme (t cycles them).")
@click.option(
    "-p",
    "--pid",
    "pids",
    type=click.IntRange(min=1),
    multiple=True,
    help="Show only this process or thread (repeatable).",
)
@click.option("-P", "--processes", is_flag=True, help="One row per process, not per thread.")
@click.option("-o", "--only", is_flag=True, help="Only tasks doing I/O or waiting.")
@click.option("-a", "--accumulated", is_flag=True, help="Totals since start, not rates.")
@click.option(
    "--cgroup",
    "cgroups",
    multiple=True,
    metavar="DIR",
    help="A cgroup directory for the cgroups tab (repeatable; v1: cgroupstats, v2: derived).",
)
@handle_errors
def top(
    backend_kind: str,
    seed: int,
    delay: float,
    theme: str | None,
    pids: tuple[int, ...],
    processes: bool,
    only: bool,
    accumulated: bool,
    cgroups: tuple[str, ...],
) -> None:
    """Live table of every task's I/O, delays and exits (iotop's keys; ? for help)."""
    from tsmon_core.sampler import Sampler

    from ..themes import available_names
    from ..tracking import cgroup_version

    if theme is not None and theme not in available_names():
        fail(
            f"unknown theme {theme!r}; choose one of: {', '.join(available_names())}",
            EXIT_USAGE,
        )
    backend = open_backend_or_exit(backend_kind, seed)
    # cgroupstats answers on cgroup v1 directories; cgroup2 ones (EINVAL) get counts derived
    # from their member tasks in the TUI. A missing directory is a one-line error.
    v1: list[str] = []
    v2: list[str] = []
    named = list(cgroups)
    if not named:  # the usual v1 hierarchies, where cgroupstats answers (and, in the TUI,
        # the top-level cgroup2 groups of this machine)
        v1 = [p for p in _V1_CGROUPS if _answers(backend, p)]
    for path in named:
        if cgroup_version(path) == 2:
            v2.append(path)
            continue
        try:
            backend.cgroup_stats(path)
        except CgroupUnsupportedError:
            v2.append(path)
        else:
            v1.append(path)
    sampler = Sampler(backend, cgroups=v1)
    if not named and backend.info.kind == "sim":
        v2 = []  # the simulated machine's cgroup2 is not this machine's
    try:
        from ..app import TsmonApp

        app = TsmonApp(
            backend=backend,
            sampler=sampler,
            interval=delay,
            theme=theme,
            processes=processes,
            only_active=only,
            accumulated=accumulated,
            pids=pids,
            cgroup2_dirs=v2 if named or backend.info.kind == "sim" else None,
        )
        # --- recording (issue 5): R writes a session file, see tsmon.commands.record ---
        from .record import recorder_factory

        app.recorder_factory = recorder_factory(backend, lambda: app.interval)
        # --- end of recording hook ---
        app.run()
    finally:
        sampler.close()
        backend.close()
    if app.return_code:
        sys.exit(app.return_code)
