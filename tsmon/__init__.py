"""tsmon: the command line and the Textual front end of tsmon_core."""

from tsmon_core._version import __version__

__all__ = ["__version__"]
