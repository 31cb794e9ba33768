"""JSON views of the last poll's drill-down (`/api/v1/...`): query parameters, paging, errors.

No I/O and nothing computed per request beyond filtering what `explain.Drilldown` indexed once
per poll. Every view takes (drilldown, query, path parameters) and returns (status, JSON body).
Field names are a contract (README, "API"); errors are `{"error": ..., "parameter": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from collector.model import DeployTool, Path, RepoPath

if TYPE_CHECKING:
    from collector.explain import Drilldown

CONTENT_TYPE = "application/json"
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000

Query = dict[str, list[str]]
View = Callable[["Drilldown | None", Query, dict[str, str]], tuple[int, bytes]]


class _BadRequest(Exception):
    def __init__(self, parameter: str | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status


def _body(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _view(
    allowed: Sequence[str], render: Callable[[Drilldown, dict[str, str], dict[str, str]], object]
) -> View:
    """A view: parameters checked (unknown or repeated ones refused), then `render` on the
    drilldown; 503 before the first poll."""

    def view(
        drilldown: Drilldown | None, query: Query, params: dict[str, str]
    ) -> tuple[int, bytes]:
        try:
            args = _single(query, allowed)
            if drilldown is None:
                raise _BadRequest(None, "no poll has completed yet", 503)
            return 200, _body(render(drilldown, args, params))
        except _BadRequest as exc:
            return exc.status, _body({"error": str(exc), "parameter": exc.parameter})

    return view


def _single(query: Query, allowed: Sequence[str]) -> dict[str, str]:
    args = {}
    for name, values in query.items():
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise _BadRequest(name, f"unknown parameter {name!r}; known: {known}")
        if len(values) != 1:
            raise _BadRequest(name, f"parameter {name!r} given more than once")
        args[name] = values[0]
    return args


def _choice(args: dict[str, str], name: str, choices: Sequence[str]) -> str | None:
    value = args.get(name) or None
    if value is not None and value not in choices:
        raise _BadRequest(name, f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _limit(args: dict[str, str]) -> int:
    text = args.get("limit") or str(DEFAULT_LIMIT)
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _BadRequest("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _token(key: tuple[str, str, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _after(token: str) -> tuple[str, str, str, str]:
    """The key a continue token resumes after. Keys, not offsets: a workload added or deleted
    between two pages moves nothing else."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        key = None
    if not (isinstance(key, list) and len(key) == 4 and all(isinstance(k, str) for k in key)):
        raise _BadRequest("continue", "continue is not a token this API gave out")
    return (key[0], key[1], key[2], key[3])


def _summary(drilldown: Drilldown, _args: dict[str, str], _params: dict[str, str]) -> object:
    return drilldown.summary()


def _teams(drilldown: Drilldown, _args: dict[str, str], _params: dict[str, str]) -> object:
    return {"teams": drilldown.teams()}


def _team(drilldown: Drilldown, _args: dict[str, str], params: dict[str, str]) -> object:
    team = drilldown.team(params["team"])
    if team is None:
        raise _BadRequest(None, f"no team {params['team']!r}", 404)
    return team


def _workloads(drilldown: Drilldown, args: dict[str, str], _params: dict[str, str]) -> object:
    limit = _limit(args)
    records = drilldown.workloads(
        team=args.get("team") or None,
        path=_choice(args, "path", [p.value for p in Path]),
        cluster=args.get("cluster") or None,
        namespace=args.get("namespace") or None,
        tool=_choice(args, "tool", [t.value for t in DeployTool]),
    )
    start = 0
    if token := args.get("continue"):
        start = bisect.bisect_right(records, _after(token), key=_key)
    page = records[start : start + limit]
    more = start + limit < len(records)
    return {
        "items": [drilldown.workload_json(record) for record in page],
        "continue": _token(_key(page[-1])) if more and page else None,
    }


def _key(record: Any) -> tuple[str, str, str, str]:
    return (record.cluster, record.namespace, record.kind, record.name)


def _repositories(drilldown: Drilldown, args: dict[str, str], _params: dict[str, str]) -> object:
    path = _choice(args, "path", [p.value for p in RepoPath])
    items = drilldown.repositories(team=args.get("team") or None, path=path)
    if items is None:
        raise _BadRequest(None, "GitHub is not configured: no repositories", 404)
    return {"items": [drilldown.repository_json(record) for record in items]}


def _history(drilldown: Drilldown, _args: dict[str, str], _params: dict[str, str]) -> object:
    return drilldown.history()


summary = _view([], _summary)
teams = _view([], _teams)
team = _view([], _team)
workloads = _view(["team", "path", "cluster", "namespace", "tool", "limit", "continue"], _workloads)
repositories = _view(["team", "path"], _repositories)
history = _view([], _history)
