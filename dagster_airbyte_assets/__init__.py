"""Every Airbyte stream as a Dagster software-defined asset.

The public API is re-exported here; everything else is private and may change.
"""

from dagster_airbyte_assets._version import __version__

__all__ = ["__version__"]
