"""What a campaign prints: one JSON summary line, and a step-by-step report when it fails."""

from collections import Counter
from typing import Any

from tests.e2e.campaign.runner import Campaign
from tests.e2e.campaign.service import wall_ms

SHOWN_EPISODE_S = 0.5  # unprotected episodes shorter than this are the usual entry -> stop gap


def summary(c: Campaign, seed: int, steps: int, deaths: list[str]) -> dict[str, Any]:
    """The counts the acceptance criteria name, and what explains them."""
    final_missing = c.final_missing
    if final_missing is None:
        final_missing = set(c.findings.missing_fills)
    now = wall_ms()
    worst = max(c.monitor.episodes, key=lambda e: e.charged_s(c.monitor.excuses, now), default=None)
    return {
        "campaign": "fault",
        "seed": seed,
        "steps": steps,
        "kills": c.kills,
        "faults": c.faults_injected,
        "faults_unused": c.faults_unused,
        "fault_hits": len(c.fake.fault_hits),
        "db_outages": c.db_outages,
        "stream_outages": c.stream_outages,
        "cycles": dict(c.cycles),
        "duplicates": len(c.findings.duplicates),
        "lost_fills": len(final_missing),
        "late_fills": len(set(c.findings.missing_fills) - final_missing),
        "mismatches": len(c.findings.mismatches),
        "loop_deaths": len(deaths),
        "api_500s": len(c.api.server_errors),
        "api_statuses": {str(k): v for k, v in sorted(c.api.statuses.items())},
        "max_unprotected_s": round(c.monitor.max_charged_s(), 2),
        "worst_unprotected": (
            None if worst is None else f"{worst.step}: {worst.symbol} {worst.amount}"
        ),
        "lives": c.service.lives,
        "paced": c.paced,
        "paced_s": round(c.paced_s, 1),
        "seconds": round(c.elapsed_s(), 1),
    }


def report(c: Campaign, deaths: list[str]) -> str:
    """Everything a failing campaign should show, step by step."""
    lines = ["steps:"]
    lines += [
        f"  {r.label}: {r.seconds:.1f}s cycles={','.join(r.cycles)} "
        f"weight={r.weight} fault_hits={r.fault_hits} orders={r.orders}"
        for r in c.records
    ]
    sections: list[tuple[str, list[str]]] = [
        ("duplicates", list(c.findings.duplicates.values())),
        ("missing fills", list(c.findings.missing_fills.values())),
        ("mismatches", list(c.findings.mismatches.values())),
        ("loop deaths", deaths),
        ("API 500s", [f"{e.step}: {e.method} {e.path}: {e.body}" for e in c.api.server_errors]),
        ("unprotected episodes (charged s)", episodes(c)),
        (
            "agent states other than running",
            [f"{step}: {state}" for state, step in c.watcher.not_running.items()],
        ),
        ("notes", c.findings.notes),
        ("journal behind the exchange right after a step", c.quick_look_failures),
        ("exchange request weight", weight_by_minute(c)),
    ]
    for title, items in sections:
        if items:
            lines.append(f"{title}:")
            lines += [f"  {item}" for item in items]
    return "\n".join(lines)


def episodes(c: Campaign) -> list[str]:
    """Unprotected episodes worth showing, with their charged seconds."""
    now = wall_ms()
    return [
        f"{e.charged_s(c.monitor.excuses, now):.2f}s {e.step}: {e.symbol} {e.amount}"
        f" for {((e.end_ms or now) - e.start_ms) / 1000:.2f}s; orders then: {e.open_orders}"
        for e in c.monitor.episodes
        if e.charged_s(c.monitor.excuses, now) > SHOWN_EPISODE_S
    ]


def weight_by_minute(c: Campaign, top: int = 6) -> list[str]:
    """Request weight the fake counted per clock minute, and the heaviest paths."""
    minutes: dict[int, Counter[str]] = {}
    used: dict[int, int] = {}
    for request in c.fake.requests:
        header = request.response_headers.get("X-MBX-USED-WEIGHT-1M")
        if header is None:
            continue
        minute = request.time_ms // 60_000
        weight = int(header) - used.get(minute, 0)
        used[minute] = int(header)
        minutes.setdefault(minute, Counter())[f"{request.method} {request.path}"] += weight
    return [
        f"minute {minute % 60:02d}: {sum(paths.values())} weight; "
        + ", ".join(f"{path} {w}" for path, w in paths.most_common(top))
        for minute, paths in sorted(minutes.items())
    ]
