"""Benchmarks of dagster-airbyte-assets against the official dagster-airbyte (``make bench``).

Run ``python -m bench`` (``--quick`` for the smoke size). See ``bench/README.md`` for what is
measured and the latest figures.
"""
