"""Connectors of the local Airbyte: sources and destinations that move real data."""
