"""The ``tsmon`` command: a click group whose subcommands load lazily (fast start-up)."""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__

# name -> (module under tsmon.commands, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "top": ("top", "top", "the live TUI (the default when no command is given)"),
    "report": ("report", "report", "getdelays-style report of a task, a cgroup or exits"),
    "batch": ("batch", "batch", "iotop -b style batch output"),
    "delayacct": ("delayacct", "delayacct", "show or switch kernel.task_delayacct"),
    "record": ("record", "record", "record a session to a JSON Lines file"),
    "replay": ("replay", "replay", "replay a recorded session"),
}
_TOP_LEVEL_FLAGS = {"-h", "--help", "-V", "--version"}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module, attr, _ = SUBCOMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"tsmon.commands.{module}"), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="tsmon")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Per-task I/O, delays and exits from the Linux taskstats interface."""
    from tsmon_core.runtime import tune_gc

    tune_gc()  # every command that samples does so many times: see tune_gc
    if ctx.invoked_subcommand is None:
        top = cli.get_command(ctx, "top")
        assert top is not None
        ctx.invoke(top)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0].startswith("-") and args[0] not in _TOP_LEVEL_FLAGS:
        args = ["top", *args]  # `tsmon -d 2` means `tsmon top -d 2`
    try:
        cli.main(args=args, prog_name="tsmon", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("tsmon: aborted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
