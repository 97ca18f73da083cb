"""``tsmon top`` (the default command): the live TUI.

Only the CLI's ``top`` entry imports this module, so ``report`` and ``batch`` never load Textual.
"""

from __future__ import annotations

import sys

import click

from ._common import (
    EXIT_USAGE,
    OneLineCommand,
    backend_option,
    fail,
    handle_errors,
    open_backend_or_exit,
)

__all__ = ["top"]


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
    # cgroup2 directories get derived counts in the TUI; everything else goes to cgroupstats
    # (v1 directories, and the simulator's own paths)
    v2 = [c for c in cgroups if cgroup_version(c) == 2]
    v1 = [c for c in cgroups if c not in v2]
    sampler = Sampler(backend, cgroups=v1)
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
            cgroup2_dirs=v2 if cgroups else None,
        )
        app.run()
    finally:
        sampler.close()
        backend.close()
    if app.return_code:
        sys.exit(app.return_code)
