"""Everything a run prints and writes from ``results.json``: tables, goals, the README block.

The README's ``<!-- bench:start -->`` ... ``<!-- bench:end -->`` block is generated here from the
results alone (``python -m bench --readme`` regenerates it without measuring), so the figures a
reader sees are the ones recorded, and each goal of issue #15 is shown as met, not met, or not
measured in that run.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["README_END", "README_START", "goals", "print_tables", "render_readme", "update_readme"]

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
GOAL_SIZE = 1000
GROWTH = (500, 1000)
RATIO_SIZE = 500


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = (
            f"{value:.3f}"
            if abs(value) < 1
            else f"{value:.2f}"
            if abs(value) < 10
            else f"{value:.1f}"
        )
        return text + unit
    return f"{value}{unit}"


def _x(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


# -- goals ----------------------------------------------------------------------------------------


def _goal(
    name: str, target: str, measured: str, ok: bool | None, judged: bool, where: str
) -> dict[str, Any]:
    return {
        "goal": name,
        "target": target,
        "measured": measured,
        "where": where,
        "met": ok if judged else None,
    }


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issue #15 against this run: ``met`` is None when the run did not measure it
    at the goal's size (a quick or medium run)."""
    found: list[dict[str, Any]] = []
    load = results.get("load")
    if load:
        sizes = load["sizes"]
        largest = max(sizes, key=int)
        row = sizes[largest]
        judged = int(largest) == GOAL_SIZE
        where = f"N={largest}"
        value = row.get("reload_vs_floor_cpu")
        found.append(
            _goal(
                "Reload within 1.25x of the floor (CPU time)",
                "<= 1.25x",
                _x(value),
                value is not None and value <= 1.25,
                judged,
                where,
            )
        )
        value = row.get("cold_vs_floor_plus_requests")
        found.append(
            _goal(
                "Cold load within 1.5x of the floor plus the requests' time (wall time)",
                "<= 1.5x",
                _x(value),
                value is not None and value <= 1.5,
                judged,
                where,
            )
        )
        growth = load.get("growth") or {}
        value = growth.get("ours_reload_cpu")
        found.append(
            _goal(
                "Growth 500 -> 1,000 connections (ours' reload, CPU time; floor's: "
                f"{_x(growth.get('floor_cpu'))})",
                "<= 2.15x",
                _x(value),
                value is not None and value <= 2.15,
                (growth.get("from"), growth.get("to")) == GROWTH,
                f"{growth.get('from')} -> {growth.get('to')}" if growth else "not measured",
            )
        )
        value = row.get("peak_vs_floor")
        found.append(
            _goal(
                "Peak RSS of a 10,000-asset load within 1.2x of the floor's (cold load)",
                "<= 1.2x",
                _x(value),
                value is not None and value <= 1.2,
                judged,
                where,
            )
        )
        at = sizes.get(str(RATIO_SIZE))
        value = at.get("ratio_s") if at else None
        capped = bool(at and at.get("theirs_capped"))
        found.append(
            _goal(
                f"Cold load vs the competitor, {load['latency_ms']} ms latency",
                ">= 30x",
                ("> " if capped else "") + _x(value),
                value is not None and value >= 30,
                at is not None and load["latency_ms"] == 20,
                f"N={RATIO_SIZE}",
            )
        )
        fast = at.get("fast") if at else None
        value = fast.get("ratio_s") if fast else None
        found.append(
            _goal(
                "Cold load vs the competitor on the fast server",
                ">= 10x",
                _x(value),
                value is not None and value >= 10,
                fast is not None,
                f"N={RATIO_SIZE}",
            )
        )
    detect = (results.get("detect") or {}).get("cases") or {}
    late = detect.get("late")
    if late:
        ours = late["ours"]
        found.append(
            _goal(
                f"Sync predicted at {late['history_s']:g} s that takes {late['duration_s']:g} s: "
                "lag p50 < 1 s at <= 12 calls",
                "< 1 s, <= 12 calls",
                f"{_fmt(ours['lag_p50_s'], ' s')}, {_fmt(ours['calls_per_sync'])} calls",
                ours["lag_p50_s"] < 1 and ours["calls_per_sync"] <= 12,
                (late["history_s"], late["duration_s"]) == (30, 36),
                f"{late['syncs_per_side']} syncs",
            )
        )
    long = detect.get("long")
    if long:
        ours = long["ours"]
        value = ours.get("waiting_calls_per_poll_interval")
        found.append(
            _goal(
                f"Long sync ({long['label']}): at most one call per poll_interval while it runs, "
                f"on average (all calls: {_fmt(ours.get('calls_per_poll_interval'))}; most in "
                f"one minute: {ours['per_minute_max']})",
                "<= 1.0",
                _fmt(value),
                value is not None and value <= 1.0,
                long["duration_s"] >= 120,
                f"{long['syncs_per_side']} sync",
            )
        )
    if detect:
        worse = [
            f"{row['label']}: {_fmt(row['ours']['calls_per_sync'])} vs "
            f"{_fmt(row['theirs']['calls_per_sync'])}"
            for row in detect.values()
            if row["ours"]["calls_per_sync"] > row["theirs"]["calls_per_sync"]
        ]
        found.append(
            _goal(
                "Never more calls per sync than the competitor at the same sync length",
                "ours <= theirs",
                "; ".join(worse) if worse else "met in every case",
                not worse,
                not results["settings"].get("quick"),
                ", ".join(row["label"] for row in detect.values()),
            )
        )
    return found


# -- console --------------------------------------------------------------------------------------


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[v if isinstance(v, str) else _fmt(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    print(f"\n{title}")
    # The first column (a size, a case, a goal) reads best left-aligned; figures right-aligned.
    for row in [list(headers), *cells]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _theirs_s(row: dict[str, Any]) -> str:
    return (">" if row.get("theirs_capped") else "") + _fmt(row.get("theirs_s"))


def print_tables(results: dict[str, Any]) -> None:
    load = results.get("load")
    if load:
        sizes = load["sizes"]
        _table(
            f"Definition loading, local Airbyte ({load['streams_per_connection']} streams per "
            f"connection, {load['latency_ms']} ms latency per request; wall s, medians of "
            f"{load['reps']})",
            [
                "N",
                "ours cold",
                "calls",
                "reload",
                "calls",
                "theirs",
                "calls",
                "x",
                "MB ours",
                "MB theirs",
            ],
            [
                [
                    n,
                    r.get("ours_cold_wall_s"),
                    r["ours_requests"],
                    r.get("ours_reload_wall_s"),
                    r["ours_reload_requests"],
                    _theirs_s(r),
                    r["theirs_requests"],
                    _x(r.get("ratio_s")),
                    r.get("ours_cold_peak_mb"),
                    r.get("theirs_peak_mb"),
                ]
                for n, r in sizes.items()
            ],
        )
        _table(
            "Against the floor (bare Dagster building ours' specs; CPU = process time)",
            [
                "N",
                "reload CPU",
                "floor CPU",
                "x CPU",
                "x CPU w/o GC",
                "reload wall",
                "floor wall",
                "x wall",
                "cold wall",
                "floor+requests",
                "x",
                "MB ours",
                "MB floor",
                "x MB",
                "same specs",
            ],
            [
                [
                    n,
                    r.get("ours_reload_cpu_s"),
                    r.get("floor_cpu_s"),
                    _x(r.get("reload_vs_floor_cpu")),
                    _x(r.get("reload_vs_floor_cpu_without_gc")),
                    r.get("ours_reload_wall_s"),
                    r.get("floor_wall_s"),
                    _x(r.get("reload_vs_floor_wall")),
                    r.get("ours_cold_wall_s"),
                    (r.get("floor_wall_s") or 0) + (r.get("ours_cold_requests_s") or 0),
                    _x(r.get("cold_vs_floor_plus_requests")),
                    r.get("ours_cold_peak_mb"),
                    r.get("floor_peak_mb"),
                    _x(r.get("peak_vs_floor")),
                    r["floor_matches_ours"],
                ]
                for n, r in sizes.items()
            ],
        )
        growth = load.get("growth")
        if growth:
            print(
                f"Growth {growth['from']} -> {growth['to']}: ours reload CPU "
                f"{_x(growth['ours_reload_cpu'])}, ours cold wall {_x(growth['ours_cold_wall'])},"
                f" floor CPU {_x(growth['floor_cpu'])}"
            )
        _table(
            "The server's own time (handler time per request; injected latency excluded)",
            [
                "N",
                "ours ms/req",
                "theirs ms/req",
                "theirs calls",
                "theirs server s",
                "theirs requests' s",
                "theirs wall s",
            ],
            [
                [
                    n,
                    r.get("ours_server_ms_mean"),
                    r.get("theirs_server_ms_mean"),
                    r["theirs_requests"],
                    r.get("theirs_server_s"),
                    r.get("theirs_requests_s"),
                    _theirs_s(r),
                ]
                for n, r in sizes.items()
            ],
        )
        fast_rows = [(n, r["fast"]) for n, r in sizes.items() if "fast" in r]
        if fast_rows:
            _table(
                "Fast server (the local Airbyte's answers replayed; no latency, no work)",
                [
                    "N",
                    "ours s",
                    "calls",
                    "theirs s",
                    "calls",
                    "x",
                    "ours ms/req",
                    "theirs ms/req",
                    "misses",
                    "same specs",
                ],
                [
                    [
                        n,
                        f.get("ours_wall_s"),
                        f["ours_requests"],
                        (">" if f["theirs_capped"] else "") + _fmt(f.get("theirs_s")),
                        f["theirs_requests"],
                        _x(f.get("ratio_s")),
                        f.get("ours_server_ms_mean"),
                        f.get("theirs_server_ms_mean"),
                        f["misses"],
                        f["same_specs"],
                    ]
                    for n, f in fast_rows
                ],
            )
    detect = (results.get("detect") or {}).get("cases")
    if detect:
        _table(
            "Sync detection (lag = server's `succeeded` -> first materialization event, p50; "
            "calls = all of the side's calls on the case's server)",
            [
                "case",
                "syncs",
                "side",
                "lag p50 s",
                "calls/sync",
                "while running",
                "calls/min",
                "max in 60 s",
                "per poll_interval (running)",
                "server ms/req",
            ],
            [
                [
                    f"{name} ({row['label']})",
                    row["syncs_per_side"],
                    side,
                    row[side]["lag_p50_s"],
                    row[side]["calls_per_sync"],
                    row[side]["waiting_calls_per_sync"],
                    row[side]["calls_per_min"],
                    row[side]["per_minute_max"],
                    f"{_fmt(row[side]['calls_per_poll_interval'])} "
                    f"({_fmt(row[side]['waiting_calls_per_poll_interval'])})",
                    row[side]["server"]["server_ms_mean"],
                ]
                for name, row in detect.items()
                for side in ("ours", "theirs")
            ],
        )
    fanout = results.get("fanout")
    if fanout:
        _table(
            f"Many connections at once ({fanout['connections']} connections, "
            f"~{fanout['sync_s']:g} s syncs, one run)",
            ["side", "wall s", "processes", "peak MB", "API calls", "materializations"],
            [
                [
                    side,
                    (">" if fanout[side]["capped"] else "") + _fmt(fanout[side]["wall_s"]),
                    fanout[side]["processes"],
                    fanout[side]["peak_mb"],
                    fanout[side]["requests"],
                    fanout[side]["materializations"],
                ]
                for side in ("ours", "theirs")
            ],
        )
    found = results.get("goals") or []
    if found:
        _table(
            "Goals (issue #15)",
            ["goal", "target", "measured", "where", "met"],
            [[g["goal"], g["target"], g["measured"], g["where"], _met(g["met"])] for g in found],
        )


def _met(value: bool | None) -> str:
    return "not judged" if value is None else "met" if value else "NOT met"


# -- README ---------------------------------------------------------------------------------------


def _pair(row: dict[str, Any], key: str, unit: str = "") -> str:
    return f"{_fmt(row['ours'][key], unit)} / {_fmt(row['theirs'][key], unit)}"


def _md(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += [
        "| " + " | ".join(c if isinstance(c, str) else _fmt(c) for c in r) + " |" for r in rows
    ]
    return lines


def render_readme(results: dict[str, Any]) -> str:
    """The README block (without the markers) for ``results``."""
    machine, settings = results["machine"], results["settings"]
    out = [
        f"Measured {results['date'][:10]} with `{results['command']}` ({settings['plan']} plan"
        + (f", commit {results['commit']}" if results.get("commit") else "")
        + ") "
        f"on a {machine['cores']}-core, {machine['memory_gib']:g} GiB Linux machine (Python "
        f"{machine['python']}, Dagster {results['versions'].get('dagster')}, dagster-airbyte "
        f"{results['versions'].get('dagster-airbyte')}); the run took "
        f"{results['total_s'] / 60:.0f} min. Every figure below is read from "
        "`bench/results.json` by the bench itself.",
        "",
    ]
    if settings.get("notes"):
        out += [f"*{note}*" for note in settings["notes"]] + [""]
    found = results.get("goals") or []
    if found:
        out += ["**Goals** (issue #15):", ""]
        out += _md(
            ["goal", "target", "measured", "where", "met"],
            [[g["goal"], g["target"], g["measured"], g["where"], _met(g["met"])] for g in found],
        )
        out.append("")
    load = results.get("load")
    if load:
        sizes = load["sizes"]
        out += [
            f"**Definition loading** (N connections x {load['streams_per_connection']} streams, "
            f"{load['latency_ms']} ms of latency on every request; wall time, medians of "
            f"{load['reps']} fresh processes):",
            "",
        ]
        out += _md(
            [
                "N",
                "ours cold",
                "calls",
                "reload",
                "reload calls",
                "dagster-airbyte",
                "calls",
                "speed-up",
                "peak MB ours / theirs",
            ],
            [
                [
                    n,
                    _fmt(r.get("ours_cold_wall_s"), " s"),
                    r["ours_requests"],
                    _fmt(r.get("ours_reload_wall_s"), " s"),
                    r["ours_reload_requests"],
                    ("> " if r["theirs_capped"] else "")
                    + _fmt(r.get("theirs_s"), " s")
                    + (" (stopped)" if r["theirs_capped"] else ""),
                    r["theirs_requests"],
                    ("> " if r["theirs_capped"] else "") + _x(r.get("ratio_s")),
                    f"{_fmt(r.get('ours_cold_peak_mb'))} / {_fmt(r.get('theirs_peak_mb'))}",
                ]
                for n, r in sizes.items()
            ],
        )
        out += [
            "",
            "**Against the floor**: bare Dagster building the same specs in the same run "
            "(ours' specs written down after its load, rebuilt with `AssetSpec`, `TableSchema`, "
            "`MetadataValue` and one subsettable `multi_asset` per connection; `same specs` = "
            "identical digests). Reload and floor in CPU (process) time; cold in wall time "
            "against the floor's wall time plus the time ours' requests took on the server "
            "(latency + handler):",
            "",
        ]
        out += _md(
            [
                "N",
                "reload CPU",
                "floor CPU",
                "x",
                "cold wall",
                "floor + requests",
                "x",
                "peak MB ours / floor",
                "x",
                "same specs",
            ],
            [
                [
                    n,
                    _fmt(r.get("ours_reload_cpu_s"), " s"),
                    _fmt(r.get("floor_cpu_s"), " s"),
                    _x(r.get("reload_vs_floor_cpu")),
                    _fmt(r.get("ours_cold_wall_s"), " s"),
                    _fmt((r.get("floor_wall_s") or 0) + (r.get("ours_cold_requests_s") or 0), " s"),
                    _x(r.get("cold_vs_floor_plus_requests")),
                    f"{_fmt(r.get('ours_cold_peak_mb'))} / {_fmt(r.get('floor_peak_mb'))}",
                    _x(r.get("peak_vs_floor")),
                    _fmt(r["floor_matches_ours"]),
                ]
                for n, r in sizes.items()
            ],
        )
        growth = load.get("growth")
        if growth:
            out += [
                "",
                f"Growth {growth['from']} → {growth['to']} connections: ours' reload "
                f"{_x(growth['ours_reload_cpu'])} (CPU), ours' cold load "
                f"{_x(growth['ours_cold_wall'])} (wall), the floor {_x(growth['floor_cpu'])} (CPU).",
            ]
        without_gc = {n: r.get("reload_vs_floor_cpu_without_gc") for n, r in sizes.items()}
        if any(v is not None for v in without_gc.values()):
            out += [
                "",
                "Without the cyclic garbage collector's time on either side (its full "
                "collections fall due by thresholds, so the same work can pay one more or less): "
                "reload / floor CPU "
                + ", ".join(f"{_x(v)} at N={n}" for n, v in without_gc.items())
                + ".",
            ]
        out += [
            "",
            "**Fairness**: the local Airbyte's own time per request (handler time, latency "
            "excluded), and both sides again on a *fast server* that replays the local "
            "Airbyte's recorded answers with no latency and no work:",
            "",
        ]
        out += _md(
            [
                "N",
                "server ms/request ours / theirs",
                "theirs: server s + latency s of wall s",
                "fast: ours",
                "fast: theirs",
                "fast speed-up",
            ],
            [
                [
                    n,
                    f"{_fmt(r.get('ours_server_ms_mean'))} / {_fmt(r.get('theirs_server_ms_mean'))}",
                    f"{_fmt(r.get('theirs_server_s'))} + "
                    f"{_fmt(round(r['theirs_requests'] * load['latency_ms'] / 1000, 1))} of "
                    + ("> " if r["theirs_capped"] else "")
                    + _fmt(r.get("theirs_s")),
                    _fmt(r["fast"].get("ours_wall_s"), " s") if "fast" in r else "-",
                    _fmt(r["fast"].get("theirs_s"), " s") if "fast" in r else "-",
                    _x(r["fast"].get("ratio_s")) if "fast" in r else "-",
                ]
                for n, r in sizes.items()
            ],
        )
        largest = sizes[max(sizes, key=int)]
        if not largest["theirs_capped"] and largest.get("theirs_s"):
            server = largest.get("theirs_server_s") or 0.0
            latency = largest["theirs_requests"] * load["latency_ms"] / 1000
            out += [
                "",
                f"Of the competitor's {_fmt(largest['theirs_s'], ' s')} at "
                f"N={largest['connections']}: {_fmt(server, ' s')} of server time, "
                f"{_fmt(latency, ' s')} of injected latency, and "
                f"{_fmt(largest['theirs_s'] - server - latency, ' s')} in its own process.",
            ]
    detect = (results.get("detect") or {}).get("cases")
    if detect:
        poll = results["settings"].get("theirs_poll_interval_s")
        out += [
            "",
            "**Sync detection** (lag = the job reaching `succeeded` on the server → the Dagster "
            "materialization, p50; calls = every API call of the side while syncing, tokens "
            f"included; the competitor at `poll_interval` {poll:g} s):",
            "",
        ]
        out += _md(
            [
                "sync",
                "syncs",
                "lag ours / theirs",
                "calls per sync ours / theirs",
                "of which while running",
                "calls/min ours / theirs",
                "most in 60 s ours / theirs",
            ],
            [
                [
                    row["label"],
                    row["syncs_per_side"],
                    _pair(row, "lag_p50_s", " s"),
                    _pair(row, "calls_per_sync"),
                    _pair(row, "waiting_calls_per_sync"),
                    _pair(row, "calls_per_min"),
                    _pair(row, "per_minute_max"),
                ]
                for row in detect.values()
            ],
        )
    fanout = results.get("fanout")
    if fanout:
        out += [
            "",
            f"**{fanout['connections']} connections in one run** (syncs of "
            f"~{fanout['sync_s']:g} s, default multiprocess executor on both sides):",
            "",
        ]
        out += _md(
            ["", "wall", "processes", "peak memory", "API calls"],
            [
                [
                    label,
                    ("> " if fanout[side]["capped"] else "") + _fmt(fanout[side]["wall_s"], " s"),
                    fanout[side]["processes"],
                    _fmt(fanout[side]["peak_mb"], " MB"),
                    fanout[side]["requests"],
                ]
                for side, label in (
                    ("ours", "ours, `one_step=True`"),
                    ("theirs", "dagster-airbyte"),
                )
            ],
        )
    # Prose wrapped like the rest of the README; table rows stay on one line.
    lines = [
        line if line.startswith("|") or len(line) <= 100 else textwrap.fill(line, 100)
        for line in out
    ]
    return "\n".join(lines).rstrip() + "\n"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Replace the block between the markers in ``readme`` (both must be there)."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no {README_START} ... {README_END} block")
    head = text[: start + len(README_START)]
    readme.write_text(head + "\n" + render_readme(results) + text[end:])
