"""Version profiles: what changed between Airbyte releases, in one table.

Every difference the local Airbyte imitates between releases is a field of :class:`Profile`,
so the routes ask ``profile.<question>`` instead of comparing version numbers. Each value was
read in airbytehq/airbyte-platform at the tag the profile models (``/work/ref/airbyte-platform``,
``git show <tag>:<path>``); the citations are in the comments below and in the server README's
behaviour table. ``/work/notes/airbyte-versions.md`` (the version research of this project)
holds the longer reasoning behind each row.

Profiles:

- ``0.50``: v0.50.0. Config API only (no Public API in OSS yet), no ``refresh``/``clear`` job
  types, no job-level statistics, Micronaut 3.
- ``0.63``: v0.63.0. Public API in the server; ``refresh``/``clear``; statistics hydrated on
  ``jobs/list`` and ``jobs/get_without_logs``; error bodies with stack traces.
- ``1.6``: v1.6.0. The last release with ``workspaces/list``; 15-minute tokens; plain errors.
- ``1.8``: v1.8.0. Cursor-paginated ``sources/list``/``destinations/list``; ``recordsRejected``.
- ``2.0`` (default, alias ``latest``): v2.0.0 (main at 310e6cb6 where it agrees). Errors carry
  only an ``errorId``.
- ``public-only``: ``2.0`` behind a proxy that exposes only ``/api/public/*`` (some 1.7+
  deployments); every Config API path answers a route miss.
- ``cloud``: what Airbyte Cloud runs (main): ``queued`` jobs, 3-minute tokens that really
  expire, the Public API at ``/v1`` (api.airbyte.com/v1), the Config API at ``/api/v1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Profile", "get_profile"]

# Config API actions this server implements, and the profiles where the real server has no such
# route. Presence per tag read in the Config spec (``airbyte-api/src/main/openapi/config.yaml``
# up to v0.63.x, ``airbyte-api/server-api/src/main/openapi/config.yaml`` from v0.64.0):
#   connections/clear, connections/refresh: from v0.58.0 (config.yaml@v0.58.0:2448, 2542)
#   connections/sync_progress: in the spec from v0.50.32, a null-returning stub (404) until v0.57
#   users/get_by_auth_id: from v0.50.15 (config.yaml@v0.50.56:3461)
#   applications/token: from v0.50.38 (config.yaml@v0.50.56:4429); still on main (:6336)
#   workspaces/list: up to v1.6.0; removed by 3e5ff65dc7 (2025-04-22), absent from v1.7.0
_FROM_0_50_15 = frozenset({"users/get_by_auth_id"})
_FROM_0_50_32 = frozenset({"connections/sync_progress"})
_FROM_0_50_38 = frozenset({"applications/token"})
_FROM_0_58 = frozenset({"connections/clear", "connections/refresh"})
_UNTIL_1_6 = frozenset({"workspaces/list"})

# JobConfigType (config.yaml, components.schemas.JobConfigType): v0.50.0:4730 has the first six;
# v0.58.0:9271 adds refresh; v0.60.0:9541 adds clear; unchanged to main:17913.
_BASE_CONFIG_TYPES = (
    "check_connection_source",
    "check_connection_destination",
    "discover_schema",
    "get_spec",
    "sync",
    "reset_connection",
)
_ALL_CONFIG_TYPES = (*_BASE_CONFIG_TYPES, "refresh", "clear")

# JobStatus: pending..cancelled everywhere (config.yaml@v0.50.0:4858, @v2.0.0:16809); main adds
# queued (config.yaml@main:18227; commit 227f2d1f88), emitted only under Data Worker capacity
# enforcement (JobCreationAndStatusUpdateHelper.kt@main:543-575), i.e. on Cloud.
_STATUSES = ("pending", "running", "incomplete", "failed", "succeeded", "cancelled")
_STATUSES_WITH_QUEUED = ("pending", "queued", *_STATUSES[1:])


@dataclass(frozen=True)
class Profile:
    """What one Airbyte release (or deployment) does where releases differ."""

    name: str
    release: str  # the upstream tag (or branch) the profile models
    # -- which API is reachable --------------------------------------------------------------
    config_api: bool = True  # False: /api/v1/* is a route miss (a proxy exposing only Public)
    public_api: bool = True  # v0.50.0 had no Public API in OSS
    public_prefix: str = "/api/public/v1"  # Cloud: https://api.airbyte.com/v1
    absent_config_actions: frozenset[str] = frozenset()
    # -- jobs ---------------------------------------------------------------------------------
    job_config_types: tuple[str, ...] = _ALL_CONFIG_TYPES
    job_statuses: tuple[str, ...] = _STATUSES
    emits_queued: bool = False  # a new job waits in ``queued`` before ``pending`` -> running
    # Public JobTypeEnum (config.yaml /public/v1 schemas): sync, reset until v0.62;
    # + refresh, clear from v0.63.0 (:12124).
    public_job_types: tuple[str, ...] = ("sync", "reset", "refresh", "clear")
    # Public GET /jobs without jobType: sync and reset up to v2.0.0
    # (publicapi/services/JobService.kt@v1.6.0:224-236, @v2.0.0:223); all four on main (:227-239).
    public_default_job_types: tuple[str, ...] = ("sync", "reset_connection")
    # -- where statistics are --------------------------------------------------------------------
    # jobs/get_without_logs hydrates stats from v0.52.0 (JobHistoryHandler.java@v0.52.0:354-363).
    hydrates_get_without_logs: bool = True
    # JobRead.aggregatedStats/streamAggregatedStats exist from v0.50.45; jobs/list fills them.
    job_level_stats: bool = True
    records_rejected: bool = False  # v1.8.0 adds recordsRejected (config.yaml@v1.8.0:15728)
    # connections/sync_progress: "stub" (404), "object" (v0.61-0.63), "object_config_type" (v0.64+)
    sync_progress: str = "object_config_type"
    # -- lists -------------------------------------------------------------------------------------
    # sources/list, destinations/list cursor-paginated from v1.8.0 (SourceHandler.kt@v1.8.0:342)
    actor_list_cursor: bool = False
    # -- other request and response shapes ---------------------------------------------------
    # connections/refresh answers BooleanRead until v1.1, JobReadResponse from v1.2.0
    refresh_returns_job: bool = True
    # UserRead carries authUserId/authProvider (required) until v0.63 (config.yaml@v0.57.0:8868)
    user_read_auth_fields: bool = False
    # Public ConnectionResponse.tags required from v1.6.0 (config.yaml@v1.6.0:17042)
    connection_tags: bool = True
    # AttemptInfoRead.logType from v1.2.0 (config.yaml@v1.2.0:12353); before, {attempt, logs}
    attempt_log_type: bool = True
    # WebBackendConnectionRead: actor definition versions from v0.64; their
    # supportsFileTransfer from v1.6, supportsDataActivation from v1.8; onDemandEnabled on main.
    web_backend_versions: bool = True
    file_transfer: bool = True
    data_activation: bool = True
    on_demand_field: bool = True
    # Cron schedules executing more than once a minute refused from v1.8.0
    # (ConnectionScheduleHelper.kt@v1.8.0:190 validateCronFrequency; absent at v1.6.0).
    cron_frequency_check: bool = True
    # -- errors ----------------------------------------------------------------------------------
    # "stack": {message, exceptionClassName, exceptionStack...} (<= v1.2);
    # "plain": {message, exceptionClassName, details?} (v1.3-v1.8, KnownException.java@v1.5.0:72);
    # "error_id": {message, details?, errorId} / {errorId} (v2.0.0, commit 75054177f0).
    error_style: str = "error_id"
    # 404 message "Internal Server Error: Could not find ..." from v0.62 (IdNotFoundExceptionHandler)
    not_found_prefixed: bool = True
    # Invalid JSON: Micronaut 3 lets Airbyte's InvalidJsonExceptionHandler answer 422; Micronaut 4
    # (Airbyte >= v0.52.0) answers 400 "Invalid JSON" itself (BaseJsonExceptionHandler.java@v4.4.2).
    invalid_json_status: int = 400
    # Public resource-not-found: HTTP 400 up to v1.1, 404 from v1.2.0 (api-problems.yaml)
    public_not_found_status: int = 404
    # -- tokens ------------------------------------------------------------------------------------
    # Public POST /applications/token from v0.64.0 (ApplicationsController.kt@v1.0.0).
    public_token: bool = True
    # expires_in: 900 from v1.6.0 (application.yml@v1.6.0:120, 15 minutes); Cloud about 180.
    token_expires_in: int = 900
    # Wrong client credentials: 400 BadRequestException; 401 on main (commit d97fc2a986).
    invalid_client_status: int = 400

    def has_config_action(self, action: str) -> bool:
        return self.config_api and action not in self.absent_config_actions

    def public_type_allowed(self, job_type: str) -> bool:
        return job_type in self.public_job_types


_LATEST = Profile(name="2.0", release="v2.0.0", absent_config_actions=_UNTIL_1_6)

PROFILES_BY_NAME: dict[str, Profile] = {
    "0.50": Profile(
        cron_frequency_check=False,
        name="0.50",
        release="v0.50.0",
        public_api=False,
        absent_config_actions=_FROM_0_50_15 | _FROM_0_50_32 | _FROM_0_50_38 | _FROM_0_58,
        job_config_types=_BASE_CONFIG_TYPES,
        public_job_types=("sync", "reset"),
        hydrates_get_without_logs=False,
        job_level_stats=False,
        sync_progress="absent",
        refresh_returns_job=False,
        user_read_auth_fields=True,
        connection_tags=False,
        error_style="stack",
        not_found_prefixed=False,
        invalid_json_status=422,
        public_not_found_status=400,
        public_token=False,
        attempt_log_type=False,
        web_backend_versions=False,
        file_transfer=False,
        data_activation=False,
        on_demand_field=False,
    ),
    "0.63": Profile(
        cron_frequency_check=False,
        name="0.63",
        release="v0.63.0",
        sync_progress="object",
        refresh_returns_job=False,
        user_read_auth_fields=True,
        connection_tags=False,
        error_style="stack",
        public_not_found_status=400,
        public_token=False,
        attempt_log_type=False,
        web_backend_versions=False,
        file_transfer=False,
        data_activation=False,
        on_demand_field=False,
    ),
    "1.6": Profile(
        name="1.6",
        cron_frequency_check=False,
        release="v1.6.0",
        error_style="plain",
        data_activation=False,
        on_demand_field=False,
    ),
    "1.8": Profile(
        name="1.8",
        release="v1.8.0",
        absent_config_actions=_UNTIL_1_6,
        actor_list_cursor=True,
        records_rejected=True,
        error_style="plain",
        on_demand_field=False,
    ),
    "2.0": dataclasses.replace(_LATEST, actor_list_cursor=True, records_rejected=True),
    "public-only": dataclasses.replace(
        _LATEST,
        name="public-only",
        config_api=False,
        actor_list_cursor=True,
        records_rejected=True,
    ),
    "cloud": dataclasses.replace(
        _LATEST,
        name="cloud",
        release="main@310e6cb6",
        public_prefix="/v1",
        actor_list_cursor=True,
        records_rejected=True,
        job_statuses=_STATUSES_WITH_QUEUED,
        emits_queued=True,
        public_default_job_types=("sync", "reset_connection", "clear", "refresh"),
        token_expires_in=180,
        invalid_client_status=401,
    ),
}

# The names a test or a user may pass (``--airbyte-version``), oldest first, then the modes.
PROFILES: tuple[str, ...] = tuple(PROFILES_BY_NAME)
DEFAULT_PROFILE = "2.0"
_ALIASES = {"latest": "2.0", "main": "cloud"}


def get_profile(name: str | Profile | None) -> Profile:
    """The profile called ``name`` (``None``: the default); accepts ``v1.8.0``-style tags too."""
    if isinstance(name, Profile):
        return name
    if name is None:
        return PROFILES_BY_NAME[DEFAULT_PROFILE]
    key = _ALIASES.get(name, name)
    if key not in PROFILES_BY_NAME:
        # "v1.8.0", "1.8.3" -> "1.8" (patch releases of a line behave alike for what is modelled).
        parts = key.lstrip("v").split(".")
        key = ".".join(parts[:2])
    if key not in PROFILES_BY_NAME:
        known = ", ".join([*PROFILES, *_ALIASES])
        raise ValueError(f"unknown Airbyte version profile {name!r} (known: {known})")
    return PROFILES_BY_NAME[key]
