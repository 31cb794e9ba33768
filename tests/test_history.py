"""The adoption curve since launch: a row a day from the polls, the days before the collector
was installed reconstructed (and marked) from the durable evidence, and /api/v1/history."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collector import config, history
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore, TeamTimes
from tests.cluster import TOKEN, seed_small, write_config
from tests.http.conftest import serving
from tests.records import settings, ts

T0 = 1_789_466_400.0  # 2026-09-15T10:00:00Z
HOUR = 3600.0

Run = tuple[str, str, tuple[Any, ...]]


def runs(days: Sequence[history.Day]) -> list[Run]:
    """The curve as runs of consecutive days with the same figures: (first, last, figures)."""
    out: list[Run] = []
    for d in days:
        figures = (
            d.active,
            d.adopted,
            d.mandated,
            d.ratio,
            d.voluntary_ratio,
            d.target,
            d.reconstructed,
        )
        if out and out[-1][2] == figures:
            out[-1] = (out[-1][0], d.day.isoformat(), figures)
        else:
            out.append((d.day.isoformat(), d.day.isoformat(), figures))
    return out


# seed_small, checked by hand. Launch 2026-03-01, billing mandated. Evidence: billing's
# namespace predates the launch (onboarded at it); payments onboarded 2026-03-10 and first
# deployed golden 2026-04-01; search onboarded 2026-06-01 (a namespace, no workload). The
# reconstruction counts search active from its onboarding (it cannot know better); the poll
# of 2026-09-15 sees it has no workload. Targets: 10% from launch, 30% from month 3
# (2026-06-01), 50% from month 6 (2026-09-01).
THIRD = 1 / 3
EXPECTED_CURVE = [
    ("2026-03-01", "2026-03-09", (1, 0, 1, 0.0, None, 0.1, True)),
    ("2026-03-10", "2026-03-31", (2, 0, 1, 0.0, 0.0, 0.1, True)),
    ("2026-04-01", "2026-05-31", (2, 1, 1, 0.5, 1.0, 0.1, True)),
    ("2026-06-01", "2026-08-31", (3, 1, 1, THIRD, 0.5, 0.3, True)),
    ("2026-09-01", "2026-09-14", (3, 1, 1, THIRD, 0.5, 0.5, True)),
    ("2026-09-15", "2026-09-15", (2, 1, 1, 0.5, 1.0, 0.5, False)),
]


def test_reconstruction_counts_from_onboarding_and_first_deploy() -> None:
    cfg = settings(teams={"mandated": ["Billing"], "onboarded": {"late": "2026-03-05"}})
    times = {
        "billing": TeamTimes(ts("2026-01-01"), ts("2026-03-02T12:00:00")),
        # A golden workload older than any other evidence: active from it, never adopted first.
        "early": TeamTimes(None, ts("2026-03-02")),
        "late": TeamTimes(ts("2026-03-01T06:00:00"), None),  # the override wins
        "dateless": TeamTimes(None, None),  # no evidence: in no day
    }
    days = history.reconstruct(times, cfg, cfg.platform.launch_date, ts_day("2026-03-06"))
    assert runs(days) == [
        ("2026-03-01", "2026-03-01", (1, 0, 1, 0.0, None, 0.1, True)),
        ("2026-03-02", "2026-03-04", (2, 2, 1, 1.0, 1.0, 0.1, True)),
        ("2026-03-05", "2026-03-05", (3, 2, 1, 2 / 3, 0.5, 0.1, True)),
    ]
    assert all(d.polled_at is None for d in days)


def ts_day(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


def test_no_curve_before_a_poll_succeeded() -> None:
    assert history.curve([], {"a": TeamTimes(ts("2026-03-02"), None)}, settings()) == ()


def day_rows(state: str) -> list[tuple[str, int, int, float]]:
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT day, active, adopted, polled_at FROM days ORDER BY day")
        result = [(str(d), int(a), int(g), float(p)) for d, a, g, p in rows]
    db.close()
    return result


def test_installed_today_shows_the_curve_back_to_the_launch(tmp_path: Path) -> None:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        cfg = config.load(write_config(tmp_path, {"prod-eu": sim}))
        pipeline = Pipeline(cfg, StateStore(cfg.state.path), clock=lambda: T0)
        try:
            assert pipeline.poll_kubernetes()
            drilldown = pipeline.drilldown
            assert drilldown is not None
            assert runs(drilldown.curve) == EXPECTED_CURVE
            assert len(drilldown.curve) == 31 + 30 + 31 + 30 + 31 + 31 + 15
            assert drilldown.curve[-1].polled_at == T0
            # Only the polled day is stored: the rest is worked out from the evidence.
            assert day_rows(cfg.state.path) == [("2026-09-15", 2, 1, T0)]

            with (
                serving(pipeline) as server,
                urllib.request.urlopen(f"{server.url}/api/v1/history", timeout=5) as r,
            ):
                assert (r.status, r.headers["Content-Type"]) == (200, "application/json")
                body = json.loads(r.read())
            assert list(body) == ["launch_date", "days"]
            assert body["launch_date"] == "2026-03-01"
            assert len(body["days"]) == len(drilldown.curve)
            assert body["days"][0] == {
                "day": "2026-03-01",
                "active_teams": 1,
                "adopted_teams": 0,
                "mandated_teams": 1,
                "adoption_ratio": 0.0,
                "voluntary_ratio": None,
                "target_ratio": 0.1,
                "reconstructed": True,
                "polled_at": None,
            }
            assert body["days"][-1] == {
                "day": "2026-09-15",
                "active_teams": 2,
                "adopted_teams": 1,
                "mandated_teams": 1,
                "adoption_ratio": 0.5,
                "voluntary_ratio": 1.0,
                "target_ratio": 0.5,
                "reconstructed": False,
                "polled_at": "2026-09-15T10:00:00Z",
            }
        finally:
            pipeline.close()


def test_a_week_of_polls_adds_seven_rows_and_no_more(tmp_path: Path) -> None:
    now = [T0]
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        cfg = config.load(write_config(tmp_path, {"prod-eu": sim}))
        pipeline = Pipeline(cfg, StateStore(cfg.state.path), clock=lambda: now[0])
        try:
            assert pipeline.poll_kubernetes()
            assert len(day_rows(cfg.state.path)) == 1
            for step in range(1, 29):  # every 6 hours for a week
                now[0] = T0 + step * 6 * HOUR
                if step == 9:  # 2026-09-17T16:00: payments' golden workload goes
                    sim.delete("Deployment", "pay", "api")
                if step == 10:  # a failed poll leaves no figures for its day
                    sim.add_fault(".*", 503, times=None)
                if step == 11:
                    sim.clear_faults()
                assert pipeline.poll_kubernetes() is (step != 10)
            rows = day_rows(cfg.state.path)
            curve = pipeline.drilldown.curve if pipeline.drilldown else ()
        finally:
            pipeline.close()
    day = 86400.0
    # One row per day, with the figures of the day's last good poll; polled_at is the poll
    # that set them (a poll that changes nothing writes nothing). Polls run at 04:00, 10:00,
    # 16:00 and 22:00.
    assert rows == [
        ("2026-09-15", 2, 1, T0),
        ("2026-09-16", 2, 1, T0 + 18 * HOUR),  # the day's first poll, 04:00
        ("2026-09-17", 2, 0, T0 + 2 * day + 6 * HOUR),  # the deletion, seen at 16:00; 22:00 failed
        ("2026-09-18", 2, 0, T0 + 2 * day + 18 * HOUR),
        ("2026-09-19", 2, 0, T0 + 3 * day + 18 * HOUR),
        ("2026-09-20", 2, 0, T0 + 4 * day + 18 * HOUR),
        ("2026-09-21", 2, 0, T0 + 5 * day + 18 * HOUR),
        ("2026-09-22", 2, 0, T0 + 6 * day + 18 * HOUR),
    ]
    assert len(rows) - 1 == 7
    assert [d.day.isoformat() for d in curve if not d.reconstructed] == [r[0] for r in rows]
    assert runs(curve)[:5] == EXPECTED_CURVE[:5]
