"""PURE: the adoption curve since launch, one row per UTC day.

Days the collector polled are the state store's rows (`state.DayRow`: the figures of the
day's last good poll). Days before its first row (a collector installed long after the
launch) are reconstructed from the durable evidence it keeps anyway: a team counts as
active from its onboarding time and as adopted from its first golden deploy. Such days are
marked `reconstructed`; they cannot know of teams that stopped running workloads since, nor
of teams folded beyond `limits.max_teams` (which the history does not keep). A gap between
recorded days (the collector was down) stays a gap.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector import adoption
from collector.config import Settings
from collector.state import DayRow, TeamTimes

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Day:
    day: dt.date
    active: int
    adopted: int
    mandated: int  # active mandated teams
    ratio: float | None  # None: no active team
    voluntary_ratio: float | None
    target: float | None  # None before the launch
    reconstructed: bool
    polled_at: float | None  # None for a reconstructed day

    def json(self) -> dict[str, Any]:
        """The day as /api/v1/history gives it."""
        return {
            "day": self.day.isoformat(),
            "active_teams": self.active,
            "adopted_teams": self.adopted,
            "mandated_teams": self.mandated,
            "adoption_ratio": self.ratio,
            "voluntary_ratio": self.voluntary_ratio,
            "target_ratio": self.target,
            "reconstructed": self.reconstructed,
            "polled_at": None if self.polled_at is None else _iso(self.polled_at),
        }


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def day_of(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).date().isoformat()


def today(snapshot: adoption.Snapshot, now: float) -> DayRow:
    """The row a good poll at `now` leaves for its day."""
    return DayRow(
        day_of(now),
        snapshot.active_teams,
        snapshot.adopted_teams,
        snapshot.mandated_teams,
        snapshot.ratio,
        snapshot.voluntary_ratio,
        snapshot.target_ratio,
        now,
    )


def curve(
    rows: Sequence[DayRow], history: Mapping[str, TeamTimes], settings: Settings
) -> tuple[Day, ...]:
    """Every day from the launch: reconstructed up to the first recorded row, then the
    recorded rows. Nothing at all without a recorded row (no poll has succeeded yet)."""
    if not rows:
        return ()
    recorded = [_recorded(row) for row in sorted(rows)]
    first = recorded[0].day
    return (*reconstruct(history, settings, settings.platform.launch_date, first), *recorded)


def _recorded(row: DayRow) -> Day:
    return Day(
        dt.date.fromisoformat(row.day),
        row.active,
        row.adopted,
        row.mandated,
        row.ratio,
        row.voluntary_ratio,
        row.target,
        reconstructed=False,
        polled_at=row.polled_at,
    )


def reconstruct(
    history: Mapping[str, TeamTimes], settings: Settings, start: dt.date, end: dt.date
) -> list[Day]:
    """The days from `start` up to, not including, `end`, from the evidence alone: each
    team active from its onboarding (as `adoption.compute` dates it) and adopted from
    its first golden deploy; a day counts what happened before its end (midnight UTC)."""
    mandated, overrides = adoption.team_settings(settings)
    launch = adoption.midnight_utc(settings.platform.launch_date)
    active: list[float] = []
    adopted: list[float] = []
    active_mandated: list[float] = []
    adopted_mandated: list[float] = []
    for team, times in history.items():
        onboarded = overrides.get(team)
        if onboarded is None and times.first_seen is not None:
            onboarded = max(launch, times.first_seen)
        # A golden workload is evidence of the team too: never adopted before active.
        known = [t for t in (onboarded, times.first_deploy) if t is not None]
        if not known:
            continue
        since = min(known)
        active.append(since)
        if team in mandated:
            active_mandated.append(since)
        if times.first_deploy is not None:
            adopted_at = max(since, times.first_deploy)
            adopted.append(adopted_at)
            if team in mandated:
                adopted_mandated.append(adopted_at)
    for times_list in (active, adopted, active_mandated, adopted_mandated):
        times_list.sort()

    days = []
    day = start
    while day < end:
        cutoff = adoption.midnight_utc(day) + DAY  # the end of the day
        n_active = bisect.bisect_left(active, cutoff)
        n_adopted = bisect.bisect_left(adopted, cutoff)
        n_mandated = bisect.bisect_left(active_mandated, cutoff)
        n_adopted_mandated = bisect.bisect_left(adopted_mandated, cutoff)
        days.append(
            Day(
                day,
                n_active,
                n_adopted,
                n_mandated,
                _ratio(n_adopted, n_active),
                _ratio(n_adopted - n_adopted_mandated, n_active - n_mandated),
                adoption.target_ratio(settings, cutoff - 1),
                reconstructed=True,
                polled_at=None,
            )
        )
        day += dt.timedelta(days=1)
    return days
