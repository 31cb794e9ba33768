"""The status page for people without Grafana: server-rendered HTML over the drill-down JSON.

Pure: every function takes the contract's JSON dicts (/work/notes/api-contract.md, the
`/api/v1/...` bodies) and returns text or bytes, so the HTTP routes, `report` and `explain`
share one wording. No external assets (it works air-gapped): a little inline CSS, and an
inline script that only adds column sorting; with JavaScript off every table is complete,
in its server order. Everything that comes from a cluster or a repository (team names,
reasons, object names) is escaped.

`CONTENT_SECURITY_POLICY` allows exactly this page's inline style and script by hash, for
the HTTP layer to send with the HTML routes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import urllib.parse
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

JSON = Mapping[str, Any]


class Drilldown(Protocol):
    """What the pages (and `report`) need of collector.explain.Drilldown: contract dicts."""

    def summary(self) -> Any: ...
    def teams(self) -> Any: ...
    def team(self, name: str) -> Any: ...
    def workloads(
        self,
        team: str | None = None,
        path: str | None = None,
        cluster: str | None = None,
        namespace: str | None = None,
        tool: str | None = None,
    ) -> Iterable[Any]: ...
    def workload_json(self, record: Any, /) -> Any: ...
    def history(self) -> Any: ...


SHADOW_WORKLOADS_URL = "/api/v1/workloads?path=shadow"

_CSS = """
:root { color-scheme: light dark; --muted: #5a5a5a; --line: #c8c8c8; --good: #1b6b2f;
  --bad: #9b1c1c; }
@media (prefers-color-scheme: dark) { :root { --muted: #b0b0b0; --line: #555;
  --good: #7fd18f; --bad: #ff9c9c; } }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; }
header, main, footer { max-width: 78rem; margin: 0 auto; padding: 0 1rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 2rem;
  border-bottom: 1px solid var(--line); }
header p { margin: 0.6rem 0; font-weight: 600; font-size: 1.1rem; }
nav ul { list-style: none; display: flex; gap: 1.2rem; margin: 0.6rem 0; padding: 0; }
h1 { font-size: 1.5rem; margin: 1.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 0.5rem; }
.figures { display: flex; flex-wrap: wrap; gap: 0.8rem 2.5rem; margin: 0.5rem 0; }
.figures dt { color: var(--muted); font-size: 0.9rem; }
.figures dd { margin: 0; font-size: 1.6rem; font-weight: 600; }
.figures dd small { font-size: 0.9rem; font-weight: 400; color: var(--muted); }
.above { color: var(--good); }
.below { color: var(--bad); }
.muted, caption small { color: var(--muted); }
svg.curve { display: block; width: 100%; max-width: 56rem; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { text-align: left; padding: 0.25rem 0.8rem 0.25rem 0; border-bottom: 1px solid
  var(--line); vertical-align: top; }
td.num, th.num { text-align: right; }
th button { font: inherit; font-weight: 600; border: 0; padding: 0; background: none;
  color: inherit; cursor: pointer; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.reason { max-width: 40rem; }
td.id { white-space: nowrap; }
code { font-size: 0.92em; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 2rem; padding-bottom: 1rem; }
"""

# Sorting only: a click on a column head sorts by the cell's data-sort value (else its text),
# numbers as numbers, empty values last.
_JS = """
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent.trim(); }
    if (v === "") { return null; }
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function compare(x, y) {
    if (typeof x === "number" && typeof y === "number") { return x - y; }
    return String(x).localeCompare(String(y));
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === null || y === null) { return (x === null) - (y === null); }
          return ascending ? compare(x, y) : compare(y, x);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; img-src data:; style-src {_sha256(_CSS)}; script-src {_sha256(_JS)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


# -- wording shared with `report` and `explain` ---------------------------------------------


def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.0%}"


def day(when: str | None) -> str:
    """The date of an RFC 3339 time: "2026-03-01"; "" for None."""
    return "" if when is None else when[:10]


def moment(when: str | None) -> str:
    """ "2026-02-14T09:30:00Z" -> "2026-02-14 09:30 UTC"; "" for None."""
    if when is None:
        return ""
    if len(when) >= 16 and when[10] == "T":
        return f"{when[:10]} {when[11:16]} UTC"
    return when


def days(seconds: float | None) -> str:
    """Seconds as days with one decimal: 720000.0 -> "8.3"; "" for None."""
    return "" if seconds is None else f"{seconds / 86400:.1f}"


def workload_id(workload: JSON) -> str:
    return f"{workload['cluster']}/{workload['namespace']}/{workload['kind']}/{workload['name']}"


def team_path(team: str) -> str:
    """The status page URL of a team: /teams/{team}, the name percent-escaped."""
    return "/teams/" + urllib.parse.quote(team, safe="")


def age_phrase(months: int) -> str:
    if months < 0:
        return f"{-months} month{'s' if months != -1 else ''} before launch"
    return f"month {months}"


def _target_phrase(summary: JSON) -> str:
    target = summary.get("target_ratio")
    age = age_phrase(int(summary["platform_age_months"]))
    if target is None:
        return f"no target at {age} of the platform"
    return f"target {percent(target)} at {age} of the platform"


def headline(summary: JSON) -> str:
    """One line: the adoption and voluntary ratios against the target, and the workloads."""
    polled = f"Polled at {moment(summary.get('polled_at')) or 'an unknown time'}."
    shares = summary.get("workloads")
    if shares is None or summary.get("active_teams") is None:
        return f"No cluster has been polled successfully yet: no adoption figures. {polled}"
    golden = int(shares.get("golden", 0))
    total = golden + int(shares.get("shadow", 0))
    return (
        f"Adoption {percent(summary.get('adoption_ratio'))} "
        f"({summary['adopted_teams']} of {summary['active_teams']} active teams adopted), "
        f"voluntary {percent(summary.get('voluntary_ratio'))}; {_target_phrase(summary)}. "
        f"{golden} of {total} workloads on a golden path. {polled}"
    )


PREDICTOR_TITLES = {
    "product_manager": "Product manager",
    "baseline": "Pre-platform baseline",
    "nps": "Developer NPS above 20",
    "voluntary_adoption": "Voluntary adoption on track",
    "time_to_first_value": "Time to first value under 30 days",
}


def predictor_lines(summary: JSON) -> list[tuple[str, str]]:
    """The five predictors of platform success: (status, sentence) each, status "met", "not
    met" or "unknown"; empty when the summary has none."""
    found = summary.get("predictors")
    if not isinstance(found, Mapping):
        return []
    out = []
    for name, title in PREDICTOR_TITLES.items():
        p = found.get(name) or {}
        met = p.get("met")
        status = "unknown" if met is None else "met" if met else "not met"
        out.append((status, f"{title}: {_predictor_detail(name, p)}."))
    return out


def _predictor_detail(name: str, p: JSON) -> str:
    if name == "product_manager":
        return str(p["name"]) if p.get("name") else "none named (platform.product_manager)"
    if name == "baseline":
        if p.get("measured_on") is None:
            return "none measured (platform.baseline)"
        lead = p.get("lead_time_days")
        lead_text = "" if lead is None else f", lead time {lead:g} days"
        after = "" if p.get("met") else ", after the launch"
        return (
            f"{p.get('deploys_per_team_week'):g} deploys per team-week{lead_text}, "
            f"measured {p['measured_on']}{after}"
        )
    if name == "nps":
        if p.get("responses") is None:
            return "no survey (platform.nps)"
        if p.get("nps") is None:
            return "no survey answer in platform.nps_window"
        return f"NPS {p['nps']:.0f} from {p['responses']} answers"
    if name == "voluntary_adoption":
        if p.get("voluntary_ratio") is None:
            return "no voluntary team yet"
        required = p.get("required_ratio")
        need = "" if required is None else f", at least {percent(required)} needed now"
        return f"{percent(p['voluntary_ratio'])}{need}"
    teams = int(p.get("teams") or 0)
    if not teams:
        return "no team onboarded in the last 90 days"
    median = days(p.get("median_seconds")) or "-"
    waiting = "" if p.get("met") is not None else "; teams still waiting decide it"
    return f"median {median} days over the {teams} teams onboarded in the last 90 days{waiting}"


def evidence_sentence(label: str, when: str | None, evidence: JSON | None) -> str:
    """`label` is "Onboarded" or "First golden deploy"; the evidence object of the contract,
    in words: "Onboarded 2026-02-14 09:30 UTC: namespace prod-eu/search, created 2026-02-14
    09:30 UTC."
    """
    if when is None:
        return f"{label}: not yet."
    if evidence is None:
        return f"{label} {moment(when)}."
    source = str(evidence.get("source"))
    obj = evidence.get("object")
    at = evidence.get("time")
    created = f", created {moment(at)}" if at else ""
    if source == "override":
        why = "set in the configuration (teams.onboarded)"
    elif source == "launch_date":
        if obj:
            earliest = f"its earliest evidence, {obj}" + (f" ({moment(at)})," if at else ",")
        else:
            earliest = "its earliest evidence"
        return f"{label} {moment(when)}, the platform's launch date: {earliest} predates it."
    elif source in {"namespace", "workload", "repository"}:
        if obj:
            why = f"{source} {obj}{created}"
        else:
            why = f"a {source}{created} (recorded before the state kept its name)"
    else:
        why = " ".join(str(part) for part in (source, obj or "", created) if part)
    return f"{label} {moment(when)}: {why}."


def team_source(workload: JSON) -> str:
    """Where a workload's team came from: "namespace label team", "ownership.namespaces", ..."""
    source = workload.get("team_source")
    detail = workload.get("team_source_detail")
    if workload.get("team") is None or source in {None, "none"}:
        return "no ownership label, catalog Component or ownership.namespaces entry"
    if source == "workload_label":
        return f"workload label {detail}"
    if source == "namespace_label":
        return f"namespace label {detail}"
    if source == "catalog":
        return f"the catalog: {detail}"
    if source == "static_map":
        return "ownership.namespaces"
    return f"{source} {detail}" if detail else str(source)


def team_source_phrase(workload: JSON) -> str:
    if workload.get("team") is None or workload.get("team_source") in {None, "none"}:
        return f"No team: {team_source(workload)}"
    return f"Team {workload['team']}, from {team_source(workload)}"


def deploy_tool(workload: JSON) -> str:
    """ "kubectl (manager kubectl-client-side-apply, 2026-02-20 10:00 UTC)", or "unknown"."""
    tool = workload.get("tool") or "unknown"
    manager = workload.get("manager")
    if manager is None:
        return str(tool)
    at = workload.get("manager_time")
    return f"{tool} (manager {manager}" + (f", {moment(at)})" if at else ")")


def tool_phrase(workload: JSON) -> str:
    if (workload.get("tool") or "unknown") == "unknown" or workload.get("manager") is None:
        return "Deploy tool unknown: no managedFields entry owns its spec"
    return f"Deployed with {deploy_tool(workload)}"


def explain_workload(workload: JSON) -> str:
    """The explanation of one workload, in plain sentences."""
    return (
        f"{workload_id(workload)} is {workload.get('path')}: {workload.get('reason')}. "
        f"{team_source_phrase(workload)}. {tool_phrase(workload)}."
    )


def _count_phrase(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=_by_count) if n)


def _by_count(item: tuple[str, Any]) -> tuple[int, str]:
    return -int(item[1]), item[0]


def team_sentences(team: JSON) -> list[str]:
    """A team's figures and evidence, one sentence each (without its workload list)."""
    name = team["team"]
    counts = team.get("workload_counts") or {}
    golden, shadow = int(counts.get("golden", 0)), int(counts.get("shadow", 0))
    mandated = "mandated onto the platform" if team.get("mandated") else "not mandated"
    if team.get("active"):
        adopted = "adopted" if team.get("adopted") else "not adopted"
        first = (
            f"Team {name} is active and {adopted} ({mandated}): {golden} of {golden + shadow} "
            f"workloads on a golden path (golden share {percent(team.get('golden_share'))})."
        )
    else:
        first = (
            f"Team {name} is not active (no tracked workload now; {mandated}); its history is kept."
        )
    sentences = [first]
    tools = team.get("tools") or {}
    if tools:
        sentences.append(f"Deploy tools: {_count_phrase(tools)}.")
    repos = team.get("repository_counts")
    if repos is not None:
        sentences.append(
            f"Repositories: {repos.get('golden', 0)} golden, {repos.get('shadow', 0)} shadow, "
            f"{repos.get('other', 0)} other."
        )
    sentences.append(
        evidence_sentence("Onboarded", team.get("onboarded"), team.get("onboarded_evidence"))
    )
    sentences.append(
        evidence_sentence(
            "First golden deploy", team.get("first_deploy"), team.get("first_deploy_evidence")
        )
    )
    ttfd = team.get("time_to_first_deploy_seconds")
    if ttfd is not None:
        sentences.append(f"Time to first deploy: {days(ttfd)} days.")
    return sentences


# -- ordering --------------------------------------------------------------------------------


def migrate_first(teams: Sequence[JSON], shadow_workloads: Iterable[JSON]) -> list[JSON]:
    """The shadow workloads of active teams, in the order to migrate them: teams with no
    golden workload first, then by the team's shadow count (most first), then team name,
    then (cluster, namespace, kind, name). Unowned workloads are left out."""
    active = {t["team"]: t for t in teams if t.get("active")}

    def rank(workload: JSON) -> tuple[bool, int, str, str, str, str, str]:
        counts = active[workload["team"]].get("workload_counts") or {}
        return (
            int(counts.get("golden", 0)) > 0,
            -int(counts.get("shadow", 0)),
            workload["team"],
            workload["cluster"],
            workload["namespace"],
            workload["kind"],
            workload["name"],
        )

    chosen = [w for w in shadow_workloads if w.get("path") == "shadow" and w.get("team") in active]
    return sorted(chosen, key=rank)


def active_teams(teams: Iterable[JSON]) -> list[JSON]:
    return sorted((t for t in teams if t.get("active")), key=lambda t: str(t["team"]))


# -- HTML --------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _document(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # An empty icon: no /favicon.ico request, no 404 in the browser's console.
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        "<header>\n<p>adoption-collector</p>\n"
        '<nav aria-label="Site">\n<ul>\n<li><a href="/">Teams</a></li>\n'
        f'<li><a href="{_e(SHADOW_WORKLOADS_URL)}">Shadow workloads (JSON)</a></li>\n'
        '<li><a href="/metrics">Metrics</a></li>\n</ul>\n</nav>\n</header>\n'
        f"<main>\n{body}</main>\n"
        "<footer><p>Figures from the collector's last poll; the same figures as "
        '<a href="/metrics">/metrics</a> and <a href="/api/v1/summary">/api/v1/summary</a>.'
        f"</p></footer>\n<script>{_JS}</script>\n</body>\n</html>\n"
    ).encode()


def _th(label: str, numeric: bool = False) -> str:
    cls = ' class="num"' if numeric else ""
    return f'<th scope="col"{cls}>{_e(label)}</th>'


def _td(text: object, sort: object = None, cls: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    if sort is not None:
        attrs += f' data-sort="{_e(sort)}"'
    return f"<td{attrs}>{_e(text)}</td>"


def _table(caption: str, heads: Sequence[tuple[str, bool]], rows: Iterable[str]) -> str:
    head = "".join(_th(label, numeric) for label, numeric in heads)
    body = "\n".join(rows)
    return (
        '<div class="scroll">\n<table class="sortable">\n'
        f"<caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table>\n</div>\n"
    )


def _team_link(team: str) -> str:
    return f'<a href="{_e(team_path(team))}">{_e(team)}</a>'


def _standing(ratio: float | None, target: float | None) -> str:
    if ratio is None or target is None:
        return ""
    if ratio >= target:
        return ' <small class="above">on or above target</small>'
    return ' <small class="below">below target</small>'


def not_ready() -> bytes:
    """`/` before the first poll has completed."""
    return _document(
        "adoption-collector: no poll yet",
        "<h1>Platform adoption</h1>\n"
        "<p>No poll has completed yet: there are no figures to show. The collector polls "
        "every source once at start; reload this page in a minute.</p>\n",
    )


def not_found(team: str) -> bytes:
    """`/teams/{team}` for a team the collector does not know (to be served with 404)."""
    return _document(
        "adoption-collector: unknown team",
        f"<h1>No team named {_e(team)}</h1>\n"
        '<p>The collector knows no such team. <a href="/">All teams</a>.</p>\n',
    )


def index(
    summary: JSON | None,
    teams: Sequence[JSON],
    migrate: Sequence[JSON],
    limit: int = 100,
    curve: JSON | None = None,
) -> bytes:
    """`/`: the headline figures against the target, the adoption curve since launch (`curve`:
    the /api/v1/history document), one row per active team, and the first `limit` workloads
    of `migrate` (from `migrate_first`). `summary` None: no poll yet."""
    if summary is None:
        return not_ready()
    target = summary.get("target_ratio")
    shares = summary.get("workloads")
    age = age_phrase(int(summary["platform_age_months"]))
    parts = [
        "<h1>Platform adoption</h1>\n",
        f'<p class="muted">Polled at {_e(moment(summary.get("polled_at")) or "an unknown time")}'
        f"; the platform is at {_e(age)}.</p>\n",
    ]
    if shares is None or summary.get("active_teams") is None:
        parts.append(
            "<p>No cluster has been polled successfully yet: there are no adoption figures. "
            "The collector's logs name the cause.</p>\n"
        )
        return _document("adoption-collector: platform adoption", "".join(parts))
    golden, shadow = int(shares.get("golden", 0)), int(shares.get("shadow", 0))
    parts += [
        '<section aria-labelledby="figures">\n<h2 id="figures">Headline figures</h2>\n'
        '<dl class="figures">\n',
        f"<div><dt>Adoption</dt><dd>{_e(percent(summary.get('adoption_ratio')))}"
        f"{_standing(summary.get('adoption_ratio'), target)}<br><small>"
        f"{_e(summary['adopted_teams'])} of {_e(summary['active_teams'])} active teams"
        "</small></dd></div>\n",
        f"<div><dt>Voluntary adoption</dt><dd>{_e(percent(summary.get('voluntary_ratio')))}"
        f"{_standing(summary.get('voluntary_ratio'), target)}<br>"
        "<small>mandated teams left out</small></dd></div>\n",
        f"<div><dt>Target</dt><dd>{_e(percent(target))}<br><small>at {_e(age)}</small>"
        "</dd></div>\n",
        f"<div><dt>Workloads on a golden path</dt><dd>{golden}<br><small>of {golden + shadow}"
        "</small></dd></div>\n</dl>\n</section>\n",
    ]
    lines = predictor_lines(summary)
    if lines:
        met = sum(1 for status, _ in lines if status == "met")
        parts.append(
            '<section aria-labelledby="predictors">\n<h2 id="predictors">Five predictors</h2>\n'
            f"<p>{met} of 5 predictors of platform success met.</p>\n<ul>\n"
            + "".join(
                f"<li><strong>{_e(status)}</strong>: {_e(text)}</li>\n" for status, text in lines
            )
            + "</ul>\n</section>\n"
        )
    if curve and curve.get("days"):
        parts.append(curve_section(curve))
    rows = []
    active = active_teams(teams)
    for t in active:
        counts = t.get("workload_counts") or {}
        share = t.get("golden_share")
        ttfd = t.get("time_to_first_deploy_seconds")
        name = str(t["team"])
        mandated = ' <small class="muted">mandated</small>' if t.get("mandated") else ""
        rows.append(
            f'<tr><th scope="row" data-sort="{_e(name)}">{_team_link(name)}{mandated}</th>'
            + _td("yes" if t.get("adopted") else "no")
            + _td(percent(share), "" if share is None else share, "num")
            + _td(counts.get("shadow", 0), None, "num")
            + _td(day(t.get("onboarded")), t.get("onboarded") or "")
            + _td(days(ttfd) or "not yet", "" if ttfd is None else ttfd, "num")
            + "</tr>"
        )
    parts.append('<section aria-labelledby="teams">\n<h2 id="teams">Active teams</h2>\n')
    parts.append(
        _table(
            f"Active teams ({len(active)})",
            [
                ("Team", False),
                ("Adopted", False),
                ("Golden share", True),
                ("Shadow workloads", True),
                ("Onboarded", False),
                ("Days to first deploy", True),
            ],
            rows,
        )
    )
    parts.append("</section>\n")
    parts.append(_migrate_section(migrate, limit))
    return _document("adoption-collector: platform adoption", "".join(parts))


# The curve's drawing area, in SVG user units; the chart scales to the page's width.
_W, _H, _LEFT, _TOP, _BOTTOM = 720, 220, 44, 12, 28
_SERIES = (  # (field, label, colour, dashes)
    ("adoption_ratio", "adoption (all teams)", "#4477aa", ""),
    ("voluntary_ratio", "voluntary adoption", "#228833", ""),
    ("target_ratio", "target", "#cc3311", "6 4"),
)


def curve_section(curve: JSON) -> str:
    """The adoption curve since launch as an inline SVG (no script, no external asset), days
    reconstructed from the evidence shaded and labelled, then the same in words."""
    days = list(curve["days"])
    rebuilt = sum(1 for d in days if d.get("reconstructed"))
    first, last = str(days[0]["day"]), str(days[-1]["day"])
    summary = (
        f"Adoption, voluntary adoption and the target by UTC day from {first} to {last}; "
        f"{rebuilt} days before the collector's first poll are reconstructed from the evidence "
        "(a team is active from its onboarding, adopted from its first golden deploy)."
    )
    width, height = _W - _LEFT, _H - _TOP - _BOTTOM
    start = dt.date.fromisoformat(first)
    offsets = [(dt.date.fromisoformat(str(d["day"])) - start).days for d in days]
    step = width / max(offsets[-1], 1)

    def x(i: int) -> float:  # the i-th day's place: by date, so a gap shows as one
        return _LEFT + offsets[i] * step

    def y(ratio: float) -> float:
        return _TOP + (1 - ratio) * height

    out = [
        '<section aria-labelledby="curve">\n<h2 id="curve">Adoption since launch</h2>\n',
        f'<svg class="curve" viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="curve-title '
        f'curve-desc" xmlns="http://www.w3.org/2000/svg">\n<title id="curve-title">Adoption '
        f'since launch</title>\n<desc id="curve-desc">{_e(summary)}</desc>\n',
    ]
    if rebuilt:
        end = x(rebuilt - 1) + step / 2 if rebuilt < len(days) else x(rebuilt - 1)
        out.append(
            f'<rect class="reconstructed" x="{_LEFT}" y="{_TOP}" width="{end - _LEFT:.1f}" '
            f'height="{height}" fill="#888888" fill-opacity="0.15"/>\n'
            f'<text x="{_LEFT + 4}" y="{_TOP + 14}" font-size="12" fill="currentColor">'
            "reconstructed</text>\n"
        )
    for ratio in (0.0, 0.5, 1.0):
        out.append(
            f'<line x1="{_LEFT}" x2="{_W}" y1="{y(ratio):.1f}" y2="{y(ratio):.1f}" '
            'stroke="currentColor" stroke-opacity="0.3"/>\n'
            f'<text x="{_LEFT - 6}" y="{y(ratio) + 4:.1f}" font-size="12" text-anchor="end" '
            f'fill="currentColor">{ratio:.0%}</text>\n'
        )
    for label, anchor, at in ((first, "start", _LEFT), (last, "end", _W)):
        out.append(
            f'<text x="{at}" y="{_H - 8}" font-size="12" text-anchor="{anchor}" '
            f'fill="currentColor">{_e(label)}</text>\n'
        )
    at = 170  # the legend, between the dates; about 7 units a character
    for _, label, colour, dashes in _SERIES:
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        out.append(
            f'<line x1="{at}" x2="{at + 24}" y1="{_H - 12}" y2="{_H - 12}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>\n<text x="{at + 30}" y="{_H - 8}" font-size="12" '
            f'fill="currentColor">{_e(label)}</text>\n'
        )
        at += 50 + 7 * len(label)
    for field, label, colour, dashes in _SERIES:
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        for run in _runs(days, field):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            out.append(
                f'<polyline class="{field}" points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash}><title>{_e(label)}</title></polyline>\n'
            )
    out.append("</svg>\n")
    legend = "; ".join(f"{label}: {percent(days[-1].get(field))}" for field, label, _, _ in _SERIES)
    out.append(
        f'<p class="muted">{_e(summary)} On {_e(last)}: {_e(legend)}. Every day: '
        '<a href="/api/v1/history">/api/v1/history</a>.</p>\n</section>\n'
    )
    return "".join(out)


def _runs(days: Sequence[JSON], field: str) -> list[list[tuple[int, float]]]:
    """The (day index, value) points of `field`, split where it has no value (a ratio over
    no team)."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, d in enumerate(days):
        value = d.get(field)
        if isinstance(value, int | float):
            current.append((i, float(min(max(value, 0.0), 1.0))))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _migrate_section(migrate: Sequence[JSON], limit: int) -> str:
    shown = list(migrate[: max(limit, 0)])
    more = len(migrate) - len(shown)
    intro = (
        "<p>The shadow workloads of active teams: teams with no golden workload first, then "
        "the teams with the most shadow workloads.</p>\n"
    )
    out = ['<section aria-labelledby="migrate">\n<h2 id="migrate">Migrate first</h2>\n', intro]
    if not migrate:
        out.append("<p>No active team has a shadow workload.</p>\n</section>\n")
        return "".join(out)
    rows = [
        f'<tr><td data-sort="{i}" class="num">{i}</td>'
        f"<td>{_team_link(str(w['team']))}</td>"
        + _td(workload_id(w), None, "id")
        + _td(w.get("tool") or "unknown")
        + _td(w.get("reason"), None, "reason")
        + "</tr>"
        for i, w in enumerate(shown, 1)
    ]
    caption = f"Migrate first ({len(migrate)} shadow workloads"
    caption += f", the first {len(shown)} shown)" if more else ")"
    out.append(
        _table(
            _e(caption),
            [("#", True), ("Team", False), ("Workload", False), ("Tool", False), ("Why", False)],
            rows,
        )
    )
    if more:
        out.append(
            f"<p>{more} more not shown: every shadow workload is at "
            f'<a href="{_e(SHADOW_WORKLOADS_URL)}">{_e(SHADOW_WORKLOADS_URL)}</a>.</p>\n'
        )
    out.append("</section>\n")
    return "".join(out)


def team(team: JSON) -> bytes:
    """`/teams/{team}`: the team's figures, its onboarding and first-deploy evidence in words,
    and its workloads (path, reason, tool, team source). `team` is the /api/v1/teams/{team}
    body: the team object with "workloads" and "repositories" lists."""
    name = str(team["team"])
    workloads = [w for w in team.get("workloads") or () if isinstance(w, Mapping)]
    golden = sum(1 for w in workloads if w.get("path") == "golden")
    shadow = sum(1 for w in workloads if w.get("path") == "shadow")
    parts = [
        f"<h1>Team {_e(name)}</h1>\n",
        '<section aria-labelledby="about">\n<h2 id="about">Figures and evidence</h2>\n<ul>\n',
        *(f"<li>{_e(sentence)}</li>\n" for sentence in team_sentences(team)),
        "</ul>\n</section>\n",
    ]
    rows = []
    for w in workloads:
        rows.append(
            "<tr>"
            + _td(workload_id(w), None, "id")
            + _td(
                f"{w.get('path')} ({w['golden_path']})"
                if w.get("path") == "golden" and w.get("golden_path")
                else w.get("path")
            )
            + _td(w.get("reason"), None, "reason")
            + _td(deploy_tool(w), w.get("tool") or "")
            + _td(team_source(w))
            + "</tr>"
        )
    parts.append('<section aria-labelledby="workloads">\n<h2 id="workloads">Workloads</h2>\n')
    if workloads:
        parts.append(
            _table(
                _e(f"Workloads of {name} ({golden} golden, {shadow} shadow)"),
                [
                    ("Workload", False),
                    ("Path", False),
                    ("Why", False),
                    ("Deploy tool", False),
                    ("Team from", False),
                ],
                rows,
            )
        )
    else:
        parts.append("<p>No tracked workload now.</p>\n")
    parts.append("</section>\n")
    repositories = team.get("repositories")
    if isinstance(repositories, list) and repositories:
        repo_rows = [
            "<tr>"
            + _td(r.get("repository"))
            + _td(
                f"{r.get('path')} ({r['golden_path']})"
                if r.get("path") == "golden" and r.get("golden_path")
                else r.get("path")
            )
            + _td(r.get("reason"), None, "reason")
            + _td(day(r.get("created")), r.get("created") or "")
            + "</tr>"
            for r in repositories
            if isinstance(r, Mapping)
        ]
        parts.append(
            '<section aria-labelledby="repositories">\n'
            '<h2 id="repositories">Repositories</h2>\n'
            + _table(
                _e(f"Repositories of {name} ({len(repo_rows)})"),
                [("Repository", False), ("Path", False), ("Why", False), ("Created", False)],
                repo_rows,
            )
            + "</section>\n"
        )
    return _document(f"adoption-collector: team {name}", "".join(parts))


# -- the routes' entry points ----------------------------------------------------------------


def teams_of(drilldown: Drilldown) -> list[JSON]:
    """Drilldown.teams() as a list (it may return the /api/v1/teams body or its list)."""
    teams = drilldown.teams()
    if isinstance(teams, Mapping):
        teams = teams["teams"]
    return list(teams)


def shadow_of(drilldown: Drilldown) -> list[JSON]:
    return [drilldown.workload_json(r) for r in drilldown.workloads(path="shadow")]


# Keyed weakly: a past poll's drill-down (tens of thousands of records) is not kept alive
# for the sake of its page.
_INDEX_PAGES: weakref.WeakKeyDictionary[Drilldown, bytes] = weakref.WeakKeyDictionary()


def index_of(drilldown: Drilldown) -> bytes:
    """`/` for one poll's drill-down: rendered by the first request after the poll, then served
    as is until the next."""
    body = _INDEX_PAGES.get(drilldown)
    if body is None:
        teams = teams_of(drilldown)
        body = index(
            drilldown.summary(),
            teams,
            migrate_first(teams, shadow_of(drilldown)),
            curve=drilldown.history(),
        )
        _INDEX_PAGES[drilldown] = body
    return body
