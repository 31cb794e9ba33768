"""PURE: the five predictors of platform success, from the config, the survey and the figures.

1. product_manager: the platform has a product manager (`platform.product_manager`).
2. baseline: figures were measured before the platform (`platform.baseline`, measured on or
   before the launch date).
3. nps: developer NPS over the last `platform.nps_window` above 20.
4. voluntary_adoption: voluntary adoption at least 50% once the platform is 12 months old;
   before, at least the adoption curve's target for its age.
5. time_to_first_value: the median time to first deploy of the teams onboarded in the last
   90 days under 30 days.

Each is met (True), not met (False), or cannot be known (None: no sample): no survey answer
in the window, no voluntary team, no team onboarded in the last 90 days. A team onboarded
that has not deployed yet has waited at least since its onboarding: its time is known only
from below. So time_to_first_value is not met when the median of those lower bounds is over
30 days (what the PlatformTimeToFirstValueSlow alert says), met when the median is under 30
days even counting every team still waiting as never deploying, and unknown in between.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector import adoption
from collector.config import Settings

NAMES = ("product_manager", "baseline", "nps", "voluntary_adoption", "time_to_first_value")
NPS_THRESHOLD = 20.0
VOLUNTARY_THRESHOLD = 0.5
MATURE_MONTHS = 12
ONBOARDED_WITHIN = 90 * 86400.0
FIRST_VALUE_WITHIN = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Figures:
    met: dict[str, bool | None]  # every name of NAMES
    nps: float | None  # -100 to 100; None: no answer in the window, or no survey
    nps_responses: int | None  # answers in the window; None: no survey configured
    nps_skipped: int | None  # lines of the survey file that were not answers
    baseline_deploys_per_team_week: float | None
    # The median time to first deploy of the teams onboarded in the last 90 days, counting
    # a team still waiting as waiting so far; None: no such team.
    time_to_first_value: float | None
    recent_teams: int  # teams onboarded in the last 90 days


def nps(scores: Sequence[int]) -> float | None:
    """Promoters (9-10) minus detractors (0-6), as a percentage of all answers."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return 100.0 * (promoters - detractors) / len(scores)


def evaluate(
    settings: Settings,
    snapshot: adoption.Snapshot,
    now: float,
    answers: Sequence[tuple[float, int]] | None = None,
    skipped: int = 0,
) -> Figures:
    """`answers`: the survey's (time, score) pairs, None without a survey configured."""
    platform = settings.platform
    scores = (
        None
        if answers is None
        else [score for when, score in answers if now - platform.nps_window < when <= now]
    )
    score = None if scores is None else nps(scores)
    baseline = platform.baseline
    lower, upper = [], []
    for team in snapshot.history:
        if team.onboarded is None or not now - team.onboarded < ONBOARDED_WITHIN:
            continue
        waited = team.time_to_first_deploy
        lower.append(max(0.0, now - team.onboarded) if waited is None else waited)
        upper.append(math.inf if waited is None else waited)
    median_lower = statistics.median(lower) if lower else None
    first_value: bool | None = None
    if median_lower is not None:
        if median_lower > FIRST_VALUE_WITHIN:
            first_value = False
        elif statistics.median(upper) < FIRST_VALUE_WITHIN:
            first_value = True
    met: dict[str, bool | None] = {
        "product_manager": bool(platform.product_manager),
        "baseline": baseline is not None and baseline.measured_on <= platform.launch_date,
        "nps": None if score is None else score > NPS_THRESHOLD,
        "voluntary_adoption": _voluntary(settings, snapshot, now),
        "time_to_first_value": first_value,
    }
    return Figures(
        met=met,
        nps=score,
        nps_responses=None if scores is None else len(scores),
        nps_skipped=None if answers is None else skipped,
        baseline_deploys_per_team_week=None if baseline is None else baseline.deploys_per_team_week,
        time_to_first_value=median_lower,
        recent_teams=len(lower),
    )


def document(
    figures: Figures, settings: Settings, snapshot: adoption.Snapshot, now: float
) -> dict[str, Any]:
    """The predictors as /api/v1/summary gives them: each one's `met` (true, false, or null
    when it cannot be known) and the figures behind it."""
    platform = settings.platform
    baseline = platform.baseline
    mature = adoption.whole_months(platform.launch_date, now) >= MATURE_MONTHS
    return {
        "product_manager": {
            "met": figures.met["product_manager"],
            "name": platform.product_manager,
        },
        "baseline": {
            "met": figures.met["baseline"],
            "deploys_per_team_week": None if baseline is None else baseline.deploys_per_team_week,
            "lead_time_days": None if baseline is None else baseline.lead_time_days,
            "measured_on": None if baseline is None else baseline.measured_on.isoformat(),
        },
        "nps": {
            "met": figures.met["nps"],
            "nps": figures.nps,
            "responses": figures.nps_responses,
        },
        "voluntary_adoption": {
            "met": figures.met["voluntary_adoption"],
            "voluntary_ratio": snapshot.voluntary_ratio,
            # What it must reach now: 50% from month 12, the curve's target before.
            "required_ratio": VOLUNTARY_THRESHOLD if mature else snapshot.target_ratio,
        },
        "time_to_first_value": {
            "met": figures.met["time_to_first_value"],
            "median_seconds": figures.time_to_first_value,
            "teams": figures.recent_teams,
        },
    }


def _voluntary(settings: Settings, snapshot: adoption.Snapshot, now: float) -> bool | None:
    ratio = snapshot.voluntary_ratio
    if ratio is None or not snapshot.has_workloads:
        return None
    if adoption.whole_months(settings.platform.launch_date, now) >= MATURE_MONTHS:
        return ratio >= VOLUNTARY_THRESHOLD
    target = snapshot.target_ratio
    return None if target is None else ratio >= target
