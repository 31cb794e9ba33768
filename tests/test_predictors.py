"""The five predictors: the rules (pure), the survey file, and what /metrics says of them."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from collector import adoption, config, exporter, page, predictors
from collector.adoption import TeamHistory
from collector.sources.nps import SurveyFile
from tests.records import parse_samples, settings, ts
from tests.test_page import SUMMARY, TEAMS, migrate

NOW = ts("2026-09-15")
DAY = 86400.0


def snapshot(
    history: tuple[TeamHistory, ...] = (),
    voluntary: float | None = 0.6,
    target: float | None = 0.5,
) -> adoption.Snapshot:
    return adoption.Snapshot(
        teams=(),
        history=history,
        active_teams=0,
        adopted_teams=0,
        ratio=None,
        voluntary_ratio=voluntary,
        workloads={},
        unowned={},
        workload_ratio=None,
        golden_paths={},
        tools={},
        team_tools={},
        launch=ts("2026-03-01"),
        target_ratio=target,
    )


def team(name: str, onboarded: str, days_to_deploy: float | None) -> TeamHistory:
    start = ts(onboarded)
    deploy = None if days_to_deploy is None else start + days_to_deploy * DAY
    return TeamHistory(name, start, deploy)


def met(figures: predictors.Figures) -> dict[str, bool | None]:
    return figures.met


def test_nps_is_promoters_minus_detractors() -> None:
    assert predictors.nps([10, 9, 8, 7, 6, 0]) == 0.0
    assert predictors.nps([10, 10, 9, 7]) == 75.0
    assert predictors.nps([0, 3]) == -100.0
    assert predictors.nps([]) is None


@pytest.mark.parametrize(
    ("teams", "expected", "median_days"),
    [
        # Deployed after 10 and 20 days; one onboarded 5 days ago still waiting: even if it
        # never deployed, the median would be 20 days.
        (
            [
                team("a", "2026-07-01", 10),
                team("b", "2026-08-01", 20),
                team("c", "2026-09-10", None),
            ],
            True,
            10.0,
        ),
        # Waiting 76 days, deployed after 40 and after 1: the median is over 30 days for sure.
        (
            [
                team("a", "2026-07-01", None),
                team("b", "2026-07-15", 40),
                team("c", "2026-09-10", 1),
            ],
            False,
            40.0,
        ),
        # Two teams waiting 14 and 10 days: whether they will take 30 days is not known yet.
        ([team("a", "2026-09-01", None), team("b", "2026-09-05", None)], None, 12.0),
        # No team onboarded in the last 90 days (one exactly 90 days ago): nothing to judge.
        ([team("a", "2026-05-01", 3), team("b", "2026-06-17", 2)], None, None),
    ],
)
def test_time_to_first_value(
    teams: list[TeamHistory], expected: bool | None, median_days: float | None
) -> None:
    figures = predictors.evaluate(settings(), snapshot(tuple(teams)), NOW)
    assert figures.met["time_to_first_value"] is expected
    assert figures.time_to_first_value == (None if median_days is None else median_days * DAY)


def test_voluntary_adoption_follows_the_curve_then_50_percent() -> None:
    young = settings()  # launched 2026-03-01: six months old on NOW
    assert met(predictors.evaluate(young, snapshot(voluntary=0.5, target=0.5), NOW)) == {
        "product_manager": False,
        "baseline": False,
        "nps": None,
        "voluntary_adoption": True,
        "time_to_first_value": None,
    }
    assert not predictors.evaluate(young, snapshot(voluntary=0.49), NOW).met["voluntary_adoption"]
    assert (
        predictors.evaluate(young, snapshot(voluntary=None), NOW).met["voluntary_adoption"] is None
    )
    old = settings(platform={"launch_date": "2025-09-15"})  # twelve months old on NOW
    assert predictors.evaluate(old, snapshot(voluntary=0.5, target=0.7), NOW).met[
        "voluntary_adoption"
    ]
    assert not predictors.evaluate(old, snapshot(voluntary=0.45, target=0.1), NOW).met[
        "voluntary_adoption"
    ]


def test_product_manager_baseline_and_nps_from_the_config_and_the_survey() -> None:
    cfg = settings(
        platform={
            "launch_date": "2026-03-01",
            "product_manager": "Ada Lovelace",
            "baseline": {"deploys_per_team_week": 1.5, "measured_on": "2026-02-15"},
            "nps": "survey.csv",
            "nps_window": "30d",
        }
    )
    answers = [
        (NOW - 31 * DAY, 0),  # outside the window
        (NOW - 30 * DAY, 0),  # on its edge: outside too
        (NOW - 29 * DAY, 10),
        (NOW - 2 * DAY, 9),
        (NOW - DAY, 7),
        (NOW, 3),
        (NOW + DAY, 0),  # dated after now: not yet
    ]
    figures = predictors.evaluate(cfg, snapshot(), NOW, answers, skipped=2)
    assert (figures.nps, figures.nps_responses, figures.nps_skipped) == (25.0, 4, 2)
    assert figures.baseline_deploys_per_team_week == 1.5
    assert met(figures) == {
        "product_manager": True,
        "baseline": True,
        "nps": True,
        "voluntary_adoption": True,
        "time_to_first_value": None,
    }
    # Measured after the launch: not a pre-platform baseline. NPS of exactly 20: not above.
    late = settings(
        platform={
            "launch_date": "2026-03-01",
            "baseline": {"deploys_per_team_week": 1.5, "measured_on": "2026-03-02"},
        }
    )
    twenty = [(NOW, 10), (NOW, 10), (NOW, 8), (NOW, 8), (NOW, 8), (NOW, 8), (NOW, 8), (NOW, 8),
              (NOW, 6), (NOW, 6)]  # fmt: skip
    figures = predictors.evaluate(late, snapshot(), NOW, twenty)
    assert (figures.nps, figures.met["baseline"], figures.met["nps"]) == (0.0, False, False)
    figures = predictors.evaluate(late, snapshot(), NOW, [(NOW, 10), (NOW, 10), (NOW, 9)])
    assert figures.met["nps"] is True
    assert predictors.evaluate(late, snapshot(), NOW, []).met["nps"] is None


def test_the_survey_file_skips_counts_and_logs_bad_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "survey.csv"
    path.write_text(
        "date,score\n"
        "2026-09-01,10\n"
        "2026-09-02, 6\n"
        "\n"
        "2026-13-01,9\n"
        "2026-09-03,11\n"
        "2026-09-04,x\n"
        "2026-09-05,8,extra\n"
        "2026-09-06T12:00:00Z,9\n"
    )
    survey = SurveyFile(str(path))
    with caplog.at_level(logging.WARNING, "collector.sources.nps"):
        answers = survey.read()
    assert answers.answers == (
        (ts("2026-09-01"), 10),
        (ts("2026-09-02"), 6),
        (ts("2026-09-06T12:00:00"), 9),
    )
    assert answers.skipped == 4
    assert [r.getMessage() for r in caplog.records] == [
        f"platform.nps: {path} line 5 skipped: the date '2026-13-01' is not YYYY-MM-DD",
        f"platform.nps: {path} line 6 skipped: the score 11 is outside 0-10",
        f"platform.nps: {path} line 7 skipped: the score 'x' is not a whole number from 0 to 10",
        f"platform.nps: {path} line 8 skipped: expected 2 fields (date,score), found 3",
    ]
    caplog.clear()
    assert survey.read() is answers  # unchanged: not read again, not logged again
    assert caplog.records == []
    path.write_text("2026-09-07,0\n")
    os.utime(path, ns=(1, 1))
    assert survey.read().answers == ((ts("2026-09-07"), 0),)
    path.unlink()
    with caplog.at_level(logging.ERROR, "collector.sources.nps"):
        gone = survey.read()
    assert (gone.answers, gone.readable) == ((), False)
    assert [r.getMessage() for r in caplog.records] == [
        f"platform.nps: cannot read {path}: No such file or directory"
    ]


def test_the_predictor_metrics() -> None:
    cfg = settings(
        platform={
            "launch_date": "2026-03-01",
            "baseline": {"deploys_per_team_week": 2.5, "measured_on": "2026-01-10"},
            "nps": "survey.csv",
        }
    )
    figures = predictors.evaluate(cfg, snapshot(), NOW, [(NOW, 10), (NOW, 3), (NOW, 9)], 1)
    text = exporter.render(replace(snapshot(), predictors=figures), ()).decode()
    lines = [line for line in text.splitlines() if "predictor" in line or "_nps" in line
             or "baseline" in line]  # fmt: skip
    assert lines == [
        "# HELP adoption_predictor_met 1 if the predictor of platform success is met, 0 if not; "
        "no sample when it cannot be known (product_manager, baseline, nps, voluntary_adoption, "
        "time_to_first_value).",
        "# TYPE adoption_predictor_met gauge",
        'adoption_predictor_met{predictor="product_manager"} 0.0',
        'adoption_predictor_met{predictor="baseline"} 1.0',
        'adoption_predictor_met{predictor="nps"} 1.0',
        'adoption_predictor_met{predictor="voluntary_adoption"} 1.0',
        "# HELP adoption_developer_nps Developer NPS (promoters 9-10 minus detractors 0-6, in % "
        "of answers) over platform.nps_window; no sample without an answer in it.",
        "# TYPE adoption_developer_nps gauge",
        "adoption_developer_nps 33.333333333333336",
        "# HELP adoption_developer_nps_responses Survey answers in platform.nps_window.",
        "# TYPE adoption_developer_nps_responses gauge",
        "adoption_developer_nps_responses 3.0",
        "# HELP adoption_developer_nps_skipped_answers Lines of the platform.nps file skipped: a "
        "bad date, or a score outside 0-10.",
        "# TYPE adoption_developer_nps_skipped_answers gauge",
        "adoption_developer_nps_skipped_answers 1.0",
        "# HELP adoption_baseline_deploys_per_team_week Deploys per team and week measured before "
        "the platform (platform.baseline).",
        "# TYPE adoption_baseline_deploys_per_team_week gauge",
        "adoption_baseline_deploys_per_team_week 2.5",
    ]
    samples = parse_samples(text)
    assert ("adoption_predictor_met", (("predictor", "time_to_first_value"),)) not in samples


def test_each_predictor_in_words_for_the_status_page_and_report() -> None:
    cfg = settings(
        platform={
            "launch_date": "2026-03-01",
            "product_manager": "Ada Lovelace",
            "baseline": {
                "deploys_per_team_week": 1.5,
                "lead_time_days": 9,
                "measured_on": "2026-04-01",
            },
            "nps": "survey.csv",
        }
    )
    snap = snapshot(
        (team("a", "2026-09-01", None), team("b", "2026-09-05", None)), voluntary=0.4, target=0.5
    )
    figures = predictors.evaluate(cfg, snap, NOW, [(NOW, 10), (NOW, 9), (NOW, 2)])
    summary = {"predictors": predictors.document(figures, cfg, snap, NOW)}
    assert page.predictor_lines(summary) == [
        ("met", "Product manager: Ada Lovelace."),
        (
            "not met",
            "Pre-platform baseline: 1.5 deploys per team-week, lead time 9 days, measured "
            "2026-04-01, after the launch.",
        ),
        ("met", "Developer NPS above 20: NPS 33 from 3 answers."),
        ("not met", "Voluntary adoption on track: 40%, at least 50% needed now."),
        (
            "unknown",
            "Time to first value under 30 days: median 12.0 days over the 2 teams onboarded in "
            "the last 90 days; teams still waiting decide it.",
        ),
    ]
    bare = predictors.evaluate(settings(), snapshot(voluntary=None), NOW)
    assert page.predictor_lines(
        {"predictors": predictors.document(bare, settings(), snapshot(voluntary=None), NOW)}
    ) == [
        ("not met", "Product manager: none named (platform.product_manager)."),
        ("not met", "Pre-platform baseline: none measured (platform.baseline)."),
        ("unknown", "Developer NPS above 20: no survey (platform.nps)."),
        ("unknown", "Voluntary adoption on track: no voluntary team yet."),
        ("unknown", "Time to first value under 30 days: no team onboarded in the last 90 days."),
    ]
    assert page.predictor_lines({"predictors": None}) == []
    # On the status page: a section after the headline figures, every value escaped.
    document = page.index({**SUMMARY, **summary}, TEAMS, migrate()).decode()
    section = document.split('<section aria-labelledby="predictors">\n')[1].split("</section>")[0]
    assert section == (
        '<h2 id="predictors">Five predictors</h2>\n'
        "<p>2 of 5 predictors of platform success met.</p>\n<ul>\n"
        "<li><strong>met</strong>: Product manager: Ada Lovelace.</li>\n"
        "<li><strong>not met</strong>: Pre-platform baseline: 1.5 deploys per team-week, lead "
        "time 9 days, measured 2026-04-01, after the launch.</li>\n"
        "<li><strong>met</strong>: Developer NPS above 20: NPS 33 from 3 answers.</li>\n"
        "<li><strong>not met</strong>: Voluntary adoption on track: 40%, at least 50% needed "
        "now.</li>\n"
        "<li><strong>unknown</strong>: Time to first value under 30 days: median 12.0 days over "
        "the 2 teams onboarded in the last 90 days; teams still waiting decide it.</li>\n"
        "</ul>\n"
    )


def test_predictor_config_mistakes_name_their_key_path() -> None:
    raw = {
        "platform": {
            "launch_date": "2026-03-01",
            "product_manager": "",
            "baseline": {"deploys_per_team_week": -1, "lead_time_days": "x", "extra": 1},
            "nps": "",
            "nps_window": "soon",
        }
    }
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw)
    assert raised.value.problems == [
        "platform.product_manager: must not be empty",
        "platform.baseline.deploys_per_team_week: must be greater than or equal to 0",
        "platform.baseline.lead_time_days: must be a number, not 'x'",
        "platform.baseline.measured_on: required key is missing",
        "platform.baseline.extra: unknown key",
        "platform.nps: must not be empty",
        "platform.nps_window: must be a duration such as 30s, 5m, 1h or 1d, not 'soon'",
    ]
