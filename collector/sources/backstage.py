"""The Backstage source: the catalog's Components and Groups, as records.

Read through `GET /api/catalog/entities/by-query`, the catalog's paginated query:
the first page of each kind sends `filter`, `fields` (only what is used),
`orderField` and `limit`; later pages send the `cursor` Backstage returned,
with `limit` and `fields` again (the cursor carries the filter and the order).
Never one unpaginated request: without `limit` Backstage answers up to 200
entities and nothing says more were left out.

Time is bounded twice: `timeout` per request, from the first byte sent to the
last read, and `poll_timeout` for every page of a poll. A poll either reads the
whole catalog or fails (`PollError`) and changes nothing: a half-read catalog
would drop the ownership of every Component on the pages not read.
The token is a static external-access token; a token file is read on every
poll, so a rotated token needs no restart. It never reaches a message.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from collector import __version__, catalog, config
from collector.model import CatalogObservation, Component, Group
from collector.sources import PollDeadline, PollError

__all__ = ["BackstageSource"]

QUERY_PATH = "/api/catalog/entities/by-query"
MAX_BODY_BYTES = 64 * 1024 * 1024  # one page; at page_size 500 a page is well under 1 MiB
MAX_PAGES = 100_000  # a server whose cursors never end must not keep a poll going
# Only what the records need: Backstage returns nothing else of each entity.
COMPONENT_FIELDS = "kind,metadata.name,metadata.annotations,spec.owner"
GROUP_FIELDS = "kind,metadata.name,spec.parent,spec.profile.displayName"
ORDER = "metadata.name,asc"


class BackstageSource:
    """Reads the whole catalog per `poll()`; keeps nothing between polls."""

    source = "backstage"

    def __init__(self, settings: config.Backstage) -> None:
        self.settings = settings
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"adoption-collector/{__version__}"
        self._lock = threading.Lock()  # one poll at a time
        self._deadline = PollDeadline("backstage", settings.timeout, settings.poll_timeout)
        self._closed = False

    def poll(self) -> CatalogObservation:
        with self._lock:
            if self._closed:
                raise PollError("backstage: the source is closed")
            self._deadline.start()
            token = self._token()
            components: list[Component] = []
            groups: list[Group] = []
            skipped = 0
            for kind, fields in (("component", COMPONENT_FIELDS), ("group", GROUP_FIELDS)):
                for entity in self._entities(kind, fields, token):
                    record, problems = catalog.parse_entity(entity)
                    if isinstance(record, Component):
                        components.append(record)
                    elif isinstance(record, Group):
                        groups.append(record)
                    elif problems:
                        skipped += 1
            return CatalogObservation(
                components=tuple(components),
                groups=tuple(groups),
                objects={"components": len(components), "groups": len(groups)},
                skipped=skipped,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._session.close()

    def _entities(self, kind: str, fields: str, token: str) -> Iterator[object]:
        params: dict[str, str] = {
            "filter": f"kind={kind}",
            "fields": fields,
            "orderField": ORDER,
            "limit": str(self.settings.page_size),
        }
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._get(params, token)
            items = page.get("items")
            if not isinstance(items, list):
                raise PollError(f"backstage: {QUERY_PATH} answered without an items list")
            yield from items
            info = page.get("pageInfo")
            cursor = info.get("nextCursor") if isinstance(info, dict) else None
            if not isinstance(cursor, str) or not cursor:
                return
            if cursor in seen:  # a server going round in circles
                raise PollError(f"backstage: {QUERY_PATH} returned the same cursor twice")
            seen.add(cursor)
            params = {"cursor": cursor, "limit": str(self.settings.page_size), "fields": fields}
        raise PollError(f"backstage: {QUERY_PATH} had more than {MAX_PAGES} pages")

    def _get(self, params: dict[str, str], token: str) -> dict[str, Any]:
        s = self.settings
        if self._deadline.left() <= 0:
            raise PollError(f"backstage: backstage.poll_timeout ({s.poll_timeout:g}s) reached")
        request = self._deadline.request()
        limit = request.left()
        try:
            with self._session.get(
                s.base_url + QUERY_PATH,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=(limit, limit),
                stream=True,
                allow_redirects=False,
            ) as answer:
                self._check_status(answer.status_code)
                body = bytearray()
                # Each read is bounded by the socket timeout; the whole body by `ends`, so a
                # server trickling a byte at a time cannot hold the poll.
                for chunk in answer.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise PollError(f"backstage: a page larger than {MAX_BODY_BYTES} bytes")
                    if request.left() < 0:
                        raise requests.Timeout()
        except requests.Timeout:
            if request.by_poll:
                raise PollError(
                    f"backstage: backstage.poll_timeout ({s.poll_timeout:g}s) reached"
                ) from None
            raise PollError(
                f"backstage: {s.base_url}{QUERY_PATH}: no complete answer within "
                f"{s.timeout:g}s (backstage.timeout)"
            ) from None
        except (requests.RequestException, OSError) as exc:
            raise PollError(f"backstage: cannot reach {s.base_url}: {type(exc).__name__}") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise PollError(f"backstage: {QUERY_PATH}: the answer is not valid JSON") from None
        if not isinstance(data, dict):
            raise PollError(f"backstage: {QUERY_PATH}: the answer is not a JSON object")
        return data

    def _check_status(self, status: int) -> None:
        if status == 200:
            return
        if status in (401, 403):
            s = self.settings
            where = (
                f"environment variable {s.token_env}"
                if s.token_env is not None
                else f"token_file {s.token_file}"
            )
            raise PollError(
                f"backstage: {s.base_url} refused the token from {where} ({status}): it must "
                "be a static token listed under backend.auth.externalAccess in Backstage's "
                "app-config, allowed catalog.entity.read if the permission framework is on"
            )
        if status == 404:
            raise PollError(
                f"backstage: {self.settings.base_url}{QUERY_PATH} not found (404): is "
                "backstage.base_url the backend's base URL, with the catalog plugin installed?"
            )
        raise PollError(f"backstage: {QUERY_PATH} answered {status}")

    def _token(self) -> str:
        s = self.settings
        if s.token_env is not None:
            token = os.environ.get(s.token_env, "").strip()
            if not token:
                raise PollError(
                    f"backstage: environment variable {s.token_env} is not set or empty"
                )
            return token
        assert s.token_file is not None
        try:
            token = Path(s.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise PollError(f"backstage: cannot read token_file {s.token_file}: {why}") from None
        if not token:
            raise PollError(f"backstage: token_file {s.token_file} is empty")
        return token
