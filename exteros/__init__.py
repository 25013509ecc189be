"""Exteros: Python client for the Exteros REST API, and the wire contract."""

__version__ = "0.1.0"
