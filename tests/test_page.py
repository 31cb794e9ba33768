"""The status page (collector.page): pure HTML over the drill-down JSON of the contract.

The sample set below is hand-built in the contract's shape (/api/v1/summary, /api/v1/teams,
/api/v1/workloads); tests/test_report.py prints the same set.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import re
import weakref
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from collector import page

SUMMARY: dict[str, Any] = {
    "active_teams": 3,
    "adopted_teams": 2,
    "adoption_ratio": 0.6667,
    "voluntary_ratio": 0.5,
    "target_ratio": 0.5,
    "platform_age_months": 7,
    "workloads": {"golden": 5, "shadow": 7},
    "polled_at": "2026-12-05T04:00:00Z",
}


def team(  # noqa: PLR0917
    name: str,
    active: bool,
    adopted: bool,
    mandated: bool,
    golden: int,
    shadow: int,
    tools: dict[str, int],
    repos: dict[str, int] | None,
    onboarded: str | None,
    onboarded_evidence: dict[str, Any] | None,
    first: str | None,
    first_evidence: dict[str, Any] | None,
    ttfd: float | None,
) -> dict[str, Any]:
    total = golden + shadow
    return {
        "team": name,
        "active": active,
        "adopted": adopted,
        "mandated": mandated,
        "workload_counts": {"golden": golden, "shadow": shadow},
        "tools": tools,
        "golden_share": None if total == 0 else round(golden / total, 4),
        "repository_counts": repos,
        "onboarded": onboarded,
        "onboarded_evidence": onboarded_evidence,
        "first_deploy": first,
        "first_deploy_evidence": first_evidence,
        "time_to_first_deploy_seconds": ttfd,
    }


TEAMS = [
    team(
        "billing",
        True,
        True,
        True,
        2,
        1,
        {"helm": 2, "kubectl": 1},
        {"golden": 1, "shadow": 0, "other": 0},
        "2026-05-01T00:00:00Z",
        {"source": "launch_date", "object": "prod-eu/billing", "time": "2026-01-10T08:00:00Z"},
        "2026-05-11T12:00:00Z",
        {
            "source": "workload",
            "object": "prod-eu/billing/Deployment/api",
            "time": "2026-05-11T12:00:00Z",
        },
        907200.0,
    ),
    team(
        "legacy",
        False,
        False,
        False,
        0,
        0,
        {},
        None,
        "2026-05-20T00:00:00Z",
        {"source": "override", "object": "teams.onboarded", "time": None},
        None,
        None,
        None,
    ),
    team(
        "payments",
        True,
        True,
        False,
        3,
        2,
        {"argocd": 3, "kubectl": 1, "terraform": 1},
        {"golden": 2, "shadow": 1, "other": 1},
        "2026-06-02T09:30:00Z",
        {"source": "namespace", "object": "prod-eu/pay", "time": "2026-06-02T09:30:00Z"},
        "2026-06-09T09:30:00Z",
        {"source": "repository", "object": "acme/checkout", "time": "2026-06-09T09:30:00Z"},
        604800.0,
    ),
    team(
        "search",
        True,
        False,
        False,
        0,
        3,
        {"helm": 1, "kubectl": 1, "unknown": 1},
        {"golden": 0, "shadow": 2, "other": 0},
        "2026-06-14T09:30:00Z",
        {"source": "namespace", "object": None, "time": "2026-06-14T09:30:00Z"},
        None,
        None,
        None,
    ),
]


def workload(  # noqa: PLR0917
    cluster: str,
    namespace: str,
    kind: str,
    name: str,
    team: str | None,
    source: str,
    detail: str | None,
    reason: str,
    tool: str,
    manager: str | None,
    manager_time: str | None,
    path: str = "shadow",
    golden_path: str | None = None,
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "namespace": namespace,
        "kind": kind,
        "name": name,
        "created": "2026-06-20T10:00:00Z",
        "team": team,
        "team_source": source,
        "team_source_detail": detail,
        "path": path,
        "golden_path": golden_path,
        "reason": reason,
        "tool": tool,
        "manager": manager,
        "manager_time": manager_time,
    }


CHART_MISS = 'service-chart: label helm.sh/chart is "nginx-1.2.0", not matching ^golden-service-'
ES_MISS = (
    'service-chart: label helm.sh/chart is "elasticsearch-8.5.1", not matching ^golden-service-'
)
# /api/v1/workloads?path=shadow: every shadow workload, unowned included, in API order.
SHADOW = [
    workload(
        "prod-eu",
        "billing",
        "CronJob",
        "report",
        "billing",
        "workload_label",
        "team",
        CHART_MISS,
        "kubectl",
        "kubectl-client-side-apply",
        "2026-06-20T10:00:00Z",
    ),
    workload(
        "prod-eu",
        "pay",
        "Deployment",
        "worker",
        "payments",
        "catalog",
        "Component worker in acme/worker",
        "service-chart: label app.kubernetes.io/managed-by is missing",
        "kubectl",
        "kubectl",
        "2026-06-21T10:00:00Z",
    ),
    workload(
        "prod-eu",
        "search",
        "Deployment",
        "indexer",
        "search",
        "namespace_label",
        "team",
        CHART_MISS,
        "kubectl",
        "kubectl-client-side-apply",
        "2026-02-20T10:00:00Z",
    ),
    workload(
        "prod-eu",
        "search",
        "StatefulSet",
        "es",
        "search",
        "namespace_label",
        "team",
        ES_MISS,
        "helm",
        "helm",
        "2026-06-22T10:00:00Z",
    ),
    workload(
        "prod-eu",
        "shared",
        "Deployment",
        "orphan",
        None,
        "none",
        None,
        CHART_MISS,
        "unknown",
        None,
        None,
    ),
    workload(
        "prod-us",
        "pay",
        "Job",
        "migrate",
        "payments",
        "static_map",
        "ownership.namespaces",
        CHART_MISS,
        "terraform",
        "terraform-provider-kubernetes",
        "2026-06-23T10:00:00Z",
    ),
    workload(
        "prod-us",
        "search",
        "Deployment",
        "api",
        "search",
        "namespace_label",
        "owner",
        CHART_MISS,
        "unknown",
        None,
        None,
    ),
]
MIGRATE_ORDER = [
    # search has no golden workload: first; then payments (2 shadow) before billing (1).
    "prod-eu/search/Deployment/indexer",
    "prod-eu/search/StatefulSet/es",
    "prod-us/search/Deployment/api",
    "prod-eu/pay/Deployment/worker",
    "prod-us/pay/Job/migrate",
    "prod-eu/billing/CronJob/report",
]
REPOSITORY = {
    "repository": "acme/search",
    "team": "search",
    "path": "shadow",
    "golden_path": None,
    "reason": "builds with its own workflows",
    "created": "2025-01-01T00:00:00Z",
}


def search_team() -> dict[str, Any]:
    """The /api/v1/teams/search body: the team object, its workloads and repositories listed."""
    return {
        **TEAMS[3],
        "workloads": [w for w in SHADOW if w["team"] == "search"],
        "repositories": [REPOSITORY],
    }


# -- an outline of a page, from the standard library's HTML parser ---------------------------


class Table:
    def __init__(self) -> None:
        self.caption = ""
        self.heads: list[tuple[str, str | None]] = []  # (text, scope)
        self.rows: list[list[str]] = []


class Outline(HTMLParser):
    """Tables (caption, column heads, body rows as cell texts), links, and every tag."""

    def __init__(self, document: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[Table] = []
        self.links: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self._cell: list[str] | None = None
        self._href: str | None = None
        self._link_text: list[str] = []
        self.feed(document.decode())
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self.tables.append(Table())
        elif tag == "tr" and "tbody" in self._in:
            self.tables[-1].rows.append([])
        elif tag in {"td", "th", "caption"}:
            self._cell = []
            if tag == "th" and "thead" in self._in:
                self.tables[-1].heads.append(("", attributes.get("scope")))
        elif tag == "a":
            self._href, self._link_text = attributes.get("href"), []
        if tag not in {"meta", "br"}:
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in.pop() != tag:
                pass
        if tag in {"td", "th", "caption"} and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            self._cell = None
            table = self.tables[-1]
            if tag == "caption":
                table.caption = text
            elif "thead" in self._in:
                table.heads[-1] = (text, table.heads[-1][1])
            elif "tbody" in self._in:
                table.rows[-1].append(text)
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._link_text)))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._href is not None:
            self._link_text.append(data)
        if not {"script", "style"} & set(self._in):
            self.text.append(data)

    def table(self, caption_start: str) -> Table:
        (found,) = [t for t in self.tables if t.caption.startswith(caption_start)]
        return found

    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def migrate() -> list[dict[str, Any]]:
    return page.migrate_first(TEAMS, SHADOW)


# -- tests ---------------------------------------------------------------------------------


def test_migrate_first_order() -> None:
    for shadow in (SHADOW, list(reversed(SHADOW))):
        assert [page.workload_id(w) for w in page.migrate_first(TEAMS, shadow)] == MIGRATE_ORDER
    # A golden workload offered by mistake, or one of a team that is not active, is left out.
    stray = [dict(SHADOW[0], path="golden"), dict(SHADOW[0], team="legacy")]
    assert page.migrate_first(TEAMS, stray) == []


def test_index_has_one_row_per_active_team_and_links_each() -> None:
    outline = Outline(page.index(SUMMARY, TEAMS, migrate()))
    teams = outline.table("Active teams")
    assert teams.caption == "Active teams (3)"
    assert [h for h, _ in teams.heads] == [
        "Team",
        "Adopted",
        "Golden share",
        "Shadow workloads",
        "Onboarded",
        "Days to first deploy",
    ]
    assert teams.rows == [
        ["billing mandated", "yes", "67%", "1", "2026-05-01", "10.5"],
        ["payments", "yes", "60%", "2", "2026-06-02", "7.0"],
        ["search", "no", "0%", "3", "2026-06-14", "not yet"],
    ]
    team_links = [(href, text) for href, text in outline.links if href.startswith("/teams/")]
    assert team_links[:3] == [
        ("/teams/billing", "billing"),
        ("/teams/payments", "payments"),
        ("/teams/search", "search"),
    ]
    words = outline.words()
    assert "Adoption 67% on or above target 2 of 3 active teams" in words
    assert "Voluntary adoption 50% on or above target mandated teams left out" in words
    assert "Target 50% at month 7" in words
    assert "Workloads on a golden path 5 of 12" in words
    assert "Polled at 2026-12-05 04:00 UTC; the platform is at month 7." in words


def test_index_below_target_and_before_launch() -> None:
    early = {**SUMMARY, "platform_age_months": -2, "target_ratio": None, "adoption_ratio": None}
    words = Outline(page.index(early, TEAMS, migrate())).words()
    assert "Adoption n/a 2 of 3 active teams" in words
    assert "Target n/a at 2 months before launch" in words
    below = {**SUMMARY, "voluntary_ratio": 0.25}
    words = Outline(page.index(below, TEAMS, migrate())).words()
    assert "Voluntary adoption 25% below target" in words


def test_migrate_first_list_is_capped_and_links_to_the_rest() -> None:
    outline = Outline(page.index(SUMMARY, TEAMS, migrate(), limit=4))
    table = outline.table("Migrate first")
    assert table.caption == "Migrate first (6 shadow workloads, the first 4 shown)"
    assert [h for h, _ in table.heads] == ["#", "Team", "Workload", "Tool", "Why"]
    assert [row[2] for row in table.rows] == MIGRATE_ORDER[:4]
    assert table.rows[0] == ["1", "search", MIGRATE_ORDER[0], "kubectl", CHART_MISS]
    assert "2 more not shown: every shadow workload is at /api/v1/workloads?path=shadow ." in (
        outline.words()
    )
    assert ("/api/v1/workloads?path=shadow", "/api/v1/workloads?path=shadow") in outline.links

    outline = Outline(page.index(SUMMARY, TEAMS, migrate()))
    table = outline.table("Migrate first")
    assert table.caption == "Migrate first (6 shadow workloads)"
    assert len(table.rows) == 6
    assert "more not shown" not in outline.words()

    nothing = Outline(page.index(SUMMARY, TEAMS, []))
    assert [t.caption for t in nothing.tables] == ["Active teams (3)"]
    assert "No active team has a shadow workload." in nothing.words()


def test_before_the_first_poll() -> None:
    for document in (page.index(None, [], []), page.not_ready()):
        outline = Outline(document)
        assert outline.tables == []
        assert "No poll has completed yet" in outline.words()
        assert b'<html lang="en">' in document


def landmarks(outline: Outline) -> list[str]:
    return [tag for tag, _ in outline.tags if tag in {"header", "nav", "main", "footer"}]


@pytest.mark.parametrize(
    "document",
    [
        page.index(SUMMARY, TEAMS, page.migrate_first(TEAMS, SHADOW)),
        page.team(search_team()),
        page.not_ready(),
        page.not_found("nobody"),
    ],
    ids=["index", "team", "not_ready", "not_found"],
)
def test_pages_are_accessible_and_self_contained(document: bytes) -> None:
    assert document.startswith(b'<!DOCTYPE html>\n<html lang="en">\n')
    outline = Outline(document)
    assert landmarks(outline) == ["header", "nav", "main", "footer"]
    assert [t for t, _ in outline.tags].count("h1") == 1
    for table in outline.tables:
        assert table.caption
        assert table.heads
        assert all(scope == "col" for _, scope in table.heads)
    # No external asset: no src, no stylesheet link; every href is a path on this server.
    for tag, attrs in outline.tags:
        assert "src" not in attrs, tag
        if tag == "link":  # the one link: an empty icon, so no /favicon.ico request
            assert attrs == {"rel": "icon", "href": "data:,"}
            continue
        assert not re.match(r"^[a-z]+:|^//", attrs.get("href") or "", re.IGNORECASE), attrs
    scripts = [tag for tag, _ in outline.tags if tag == "script"]
    assert scripts == ["script"]


def test_content_security_policy_allows_exactly_the_inline_style_and_script() -> None:
    document = page.index(SUMMARY, TEAMS, migrate()).decode()
    (style,) = re.findall(r"<style>(.*?)</style>", document, re.DOTALL)
    (script,) = re.findall(r"<script>(.*?)</script>", document, re.DOTALL)

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert page.CONTENT_SECURITY_POLICY == (  # noqa: SIM300
        f"default-src 'none'; img-src data:; style-src 'sha256-{digest(style)}'; "
        f"script-src 'sha256-{digest(script)}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    assert " style=" not in document  # style attributes would need 'unsafe-inline'
    handlers = [
        (tag, name)
        for tag, attrs in Outline(document.encode()).tags
        for name in attrs
        if name.startswith("on")
    ]
    assert handlers == []  # event handler attributes would need 'unsafe-hashes'


HOSTILE_TEAM = '<img src=x onerror="alert(1)">&amp;'
HOSTILE_REASON = "</td></tr></table><script>alert(2)</script>"


def hostile() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    evil = team(
        HOSTILE_TEAM,
        True,
        False,
        False,
        0,
        1,
        {"kubectl": 1},
        None,
        "2026-06-01T00:00:00Z",
        {"source": "namespace", "object": "prod-eu/<b>ns</b>", "time": "2026-06-01T00:00:00Z"},
        None,
        None,
        None,
    )
    shadow = [
        workload(
            "prod-eu",
            "<b>ns</b>",
            "Deployment",
            '"><svg onload=alert(3)>',
            HOSTILE_TEAM,
            "namespace_label",
            "<i>team</i>",
            HOSTILE_REASON,
            "kubectl",
            "<u>kubectl</u>",
            None,
        ),
    ]
    return [evil], shadow, {**evil, "workloads": shadow, "repositories": None}


def test_hostile_labels_cannot_inject_markup() -> None:
    teams, shadow, body = hostile()
    summary = {**SUMMARY, "active_teams": 1, "adopted_teams": 0}
    for document in (
        page.index(summary, teams, page.migrate_first(teams, shadow)),
        page.team(body),
        page.not_found(HOSTILE_TEAM),
    ):
        outline = Outline(document)
        tags = {tag for tag, _ in outline.tags}
        assert not tags & {"img", "svg", "b", "i", "u"}
        assert [tag for tag, _ in outline.tags].count("script") == 1
        # The text reads back exactly as the label was written.
        assert HOSTILE_TEAM in outline.words()
        assert b"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;" in document
    index = Outline(page.index(summary, teams, page.migrate_first(teams, shadow)))
    assert index.table("Active teams").rows[0][0] == HOSTILE_TEAM
    assert index.table("Migrate first").rows[0][4] == HOSTILE_REASON
    escaped = "/teams/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E%26amp%3B"
    assert (escaped, HOSTILE_TEAM) in index.links
    workloads = Outline(page.team(body)).table("Workloads of")
    assert workloads.rows == [
        [
            'prod-eu/<b>ns</b>/Deployment/"><svg onload=alert(3)>',
            "shadow",
            HOSTILE_REASON,
            "kubectl (manager <u>kubectl</u>)",
            "namespace label <i>team</i>",
        ]
    ]


def test_team_links_escape_slashes_and_spaces() -> None:
    assert page.team_path("a/b c") == "/teams/a%2Fb%20c"
    assert page.team_path("zoë") == "/teams/zo%C3%AB"


def test_team_page() -> None:
    outline = Outline(page.team(search_team()))
    words = outline.words()
    assert "Team search Figures and evidence" in words
    for sentence in page.team_sentences(search_team()):
        assert sentence in words
    assert page.team_sentences(search_team()) == [
        "Team search is active and not adopted (not mandated): 0 of 3 workloads on a golden "
        "path (golden share 0%).",
        "Deploy tools: helm 1, kubectl 1, unknown 1.",
        "Repositories: 0 golden, 2 shadow, 0 other.",
        "Onboarded 2026-06-14 09:30 UTC: a namespace, created 2026-06-14 09:30 UTC (recorded "
        "before the state kept its name).",
        "First golden deploy: not yet.",
    ]
    workloads = outline.table("Workloads of search")
    assert workloads.caption == "Workloads of search (0 golden, 3 shadow)"
    assert [h for h, _ in workloads.heads] == [
        "Workload",
        "Path",
        "Why",
        "Deploy tool",
        "Team from",
    ]
    assert workloads.rows == [
        [
            "prod-eu/search/Deployment/indexer",
            "shadow",
            CHART_MISS,
            "kubectl (manager kubectl-client-side-apply, 2026-02-20 10:00 UTC)",
            "namespace label team",
        ],
        [
            "prod-eu/search/StatefulSet/es",
            "shadow",
            ES_MISS,
            "helm (manager helm, 2026-06-22 10:00 UTC)",
            "namespace label team",
        ],
        ["prod-us/search/Deployment/api", "shadow", CHART_MISS, "unknown", "namespace label owner"],
    ]
    repositories = outline.table("Repositories of search")
    assert repositories.rows == [
        ["acme/search", "shadow", "builds with its own workflows", "2025-01-01"]
    ]


def test_team_page_of_a_golden_team_without_github() -> None:
    golden = workload(
        "prod-eu",
        "billing",
        "Deployment",
        "api",
        "billing",
        "catalog",
        "Component api in acme/billing",
        "catalog Component api in golden repository acme/billing (service-template)",
        "argocd",
        "argocd-controller",
        "2026-05-11T12:00:00Z",
        path="golden",
        golden_path="service-template",
    )
    body = {
        **TEAMS[0],
        "workload_counts": {"golden": 1, "shadow": 0},
        "golden_share": 1.0,
        "repository_counts": None,
        "workloads": [golden],
        "repositories": None,
    }
    outline = Outline(page.team(body))
    assert outline.table("Workloads of billing").rows == [
        [
            "prod-eu/billing/Deployment/api",
            "golden (service-template)",
            "catalog Component api in golden repository acme/billing (service-template)",
            "argocd (manager argocd-controller, 2026-05-11 12:00 UTC)",
            "the catalog: Component api in acme/billing",
        ]
    ]
    assert [t.caption for t in outline.tables] == ["Workloads of billing (1 golden, 0 shadow)"]
    assert "Repositories:" not in outline.words()
    assert page.team_sentences(body)[0] == (
        "Team billing is active and adopted (mandated onto the platform): 1 of 1 workloads on a "
        "golden path (golden share 100%)."
    )


@pytest.mark.parametrize(
    ("when", "evidence", "sentence"),
    [
        (None, None, "Onboarded: not yet."),
        ("2026-03-01T00:00:00Z", None, "Onboarded 2026-03-01 00:00 UTC."),
        (
            "2026-02-14T09:30:00Z",
            {"source": "namespace", "object": "prod-eu/search", "time": "2026-02-14T09:30:00Z"},
            "Onboarded 2026-02-14 09:30 UTC: namespace prod-eu/search, created 2026-02-14 "
            "09:30 UTC.",
        ),
        (
            "2026-03-09T12:00:00Z",
            {"source": "workload", "object": "prod-eu/search/Deployment/api", "time": None},
            "Onboarded 2026-03-09 12:00 UTC: workload prod-eu/search/Deployment/api.",
        ),
        (
            "2026-05-01T00:00:00Z",
            {"source": "override", "object": "teams.onboarded", "time": None},
            "Onboarded 2026-05-01 00:00 UTC: set in the configuration (teams.onboarded).",
        ),
        (
            "2026-03-01T00:00:00Z",
            {"source": "launch_date", "object": "acme/old", "time": "2025-01-01T00:00:00Z"},
            "Onboarded 2026-03-01 00:00 UTC, the platform's launch date: its earliest evidence, "
            "acme/old (2025-01-01 00:00 UTC), predates it.",
        ),
        (
            "2026-03-01T00:00:00Z",
            {"source": "launch_date", "object": None, "time": None},
            "Onboarded 2026-03-01 00:00 UTC, the platform's launch date: its earliest evidence "
            "predates it.",
        ),
    ],
)
def test_evidence_in_words(
    when: str | None, evidence: dict[str, Any] | None, sentence: str
) -> None:
    assert page.evidence_sentence("Onboarded", when, evidence) == sentence


def test_explain_workload_in_sentences() -> None:
    indexer = SHADOW[2]
    assert page.explain_workload(indexer) == (
        "prod-eu/search/Deployment/indexer is shadow: service-chart: label helm.sh/chart is "
        '"nginx-1.2.0", not matching ^golden-service-. Team search, from namespace label team. '
        "Deployed with kubectl (manager kubectl-client-side-apply, 2026-02-20 10:00 UTC)."
    )
    assert page.explain_workload(SHADOW[4]) == (
        f"prod-eu/shared/Deployment/orphan is shadow: {CHART_MISS}. No team: no ownership "
        "label, catalog Component or ownership.namespaces entry. Deploy tool unknown: no "
        "managedFields entry owns its spec."
    )
    assert page.team_source_phrase(SHADOW[1]) == (
        "Team payments, from the catalog: Component worker in acme/worker"
    )
    assert page.team_source_phrase(SHADOW[5]) == "Team payments, from ownership.namespaces"
    assert page.team_source_phrase(SHADOW[0]) == "Team billing, from workload label team"


class FakeDrilldown:
    """collector.explain.Drilldown's methods over the sample set."""

    def __init__(self, workloads: Iterable[dict[str, Any]] = SHADOW) -> None:
        self.records = list(workloads)

    def summary(self) -> dict[str, Any]:
        return SUMMARY

    def teams(self) -> dict[str, Any]:
        return {"teams": TEAMS}

    def team(self, name: str) -> dict[str, Any] | None:
        return search_team() if name == "search" else None

    def workloads(self, **filters: str) -> list[dict[str, Any]]:
        return [w for w in self.records if all(w[k] == v for k, v in filters.items())]

    def workload_json(self, record: dict[str, Any]) -> dict[str, Any]:
        return record


def test_drilldown_adapters() -> None:
    drilldown = FakeDrilldown()
    assert page.teams_of(drilldown) == TEAMS
    assert page.shadow_of(drilldown) == SHADOW


def test_the_index_is_rendered_once_per_drilldown_and_does_not_keep_it(tmp_path: Path) -> None:
    from tests.test_explain import drilldown

    d = drilldown(tmp_path)
    first = page.index_of(d)
    assert page.index_of(d) is first  # rendered once, served as is
    gone = weakref.ref(d)
    del d
    gc.collect()
    assert gone() is None  # a past poll's records are not held for its page
