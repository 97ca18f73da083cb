"""``tsmon delayacct on|off|status``: show or switch ``kernel.task_delayacct``."""

from __future__ import annotations

import click

from ._common import (
    EXIT_PERMISSION,
    OneLineCommand,
    backend_option,
    fail,
    handle_errors,
    note,
    open_backend_or_exit,
)

__all__ = ["delayacct"]

_CAVEAT = (
    "tasks started while it is off never get I/O, swap and memory delays, even after it "
    "is switched on (CPU delay is always counted)"
)


@click.command("delayacct", cls=OneLineCommand)
@click.argument(
    "action",
    type=click.Choice(["on", "off", "status"]),
    default="status",
    required=False,
    metavar="[on|off|status]",
)
@backend_option
@handle_errors
def delayacct(action: str, backend_kind: str, seed: int) -> None:
    """Show or switch kernel delay accounting (on/off need root).

    \b
    tsmon delayacct            whether it is on (same as: status)
    tsmon delayacct on         switch it on (sysctl kernel.task_delayacct=1)
    tsmon delayacct off        switch it off
    """
    backend = open_backend_or_exit(backend_kind, seed)
    try:
        info = backend.info
        where = "" if info.kind == "netlink" else f" (in the {info.kind} kernel)"
        if action != "status" and info.kind == "sim" and backend_kind == "auto":
            # auto fell back to the simulator: switching it would change nothing real.
            fail(
                f"switching kernel.task_delayacct needs root (sudo tsmon delayacct {action}); "
                "without it tsmon runs on the simulator, and --backend sim switches that one",
                EXIT_PERMISSION,
            )
        if info.kind == "sim":
            why = f" ({info.reason})" if info.reason else ""
            note(f"data are SIMULATED, not from this machine's kernel{why}")
        if action == "status":
            state = backend.delayacct()
            if state is None:
                click.echo(
                    f"kernel.task_delayacct: unknown{where} (this kernel has no such sysctl)"
                )
                return
            click.echo(
                f"kernel.task_delayacct = {int(state)}: delay accounting is "
                f"{'on' if state else 'off'}{where}"
            )
            if not state:
                click.echo(f"{_CAVEAT}; switch it on with: tsmon delayacct on (root)")
            return
        enable = action == "on"
        before = backend.delayacct()
        backend.set_delayacct(enable)
        after = backend.delayacct()
        if after is not None and after != enable:
            note(f"kernel.task_delayacct is still {int(after)}: the kernel did not take the change")
            raise SystemExit(1)
        verb = "was already" if before == enable else "is now"
        click.echo(
            f"kernel.task_delayacct = {int(enable)}: delay accounting {verb} "
            f"{'on' if enable else 'off'}{where}"
        )
        if enable and before is False:
            click.echo(f"note: {_CAVEAT}")
    finally:
        backend.close()
