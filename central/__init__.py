"""Exteros central store: database, MQTT ingest worker, REST API and admin CLI."""
