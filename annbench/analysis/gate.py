"""A noise-aware regression gate: compare a run with a stored baseline.

- Recall is compared at fixed parameters (same dataset, adapter, build and query parameters,
  mode, threads, order), as the mean over the builds (seeds) each side holds. A drop beyond
  ``max_recall_drop`` is a regression; where both sides hold two builds or more, the drop must
  also be significant (Welch's 95% interval of the difference excludes zero), since libraries
  whose builds are not repeatable (spec ``repeatable: false``) give a spread of recalls.
- Speed is compared at matched recall: for every point of the baseline's recall-vs-QPS frontier
  the current frontier's QPS is interpolated at that recall (log-linear, with its confidence
  bounds). A regression needs both a drop beyond ``max_qps_drop``, measured from the
  baseline's slowest pass to the current fastest one (noise only slows a pass down), and
  confidence intervals that do not overlap, so timing noise alone does not fail a build. A
  frontier that no longer reaches a baseline recall (beyond the recall tolerance) is a
  regression too.
"""

from __future__ import annotations

import datetime
import json
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from annbench.analysis.pareto import pareto_front
from annbench.errors import UserError

FORMAT = "annbench-baseline"
VERSION = 1
KEY_COLUMNS = [
    "dataset",
    "adapter",
    "build_params",
    "query_params",
    "mode",
    "search_threads",
    "build_threads",
    "insertion_order",
    "seed",
    "k",
]
POINT_COLUMNS = [
    "recall",
    "qps",
    "qps_min",
    "qps_max",
    "qps_ci_low",
    "qps_ci_high",
    "build_time_s",
]
FRONTIER_COLUMNS = ("recall", "qps", "qps_min", "qps_max", "qps_ci_low", "qps_ci_high")
# a point of a filter workload also names the workload and the filtering strategy; a static
# point leaves them out, so baselines saved before workloads existed still match
WORKLOAD_KEY = {"workload": "static", "strategy": ""}


def _workload_key(row) -> dict[str, str]:
    workload = row.get("workload") or "static"
    if workload == "static":
        return {}
    return {"workload": str(workload), "strategy": str(row.get("strategy") or "")}


def _where(entry: dict[str, Any]) -> str:
    """The dataset a finding is about, with its workload when it has one."""
    workload = entry.get("workload")
    return f"{entry['dataset']}/{workload}" if workload else str(entry["dataset"])


COMPARED_ENVIRONMENT = ("cpu_model", "cpu_count", "packages")


@dataclass
class Finding:
    kind: str  # recall | qps | reach | missing
    dataset: str
    adapter: str
    detail: str
    regression: bool
    baseline: float | None = None
    current: float | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    return value


def summarise(frame, environment: dict[str, Any]) -> dict[str, Any]:
    """The baseline document of a results frame: points, frontiers and the environment."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        raise UserError("no successful results to summarise; run `annbench run` first")
    points = [
        {
            "key": {**{c: _plain(row[c]) for c in KEY_COLUMNS}, **_workload_key(row)},
            **{c: _plain(row[c]) for c in POINT_COLUMNS},
        }
        for _, row in ok.iterrows()
    ]
    frontiers = []
    ok = ok.assign(workload=ok["workload"].fillna("static"), strategy=ok["strategy"].fillna(""))
    groups = ["dataset", *WORKLOAD_KEY, "adapter"]
    for (dataset, workload, strategy, adapter), rows in ok.groupby(groups, sort=True):
        front = pareto_front(rows)
        frontiers.append(
            {
                "dataset": dataset,
                "adapter": adapter,
                **_workload_key({"workload": workload, "strategy": strategy}),
                "points": [
                    {c: _plain(r[c]) for c in FRONTIER_COLUMNS} for _, r in front.iterrows()
                ],
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment,
        "points": points,
        "frontiers": frontiers,
    }


def check_document(document: dict[str, Any], name: str) -> None:
    """Every value the comparison reads, with the right type and range, or one line naming
    the first that is not (``name``: the document's, for the message)."""

    def fail(where: str, problem: str) -> None:
        raise UserError(f"{name}: {where} {problem}; save the baseline again")

    def number(value: Any, where: str, *, optional: bool, low: float = 0.0, high=None) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(where, f"is {value!r}, not a number")
        if not np.isfinite(value) or value < low or (high is not None and value > high):
            fail(where, f"is {value!r}, outside [{low:g}, {high if high is not None else 'inf'}]")

    for i, point in enumerate(document["points"]):
        where = f"points[{i}]"
        if not isinstance(point, dict) or not isinstance(point.get("key"), dict):
            fail(where, "is not a mapping with a 'key' mapping")
        missing = [c for c in KEY_COLUMNS if c not in point["key"]]
        if missing:
            fail(f"{where}.key", f"lacks {', '.join(missing)}")
        for c in ("dataset", "adapter"):
            if not isinstance(point["key"][c], str):
                fail(f"{where}.key.{c}", f"is {point['key'][c]!r}, not text")
        number(point.get("recall"), f"{where}.recall", optional=False, high=1.0)
        for c in POINT_COLUMNS[1:]:
            number(point.get(c), f"{where}.{c}", optional=True)
    for i, frontier in enumerate(document["frontiers"]):
        where = f"frontiers[{i}]"
        if not isinstance(frontier, dict) or not isinstance(frontier.get("points"), list):
            fail(where, "is not a mapping with a 'points' list")
        for c in ("dataset", "adapter"):
            if not isinstance(frontier.get(c), str):
                fail(f"{where}.{c}", f"is {frontier.get(c)!r}, not text")
        for j, point in enumerate(frontier["points"]):
            if not isinstance(point, dict):
                fail(f"{where}.points[{j}]", "is not a mapping")
            number(point.get("recall"), f"{where}.points[{j}].recall", optional=False, high=1.0)
            number(point.get("qps"), f"{where}.points[{j}].qps", optional=False)
            for c in FRONTIER_COLUMNS[2:]:
                number(point.get(c), f"{where}.points[{j}].{c}", optional=True)


def _interpolate(front: list[dict[str, Any]], recall: float) -> dict[str, float] | None:
    """QPS and its bounds on a frontier at ``recall`` (log-linear); None if out of reach."""
    points = sorted(front, key=lambda p: p["recall"])
    reached = [p for p in points if p["recall"] >= recall]
    if not reached:
        return None
    above = reached[0]
    below = [p for p in points if p["recall"] < recall]
    keys = FRONTIER_COLUMNS[1:]
    if not below or above["recall"] == recall:
        return {k: _or_nan(above[k]) for k in keys}
    below = below[-1]
    share = (recall - below["recall"]) / (above["recall"] - below["recall"])
    values = {}
    for k in keys:
        lo, hi = _or_nan(below[k]), _or_nan(above[k])
        values[k] = float(np.exp(np.log(lo) + share * (np.log(hi) - np.log(lo))))
    return values


def _or_nan(value) -> float:
    return float("nan") if value is None else float(value)


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    *,
    max_recall_drop: float = 0.01,
    max_qps_drop: float = 0.10,
    allow_missing: frozenset[str] | set[str] = frozenset(),
) -> list[Finding]:
    """Every check the gate makes, regressions and passes alike.

    A baseline point or frontier with no counterpart in the current results is a failed
    check (a library that no longer installs must not pass the gate by its absence), unless
    its adapter is in ``allow_missing``: then it is a skipped check."""
    findings: list[Finding] = []
    before, now = _builds(baseline["points"]), _builds(current["points"])

    def missing(dataset: str, adapter: str, detail: str) -> Finding:
        allowed = adapter in allow_missing
        suffix = " (allowed by --allow-missing)" if allowed else ""
        return Finding("missing", dataset, adapter, detail + suffix, not allowed)

    for identity, old in before.items():
        key = old[0]["key"]
        where = f"{key['build_params'] or '-'} / {key['query_params'] or '-'}"
        if identity not in now:
            findings.append(
                missing(_where(key), key["adapter"], f"{where}: not in the current results")
            )
            continue
        findings.append(_recall_of(old, now[identity], key, where, max_recall_drop))

    def front_key(f: dict[str, Any]) -> tuple:
        return (f["dataset"], f["adapter"], f.get("workload", ""), f.get("strategy", ""))

    fronts = {front_key(f): f["points"] for f in current["frontiers"]}
    for frontier in baseline["frontiers"]:
        dataset, adapter = _where(frontier), frontier["adapter"]
        current_front = fronts.get(front_key(frontier))
        if not current_front:
            findings.append(missing(dataset, adapter, "frontier: no current results"))
            continue
        best_now = max(p["recall"] for p in current_front)
        for point in frontier["points"]:
            findings.append(
                _speed_at(
                    point, current_front, best_now, dataset, adapter, max_recall_drop, max_qps_drop
                )
            )
    return findings


def _builds(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Points grouped by configuration: every key column but the seed, which names a build."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        identity = {c: v for c, v in point["key"].items() if c != "seed"}
        groups.setdefault(json.dumps(identity, sort_keys=True), []).append(point)
    return groups


def _recall_of(old, new, key, where, max_recall_drop) -> Finding:
    before = np.array([p["recall"] for p in old], dtype=np.float64)
    after = np.array([p["recall"] for p in new], dtype=np.float64)
    drop = before.mean() - after.mean()
    detail = f"{where}: recall {before.mean():.4f} -> {after.mean():.4f}"
    significant = True
    if len(before) > 1 and len(after) > 1:
        half = _welch_half_width(before, after)
        significant = drop > half
        detail += f" (means of {len(before)} and {len(after)} builds, drop {drop:+.4f} ±{half:.4f})"
    return Finding(
        "recall",
        _where(key),
        key["adapter"],
        detail,
        bool(drop > max_recall_drop and significant),
        float(before.mean()),
        float(after.mean()),
    )


def _welch_half_width(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> float:
    """Half-width of Welch's confidence interval for the difference of two means (0 where
    neither side varies)."""
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no spread: scipy warns, then copes
        interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return float(np.nan_to_num((interval.high - interval.low) / 2))


def _speed_at(point, current_front, best_now, dataset, adapter, max_recall_drop, max_qps_drop):
    target = point["recall"]
    here = _interpolate(current_front, target)
    if here is None:
        return Finding(
            "reach",
            dataset,
            adapter,
            f"recall {target:.4f} reached before, best now {best_now:.4f}",
            target - best_now > max_recall_drop,
            target,
            best_now,
        )
    # a drop is measured from the baseline's slowest pass to the current fastest pass: noise
    # only ever slows a pass down, so it has to be beaten by the whole spread of both runs
    before, now = _or_nan(point.get("qps_min", point["qps"])), here["qps_max"]
    drop = 1 - now / before
    low, high = _or_nan(point.get("qps_ci_low")), _or_nan(here["qps_ci_high"])
    # intervals exist only where enough passes stand behind them; without, the slowest-to-
    # fastest drop above is the whole test
    apart = high < low if np.isfinite(low) and np.isfinite(high) else drop > 0
    return Finding(
        "qps",
        dataset,
        adapter,
        f"QPS at recall {target:.4f}: {before:,.0f} -> {now:,.0f} ({-drop:+.1%})"
        + ("" if apart else ", intervals overlap"),
        bool(drop > max_qps_drop and apart),
        before,
        now,
    )


def environment_differences(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Lines naming what differs between the two environments (CPU, cores, packages)."""
    old, new = baseline.get("environment") or {}, current.get("environment") or {}
    lines = []
    for key in COMPARED_ENVIRONMENT:
        if key == "packages":
            for name in sorted(set(old.get(key, {})) | set(new.get(key, {}))):
                a, b = old.get(key, {}).get(name), new.get(key, {}).get(name)
                if a != b:
                    lines.append(f"{name} {a} in the baseline, {b} now")
        elif old.get(key) != new.get(key):
            lines.append(f"{key}: {old.get(key)!r} in the baseline, {new.get(key)!r} now")
    return lines


def tally(findings: list[Finding]) -> dict[str, int]:
    """The counts every output of the gate reports, from one place so they always agree."""
    return {
        "checks": len(findings),
        "regressions": sum(f.regression for f in findings),
        "missing": sum(f.kind == "missing" and f.regression for f in findings),
        "skipped": sum(f.kind == "missing" and not f.regression for f in findings),
        "recall": sum(f.kind == "recall" for f in findings),
        "speed": sum(f.kind in ("qps", "reach") for f in findings),
    }


def summary_line(findings: list[Finding]) -> str:
    counts = tally(findings)
    return (
        f"{counts['checks']} checks ({counts['recall']} recall at fixed parameters, "
        f"{counts['speed']} speed at matched recall, {counts['missing'] + counts['skipped']} "
        f"baseline entries missing now): {counts['regressions']} regressions "
        f"({counts['missing']} of them missing results), {counts['skipped']} skipped"
    )


def markdown(findings: list[Finding], warnings: list[str]) -> str:
    """A Markdown summary (for a CI step summary): regressions first, then a count."""
    regressions = [f for f in findings if f.regression]
    verdict = f"**{len(regressions)} regression(s)**" if regressions else "**no regressions**"
    lines = [f"## annbench check: {verdict}", "", summary_line(findings) + ".", ""]
    shown = regressions or [f for f in findings if f.kind != "missing"][:20]
    lines += ["| result | check | dataset | adapter | detail |", "|---|---|---|---|---|"]
    for f in shown:
        lines.append(
            f"| {'REGRESSION' if f.regression else 'ok'} | {f.kind} | {f.dataset} | "
            f"{f.adapter} | {f.detail.replace('|', '/')} |"
        )
    if warnings:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def junit(findings: list[Finding]) -> str:
    """JUnit XML: one test case per check, a failure element per regression, a skipped element
    per allowed absence."""
    import xml.etree.ElementTree as ET

    counts = tally(findings)
    suite = ET.Element(
        "testsuite",
        name="annbench.check",
        tests=str(counts["checks"]),
        failures=str(counts["regressions"]),
        skipped=str(counts["skipped"]),
    )
    for f in findings:
        case = ET.SubElement(
            suite, "testcase", classname=f"{f.dataset}.{f.adapter}", name=f"{f.kind}: {f.detail}"
        )
        if f.regression:
            ET.SubElement(case, "failure", message=f.detail, type=f.kind).text = json.dumps(
                asdict(f)
            )
        elif f.kind == "missing":
            ET.SubElement(case, "skipped", message=f.detail)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
