"""Exteros edge: camera frames -> tracked people -> visits -> counted events -> outputs."""

from exteros.version import __version__

__all__ = ["__version__"]
