"""The GitHub source: an organisation's repositories, catalog-info.yaml and workflows, as records.

GitHub's rate limit is the constraint everything here serves (5,000 points an
hour for a token, shared with every other tool using it):
- The repository list is read over REST with one ETag per page. An unchanged
  page answers 304, which GitHub does not charge for, so a rescan of a quiet
  organisation costs nothing but the requests.
- Details (template, catalog-info.yaml, workflow files) come from GraphQL, a
  hundred repositories per query at one point each, and only for repositories
  pushed to since they were last read; the rest come from the previous scan.
- No request is made once a budget is down to its reserve (`github_api`): the
  scan ends with what it has (`complete=False`) and the next one carries on
  after the reset, starting from what this one read. A secondary limit asking
  for too long a wait, and the scan's `poll_timeout`, end it the same way.
- A repository GraphQL could not read (a partial error) keeps what the last
  scan read of it and is read again next scan; one it reports NOT_FOUND is gone.
- A scan that ends early having read nothing at all is a failure, not an
  empty organisation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from collector import catalog, config
from collector.model import Component, GitHubObservation, RateLimit, Repository
from collector.sources import PollError
from collector.sources.github_api import (
    CORE,
    GRAPHQL,
    PER_PAGE,
    GitHubAPI,
    OutOfBudget,
    header,
    parse_time,
)

__all__ = ["GitHubSource"]

log = logging.getLogger(__name__)

DETAILS_PER_QUERY = 100  # GitHub prices a query reading up to 100 nodes at one point

DETAILS_QUERY = """\
query RepositoryDetails($ids: [ID!]!) {
  rateLimit { cost remaining limit resetAt }
  nodes(ids: $ids) {
    ... on Repository {
      id nameWithOwner createdAt pushedAt isArchived
      templateRepository { nameWithOwner }
      catalog: object(expression: "HEAD:catalog-info.yaml") {
        ... on Blob { byteSize isBinary isTruncated text }
      }
      workflows: object(expression: "HEAD:.github/workflows") {
        ... on Tree {
          entries { name type object { ... on Blob { byteSize isBinary isTruncated text } } }
        }
      }
    }
  }
}"""


@dataclass(frozen=True, slots=True)
class _Listed:
    node_id: str
    full_name: str
    created: float | None
    pushed_raw: str | None  # compared as text: it decides whether details are read again
    archived: bool
    property_team: str | None  # the ownership custom property, from `custom_properties`


@dataclass(slots=True)
class _Page:
    etag: str | None
    items: list[Any]  # parsed compact records (None for an unusable item), not the raw JSON
    has_next: bool


@dataclass(frozen=True, slots=True)
class _Details:
    pushed_raw: str | None  # the listing's pushed_at when these details were read
    template: str | None
    has_catalog: bool
    components: tuple[Component, ...]
    workflow_files: int
    workflow_uses: tuple[str, ...]


@dataclass(slots=True)
class _Scan:
    """What one poll has spent and found so far."""

    complete: bool = True
    listing_complete: bool = True  # every page of the listing read in this scan
    parse_errors: int = 0
    skipped: int = 0
    objects: dict[str, int] = field(default_factory=dict)
    why_incomplete: list[str] = field(default_factory=list)

    def incomplete(self, why: str) -> None:
        self.complete = False
        if why not in self.why_incomplete:
            self.why_incomplete.append(why)


def _has_next(link: str | None) -> bool:
    return link is not None and 'rel="next"' in link


class GitHubSource:
    """Scans one organisation per `poll()`; keeps ETags and details between polls."""

    source = "github"

    def __init__(
        self,
        settings: config.GitHub,
        *,
        property_name: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.property_name = property_name
        self.api = GitHubAPI(settings, clock=clock, sleep=sleep)
        self._repo_pages: dict[int, _Page] = {}
        self._details: dict[str, _Details] = {}
        self._lock = threading.Lock()  # one poll at a time owns the caches
        self._closed = False

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        return self.api.rate_limits

    def poll(self) -> GitHubObservation:
        with self._lock:
            if self._closed:
                raise PollError("github: the source is closed")
            scan = _Scan()
            self.api.start_poll()
            try:
                repositories = self._scan(scan)
            except PollError:
                raise
            except (requests.RequestException, OSError) as exc:
                raise PollError(
                    f"github: cannot reach {self.settings.base_url}: {type(exc).__name__}"
                ) from None
            return GitHubObservation(
                org=self.settings.org,
                repositories=repositories,
                complete=scan.complete,
                objects=dict(scan.objects),
                parse_errors=scan.parse_errors,
                rate_limits=self.rate_limits,
                skipped=scan.skipped,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.api.close()

    # -- the scan -----------------------------------------------------------------

    def _scan(self, scan: _Scan) -> tuple[Repository, ...]:
        org = self.settings.org
        listed: list[_Listed] = []
        repos_path = f"/orgs/{org}/repos"
        wanted = self.property_name

        def parse(item: object) -> _Listed | None:
            return _listed(item, wanted)

        for repo in self._pages(repos_path, self._repo_pages, scan, _REPO_PARAMS, parse):
            if repo is None:
                scan.skipped += 1
            elif self.settings.include_archived or not repo.archived:
                listed.append(repo)

        stale = [r for r in listed if self._cached(r) is None]
        self._read_details(stale, scan)  # GraphQL has a budget of its own
        if scan.listing_complete:
            # Only a full listing proves a repository is gone.
            known = {r.node_id for r in listed}
            for node_id in self._details.keys() - known:
                del self._details[node_id]

        repositories = []
        catalogs = 0
        for repo in listed:
            details = self._details.get(repo.node_id)
            if details is None:
                continue  # not read yet: the budget ran out before it
            catalogs += details.has_catalog
            repositories.append(
                Repository(
                    full_name=repo.full_name,
                    created=repo.created,
                    pushed=parse_time(repo.pushed_raw),
                    archived=repo.archived,
                    template=details.template,
                    components=details.components,
                    workflow_files=details.workflow_files,
                    workflow_uses=details.workflow_uses,
                    property_team=repo.property_team,
                )
            )
        if not scan.complete:
            why = "; ".join(scan.why_incomplete)
            if not repositories:
                # Zero repositories would read as an empty organisation: fail instead, so
                # the figures of the last good scan (if any) stay.
                raise PollError(f"github: {why}; no repository of {org} read yet")
            log.warning(
                "github: scan of %s stopped early: %s; keeping what it read "
                "(%d repositories), the next scan carries on",
                org,
                why,
                len(repositories),
            )
        # What the observation holds, not what this scan happened to re-read.
        scan.objects.update(
            {
                "repositories": len(repositories),
                "catalog-info.yaml": catalogs,
                "workflows": sum(r.workflow_files for r in repositories),
            }
        )
        return tuple(repositories)

    def _cached(self, repo: _Listed) -> _Details | None:
        details = self._details.get(repo.node_id)
        if details is None or details.pushed_raw != repo.pushed_raw:
            return None
        return details

    def _pages(
        self,
        path: str,
        cache: dict[int, _Page],
        scan: _Scan,
        params: Mapping[str, str],
        parse: Callable[[object], Any],
    ) -> Iterator[Any]:
        """Every item of a paginated list, parsed; unchanged pages come from `cache` (304)."""
        page_no = 1
        while True:
            cached = cache.get(page_no)
            try:
                page = self._page(path, page_no, cached, params, parse)
            except OutOfBudget as exc:
                scan.incomplete(str(exc))
                scan.listing_complete = False
                # The rest of the list as the last scan saw it is the best there is.
                for number in sorted(n for n in cache if n >= page_no):
                    yield from cache[number].items
                return
            cache[page_no] = page
            yield from page.items
            if not page.has_next:
                for stale in [n for n in cache if n > page_no]:
                    del cache[stale]
                return
            page_no += 1

    def _page(
        self,
        path: str,
        page_no: int,
        cached: _Page | None,
        params: Mapping[str, str],
        parse: Callable[[object], Any],
    ) -> _Page:
        query = {**params, "per_page": str(PER_PAGE), "page": str(page_no)}
        headers = {"If-None-Match": cached.etag} if cached and cached.etag else {}
        answer, data = self.api.request("GET", path, CORE, parameters=query, headers=headers)
        if cached is not None and data is None:  # 304 Not Modified
            return cached
        if not isinstance(data, list):
            raise PollError(f"github: {path} page {page_no}: expected a JSON list")
        return _Page(
            etag=header(answer, "etag"),
            items=[parse(item) for item in data],
            has_next=_has_next(header(answer, "link")),
        )

    def _read_details(self, stale: Sequence[_Listed], scan: _Scan) -> None:
        unread: list[str] = []
        for start in range(0, len(stale), DETAILS_PER_QUERY):
            batch = stale[start : start + DETAILS_PER_QUERY]
            try:
                nodes, errors = self._query_details([r.node_id for r in batch])
            except OutOfBudget as exc:
                scan.incomplete(str(exc))
                break
            for repo in batch:
                node = nodes.get(repo.node_id)
                if node is not None:
                    self._details[repo.node_id] = self._parse_details(repo, node, scan)
                    continue
                error = errors.get(repo.node_id)
                if error is None or error[0] == "NOT_FOUND":
                    # Deleted (or hidden from us) between the listing and the query.
                    self._details.pop(repo.node_id, None)
                    scan.skipped += 1
                    continue
                # Kept as the last scan read it, if it did; its pushed_at still differs,
                # so the next scan asks again.
                unread.append(repo.full_name)
                log.warning("github: %s: GraphQL could not read it: %s", repo.full_name, error[1])
        if unread:
            scan.incomplete(f"GraphQL could not read {len(unread)} repositories")

    def _query_details(
        self, ids: list[str]
    ) -> tuple[dict[str, Mapping[str, Any]], dict[str, tuple[str | None, str]]]:
        """The nodes read, by id, and the (type, message) of each id GraphQL reported an
        error for."""
        body = {"query": DETAILS_QUERY, "variables": {"ids": ids}}
        headers, data = self.api.request("POST", self.api.graphql_url, GRAPHQL, input=body)
        if not isinstance(data, dict):
            raise PollError("github: GraphQL answered something that is not a JSON object")
        errors = data.get("errors")
        errors = errors if isinstance(errors, list) else []
        payload = data.get("data")
        if not isinstance(payload, dict):
            kinds = {e.get("type") for e in errors if isinstance(e, dict)}
            # GitHub names the error RATE_LIMITED, or RATE_LIMIT, or something else again;
            # an empty budget in the headers says it whatever the type.
            spent = (header(headers, "x-ratelimit-remaining") or "").strip() == "0"
            if spent or "RATE_LIMITED" in kinds:
                raise OutOfBudget(f"GraphQL refused the query: {_first_message(errors)}")
            raise PollError(f"github: GraphQL query failed: {_first_message(errors)}")
        self.api.note_graphql_limit(payload.get("rateLimit"))
        nodes = payload.get("nodes")
        found: dict[str, Mapping[str, Any]] = {}
        if isinstance(nodes, list):
            for node in nodes:
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    found[node["id"]] = node
        other = [e for e in errors if _node_index(e) is None]
        if other:
            # Not about one repository (a field of the query, say): nothing to keep or retry.
            log.warning("github: GraphQL answered with errors: %s", _first_message(other))
        return found, _node_errors(errors, ids)

    def _parse_details(self, repo: _Listed, node: Mapping[str, Any], scan: _Scan) -> _Details:
        template = node.get("templateRepository")
        template_name = template.get("nameWithOwner") if isinstance(template, dict) else None

        components: tuple[Component, ...] = ()
        blob = node.get("catalog")
        has_catalog = isinstance(blob, dict) and bool(blob)  # {}: a directory, not a file
        if isinstance(blob, dict) and has_catalog:
            text, problem = _blob_text(blob)
            problems = [problem] if problem else []
            if text is not None:
                components, problems = catalog.parse_catalog_info(text)
            if problems:
                self._parse_error(scan, repo, "catalog-info.yaml", problems)

        workflow_files = 0
        uses: list[str] = []
        tree = node.get("workflows")
        entries = tree.get("entries") if isinstance(tree, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict) or entry.get("type") != "blob":
                continue
            name = entry.get("name")
            if not isinstance(name, str) or not name.endswith((".yml", ".yaml")):
                continue
            workflow_files += 1
            obj = entry.get("object")
            text, problem = _blob_text(obj if isinstance(obj, dict) else {})
            problems = [problem] if problem else []
            if text is not None:
                found, problems = catalog.parse_workflow(text)
                uses.extend(found)
            if problems:
                self._parse_error(scan, repo, f".github/workflows/{name}", problems)

        return _Details(
            pushed_raw=repo.pushed_raw,
            template=template_name if isinstance(template_name, str) else None,
            has_catalog=has_catalog,
            components=components,
            workflow_files=workflow_files,
            workflow_uses=tuple(uses),
        )

    @staticmethod
    def _parse_error(scan: _Scan, repo: _Listed, path: str, problems: Sequence[str]) -> None:
        # Logged once: the details are cached until the next push changes the file.
        scan.parse_errors += 1
        log.warning("github: %s: %s: %s", repo.full_name, path, "; ".join(problems))


_REPO_PARAMS = {"type": "all", "sort": "created", "direction": "asc"}


def _listed(item: object, property_name: str | None) -> _Listed | None:
    if not isinstance(item, dict):
        return None
    node_id, full_name = item.get("node_id"), item.get("full_name")
    if not isinstance(node_id, str) or not isinstance(full_name, str) or "/" not in full_name:
        return None
    pushed = item.get("pushed_at")
    return _Listed(
        node_id=node_id,
        full_name=full_name,
        created=parse_time(item.get("created_at")),
        pushed_raw=pushed if isinstance(pushed, str) else None,
        archived=item.get("archived") is True,
        property_team=_property_team(item.get("custom_properties"), property_name),
    )


def _property_team(properties: object, property_name: str | None) -> str | None:
    # The listing carries every repository's custom properties, so changing one
    # changes that page's ETag and costs no request of its own.
    if property_name is None or not isinstance(properties, dict):
        return None
    value = properties.get(property_name)
    if isinstance(value, list):  # a multi-select property: the first team it names
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return value if isinstance(value, str) and value.strip() else None


def _blob_text(blob: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The text of a GraphQL Blob, or why it cannot be parsed."""
    size = blob.get("byteSize")
    if blob.get("isBinary"):
        return None, "binary file, not parsed"
    if blob.get("isTruncated"):
        # GitHub's GraphQL API returns the first 512,000 bytes of a blob's text, no more
        # (undocumented): what it returned says where it cut, whatever the limit now is.
        whole = f"{size:,} bytes, " if isinstance(size, int) else ""
        text = blob.get("text")
        cut = (
            f" at {len(text.encode('utf-8', 'surrogatepass')):,} bytes"
            if isinstance(text, str)
            else ""
        )
        return None, f"{whole}truncated by GitHub{cut}, not parsed"
    if isinstance(size, int) and size > catalog.MAX_FILE_BYTES:
        return None, "larger than 1 MiB, not parsed"
    text = blob.get("text")
    if not isinstance(text, str):
        return None, "no text in the answer"
    return text, None


def _node_errors(errors: object, ids: Sequence[str]) -> dict[str, tuple[str | None, str]]:
    """GraphQL's partial errors by the id they are about: `path` is ["nodes", index]."""
    found: dict[str, tuple[str | None, str]] = {}
    for error in errors if isinstance(errors, list) else ():
        index = _node_index(error)
        if index is not None and index < len(ids) and ids[index] not in found:
            kind, message = error.get("type"), error.get("message")
            found[ids[index]] = (
                kind if isinstance(kind, str) else None,
                str(message)[:200] if isinstance(message, str) else "no message",
            )
    return found


def _node_index(error: object) -> int | None:
    path = error.get("path") if isinstance(error, dict) else None
    if isinstance(path, list) and len(path) >= 2 and path[0] == "nodes":
        index = path[1]
        if isinstance(index, int) and index >= 0:
            return index
    return None


def _first_message(errors: object) -> str:
    if isinstance(errors, list):
        for error in errors:
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])[:200]
    return "no message"
