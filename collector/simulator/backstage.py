"""A Backstage catalog backend on loopback, as much of it as the collector reads:
`GET /api/catalog/entities/by-query` with a static external-access token.

It answers as Backstage's catalog does: `filter=kind=X` (case-insensitive),
`fields=a.b,c` (only those paths of each entity), `orderField=metadata.name,asc`,
`limit` (200 when absent), and an opaque `cursor` for the next page that carries
the filter and the order, so later pages send only `cursor`, `limit` and `fields`
(a `filter` or `orderField` beside a cursor is ignored, as Backstage does; `requests`
records what each query sent). Right
after `start_ingesting()` it answers 200 with no entities until `ingest()`, as
a freshly started Backstage does until its processing loop has run.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from collector.simulator.loopback import Fault, Faults, Handler, Loopback, send_body

QUERY_PATH = "/api/catalog/entities/by-query"
DEFAULT_LIMIT = 200  # Backstage's, for a query without `limit`


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One request to the query endpoint, as the simulator read it."""

    params: tuple[tuple[str, str], ...]
    status: int
    items: int


def _error(status: int, name: str, message: str) -> bytes:
    body = {"error": {"name": name, "message": message}, "response": {"statusCode": status}}
    return json.dumps(body).encode()


def _select(entity: Mapping[str, Any], paths: Iterable[list[str]]) -> dict[str, Any]:
    """Only the `fields` paths of an entity, as Backstage's field selection keeps them."""
    out: dict[str, Any] = {}
    for path in paths:
        value: Any = entity
        for part in path:
            if not isinstance(value, Mapping) or part not in value:
                break
            value = value[part]
        else:
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = copy.deepcopy(value)
    return out


class BackstageSimulator(Loopback):
    thread_name = "backstage-simulator"

    def __init__(self, token: str, entities: Iterable[Mapping[str, Any]] = ()) -> None:
        self.token = token
        self._entities: list[Mapping[str, Any]] = list(entities)
        self._ingested = True
        self._faults = Faults()
        self._lock = threading.Lock()
        self.requests: list[QueryRecord] = []

    @property
    def base_url(self) -> str:
        return self.url

    def set_entities(self, entities: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._entities = list(entities)

    def start_ingesting(self) -> None:
        """Answer no entities (totalItems 0) until `ingest()`: a Backstage just restarted."""
        with self._lock:
            self._ingested = False

    def ingest(self) -> None:
        with self._lock:
            self._ingested = True

    def add_fault(self, status: int, *, times: int | None = 1, delay: float = 0.0) -> None:
        """Answer the next `times` queries with `status` (200: only after `delay` seconds)."""
        body = None if status == HTTPStatus.OK else _error(status, "Error", "injected")
        self._faults.add(Fault(re.compile(""), status, times, None, body, delay))

    def handle(self, h: Handler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)  # keep-alive stays in step
        params = parse_qsl(split.query, keep_blank_values=True)
        status, body, items = self._answer(split.path, params, h.headers.get("Authorization"))
        with self._lock:
            self.requests.append(QueryRecord(tuple(params), status, items))
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        send_body(h, body, None)

    def _answer(
        self, path: str, params: list[tuple[str, str]], authorization: str | None
    ) -> tuple[int, bytes, int]:
        if authorization != f"Bearer {self.token}":
            return 401, _error(401, "AuthenticationError", "Illegal token"), 0
        if path != QUERY_PATH:
            return 404, _error(404, "NotFoundError", f"No route for {path}"), 0
        fault = self._faults.take("GET", path)
        if fault is not None:
            if fault.delay:
                threading.Event().wait(fault.delay)
            if fault.body is not None:
                return fault.status, fault.body, 0
        query: dict[str, str] = {}
        for key, value in params:
            if key in query and key != "fields":
                return 400, _error(400, "InputError", f"{key} given twice"), 0
            query[key] = value if key not in query else f"{query[key]},{value}"
        try:
            page = self._page(query)
        except ValueError as exc:
            return 400, _error(400, "InputError", str(exc)), 0
        return 200, json.dumps(page).encode(), len(page["items"])

    def _page(self, query: Mapping[str, str]) -> dict[str, Any]:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        if limit < 0:
            raise ValueError("limit must be a non-negative number")
        if "cursor" in query:
            try:
                state = json.loads(base64.b64decode(query["cursor"]))
                kind, order, offset = state["kind"], state["order"], int(state["offset"])
            except (ValueError, KeyError, TypeError):
                raise ValueError("Malformed cursor") from None
        else:
            kind, order, offset = self._filter_kind(query.get("filter")), query.get("orderField"), 0
            if order not in (None, "metadata.name,asc", "metadata.name,desc"):
                raise ValueError(f"the simulator orders by metadata.name only, not {order}")
        with self._lock:
            chosen = [] if not self._ingested else list(self._entities)
        if kind is not None:
            chosen = [e for e in chosen if str(e.get("kind", "")).lower() == kind]
        if order is not None:
            chosen.sort(
                key=lambda e: str(e.get("metadata", {}).get("name", "")).lower(),
                reverse=order.endswith(",desc"),
            )
        fields = (
            [f.split(".") for f in query["fields"].split(",") if f] if "fields" in query else []
        )
        window = chosen[offset : offset + limit]
        items = [_select(e, fields) if fields else copy.deepcopy(dict(e)) for e in window]
        info: dict[str, str] = {}
        if offset + limit < len(chosen):
            state = {"kind": kind, "order": order, "offset": offset + limit}
            info["nextCursor"] = base64.b64encode(json.dumps(state).encode()).decode()
        return {"items": items, "totalItems": len(chosen), "pageInfo": info}

    @staticmethod
    def _filter_kind(value: str | None) -> str | None:
        if value is None:
            return None
        key, sep, kind = value.partition("=")
        if key.lower() != "kind" or not sep or not kind:
            raise ValueError(f"the simulator filters by kind=X only, not {value!r}")
        return kind.lower()
