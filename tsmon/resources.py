"""Find the themes/ directory: inside the wheel (tsmon/themes) or at a checkout's root."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["theme_file", "themes_dir"]


def themes_dir() -> Path:
    """The directory holding tsmon.tcss and the theme files.

    An installed wheel carries them as ``tsmon/themes`` (hatch force-include); a checkout or an
    editable install has them at the repository root, next to the ``tsmon`` package.
    """
    packaged = resources.files("tsmon") / "themes"
    if packaged.is_dir() and (packaged / "tsmon.tcss").is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / "themes"
    if (checkout / "tsmon.tcss").is_file():
        return checkout
    raise FileNotFoundError("tsmon's themes/ directory is missing from this installation")


def theme_file(name: str) -> Path:
    """One file of themes/ (``tsmon.tcss``, ``dark.tcss``...)."""
    return themes_dir() / name
