"""The code location of the distributed test: the Airbyte workspace's assets, run by Celery.

Loaded by ``dagster api grpc -m celery_code_location`` (the code server) and by every run and
Celery worker that executes its steps. Settings come from the environment, as in a deployment
image: ``TEST_AIRBYTE_URL`` and ``TEST_CELERY_BROKER``. ``@dg.definitions`` (a lazy definition)
is what Dagster re-evaluates under each load context.
"""

import os

import dagster as dg
from dagster_celery import celery_executor

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions


@dg.definitions
def defs() -> dg.Definitions:
    airbyte = AirbyteWorkspace(url=os.environ["TEST_AIRBYTE_URL"], poll_interval=1)
    assets = build_airbyte_assets_definitions(workspace=airbyte, refresh="always")
    celery = celery_executor.configured(
        {"broker": os.environ.get("TEST_CELERY_BROKER", ""), "backend": "rpc://"}
    )
    return dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("airbyte_sync", selection=dg.AssetSelection.all())],
        executor=celery,
        resources={"airbyte": airbyte},
    )
