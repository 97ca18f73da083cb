"""Colour themes: each themes/<name>.tcss declares Textual theme variables; we build Themes.

A theme file is Textual CSS holding only variable declarations (``$primary: #3b82c4;``) plus
``$theme-name`` and ``$theme-dark``. Layout lives in tsmon.tcss and uses the variables, so a
theme changes colours only. Textual's own themes work too (``--theme nord``).
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App
from textual.theme import BUILTIN_THEMES, Theme

from .resources import themes_dir

__all__ = [
    "DEFAULT_THEME",
    "TSMON_THEMES",
    "available_names",
    "load_themes",
    "parse_theme",
    "register_all",
    "resolve_name",
]

DEFAULT_THEME = "tsmon-dark"
#: The order ``t`` cycles through.
TSMON_THEMES = ("tsmon-dark", "tsmon-light", "tsmon-high-contrast")
_COLOURS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_DECL = re.compile(r"^\s*\$([A-Za-z0-9_-]+)\s*:\s*([^;]+?)\s*;", re.MULTILINE)


def parse_theme(text: str, fallback_name: str) -> Theme:
    """A Theme from the variable declarations of a theme file."""
    values = dict(_DECL.findall(text))
    name = values.pop("theme-name", fallback_name)
    dark = values.pop("theme-dark", "true").strip().lower() != "false"
    colours = {k: values.pop(k) for k in _COLOURS if k in values}
    if "primary" not in colours:
        raise ValueError(f"theme {name}: $primary is required")
    return Theme(name=name, dark=dark, variables=values, **colours)


def load_themes(directory: Path | None = None) -> dict[str, Theme]:
    """Every theme file of themes/ (all .tcss files but tsmon.tcss), by theme name."""
    directory = directory or themes_dir()
    themes: dict[str, Theme] = {}
    for path in sorted(directory.glob("*.tcss")):
        if path.name == "tsmon.tcss":
            continue
        theme = parse_theme(path.read_text(encoding="utf-8"), f"tsmon-{path.stem}")
        themes[theme.name] = theme
    return themes


def available_names() -> list[str]:
    """Names --theme accepts: tsmon's (short and full) and Textual's built-in ones."""
    ours = list(load_themes())
    short = [n.removeprefix("tsmon-") for n in ours]
    return [*short, *ours, *BUILTIN_THEMES]


def resolve_name(name: str) -> str:
    """A theme's registered name: ``dark`` is ``tsmon-dark``; other names are unchanged."""
    full = f"tsmon-{name}"
    return full if full in load_themes() else name


def register_all(app: App[object]) -> dict[str, Theme]:
    """Register tsmon's themes with an app; return them."""
    themes = load_themes()
    for theme in themes.values():
        app.register_theme(theme)
    return themes
