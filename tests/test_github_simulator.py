"""The simulated GitHub organisation, driven by PyGithub itself, and the synthetic repositories."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import github
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector import config as collector_config
from collector.cli import main
from collector.simulator.github import GitHubSimulator, RequestRecord, node_id
from collector.simulator.org import (
    DEPLOY_WORKFLOW,
    GITHUB_TOKEN_ENV,
    KUBERNETES_ID,
    SERVICE_TEMPLATE,
    SHARED_APPS,
    SOURCE_TEMPLATE,
    TEAM_PROPERTY,
    build_organisation,
)
from collector.sources.github import DETAILS_QUERY
from tests.conftest import CANARY

TOKEN = CANARY
T0 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
LIST = {"type": "all", "sort": "created", "direction": "asc", "per_page": "100", "page": "1"}
QUERY = DETAILS_QUERY  # the collector's own, which the simulator answers by GitHub's schema
CATALOG = "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
DEPLOY = f"jobs:\n  deploy:\n    uses: {DEPLOY_WORKFLOW}@v2\n"
NOW = dt.datetime(2026, 9, 15, 10, 0, tzinfo=dt.UTC)


def days(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def client(sim: GitHubSimulator, token: str = TOKEN) -> github.Github:
    return github.Github(
        base_url=sim.base_url,
        auth=github.Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,  # PyGithub's default spaces POSTs (GraphQL) 1 s apart
    )


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(token=TOKEN) as s:
        yield s


@pytest.fixture
def gh(sim: GitHubSimulator) -> github.Github:
    return client(sim)


def list_repos(gh: github.Github, **params: str) -> tuple[dict[str, Any], Any]:
    return gh.requester.requestJsonAndCheck("GET", "/orgs/acme/repos", parameters=LIST | params)


def graphql(gh: github.Github, ids: list[str], query: str = QUERY) -> tuple[dict[str, Any], Any]:
    return gh.requester.requestJsonAndCheck(
        "POST", gh.requester.graphql_url, input={"query": query, "variables": {"ids": ids}}
    )


def links(
    sim: GitHubSimulator,
    headers: dict[str, Any],
    params: dict[str, str] | None = None,
    path: str = "/orgs/acme/repos",
) -> dict[str, str]:
    """rel -> page of a Link header, checking each URL repeats the request but for `page`."""
    pages = {}
    for part in headers["link"].split(", "):
        target, rel = part.split("; ")
        url = urlsplit(target.strip("<>"))
        query = dict(parse_qsl(url.query))
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sim.url}{path}"
        assert {k: v for k, v in query.items() if k != "page"} == {
            k: v for k, v in (params or LIST | {"per_page": "2"}).items() if k != "page"
        }
        pages[rel.removeprefix('rel="').removesuffix('"')] = query["page"]
    return pages


def raw_get(sim: GitHubSimulator, path: str, **headers: str) -> requests.Response:
    return requests.get(
        sim.base_url + path,
        params=LIST,
        headers={"Authorization": f"token {TOKEN}", **headers},
        timeout=5,
    )


# --- listing ---------------------------------------------------------------------------


def test_listing_is_paged_oldest_first_with_links(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo("payments-api", created=days(0), pushed=days(300))
    sim.add_repo("search-web", created=days(2), archived=True)
    sim.add_repo("billing-web", created=days(3), pushed=days(4))
    sim.add_repo("legacy", created=days(-100), pushed=days(-50))  # added late, created first
    sim.add_repo("checkout-api", created=days(5), pushed=days(6))

    headers, page1 = list_repos(gh, per_page="2")
    assert page1[0] == {
        "id": 1004,
        "node_id": node_id(1004),
        "name": "legacy",
        "full_name": "acme/legacy",
        "owner": {"login": "acme"},
        "private": True,
        "archived": False,
        "fork": False,
        "default_branch": "main",
        "created_at": "2023-11-22T10:00:00Z",
        "pushed_at": "2024-01-11T10:00:00Z",
        "updated_at": "2024-01-11T10:00:00Z",
        "custom_properties": {},
    }
    assert page1[1]["id"] == 1001
    assert page1[1]["node_id"] == "R_kgDOAAAD6Q"
    assert links(sim, headers) == {"next": "2", "last": "3"}
    _, page2 = list_repos(gh, per_page="2", page="2")
    assert [r["name"] for r in page2] == ["search-web", "billing-web"]
    assert page2[0]["archived"] is True
    assert page2[0]["pushed_at"] is None
    headers, page3 = list_repos(gh, per_page="2", page="3")
    assert [r["name"] for r in page3] == ["checkout-api"]
    assert links(sim, headers) == {"prev": "2", "first": "1"}
    headers, page4 = list_repos(gh, per_page="2", page="4")
    assert page4 == []
    # per_page above 100 is served as 100, so everything fits on one page without a Link
    headers, everything = list_repos(gh, per_page="500")
    assert len(everything) == 5
    assert "link" not in headers
    assert sim.repo_count == 5
    assert [(r.path, r.query["page"], r.status, r.cost) for r in sim.requests] == [
        ("/orgs/acme/repos", "1", 200, 1),
        ("/orgs/acme/repos", "2", 200, 1),
        ("/orgs/acme/repos", "3", 200, 1),
        ("/orgs/acme/repos", "4", 200, 1),
        ("/orgs/acme/repos", "1", 200, 1),
    ]


def test_listing_newest_first_unless_asked_and_unknown_orgs(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    for i in range(3):
        sim.add_repo(f"r{i}", created=days(i))
    _, body = gh.requester.requestJsonAndCheck(
        "GET", "/orgs/acme/repos", parameters={"per_page": "2"}
    )
    assert [r["name"] for r in body] == ["r2", "r1"]  # GitHub's default direction for created
    with pytest.raises(github.UnknownObjectException) as raised:
        gh.requester.requestJsonAndCheck("GET", "/orgs/other/repos", parameters=LIST)
    assert raised.value.status == 404
    assert raised.value.data == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
    }
    with pytest.raises(github.UnknownObjectException):
        gh.requester.requestJsonAndCheck("GET", "/rate_limit")
    with pytest.raises(github.GithubException) as unsupported:
        list_repos(gh, sort="pushed")
    assert unsupported.value.status == 422


def test_etag_304_costs_nothing_until_a_push_changes_the_page(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    sim.add_repo("api", created=days(0), pushed=days(1))
    sim.add_repo("web", created=days(1), pushed=days(2))
    headers, _ = list_repos(gh)
    etag = headers["etag"]
    assert etag.startswith('W/"')
    assert sim.points_used("core") == 1

    headers, body = gh.requester.requestJsonAndCheck(
        "GET", "/orgs/acme/repos", parameters=LIST, headers={"If-None-Match": etag}
    )
    assert body is None
    assert headers["etag"] == etag
    assert headers["x-ratelimit-remaining"] == "4999"
    raw = raw_get(sim, "/orgs/acme/repos", **{"If-None-Match": etag})
    assert (raw.status_code, raw.content, raw.headers["ETag"]) == (304, b"", etag)
    assert sim.points_used("core") == 1
    assert [r.cost for r in sim.requests] == [1, 0, 0]

    sim.push("web", files={"README.md": "hi"}, when=days(10))
    headers, body = gh.requester.requestJsonAndCheck(
        "GET", "/orgs/acme/repos", parameters=LIST, headers={"If-None-Match": etag}
    )
    assert headers["etag"] != etag
    assert body[1]["pushed_at"] == "2024-03-11T10:00:00Z"
    assert body[1]["updated_at"] == "2024-03-11T10:00:00Z"
    assert sim.points_used("core") == 2
    assert sim.request_count == 4


# --- rate limits -------------------------------------------------------------------------


def test_rate_limit_headers_budgets_and_exhaustion(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo("api", created=days(0))
    reset = time.time() + 1800.2
    sim.set_rate_limit("core", remaining=2, limit=1000, reset=reset)
    headers, _ = list_repos(gh)
    assert {k: v for k, v in headers.items() if k.startswith("x-ratelimit")} == {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": "1",
        "x-ratelimit-used": "999",
        "x-ratelimit-reset": str(math.ceil(reset)),
        "x-ratelimit-resource": "core",
    }
    headers, data = graphql(gh, [])  # the graphql budget is separate
    assert headers["x-ratelimit-resource"] == "graphql"
    assert headers["x-ratelimit-remaining"] == "4999"
    assert data["data"]["rateLimit"]["remaining"] == 4999
    list_repos(gh)
    with pytest.raises(github.RateLimitExceededException) as raised:
        list_repos(gh)
    assert raised.value.status == 403
    assert raised.value.data["message"] == "API rate limit exceeded for installation ID 1."
    assert raised.value.headers is not None
    assert raised.value.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in raised.value.headers
    assert (sim.points_used("core"), sim.points_used("graphql")) == (2, 1)
    assert sim.requests[-1] == RequestRecord("GET", "/orgs/acme/repos", LIST, 403, "core", 0)

    # GraphQL's spent budget is a 200 with an error, as GitHub answers it
    sim.set_rate_limit("graphql", remaining=0)
    headers, data = graphql(gh, [])
    assert data == {
        "errors": [
            {"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation ID 1."}
        ]
    }
    assert headers["x-ratelimit-remaining"] == "0"
    # at the reset moment the budget refills for another hour
    sim.set_rate_limit("core", remaining=0, limit=1000, reset=time.time() - 1)
    headers, _ = list_repos(gh)
    assert headers["x-ratelimit-remaining"] == "999"


def test_bad_credentials_are_401_and_cost_a_point(sim: GitHubSimulator) -> None:
    with pytest.raises(github.BadCredentialsException) as raised:
        list_repos(client(sim, "wrong"))
    assert raised.value.status == 401
    assert raised.value.data == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
    }
    no_auth = requests.get(sim.base_url + "/orgs/acme/repos", timeout=5)
    assert no_auth.status_code == 401
    assert no_auth.headers["X-RateLimit-Resource"] == "core"
    assert sim.points_used("core") == 2


# --- faults ----------------------------------------------------------------------------


def test_faults_answer_with_retry_after_then_clear(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo("api", created=days(0))
    sim.add_fault(r"/orgs/acme/repos\?.*page=1", 403, retry_after=30)
    with pytest.raises(github.RateLimitExceededException) as raised:
        list_repos(gh)
    assert raised.value.data["message"].startswith("You have exceeded a secondary rate limit.")
    assert raised.value.headers is not None
    assert raised.value.headers["retry-after"] == "30"
    assert raised.value.headers["x-ratelimit-remaining"] == "4999"  # not the primary limit
    _, body = list_repos(gh)  # times=1: spent
    assert len(body) == 1

    sim.add_fault("/graphql", 502, times=2, method="POST")
    sim.add_fault("/orgs/", 200, delay=0.05)  # only slower
    start = time.monotonic()
    list_repos(gh)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(github.GithubException) as server_error:
        graphql(gh, [])
    assert (server_error.value.status, server_error.value.data) == (
        502,
        {"message": "Server Error"},
    )
    sim.add_fault("/orgs/", 429, body={"message": "slow down"}, retry_after=1, times=None)
    with pytest.raises(github.GithubException) as custom:
        list_repos(gh)
    assert (custom.value.status, custom.value.data) == (429, {"message": "slow down"})
    sim.clear_faults()
    list_repos(gh)
    graphql(gh, [])
    assert [r.status for r in sim.requests] == [403, 200, 200, 502, 429, 200, 200]


def test_faults_trickle_or_cut_the_body(sim: GitHubSimulator) -> None:
    for i in range(2):
        sim.add_repo(f"r{i}", created=days(i))
    whole = raw_get(sim, "/orgs/acme/repos").content
    assert len(whole) > 5 * 64  # at least five 64-byte pieces, four pauses between them

    sim.add_fault("/orgs/", 200, trickle=0.05)
    start = time.monotonic()
    slow = raw_get(sim, "/orgs/acme/repos")
    assert time.monotonic() - start >= 0.2
    assert (slow.status_code, slow.content) == (200, whole)  # slower, not different

    sim.add_fault("/orgs/", 200, drop=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        raw_get(sim, "/orgs/acme/repos")
    assert raw_get(sim, "/orgs/acme/repos").content == whole  # times=1: spent


# --- GraphQL -----------------------------------------------------------------------------


def test_graphql_answers_every_shape(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo(
        "golden",
        created=days(0),
        pushed=days(1),
        template="service-template",
        files={
            "catalog-info.yaml": CATALOG,
            ".github/workflows/deploy.yml": DEPLOY,
            ".github/workflows/logo.png": b"\x89PNG\x00",
            ".github/workflows/scripts/x.sh": "exit 0\n",
            ".github/workflows/README.md": "docs\n",
            "src/main.go": "package main\n",
        },
    )
    sim.add_repo(
        "odd",
        created=days(2),
        archived=True,
        files={"catalog-info.yaml/a.yaml": "x", ".github/workflows": "not a dir"},
    )
    sim.add_repo("bare", created=days(3), pushed=days(3), template="other/starter")
    ids = [sim.node_id_of(n) for n in ("golden", "odd", "bare")]
    headers, data = graphql(gh, [*ids, "R_nope"])
    rate_limit = data["data"]["rateLimit"]
    assert rate_limit["cost"] == 1
    assert rate_limit["remaining"] == 4999
    assert rate_limit["limit"] == 5000
    assert rate_limit["resetAt"] == dt.datetime.fromtimestamp(
        int(headers["x-ratelimit-reset"]), dt.UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    golden, odd, bare, missing = data["data"]["nodes"]

    def blob(text: str) -> dict[str, Any]:
        return {
            "byteSize": len(text.encode()),
            "isBinary": False,
            "isTruncated": False,
            "text": text,
        }

    assert golden == {
        "id": ids[0],
        "nameWithOwner": "acme/golden",
        "createdAt": "2024-03-01T10:00:00Z",
        "pushedAt": "2024-03-02T10:00:00Z",
        "isArchived": False,
        "templateRepository": {"nameWithOwner": SERVICE_TEMPLATE},
        "catalog": blob(CATALOG),
        "workflows": {
            "entries": [  # git's order: a tree sorts as if its name ended in "/"
                {"name": "README.md", "type": "blob", "object": blob("docs\n")},
                {"name": "deploy.yml", "type": "blob", "object": blob(DEPLOY)},
                {
                    "name": "logo.png",
                    "type": "blob",
                    "object": {"byteSize": 5, "isBinary": True, "isTruncated": False, "text": None},
                },
                {"name": "scripts", "type": "tree", "object": {}},
            ]
        },
    }
    assert odd == {
        "id": ids[1],
        "nameWithOwner": "acme/odd",
        "createdAt": "2024-03-03T10:00:00Z",
        "pushedAt": None,
        "isArchived": True,
        "templateRepository": None,
        "catalog": {},  # a directory
        "workflows": {},  # a file
    }
    assert (bare["templateRepository"], bare["catalog"], bare["workflows"]) == (
        {"nameWithOwner": "other/starter"},
        None,
        None,
    )
    assert missing is None
    assert data["errors"] == [
        {
            "type": "NOT_FOUND",
            "path": ["nodes", 3],
            "locations": [{"line": 3, "column": 3}],
            "message": "Could not resolve to a node with the global id of 'R_nope'",
        }
    ]
    assert sim.requests[-1] == RequestRecord("POST", "/graphql", {}, 200, "graphql", 1, nodes=4)


def test_graphql_limits_errors_and_changes(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo("api", created=days(0), files={"catalog-info.yaml": "a" * 40})
    sim.add_repo("web", created=days(1))
    api, web = sim.node_id_of("api"), sim.node_id_of("web")
    _, too_many = graphql(gh, [api] * 101)
    assert too_many == {
        "data": None,
        "errors": [
            {
                "message": (
                    "Requested 101 nodes, which exceeds the limit of 100 ids for nodes(ids:)"
                ),
                "locations": [{"line": 3, "column": 3}],
                "path": ["nodes"],
            }
        ],
    }
    _, other = graphql(gh, [api], query="query Viewer { viewer { login } }")
    assert other == {
        "data": None,
        "errors": [
            {
                "message": "Query.viewer is unsupported by the simulator",
                "locations": [{"line": 1, "column": 16}],
                "path": ["viewer"],
            }
        ],
    }
    assert sim.points_used("graphql") == 2

    sim.add_graphql_error("web", "Something went wrong", type="INTERNAL")
    _, data = graphql(gh, [api, web])
    assert data["data"]["nodes"][1] is None
    assert data["errors"] == [
        {
            "type": "INTERNAL",
            "path": ["nodes", 1],
            "locations": [{"line": 3, "column": 3}],
            "message": "Something went wrong",
        }
    ]
    _, data = graphql(gh, [web])
    assert "errors" not in data

    sim.blob_text_limit = 10
    sim.push(
        "api", remove=["catalog-info.yaml"], files={"catalog-info.yaml": "b" * 20}, when=days(5)
    )
    _, data = graphql(gh, [api])
    assert data["data"]["nodes"][0]["catalog"] == {
        "byteSize": 20,
        "isBinary": False,
        "isTruncated": True,
        "text": "b" * 10,
    }
    sim.delete_repo("api")
    _, data = graphql(gh, [api])
    assert data["data"]["nodes"] == [None]
    assert data["errors"][0]["type"] == "NOT_FOUND"
    _, no_query = gh.requester.requestJsonAndCheck("POST", gh.requester.graphql_url, input=[])
    assert no_query == {
        "errors": [{"message": "A query attribute must be specified and must be a string."}]
    }
    bad_json = requests.post(
        sim.graphql_url, data=b"{", headers={"Authorization": f"bearer {TOKEN}"}, timeout=5
    )
    assert (bad_json.status_code, bad_json.json()["message"]) == (400, "Problems parsing JSON")


def test_push_removes_directories_and_set_archived(sim: GitHubSimulator, gh: github.Github) -> None:
    sim.add_repo(
        "api",
        created=days(0),
        files={".github/workflows/a.yml": "a", ".github/workflows/sub/b.yml": "b"},
    )
    sim.push("api", remove=[".github/workflows/sub"], when=days(2))
    _, data = graphql(gh, [sim.node_id_of("api")])
    entries = data["data"]["nodes"][0]["workflows"]["entries"]
    assert [e["name"] for e in entries] == ["a.yml"]
    sim.push("api", remove=[".github"], when=days(3))
    _, data = graphql(gh, [sim.node_id_of("api")])
    assert data["data"]["nodes"][0]["workflows"] is None
    headers, _ = list_repos(gh)
    sim.set_archived("api", True)
    headers2, body = list_repos(gh)
    assert headers2["etag"] != headers["etag"]
    assert body[0]["archived"] is True


# --- custom properties ---------------------------------------------------------------


def test_custom_property_values_are_paged_with_etags(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    sim.add_repo("api", created=days(0), properties={"team": "payments", "tier": None})
    sim.add_repo("web", created=days(1), properties={"team": ["search", "billing"]})
    sim.add_repo("docs", created=days(2))
    path = "/orgs/acme/properties/values"
    headers, body = gh.requester.requestJsonAndCheck(
        "GET", path, parameters={"per_page": "2", "page": "1"}
    )
    assert body == [
        {
            "repository_id": 1001,
            "repository_name": "api",
            "repository_full_name": "acme/api",
            "properties": [
                {"property_name": "team", "value": "payments"},
                {"property_name": "tier", "value": None},
            ],
        },
        {
            "repository_id": 1002,
            "repository_name": "web",
            "repository_full_name": "acme/web",
            "properties": [{"property_name": "team", "value": ["search", "billing"]}],
        },
    ]
    assert links(sim, headers, {"per_page": "2"}, path) == {"next": "2", "last": "2"}
    _, last = gh.requester.requestJsonAndCheck(
        "GET", path, parameters={"per_page": "2", "page": "2"}
    )
    assert last[0]["properties"] == []
    _, none = gh.requester.requestJsonAndCheck(
        "GET",
        path,
        parameters={"per_page": "2", "page": "1"},
        headers={"If-None-Match": headers["etag"]},
    )
    assert none is None
    sim.set_properties("api", {"team": "ledger"})
    headers2, body2 = gh.requester.requestJsonAndCheck(
        "GET", path, parameters={"per_page": "2", "page": "1"}
    )
    assert headers2["etag"] != headers["etag"]
    assert body2[0]["properties"] == [{"property_name": "team", "value": "ledger"}]
    # the repository listing carries the values too, as GitHub's does
    _, listed = list_repos(gh)
    assert [r["custom_properties"] for r in listed] == [
        {"team": "ledger"},
        {"team": ["search", "billing"]},
        {},
    ]
    assert [r.cost for r in sim.requests] == [1, 1, 0, 1, 1]


# --- Enterprise and the GitHub App ------------------------------------------------------


def test_enterprise_layout_serves_under_api() -> None:
    with GitHubSimulator(token=TOKEN, enterprise=True) as sim:
        sim.add_repo("api", created=days(0))
        gh = client(sim)
        assert sim.base_url == f"{sim.url}/api/v3"
        assert gh.requester.graphql_url == f"{sim.url}/api/graphql"
        _, body = list_repos(gh)
        assert [r["name"] for r in body] == ["api"]
        _, data = graphql(gh, [sim.node_id_of("api")])
        assert data["data"]["nodes"][0]["nameWithOwner"] == "acme/api"
        github_com_style = requests.get(
            f"{sim.url}/orgs/acme/repos", headers={"Authorization": f"token {TOKEN}"}, timeout=5
        )
        assert github_com_style.status_code == 404
        assert [(r.path, r.resource) for r in sim.requests] == [
            ("/api/v3/orgs/acme/repos", "core"),
            ("/api/graphql", "graphql"),
            ("/orgs/acme/repos", "core"),
        ]


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_app_installation_token_exchange() -> None:
    private, public = _key_pair()
    with GitHubSimulator(token=TOKEN, enterprise=True, app=(42, 7, public)) as sim:
        sim.add_repo("api", created=days(0))
        app = github.Auth.AppAuth(42, private)

        def app_client(auth: github.Auth.Auth) -> github.Github:
            return github.Github(
                base_url=sim.base_url,
                auth=auth,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )

        gh = app_client(app.get_installation_auth(7))
        _, body = list_repos(gh)
        assert [r["name"] for r in body] == ["api"]
        list_repos(gh)  # the token is reused
        assert [(r.method, r.path, r.status) for r in sim.requests] == [
            ("POST", "/api/v3/app/installations/7/access_tokens", 201),
            ("GET", "/api/v3/orgs/acme/repos", 200),
            ("GET", "/api/v3/orgs/acme/repos", 200),
        ]
        assert sim.points_used("core") == 3

        with pytest.raises(github.GithubException) as wrong_installation:
            list_repos(app_client(app.get_installation_auth(8)))
        assert wrong_installation.value.status == 404
        other_private, _ = _key_pair()
        with pytest.raises(github.GithubException) as bad_key:
            list_repos(app_client(github.Auth.AppAuth(42, other_private).get_installation_auth(7)))
        assert (bad_key.value.status, bad_key.value.data["message"]) == (
            401,
            "A JSON web token could not be decoded",
        )
        with pytest.raises(github.GithubException) as wrong_app:
            list_repos(app_client(github.Auth.AppAuth(43, private).get_installation_auth(7)))
        assert wrong_app.value.status == 401

        sim.expire_installation_tokens()
        with pytest.raises(github.BadCredentialsException):
            list_repos(gh)


def test_token_exchange_is_404_without_an_app(sim: GitHubSimulator, gh: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException):
        gh.requester.requestJsonAndCheck("POST", "/app/installations/7/access_tokens", input={})


# --- scale ---------------------------------------------------------------------------


def test_ten_thousand_repositories_page_quickly(sim: GitHubSimulator, gh: github.Github) -> None:
    for i in range(10_000):
        sim.add_repo(f"repo-{i:05d}", created=days(i / 10), files={"catalog-info.yaml": CATALOG})
    start = time.monotonic()
    seen = 0
    for page in range(1, 101):
        _, body = list_repos(gh, page=str(page))
        seen += len(body)
    ids = [sim.node_id_of(f"repo-{i:05d}") for i in range(100)]
    _, data = graphql(gh, ids)
    elapsed = time.monotonic() - start
    assert seen == 10_000
    assert len(data["data"]["nodes"]) == 100
    assert elapsed < 3.0


# --- the synthetic organisation and the demo -----------------------------------------


def test_organisation_has_a_realistic_github_side() -> None:
    org = build_organisation(NOW)
    assert org.repositories == build_organisation(NOW).repositories
    repos = org.repositories
    assert [r.created for r in repos] == sorted(r.created for r in repos)
    assert len({r.name for r in repos}) == len(repos)
    assert {r.kind for r in repos} == {"golden", "shadow", "other"}
    teams = {t.name: t for t in org.teams}
    for repo in repos:
        workflows = {p: v for p, v in repo.files.items() if p.startswith(".github/workflows/")}
        catalog = repo.files.get("catalog-info.yaml", "")
        golden = (
            repo.template == SERVICE_TEMPLATE
            or SOURCE_TEMPLATE in str(catalog)
            or any(DEPLOY_WORKFLOW in str(v) for v in workflows.values())
        )
        assert golden == (repo.kind == "golden"), repo.name
        has_yaml = any(p.endswith((".yml", ".yaml")) for p in workflows)
        assert has_yaml == (repo.kind != "other"), repo.name
        assert repo.team is None or repo.team in teams
    catalogs = [str(r.files["catalog-info.yaml"]) for r in repos if "catalog-info.yaml" in r.files]
    assert any("owner: group:default/" in c for c in catalogs)
    assert any(f"owner: {t}\n" in c for c in catalogs for t in teams)  # bare owners
    assert any("\n---\n" in c for c in catalogs)
    assert any(c.startswith("- ") for c in catalogs)  # a list document
    assert any("{github.com/project-slug" in c for c in catalogs)  # invalid YAML
    assert any(
        "backstage.io/kubernetes-label-selector: 'app.kubernetes.io/name=" in c for c in catalogs
    )
    assert any(TEAM_PROPERTY in r.properties and "catalog-info.yaml" not in r.files for r in repos)
    assert 2 <= sum(r.archived for r in repos) <= 3
    assert any(r.pushed is None for r in repos)
    assert any(r.team and r.created < teams[r.team].onboarded for r in repos)

    shared = [w for w in org.clusters["prod-eu"].workloads if w.namespace == SHARED_APPS]
    linked = {r.linked_workload: r for r in repos if r.linked_workload}
    assert sorted(w.name for w in shared) == sorted(linked)
    for w in shared:
        assert w.labels[KUBERNETES_ID] == w.name
        assert not {"team", "owner", "app.kubernetes.io/part-of"} & set(w.labels)
        assert f"{KUBERNETES_ID}: {w.name}\n" in str(linked[w.name].files["catalog-info.yaml"])
        assert w.created > linked[w.name].created
    (ns,) = [n for n in org.clusters["prod-eu"].namespaces if n.name == SHARED_APPS]
    assert ns.labels == {}


def test_organisation_loads_into_the_github_simulator(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    org = build_organisation(NOW, teams=6, repositories_per_team=4)
    org.load_github(sim)
    assert sim.repo_count == len(org.repositories) == 6 * 4 + 3  # platform repos, one empty
    _, body = list_repos(gh)
    assert [r["name"] for r in body] == [r.name for r in org.repositories]
    assert [r["id"] for r in body] == sorted(r["id"] for r in body)
    _, data = graphql(gh, [r["node_id"] for r in body])
    assert "errors" not in data
    by_name = {n["nameWithOwner"]: n for n in data["data"]["nodes"]}
    for repo in org.repositories:
        node = by_name[f"acme/{repo.name}"]
        assert (node["catalog"] is not None) == ("catalog-info.yaml" in repo.files)


def test_demo_config_with_github_validates() -> None:
    org = build_organisation(NOW)
    raw = org.demo_config(
        {"prod-eu": "/tmp/eu"},
        "/tmp/state.db",
        "127.0.0.1:9999",
        NOW.date(),
        github_base_url="http://127.0.0.1:1234/api/v3",
    )
    assert list(raw)[:5] == ["platform", "teams", "ownership", "kubernetes", "github"]
    settings = collector_config.parse(raw)
    assert settings.github is not None
    assert (settings.github.org, settings.github.base_url, settings.github.token_env) == (
        "acme",
        "http://127.0.0.1:1234/api/v3",
        GITHUB_TOKEN_ENV,
    )
    assert settings.github.interval == 60.0
    assert settings.ownership.github_property == "team"
    service_chart = settings.golden_paths[0].github
    assert service_chart is not None
    assert service_chart.template_repositories == (SERVICE_TEMPLATE,)
    assert service_chart.source_templates == (SOURCE_TEMPLATE,)
    assert service_chart.workflows == (DEPLOY_WORKFLOW,)
    assert settings.golden_paths[1].github is None
    without = org.demo_config({"prod-eu": "/tmp/eu"}, "/tmp/state.db", "127.0.0.1:9999", NOW.date())
    assert "github" not in without
    assert collector_config.parse(without).ownership.github_property is None


def test_demo_writes_a_github_config_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GITHUB_TOKEN_ENV, "restored after the test")
    assert main(["demo", "--once", "--workdir", str(tmp_path)]) == 0
    capsys.readouterr()
    settings = collector_config.load(tmp_path / "config.yaml")
    assert settings.github is not None
    # A file in the workdir, so the config works from another shell too.
    assert (settings.github.token_env, settings.github.token_file) == (
        None,
        str(tmp_path / "github-token"),
    )
    assert settings.github.base_url.startswith("http://127.0.0.1:")


def test_graphql_refuses_what_githubs_schema_refuses(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    sim.add_repo("api", created=days(0))
    api = sim.node_id_of("api")
    misspelt = QUERY.replace("isTruncated", "isTrunc", 1)
    _, data = graphql(gh, [api], query=misspelt)
    line = misspelt.splitlines().index(next(x for x in misspelt.splitlines() if "isTrunc " in x))
    column = misspelt.splitlines()[line].index("isTrunc ") + 1
    assert data == {
        "errors": [
            {
                "message": "Cannot query field 'isTrunc' on type 'Blob'.",
                "locations": [{"line": line + 1, "column": column}],
            }
        ]
    }
    # A String where GitHub's schema wants [ID!]!, and a variable the query never declared.
    _, data = graphql(gh, [api], query="query Q($ids: String!) { nodes(ids: $ids) { id } }")
    assert [e["message"] for e in data["errors"]] == [
        "Variable '$ids' of type 'String!' used in position expecting type '[ID!]!'."
    ]
    _, data = graphql(gh, [api], query="query Q { nodes(ids: $ids) { id } }")
    assert [e["message"] for e in data["errors"]] == [
        "Variable '$ids' is not defined by operation 'Q'."
    ]
    assert "data" not in data


def test_graphql_answers_any_query_over_what_it_models(
    sim: GitHubSimulator, gh: github.Github
) -> None:
    sim.add_repo(
        "api",
        created=days(0),
        files={"catalog-info.yaml": CATALOG, ".github/workflows/ci/x.yml": "a"},
    )
    query = """query One($id: ID!) {
      node(id: $id) {
        __typename
        ... on Repository {
          name
          head: object(expression: "HEAD:") { ... on Tree { entries { name path type } } }
          nested: object(expression: "main:.github/workflows") {
            ... on Tree { entries { name object { ... on Tree { entries { path } } } } }
          }
          elsewhere: object(expression: "v1:catalog-info.yaml") { id }
        }
      }
    }"""
    _, data = graphql(gh, [], query=query)  # sends $ids, not $id
    assert [e["message"] for e in data["errors"]] == [
        "Variable '$id' has invalid value: Expected a value of non-null type 'ID!' to be provided."
    ]
    _, data = gh.requester.requestJsonAndCheck(
        "POST",
        gh.requester.graphql_url,
        input={"query": query, "variables": {"id": sim.node_id_of("api")}},
    )
    assert data == {
        "data": {
            "node": {
                "__typename": "Repository",
                "name": "api",
                "head": {
                    "entries": [
                        {"name": ".github", "path": ".github", "type": "tree"},
                        {"name": "catalog-info.yaml", "path": "catalog-info.yaml", "type": "blob"},
                    ]
                },
                "nested": {
                    "entries": [
                        {
                            "name": "ci",
                            "object": {"entries": [{"path": ".github/workflows/ci/x.yml"}]},
                        }
                    ]
                },
                "elsewhere": None,  # a revision the repository does not have
            }
        }
    }
