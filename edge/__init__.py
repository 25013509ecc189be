"""Exteros edge: camera frames -> tracked people -> visits -> counted events -> outputs."""

__version__ = "0.1.0"
