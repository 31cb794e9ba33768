"""`report` and `explain`: the drill-down figures on a terminal, from one poll or a running
collector.

Both read the drill-down JSON of the contract (`/api/v1/...` bodies): from the pipeline's
`Drilldown` after one poll (as `once` polls), or with `--from URL` from a running collector's
API. Everything after that is shared, so both modes print the same text.

Exit codes as `once`: 0 ok, 1 a source failed (the figures are still printed), the `--from`
URL cannot be read, or the team or workload is unknown; 2 the config or state is unusable.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from collector import page
from collector.ownership import normalise_team
from collector.page import Drilldown

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
TIMEOUT = 30.0
PAGE_LIMIT = 5000  # the API's largest page

JSON = Mapping[str, Any]

FORMAT_HELP = (
    "table: aligned plain text (summary, active teams, migrate-first list); "
    'json: one document {"summary", "teams", "migrate_first"} with the API\'s objects '
    "(every team, active or not); csv: the team table only, one row per active team: "
    "team, adopted, mandated, golden_workloads, shadow_workloads, golden_share (0-1), "
    "onboarded, first_deploy (RFC 3339), time_to_first_deploy_days"
)


CURVE_HELP = (
    "print the adoption curve since the launch instead, one row per UTC day, days before the "
    "collector's first poll reconstructed from the evidence and marked (table: *; json: the "
    "/api/v1/history document; csv: " + "day, active_teams, adopted_teams, mandated_teams, "
    "adoption_ratio, voluntary_ratio, target_ratio (0-1), reconstructed)"
)


class ReadError(Exception):
    """The --from URL could not be read; the message says why."""


class Reader(Protocol):
    """The drill-down figures, as the contract's JSON objects."""

    def summary(self) -> JSON: ...
    def teams(self) -> list[JSON]: ...
    def shadow_workloads(self) -> list[JSON]: ...
    def team(self, name: str) -> JSON | None: ...
    def workloads_in(self, cluster: str, namespace: str) -> list[JSON]: ...
    def history(self) -> JSON: ...


class LocalReader:
    """The figures of this process's own poll."""

    def __init__(self, drilldown: Drilldown) -> None:
        self.drilldown = drilldown

    def summary(self) -> JSON:
        result: JSON = self.drilldown.summary()
        return result

    def teams(self) -> list[JSON]:
        return page.teams_of(self.drilldown)

    def shadow_workloads(self) -> list[JSON]:
        return page.shadow_of(self.drilldown)

    def team(self, name: str) -> JSON | None:
        result: JSON | None = self.drilldown.team(name)
        return result

    def workloads_in(self, cluster: str, namespace: str) -> list[JSON]:
        d = self.drilldown
        return [d.workload_json(r) for r in d.workloads(cluster=cluster, namespace=namespace)]

    def history(self) -> JSON:
        result: JSON = self.drilldown.history()
        return result


class RemoteReader:
    """The figures of a running collector, read from its /api/v1 routes."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ReadError(f"{base_url}: not an http:// or https:// URL of a collector")
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        """The JSON body of GET base+path, or None for a 404; ReadError otherwise."""
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and path.startswith("/api/v1/teams/"):
                return None
            raise ReadError(f"GET {url}: {exc.code} {_error_message(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReadError(f"GET {url}: {reason}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ReadError(f"GET {url}: the answer is not JSON") from None

    def summary(self) -> JSON:
        result: JSON = self.get("/api/v1/summary")
        return result

    def teams(self) -> list[JSON]:
        return list(self.get("/api/v1/teams")["teams"])

    def _workloads(self, query: Mapping[str, str]) -> list[JSON]:
        items: list[JSON] = []
        token: str | None = None
        while True:
            params = {**query, "limit": str(PAGE_LIMIT)}
            if token:
                params["continue"] = token
            body = self.get("/api/v1/workloads", params)
            items.extend(body["items"])
            token = body.get("continue")
            if not token:
                return items

    def shadow_workloads(self) -> list[JSON]:
        return self._workloads({"path": "shadow"})

    def team(self, name: str) -> JSON | None:
        result: JSON | None = self.get("/api/v1/teams/" + urllib.parse.quote(name, safe=""))
        return result

    def workloads_in(self, cluster: str, namespace: str) -> list[JSON]:
        return self._workloads({"cluster": cluster, "namespace": namespace})

    def history(self) -> JSON:
        result: JSON = self.get("/api/v1/history")
        return result


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read())["error"]
    except Exception:
        return str(exc.reason)
    return str(message)


# -- formats ---------------------------------------------------------------------------------


def columns(heads: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows aligned in columns two spaces apart, the last column not padded."""
    table = [list(heads), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(heads) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]])
        for r in table
    ]


def format_table(summary: JSON, teams: Sequence[JSON], migrate: Sequence[JSON]) -> str:
    lines = [page.headline(summary), ""]
    predictors = page.predictor_lines(summary)
    if predictors:
        met = sum(1 for status, _ in predictors if status == "met")
        lines.append(f"Five predictors ({met} of 5 met):")
        lines.extend(f"  {status:<8} {text}" for status, text in predictors)
        lines.append("")
    active = page.active_teams(teams)
    lines.append(f"Active teams ({len(active)}):")
    lines.extend(
        columns(
            [
                "TEAM",
                "ADOPTED",
                "MANDATED",
                "GOLDEN",
                "SHADOW",
                "GOLDEN SHARE",
                "ONBOARDED",
                "DAYS TO FIRST DEPLOY",
            ],
            (
                [
                    str(t["team"]),
                    "yes" if t.get("adopted") else "no",
                    "yes" if t.get("mandated") else "no",
                    str((t.get("workload_counts") or {}).get("golden", 0)),
                    str((t.get("workload_counts") or {}).get("shadow", 0)),
                    page.percent(t.get("golden_share")),
                    page.day(t.get("onboarded")) or "-",
                    page.days(t.get("time_to_first_deploy_seconds")) or "-",
                ]
                for t in active
            ),
        )
    )
    lines.append("")
    if migrate:
        lines.append(f"Migrate first ({len(migrate)} shadow workloads of active teams):")
        lines.extend(
            columns(
                ["TEAM", "WORKLOAD", "TOOL", "WHY"],
                (
                    [
                        str(w["team"]),
                        page.workload_id(w),
                        str(w.get("tool") or "unknown"),
                        str(w.get("reason")),
                    ]
                    for w in migrate
                ),
            )
        )
    else:
        lines.append("Migrate first: no active team has a shadow workload.")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def format_json(summary: JSON, teams: Sequence[JSON], migrate: Sequence[JSON]) -> str:
    document = {"summary": summary, "teams": list(teams), "migrate_first": list(migrate)}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def format_csv(teams: Sequence[JSON]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "team",
            "adopted",
            "mandated",
            "golden_workloads",
            "shadow_workloads",
            "golden_share",
            "onboarded",
            "first_deploy",
            "time_to_first_deploy_days",
        ]
    )
    for t in page.active_teams(teams):
        counts = t.get("workload_counts") or {}
        share = t.get("golden_share")
        ttfd = t.get("time_to_first_deploy_seconds")
        writer.writerow(
            [
                t["team"],
                "true" if t.get("adopted") else "false",
                "true" if t.get("mandated") else "false",
                counts.get("golden", 0),
                counts.get("shadow", 0),
                "" if share is None else f"{share:.4f}",
                t.get("onboarded") or "",
                t.get("first_deploy") or "",
                "" if ttfd is None else f"{ttfd / 86400:.2f}",
            ]
        )
    return out.getvalue()


CURVE_COLUMNS = (
    "day",
    "active_teams",
    "adopted_teams",
    "mandated_teams",
    "adoption_ratio",
    "voluntary_ratio",
    "target_ratio",
    "reconstructed",
)


def curve_table(document: JSON) -> str:
    days = document["days"]
    rebuilt = sum(1 for d in days if d["reconstructed"])
    lines = [
        f"Adoption since the launch on {document['launch_date']}: {len(days)} days, "
        f"{rebuilt} of them reconstructed from the evidence (marked *: a team counts as "
        "active from its onboarding, adopted from its first golden deploy).",
        "",
    ]
    lines.extend(
        columns(
            ["DAY", "ACTIVE", "ADOPTED", "MANDATED", "ADOPTION", "VOLUNTARY", "TARGET"],
            (
                [
                    d["day"] + ("*" if d["reconstructed"] else ""),
                    str(d["active_teams"]),
                    str(d["adopted_teams"]),
                    str(d["mandated_teams"]),
                    page.percent(d["adoption_ratio"]),
                    page.percent(d["voluntary_ratio"]),
                    page.percent(d["target_ratio"]),
                ]
                for d in days
            ),
        )
    )
    return "\n".join(line.rstrip() for line in lines) + "\n"


def curve_csv(document: JSON) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for d in document["days"]:
        writer.writerow(
            [
                "" if (v := d[c]) is None else str(v).lower() if isinstance(v, bool) else v
                for c in CURVE_COLUMNS
            ]
        )
    return out.getvalue()


CURVE_FORMATS: dict[str, Callable[[JSON], str]] = {
    "table": curve_table,
    "json": lambda document: json.dumps(document, indent=2) + "\n",
    "csv": curve_csv,
}

FORMATS: dict[str, Callable[[JSON, Sequence[JSON], Sequence[JSON]], str]] = {
    "table": format_table,
    "json": format_json,
    "csv": lambda _summary, teams, _migrate: format_csv(teams),
}


def explain_team(team: JSON) -> str:
    """A team (the /api/v1/teams/{team} body) in sentences, then each of its workloads."""
    lines = list(page.team_sentences(team))
    workloads = [w for w in team.get("workloads") or () if isinstance(w, Mapping)]
    if workloads:
        lines.append(f"Workloads ({len(workloads)}):")
        lines.extend(f"  {page.explain_workload(w)}" for w in workloads)
    return "\n".join(lines) + "\n"


# -- commands --------------------------------------------------------------------------------


def _with_reader(args: argparse.Namespace, use: Callable[[Reader], int]) -> int:
    """Run `use` on the figures of --from URL, else of one poll of --config FILE."""
    if args.from_url:
        try:
            return use(RemoteReader(args.from_url))
        except ReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if not args.config:
        print(f"{args.command}: --config FILE or --from URL is required", file=sys.stderr)
        return EXIT_CONFIG
    from collector.cli import _load, _pipeline

    pipeline = _pipeline(_load(args.config))
    if pipeline is None:
        return EXIT_CONFIG
    try:
        ok = pipeline.poll_once()
        drilldown = pipeline.drilldown
        if drilldown is None:
            print("error: no source could be polled: there are no figures", file=sys.stderr)
            return EXIT_FAILED
        code = use(LocalReader(drilldown))
    finally:
        pipeline.close()
    return code if code != EXIT_OK or ok else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    def report(reader: Reader) -> int:
        if getattr(args, "curve", False):
            sys.stdout.write(CURVE_FORMATS[args.format](reader.history()))
            sys.stdout.flush()
            return EXIT_OK
        summary, teams = reader.summary(), reader.teams()
        migrate = page.migrate_first(teams, reader.shadow_workloads())
        sys.stdout.write(FORMATS[args.format](summary, teams, migrate))
        sys.stdout.flush()
        return EXIT_OK

    return _with_reader(args, report)


def parse_workload(text: str) -> tuple[str, str, str, str]:
    """CLUSTER/NAMESPACE/KIND/NAME; argparse turns the ValueError into a usage error."""
    parts = text.split("/")
    if len(parts) != 4 or not all(parts):
        raise ValueError(text)
    cluster, namespace, kind, name = parts
    return cluster, namespace, kind, name


def cmd_explain(args: argparse.Namespace) -> int:
    if (args.team is None) == (args.workload is None):
        print("explain: give either --team TEAM or CLUSTER/NAMESPACE/KIND/NAME", file=sys.stderr)
        return EXIT_CONFIG

    def explain(reader: Reader) -> int:
        if args.team is not None:
            name = normalise_team(args.team) or args.team
            found = reader.team(name)
            if found is None:
                print(f"explain: no team named {args.team!r} is known", file=sys.stderr)
                return EXIT_FAILED
            sys.stdout.write(explain_team(found))
            return EXIT_OK
        cluster, namespace, kind, name = args.workload
        for w in reader.workloads_in(cluster, namespace):
            if w["kind"] == kind and w["name"] == name:
                sys.stdout.write(page.explain_workload(w) + "\n")
                return EXIT_OK
        print(
            f"explain: no tracked workload {cluster}/{namespace}/{kind}/{name} "
            "(kinds are case-sensitive, e.g. Deployment)",
            file=sys.stderr,
        )
        return EXIT_FAILED

    return _with_reader(args, explain)
