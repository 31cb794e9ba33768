"""A simulated GitHub organisation for tests, the demo and benchmarks.

Serves exactly the part of GitHub's API the collector's GitHub source
(`collector/sources/github.py`) speaks: the organisation's repository list over
REST with weak ETags, conditional requests and Link pagination; repository
details over GraphQL (any query GitHub's published schema accepts, executed over
the repositories, their files and the rate limit: `github_graphql`); custom
property values; the GitHub App installation-token exchange;
per-resource rate limits (`core` and `graphql`) with GitHub's headers; and
injected faults. It is plain HTTP on loopback, github.com style (REST at `/`,
GraphQL at `/graphql`) or Enterprise Server style (`/api/v3`, `/api/graphql`).

Every answer is built from the current store. Serialised repositories and whole
list pages (with their ETags) are cached and dropped on change, so a 10,000
repository organisation costs a slice and a join per page, not a re-render.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import string
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt

from collector.simulator import github_graphql
from collector.simulator.github_graphql import GitHubError
from collector.simulator.loopback import Fault, Faults, Handler, Loopback, send_body

MAX_LOGGED_REQUESTS = 100_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
MAX_NODE_IDS = 100
DEFAULT_LIMIT = 5000
RESET_WINDOW = 3600.0  # seconds; GitHub's primary budgets refill hourly
TOKEN_LIFETIME = dt.timedelta(hours=1)
MAX_JWT_LIFETIME = 600  # GitHub refuses app JWTs whose exp is over 10 minutes after iat
# GitHub does not document where GraphQL stops returning a blob's whole text; it has
# been seen to cut `Blob.text` at exactly 512,000 bytes and say `isTruncated: true`
# (per instance: `GitHubSimulator.blob_text_limit`).
BLOB_TEXT_LIMIT = 512_000

CORE, GRAPHQL = "core", "graphql"
CATALOG_PATH = "catalog-info.yaml"
WORKFLOWS_DIR = ".github/workflows"

DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
JWT_MESSAGE = "A JSON web token could not be decoded"
_ACCESS_TOKENS = re.compile(r"^/app/installations/(?P<id>[^/]+)/access_tokens$")
_TOKEN_CHARS = string.ascii_letters + string.digits

PropertyValue = str | list[str] | None
FileContent = str | bytes


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str  # as requested, prefix (`/api/v3`) included, query left out
    query: dict[str, str]
    status: int
    resource: str  # "core" or "graphql"
    cost: int  # rate-limit points charged
    nodes: int = 0  # ids a GraphQL query asked for


@dataclass(slots=True)
class _Budget:
    limit: int
    remaining: int
    reset: float  # unix seconds
    charged: int = 0  # points charged since the simulator was made, across windows

    def refill_if_due(self, now: float) -> None:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + RESET_WINDOW

    def headers(self, resource: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(max(self.limit - self.remaining, 0)),
            # Rounded up: a client that sleeps until this second finds the budget refilled.
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
            "X-RateLimit-Resource": resource,
        }


@dataclass(slots=True)
class _Repo:
    id: int
    node_id: str
    name: str
    created: dt.datetime
    pushed: dt.datetime | None
    updated: dt.datetime
    archived: bool
    template: str | None  # owner/name
    files: dict[str, FileContent]
    properties: dict[str, PropertyValue]
    # Built lazily, reused by every page and query until the repository changes.
    listing: bytes | None = None
    values: bytes | None = None
    node: dict[str, Any] | None = None
    objects: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by path

    @property
    def sort_key(self) -> tuple[dt.datetime, int]:
        return (self.created, self.id)


@dataclass(slots=True)
class _Page:
    body: bytes
    etag: str
    last: int  # number of the last page


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    target: str  # path?query as sent, what faults match
    query: dict[str, str]
    payload: bytes
    authorization: str | None
    if_none_match: str | None
    resource: str


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cost: int = 1
    nodes: int = 0
    refund: bool = False  # give back the point reserved on admission (a 304)
    fault: Fault | None = None  # how the body goes out: trickling or cut off


@dataclass(slots=True)
class _GraphQLError:
    message: str
    type: str | None
    times: int | None


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def iso(moment: dt.datetime) -> str:
    """GitHub's timestamp form, `YYYY-MM-DDTHH:MM:SSZ` in UTC; naive times are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(repo_id: int) -> str:
    """GitHub's next-generation global id: `R_` + base64 of msgpack [0, id]."""
    packed = b"\x92\x00\xce" + repo_id.to_bytes(4, "big")
    return "R_" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _message(message: str, docs: str = DOCS) -> bytes:
    return _dumps({"message": message, "documentation_url": docs})


def _fault_body(status: int) -> bytes:
    if status in (403, 429):
        return _message(SECONDARY_MESSAGE, f"{RATE_LIMIT_DOCS}#about-secondary-rate-limits")
    if status == 401:
        return _message("Bad credentials")
    if status == 404:
        return _message("Not Found")
    if status >= 500:
        return _dumps({"message": "Server Error"})
    try:
        return _message(HTTPStatus(status).phrase)
    except ValueError:
        return _message("Error")


def _blob(content: FileContent, limit: int) -> dict[str, Any]:
    blob: dict[str, Any] = {"__typename": "Blob"}
    if isinstance(content, bytes):
        return blob | {
            "byteSize": len(content),
            "isBinary": True,
            "isTruncated": False,
            "text": None,
        }
    raw = content.encode()
    truncated = len(raw) > limit
    text = raw[:limit].decode(errors="ignore") if truncated else content
    return blob | {"byteSize": len(raw), "isBinary": False, "isTruncated": truncated, "text": text}


def _tree_entries(files: Mapping[str, FileContent], directory: str) -> list[tuple[str, str]]:
    """(name, type) of each entry directly under `directory` ("" for the root), in git's
    tree order."""
    prefix = directory + "/" if directory else ""
    entries: dict[str, str] = {}
    for path in files:
        if path.startswith(prefix):
            name, sep, _ = path[len(prefix) :].partition("/")
            entries[name] = "tree" if sep else "blob"
    # git orders a tree as if its name ended in "/"
    return sorted(entries.items(), key=lambda e: e[0] + "/" if e[1] == "tree" else e[0])


def _is_dir(files: Mapping[str, FileContent], path: str) -> bool:
    prefix = path + "/"
    return any(p.startswith(prefix) for p in files)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    return any(
        c.strip() == "*" or c.strip().removeprefix("W/") == wanted for c in header.split(",")
    )


def _clean_path(path: str) -> str:
    clean = path.strip("/")
    if not clean or "//" in clean:
        raise ValueError(f"not a file path: {path!r}")
    return clean


class GitHubSimulator(Loopback):
    thread_name = "github-simulator"

    def __init__(
        self,
        org: str = "acme",
        token: str = "sim-github-token",
        *,
        enterprise: bool = False,
        app: tuple[int, int, str] | None = None,
    ) -> None:
        """`app` = (app_id, installation_id, public key PEM) enables the token exchange."""
        self.org = org
        self.token = token
        self.enterprise = enterprise
        self.app = app
        self.blob_text_limit = BLOB_TEXT_LIMIT
        self.requests: list[RequestRecord] = []
        self.request_count = 0
        self._prefix = "/api/v3" if enterprise else ""
        self._graphql_path = "/api/graphql" if enterprise else "/graphql"
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._by_node: dict[str, _Repo] = {}
        self._order: list[_Repo] = []  # by (created, id): the listing order
        self._keys: list[tuple[dt.datetime, int]] = []  # sort keys of _order, for bisect
        self._next_id = 1000
        self._pages: dict[tuple[str, bool, int, int], _Page] = {}
        now = time.time()
        self._budgets = {
            r: _Budget(DEFAULT_LIMIT, DEFAULT_LIMIT, now + RESET_WINDOW) for r in (CORE, GRAPHQL)
        }
        self._faults = Faults()
        self._graphql_errors: dict[str, list[_GraphQLError]] = {}
        # What GitHub answers (with status 200) to a GraphQL query once the budget is
        # spent; it has also been seen to say {"type": "RATE_LIMIT", "code": ...}.
        self.graphql_limit_error: dict[str, str] = {"type": "RATE_LIMITED"}
        self._installation_tokens: dict[str, float] = {}  # token -> expiry, unix seconds

    # --- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What `github.base_url` must be set to: the REST root."""
        return self.url + self._prefix

    @property
    def graphql_url(self) -> str:
        return self.url + self._graphql_path

    # --- repositories ----------------------------------------------------------------

    def add_repo(
        self,
        name: str,
        *,
        created: dt.datetime,
        pushed: dt.datetime | None = None,
        archived: bool = False,
        template: str | None = None,
        files: Mapping[str, FileContent] | None = None,
        properties: Mapping[str, PropertyValue] | None = None,
    ) -> None:
        """Add a repository. Ids (and node ids) increase in the order repositories are
        added, so add them oldest first for GitHub's "ids increase with creation".
        `template` is `owner/name` (a bare name means this organisation's)."""
        created = self._utc(created)
        pushed = self._utc(pushed) if pushed is not None else None
        stored_files = {_clean_path(p): c for p, c in (files or {}).items()}
        with self._lock:
            if name in self._repos:
                raise ValueError(f"repository {name!r} already exists")
            self._next_id += 1
            repo = _Repo(
                id=self._next_id,
                node_id=node_id(self._next_id),
                name=name,
                created=created,
                pushed=pushed,
                updated=max(created, pushed) if pushed is not None else created,
                archived=archived,
                template=self._full_name(template) if template else None,
                files=stored_files,
                properties=dict(properties or {}),
            )
            self._repos[name] = repo
            self._by_node[repo.node_id] = repo
            index = bisect.bisect(self._keys, repo.sort_key)
            self._keys.insert(index, repo.sort_key)
            self._order.insert(index, repo)
            self._pages.clear()

    def push(
        self,
        name: str,
        *,
        files: Mapping[str, FileContent] | None = None,
        remove: Iterable[str] = (),
        when: dt.datetime,
    ) -> None:
        """Change files on the default branch: `remove` deletes paths (a directory with
        everything under it), then `files` are written. Bumps pushed_at."""
        when = self._utc(when)
        with self._lock:
            repo = self._repos[name]
            for path in map(_clean_path, remove):
                prefix = path + "/"
                for existing in [p for p in repo.files if p == path or p.startswith(prefix)]:
                    del repo.files[existing]
            repo.files.update({_clean_path(p): c for p, c in (files or {}).items()})
            repo.pushed = when
            repo.updated = max(repo.updated, when)
            self._changed(repo)

    def set_archived(self, name: str, archived: bool) -> None:
        with self._lock:
            repo = self._repos[name]
            repo.archived = archived
            repo.updated = max(repo.updated, dt.datetime.now(dt.UTC).replace(microsecond=0))
            self._changed(repo)

    def set_properties(self, name: str, properties: Mapping[str, PropertyValue]) -> None:
        """Replace the repository's custom property values with `properties`."""
        with self._lock:
            repo = self._repos[name]
            repo.properties = dict(properties)
            self._changed(repo)

    def delete_repo(self, name: str) -> None:
        with self._lock:
            repo = self._repos.pop(name)
            del self._by_node[repo.node_id]
            index = bisect.bisect_left(self._keys, repo.sort_key)
            del self._keys[index], self._order[index]
            self._pages.clear()

    @property
    def repo_count(self) -> int:
        with self._lock:
            return len(self._repos)

    def node_id_of(self, name: str) -> str:
        with self._lock:
            return self._repos[name].node_id

    def repo_id_of(self, name: str) -> int:
        with self._lock:
            return self._repos[name].id

    def _changed(self, repo: _Repo) -> None:
        repo.listing = repo.values = repo.node = None
        repo.objects.clear()
        self._pages.clear()

    def _full_name(self, name: str) -> str:
        return name if "/" in name else f"{self.org}/{name}"

    @staticmethod
    def _utc(moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).replace(microsecond=0)

    # --- test controls -------------------------------------------------------------

    def set_rate_limit(
        self,
        resource: str,
        *,
        remaining: int,
        limit: int = DEFAULT_LIMIT,
        reset: float | None = None,
    ) -> None:
        """Set a budget. At `reset` (unix seconds; default an hour from now) it refills
        to `limit` for another hour, as GitHub's do."""
        if resource not in self._budgets:
            raise ValueError(f"resource must be {CORE!r} or {GRAPHQL!r}")
        with self._lock:
            budget = self._budgets[resource]
            budget.limit, budget.remaining = limit, remaining
            budget.reset = time.time() + RESET_WINDOW if reset is None else reset

    def rate_limit(self, resource: str) -> tuple[int, int, float]:
        """(remaining, limit, reset) of a budget now."""
        with self._lock:
            budget = self._budgets[resource]
            budget.refill_if_due(time.time())
            return budget.remaining, budget.limit, budget.reset

    def points_used(self, resource: str) -> int:
        """Points charged to `resource` since the simulator was made."""
        with self._lock:
            return self._budgets[resource].charged

    def add_fault(
        self,
        path_regex: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: int | None = None,
        body: object | None = None,
        delay: float = 0.0,
        method: str | None = None,
        trickle: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Answer the next `times` requests whose `path?query` matches with `status`.

        Faults apply after authentication and before the rate-limit check. `status` 200
        without `body` only changes how the real answer goes out: `delay` seconds before
        it, `trickle` seconds between 64-byte pieces of its body, `drop` to hang up half
        way through it. `body` bytes go out as they are, anything else as JSON; by default
        GitHub's message for the status (403/429: the secondary rate limit).
        """
        raw = body if isinstance(body, bytes) or body is None else _dumps(body)
        self._faults.add(
            Fault(
                re.compile(path_regex),
                status,
                times,
                retry_after,
                raw,
                delay,
                method,
                trickle=trickle,
                drop=drop,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def add_graphql_error(
        self, name: str, message: str, *, type: str | None = None, times: int | None = 1
    ) -> None:
        """The next `times` queries that ask for repository `name` get null for it and a
        partial error `{"type": type, "path": ["nodes", i], "message": message}`."""
        with self._lock:
            node = self._repos[name].node_id
            self._graphql_errors.setdefault(node, []).append(_GraphQLError(message, type, times))

    def expire_installation_tokens(self) -> None:
        """Every installation token issued so far now gets 401 Bad credentials."""
        with self._lock:
            self._installation_tokens.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- HTTP ----------------------------------------------------------------------

    def handle(self, h: Handler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        split = urlsplit(h.path)
        req = _Request(
            method=h.command,
            path=split.path,
            target=h.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            # Read the body even when refusing the request, or keep-alive would desync.
            payload=h.rfile.read(length) if length > 0 else b"",
            authorization=h.headers.get("Authorization"),
            if_none_match=h.headers.get("If-None-Match"),
            resource=GRAPHQL if split.path == self._graphql_path else CORE,
        )
        response = self._respond(req)
        if response.refund:
            self._refund(req.resource)
        headers = self._account(req.resource, response)
        record = RequestRecord(
            req.method,
            req.path,
            req.query,
            response.status,
            req.resource,
            response.cost,
            response.nodes,
        )
        with self._lock:
            self.request_count += 1
            self.requests.append(record)
            if len(self.requests) > MAX_LOGGED_REQUESTS:  # a demo may run for days
                del self.requests[: MAX_LOGGED_REQUESTS // 2]
        self._send(h, response, headers)

    def _respond(self, req: _Request) -> _Response:
        """The answer; one point is reserved from the budget unless it says cost 0."""
        rest_path = self._rest_path(req.path)
        exchange = _ACCESS_TOKENS.match(rest_path) if rest_path is not None else None
        # The token exchange authenticates with the app's JWT instead.
        if exchange is None and not self._authorised(req.authorization):
            return self._charged(req.resource, _Response(401, _message("Bad credentials")))
        fault = self._faults.take(req.method, req.target)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None or fault.status != HTTPStatus.OK:
                return self._charged(req.resource, _fault_response(fault))
        response = self._answer(req, rest_path, exchange)
        response.fault = fault
        return response

    def _answer(
        self, req: _Request, rest_path: str | None, exchange: re.Match[str] | None
    ) -> _Response:
        if not self._admit(req.resource):
            if req.resource == GRAPHQL:
                message = self._primary_limit_text()
                body = {"errors": [{**self.graphql_limit_error, "message": message}]}
                return _Response(200, _dumps(body), cost=0)
            return _Response(403, self._primary_limit_message(), cost=0)
        if exchange is not None:
            return self._exchange(req, exchange["id"])
        if req.resource == GRAPHQL:
            return self._graphql(req)
        return self._rest(req, rest_path)

    def _rest_path(self, path: str) -> str | None:
        """The path below the REST root, or None outside it."""
        if not self._prefix:
            return path
        if path.startswith(self._prefix + "/"):
            return path[len(self._prefix) :]
        return None

    def _authorised(self, header: str | None) -> bool:
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            return False
        credential = credential.strip()
        # As bytes: compare_digest refuses str with non-ASCII characters.
        if secrets.compare_digest(credential.encode(), self.token.encode()):
            return True
        with self._lock:
            expiry = self._installation_tokens.get(credential)
        return expiry is not None and expiry > time.time()

    # --- rate limits -------------------------------------------------------------

    def _admit(self, resource: str) -> bool:
        """Reserve the request's point; False when the budget is spent."""
        with self._lock:
            budget = self._budgets[resource]
            budget.refill_if_due(time.time())
            if budget.remaining <= 0:
                return False
            budget.remaining -= 1
            budget.charged += 1
            return True

    def _refund(self, resource: str) -> None:
        with self._lock:
            budget = self._budgets[resource]
            budget.remaining = min(budget.remaining + 1, budget.limit)
            budget.charged -= 1

    def _charged(self, resource: str, response: _Response) -> _Response:
        """Charge an answer given before admission (401, faults): 1 point if any is left."""
        with self._lock:
            budget = self._budgets[resource]
            budget.refill_if_due(time.time())
            response.cost = 1 if budget.remaining > 0 else 0
            budget.remaining -= response.cost
            budget.charged += response.cost
        return response

    def _account(self, resource: str, response: _Response) -> dict[str, str]:
        with self._lock:
            headers = self._budgets[resource].headers(resource)
        return headers | response.headers

    def _primary_limit_text(self) -> str:
        installation = self.app[1] if self.app is not None else 1
        return f"API rate limit exceeded for installation ID {installation}."

    def _primary_limit_message(self) -> bytes:
        return _message(
            self._primary_limit_text(), f"{RATE_LIMIT_DOCS}#about-the-primary-rate-limit"
        )

    # --- REST ----------------------------------------------------------------------

    def _rest(self, req: _Request, rest_path: str | None) -> _Response:
        org_repos = f"/orgs/{self.org}/repos"
        org_values = f"/orgs/{self.org}/properties/values"
        if req.method != "GET" or rest_path not in (org_repos, org_values):
            return _Response(404, _message("Not Found"))
        if rest_path == org_repos:
            problem = self._unsupported_listing(req.query)
            if problem is not None:
                return _Response(422, _message(problem))
            return self._list_page("repos", req)
        return self._list_page("values", req)

    @staticmethod
    def _unsupported_listing(query: dict[str, str]) -> str | None:
        # Anything else would be served in an order or subset the simulator does not model.
        if query.get("type", "all") != "all":
            return f"type={query['type']} is unsupported by the simulator"
        if query.get("sort", "created") != "created":
            return f"sort={query['sort']} is unsupported by the simulator"
        if query.get("direction") not in (None, "asc", "desc"):
            return f"direction={query['direction']} is invalid"
        return None

    def _list_page(self, kind: str, req: _Request) -> _Response:
        query = req.query
        per_page = _int_param(query.get("per_page"), DEFAULT_PER_PAGE, MAX_PER_PAGE)
        page_no = _int_param(query.get("page"), 1, None)
        # GitHub lists by creation newest first unless told otherwise; property values
        # come oldest first.
        ascending = query.get("direction", "asc" if kind == "values" else "desc") == "asc"
        page = self._cached_page(kind, ascending, per_page, page_no)
        headers = {"ETag": page.etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        links = self._links(req.path, query, page_no, page.last)
        if links:
            headers["Link"] = links
        if _etag_matches(req.if_none_match, page.etag):
            return _Response(304, b"", headers, cost=0, refund=True)
        return _Response(200, page.body, headers)

    def _cached_page(self, kind: str, ascending: bool, per_page: int, page_no: int) -> _Page:
        key = (kind, ascending, per_page, page_no)
        serialise = self._listing_item if kind == "repos" else self._values_item
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                total = len(self._order)
                start, stop = (page_no - 1) * per_page, page_no * per_page
                if ascending:
                    chosen = self._order[start:stop]
                else:
                    chosen = self._order[max(total - stop, 0) : max(total - start, 0)][::-1]
                body = b"[" + b",".join(serialise(r) for r in chosen) + b"]"
                etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
                page = _Page(body, etag, max(math.ceil(total / per_page), 1))
                self._pages[key] = page
            return page

    def _links(self, path: str, query: dict[str, str], page_no: int, last: int) -> str:
        def link(number: int, rel: str) -> str:
            params = urlencode({**query, "page": str(number)})
            return f'<{self.url}{path}?{params}>; rel="{rel}"'

        links = []
        if page_no > 1:
            links += [link(min(page_no - 1, last), "prev")]
        if page_no < last:
            links += [link(page_no + 1, "next"), link(last, "last")]
        if page_no > 1:
            links += [link(1, "first")]
        return ", ".join(links)

    def _listing_item(self, repo: _Repo) -> bytes:
        if repo.listing is None:
            repo.listing = _dumps(
                {
                    "id": repo.id,
                    "node_id": repo.node_id,
                    "name": repo.name,
                    "full_name": f"{self.org}/{repo.name}",
                    "owner": {"login": self.org},
                    "private": True,
                    "archived": repo.archived,
                    "fork": False,
                    "default_branch": "main",
                    "created_at": iso(repo.created),
                    "pushed_at": iso(repo.pushed) if repo.pushed is not None else None,
                    "updated_at": iso(repo.updated),
                    # GitHub lists the values set; /properties/values also names unset ones.
                    "custom_properties": {
                        k: v for k, v in repo.properties.items() if v is not None
                    },
                }
            )
        return repo.listing

    def _values_item(self, repo: _Repo) -> bytes:
        if repo.values is None:
            repo.values = _dumps(
                {
                    "repository_id": repo.id,
                    "repository_name": repo.name,
                    "repository_full_name": f"{self.org}/{repo.name}",
                    "properties": [
                        {"property_name": k, "value": v} for k, v in repo.properties.items()
                    ],
                }
            )
        return repo.values

    # --- GitHub App ------------------------------------------------------------------

    def _exchange(self, req: _Request, installation: str) -> _Response:
        if self.app is None or req.method != "POST":
            return _Response(404, _message("Not Found"))
        app_id, installation_id, public_key = self.app
        scheme, _, credential = (req.authorization or "").partition(" ")
        problem = (
            self._jwt_problem(credential.strip(), app_id, public_key)
            if scheme.lower() == "bearer"
            else JWT_MESSAGE
        )
        if problem is not None:
            return _Response(401, _message(problem))
        if installation != str(installation_id):
            return _Response(404, _message("Not Found"))
        token = "ghs_" + "".join(secrets.choice(_TOKEN_CHARS) for _ in range(36))
        expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + TOKEN_LIFETIME
        with self._lock:
            self._installation_tokens[token] = expires.timestamp()
        body = {
            "token": token,
            "expires_at": iso(expires),
            "permissions": {
                "metadata": "read",
                "contents": "read",
                "organization_custom_properties": "read",
            },
            "repository_selection": "all",
        }
        return _Response(201, _dumps(body))

    @staticmethod
    def _jwt_problem(token: str, app_id: int, public_key: str) -> str | None:
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"], "verify_iss": False},
            )
        except jwt.PyJWTError:
            return JWT_MESSAGE
        # GitHub accepts the issuer as a number or a string.
        if str(claims["iss"]) != str(app_id):
            return JWT_MESSAGE
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    # --- GraphQL ---------------------------------------------------------------------

    def _graphql(self, req: _Request) -> _Response:
        if req.method != "POST":
            return _Response(404, _message("Not Found"))
        try:
            request = json.loads(req.payload)
        except ValueError:
            return _Response(400, _message("Problems parsing JSON"))
        query = request.get("query") if isinstance(request, dict) else None
        if not isinstance(query, str):
            return _errors("A query attribute must be specified and must be a string.")
        variables = request.get("variables")
        operation = request.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _errors("Variables must be an object")
        asked: list[int] = []  # ids asked for, for the request log
        with self._lock:  # the store stays still while the query reads it
            body = github_graphql.answer(
                query,
                variables,
                operation if isinstance(operation, str) else None,
                self._query_root(asked),
            )
        return _Response(200, _dumps(body), nodes=sum(asked))

    def _query_root(self, asked: list[int]) -> dict[str, Any]:
        """Query's fields the simulator answers; the lock is held while they run."""
        budget = self._budgets[GRAPHQL]
        rate_limit = {
            "cost": 1,
            "limit": budget.limit,
            "nodeCount": 0,
            "remaining": budget.remaining,
            "resetAt": iso(dt.datetime.fromtimestamp(math.ceil(budget.reset), dt.UTC)),
            "used": max(budget.limit - budget.remaining, 0),
        }

        def nodes(_info: object, ids: list[str]) -> list[dict[str, Any] | Exception]:
            asked.append(len(ids))
            if len(ids) > MAX_NODE_IDS:
                raise GitHubError(
                    f"Requested {len(ids)} nodes, which exceeds the limit of {MAX_NODE_IDS} "
                    "ids for nodes(ids:)"
                )
            # An exception in the list is GitHub's null plus an error at ["nodes", i].
            return [self._node_or_error(wanted) for wanted in ids]

        def node(_info: object, id: str) -> dict[str, Any] | Exception:
            asked.append(1)
            return self._node_or_error(id)

        return {
            "rateLimit": lambda _info, dryRun=False: rate_limit,
            "nodes": nodes,
            "node": node,
        }

    def _node_or_error(self, wanted: str) -> dict[str, Any] | Exception:
        repo = self._by_node.get(wanted)
        if repo is None:
            return GitHubError(
                f"Could not resolve to a node with the global id of '{wanted}'", "NOT_FOUND"
            )
        injected = self._take_graphql_error(wanted)
        if injected is not None:
            return GitHubError(injected.message, injected.type)
        return self._node(repo)

    def _take_graphql_error(self, node: str) -> _GraphQLError | None:
        pending = self._graphql_errors.get(node)
        if not pending:
            return None
        error = pending[0]
        if error.times is not None:
            error.times -= 1
            if error.times <= 0:
                pending.pop(0)
        return error

    def _node(self, repo: _Repo) -> dict[str, Any]:
        if repo.node is None:
            template = repo.template
            repo.node = {
                "__typename": "Repository",
                "id": repo.node_id,
                "name": repo.name,
                "nameWithOwner": f"{self.org}/{repo.name}",
                "createdAt": iso(repo.created),
                "pushedAt": iso(repo.pushed) if repo.pushed is not None else None,
                "isArchived": repo.archived,
                "templateRepository": (
                    {
                        "__typename": "Repository",
                        "nameWithOwner": template,
                        "name": template.partition("/")[2],
                    }
                    if template is not None
                    else None
                ),
                "object": lambda _info, expression=None, oid=None: self._object(repo, expression),
            }
        return repo.node

    def _object(self, repo: _Repo, expression: str | None) -> dict[str, Any] | None:
        """`Repository.object(expression: "HEAD:path")`: a Blob, a Tree, or null."""
        if expression is None:
            raise GitHubError("Repository.object(oid:) is unsupported by the simulator")
        revision, colon, path = expression.partition(":")
        if not colon or revision not in ("HEAD", "main"):
            return None  # GitHub answers null for a revision it cannot resolve
        path = path.strip("/")
        if path not in repo.objects:
            repo.objects[path] = self._git_object(repo.files, path)
        return repo.objects[path]

    def _git_object(self, files: Mapping[str, FileContent], path: str) -> dict[str, Any] | None:
        if path in files:
            return _blob(files[path], self.blob_text_limit)
        if path and not _is_dir(files, path):
            return None

        def entries(_info: object) -> list[dict[str, Any]]:
            prefix = f"{path}/" if path else ""
            return [
                {
                    "__typename": "TreeEntry",
                    "name": name,
                    "path": prefix + name,
                    "type": kind,
                    "object": self._git_object(files, prefix + name),
                }
                for name, kind in _tree_entries(files, path)
            ]

        return {"__typename": "Tree", "entries": entries}

    # --- sending -------------------------------------------------------------------

    @staticmethod
    def _send(h: Handler, response: _Response, headers: Mapping[str, str]) -> None:
        try:
            h.send_response(response.status)
            if response.status != HTTPStatus.NOT_MODIFIED:
                h.send_header("Content-Type", "application/json; charset=utf-8")
                h.send_header("Content-Length", str(len(response.body)))
            for name, value in headers.items():
                h.send_header(name, value)
            h.end_headers()
            if response.status != HTTPStatus.NOT_MODIFIED:
                send_body(h, response.body, response.fault)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True


def _int_param(raw: str | None, default: int, most: int | None) -> int:
    """GitHub ignores values it cannot use rather than failing the request."""
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    value = max(value, 1)
    return min(value, most) if most is not None else value


def _fault_response(fault: Fault) -> _Response:
    body = fault.body if fault.body is not None else _fault_body(fault.status)
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return _Response(fault.status, body, headers, fault=fault)


def _errors(message: str, *, nodes: int = 0) -> _Response:
    return _Response(200, _dumps({"errors": [{"message": message}]}), nodes=nodes)
