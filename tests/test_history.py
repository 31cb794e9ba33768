"""The adoption curve since launch: a row a day from the polls, the days before the collector
was installed reconstructed (and marked) from the durable evidence, and /api/v1/history."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from collector import config, history, page, report
from collector.cli import main
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


def test_report_curve_from_a_poll_and_from_a_running_collector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        cfg = config.load(write_config(tmp_path, {"prod-eu": sim}))
        pipeline = Pipeline(cfg, StateStore(cfg.state.path), clock=lambda: T0)
        try:
            assert pipeline.poll_kubernetes()
            assert pipeline.drilldown is not None
            local = report.LocalReader(pipeline.drilldown).history()
            with serving(pipeline) as server:
                assert main(["report", "--curve", "--from", server.url]) == 0
                table = capsys.readouterr().out
                assert main(["report", "--curve", "--from", server.url, "--format", "csv"]) == 0
                csv = capsys.readouterr().out
                assert main(["report", "--curve", "--from", server.url, "--format", "json"]) == 0
                document = json.loads(capsys.readouterr().out)
        finally:
            pipeline.close()
    assert table == report.curve_table(local)
    assert document == local
    lines = table.splitlines()
    assert lines[:4] == [
        "Adoption since the launch on 2026-03-01: 199 days, 198 of them reconstructed from the "
        "evidence (marked *: a team counts as active from its onboarding, adopted from its "
        "first golden deploy).",
        "",
        "DAY          ACTIVE  ADOPTED  MANDATED  ADOPTION  VOLUNTARY  TARGET",
        "2026-03-01*  1       0        1         0%        n/a        10%",
    ]
    assert lines[-2:] == [
        "2026-09-14*  3       1        1         33%       50%        50%",
        "2026-09-15   2       1        1         50%       100%       50%",
    ]
    assert len(lines) == 3 + 199
    rows = csv.splitlines()
    assert rows[0] == (
        "day,active_teams,adopted_teams,mandated_teams,adoption_ratio,voluntary_ratio,"
        "target_ratio,reconstructed"
    )
    assert rows[1] == "2026-03-01,1,0,1,0.0,,0.1,true"
    assert rows[-1] == "2026-09-15,2,1,1,0.5,1.0,0.5,false"
    assert len(rows) == 1 + 199


def test_the_status_page_draws_the_curve_with_reconstructed_days_marked() -> None:
    def day(when: str, ratio: float, voluntary: float | None, target: float, rebuilt: bool) -> Any:
        return {
            "day": when,
            "adoption_ratio": ratio,
            "voluntary_ratio": voluntary,
            "target_ratio": target,
            "reconstructed": rebuilt,
        }

    section = page.curve_section(
        {
            "launch_date": "2026-03-01",
            "days": [
                day("2026-03-01", 0.0, None, 0.1, True),
                day("2026-03-02", 0.5, 1.0, 0.1, True),
                day("2026-03-03", 0.5, 1.0, 0.5, False),
            ],
        }
    )
    # The drawing area: x from 44 to 720 (338 per day), y from 192 (0%) to 12 (100%).
    lines = re.findall(r'<polyline class="(\w+)" points="([^"]*)"', section)
    assert lines == [
        ("adoption_ratio", "44.0,192.0 382.0,102.0 720.0,102.0"),
        ("voluntary_ratio", "382.0,12.0 720.0,12.0"),  # no value over no voluntary team
        ("target_ratio", "44.0,174.0 382.0,174.0 720.0,102.0"),
    ]
    # The reconstructed days shaded, up to half way to the first polled one, and labelled.
    assert re.findall(r'<rect class="reconstructed" x="44" y="12" width="([\d.]+)"', section) == [
        "507.0"
    ]
    assert ">reconstructed</text>" in section
    assert (
        "from 2026-03-01 to 2026-03-03; 2 days before the collector&#x27;s first poll are "
        "reconstructed from the evidence"
    ) in section
    assert "On 2026-03-03: adoption (all teams): 50%; voluntary adoption: 100%; target: 50%." in (
        section
    )
    assert " style=" not in section  # the page's content security policy allows none
