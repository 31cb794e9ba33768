"""The GitHub source over real HTTP (PyGithub) against the simulated organisation (no mocks)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector import config
from collector.model import Component, Repository
from collector.simulator.github import GitHubSimulator
from collector.sources import PollError
from collector.sources.github import GitHubSource, _blob_text
from tests.conftest import CANARY

TOKEN = CANARY
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
DEPLOY_USES = "acme/platform-workflows/.github/workflows/deploy.yml@v2"

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    backstage.io/source-template: template:default/service
    backstage.io/kubernetes-id: checkout
spec:
  owner: group:default/payments
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: checkout-api
spec:
  owner: payments
"""

DEPLOY = f"""\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
  deploy:
    uses: {DEPLOY_USES}
"""

OWN_CI = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(org="acme", token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_GITHUB_TOKEN", TOKEN)
    return "TEST_GITHUB_TOKEN"


MakeSource = Callable[..., GitHubSource]


@pytest.fixture
def make_source(sim: GitHubSimulator, token_env: str) -> Iterator[MakeSource]:
    sources: list[GitHubSource] = []

    def make(
        property_name: str | None = None,
        clock: Callable[[], float] = time.time,
        **overrides: object,
    ) -> GitHubSource:
        raw: dict[str, object] = {"org": "acme", "base_url": sim.base_url, "token_env": token_env}
        raw.update(overrides)
        settings = config.GitHub.model_validate(raw)
        sleeps = Sleeps()
        source = GitHubSource(settings, property_name=property_name, clock=clock, sleep=sleeps)
        source.sleeps = sleeps  # type: ignore[attr-defined]
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()


def seed(sim: GitHubSimulator) -> None:
    sim.add_repo(
        "checkout",
        created=T0,
        pushed=T0 + DAY,
        template="acme/service-template",
        files={"catalog-info.yaml": CATALOG, ".github/workflows/deploy.yml": DEPLOY},
    )
    sim.add_repo(
        "legacy",
        created=T0 + DAY,
        pushed=T0 + 2 * DAY,
        files={".github/workflows/ci.yaml": OWN_CI, ".github/workflows/README.md": "not yaml"},
        properties={"team": "search"},
    )
    sim.add_repo("notes", created=T0 + 2 * DAY, pushed=None)
    sim.add_repo("old", created=T0 + 3 * DAY, pushed=T0 + 3 * DAY, archived=True)


def test_full_scan_reads_every_repository_once(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    seed(sim)
    observation = make_source(property_name="team").poll()
    day = 86400.0
    t0 = T0.timestamp()
    assert observation.repositories == (
        Repository(
            full_name="acme/checkout",
            created=t0,
            pushed=t0 + day,
            archived=False,
            template="acme/service-template",
            components=(
                Component(
                    "checkout",
                    "group:default/payments",
                    "template:default/service",
                    "checkout",
                    None,
                ),
            ),
            workflow_files=1,
            workflow_uses=(DEPLOY_USES,),
            property_team=None,
        ),
        Repository(
            full_name="acme/legacy",
            created=t0 + day,
            pushed=t0 + 2 * day,
            archived=False,
            template=None,
            components=(),
            workflow_files=1,
            workflow_uses=(),
            property_team="search",
        ),
        Repository(
            full_name="acme/notes",
            created=t0 + 2 * day,
            pushed=None,
            archived=False,
            template=None,
            components=(),
            workflow_files=0,
            workflow_uses=(),
            property_team=None,
        ),
    )
    assert observation.complete
    assert observation.parse_errors == 0
    assert observation.objects == {"repositories": 3, "catalog-info.yaml": 1, "workflows": 2}
    assert [(r.method, r.path, r.status) for r in sim.requests] == [
        ("GET", "/orgs/acme/repos", 200),
        ("POST", "/graphql", 200),
    ]
    assert sim.requests[0].query == {
        "type": "all",
        "sort": "created",
        "direction": "asc",
        "per_page": "100",
        "page": "1",
    }
    assert {r.resource: r.remaining for r in observation.rate_limits} == {
        "core": 4999,
        "graphql": 4999,
    }


def test_archived_repositories_on_request(sim: GitHubSimulator, make_source: MakeSource) -> None:
    seed(sim)
    names = [r.full_name for r in make_source(include_archived=True).poll().repositories]
    assert names == ["acme/checkout", "acme/legacy", "acme/notes", "acme/old"]


def test_unchanged_rescan_is_free_and_a_push_rereads_one_repository(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    for i in range(250):
        sim.add_repo(f"r{i:03}", created=T0 + i * DAY, pushed=T0 + i * DAY)
    source = make_source()
    first = source.poll()
    assert len(first.repositories) == 250
    assert [(r.path, r.query.get("page"), r.status) for r in sim.requests] == [
        ("/orgs/acme/repos", "1", 200),
        ("/orgs/acme/repos", "2", 200),
        ("/orgs/acme/repos", "3", 200),
        ("/graphql", None, 200),
        ("/graphql", None, 200),
        ("/graphql", None, 200),
    ]
    sim.clear_requests()
    core, graphql = sim.points_used("core"), sim.points_used("graphql")

    assert source.poll() == first
    assert [(r.path, r.status) for r in sim.requests] == [("/orgs/acme/repos", 304)] * 3
    assert (sim.points_used("core"), sim.points_used("graphql")) == (core, graphql)

    sim.clear_requests()
    sim.push("r120", files={"catalog-info.yaml": CATALOG}, when=T0 + 400 * DAY)
    sim.delete_repo("r249")
    third = source.poll()
    assert [(r.path, r.status) for r in sim.requests] == [
        ("/orgs/acme/repos", 304),
        ("/orgs/acme/repos", 200),
        ("/orgs/acme/repos", 200),
        ("/graphql", 200),
    ]
    assert sim.requests[-1].nodes == 1
    assert len(third.repositories) == 249
    changed = next(r for r in third.repositories if r.full_name == "acme/r120")
    assert [c.name for c in changed.components] == ["checkout"]


def test_malformed_files_are_counted_and_logged_once(
    sim: GitHubSimulator, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_repo(
        "broken",
        created=T0,
        pushed=T0,
        files={
            "catalog-info.yaml": "kind: Component\nmetadata: {name: [unclosed\n",
            ".github/workflows/a.yml": "- a list\n- not a workflow\n",
            ".github/workflows/b.yml": DEPLOY,
            # Under the 1 MiB the collector parses, over what GitHub's GraphQL returns.
            ".github/workflows/huge.yml": "#" * 600_000,
        },
    )
    sim.add_repo("fine", created=T0 + DAY, pushed=T0 + DAY, files={"catalog-info.yaml": CATALOG})
    source = make_source()
    with caplog.at_level(logging.WARNING, logger="collector"):
        observation = source.poll()
        again = source.poll()
    assert again.repositories == observation.repositories
    assert again.parse_errors == 0  # counted when read, and a file is read once per push
    broken = observation.repositories[0]
    assert (broken.components, broken.workflow_files, broken.workflow_uses) == (
        (),
        3,
        (DEPLOY_USES,),
    )
    assert observation.parse_errors == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("github: acme/broken: catalog-info.yaml: ")
    assert messages[1].startswith("github: acme/broken: .github/workflows/a.yml: ")
    assert messages[2] == (
        "github: acme/broken: .github/workflows/huge.yml: "
        "600,000 bytes, truncated by GitHub at 512,000 bytes, not parsed"
    )


def test_reserve_ends_the_scan_early_and_the_next_one_resumes(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    for i in range(250):
        sim.add_repo(f"r{i:03}", created=T0 + i * DAY, pushed=T0 + i * DAY)
    clock = [time.time()]
    reset = clock[0] + 3600
    sim.set_rate_limit("graphql", remaining=502, limit=5000, reset=reset)
    source = make_source(clock=lambda: clock[0])
    partial = source.poll()
    # 502 -> 501 -> 500: the third query would dig into the 10% reserve (500 points).
    assert not partial.complete
    assert len(partial.repositories) == 200
    assert sum(r.path == "/graphql" for r in sim.requests) == 2
    assert source.sleeps == []  # type: ignore[attr-defined]

    sim.clear_requests()
    again = source.poll()  # before the reset: not a single GraphQL request
    assert not again.complete
    assert len(again.repositories) == 200
    assert [r.path for r in sim.requests] == ["/orgs/acme/repos"] * 3

    sim.set_rate_limit("graphql", remaining=5000, limit=5000, reset=reset + 3600)
    clock[0] = reset + 1
    sim.clear_requests()
    resumed = source.poll()
    assert resumed.complete
    assert len(resumed.repositories) == 250
    assert sum(r.path == "/graphql" for r in sim.requests) == 1


@pytest.mark.parametrize(
    "error",
    [{"type": "RATE_LIMITED"}, {"type": "RATE_LIMIT", "code": "graphql_rate_limit"}],
    ids=["RATE_LIMITED", "RATE_LIMIT"],
)
def test_graphql_budget_spent_mid_scan_keeps_what_was_read(
    sim: GitHubSimulator, make_source: MakeSource, error: dict[str, str]
) -> None:
    # GitHub answers a query over budget with 200, an error whose type varies, and
    # x-ratelimit-remaining: 0; another tool on the same token can spend it between scans.
    seed(sim)
    source = make_source()
    first = source.poll()
    sim.push("notes", files={"catalog-info.yaml": CATALOG}, when=T0 + 9 * DAY)
    sim.graphql_limit_error = error
    sim.set_rate_limit("graphql", remaining=0, limit=5000, reset=time.time() + 3600)
    second = source.poll()
    assert not second.complete
    # Every repository, the pushed one with its details as last read (no catalog yet).
    assert [(r.full_name, r.components) for r in second.repositories] == [
        (r.full_name, r.components) for r in first.repositories
    ]
    assert [r.status for r in sim.requests if r.path == "/graphql"][-1] == 200


def test_primary_limit_exhausted_keeps_what_is_known(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    seed(sim)
    source = make_source()
    first = source.poll()
    sim.push("notes", files={"catalog-info.yaml": CATALOG}, when=T0 + 9 * DAY)
    sim.set_rate_limit("core", remaining=0, limit=5000, reset=time.time() + 3600)
    second = source.poll()
    assert not second.complete
    assert second.repositories == first.repositories  # the listing as last seen
    assert source.sleeps == []  # type: ignore[attr-defined]


def test_secondary_limit_waits_for_retry_after_within_a_bound(
    sim: GitHubSimulator, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    seed(sim)
    sim.add_fault("/orgs/acme/repos", 403, retry_after=2)
    source = make_source()
    assert source.poll().complete
    assert source.sleeps == [2.0]  # type: ignore[attr-defined]

    sim.add_fault("/graphql", 429, retry_after=3600)
    sim.push("notes", files={"catalog-info.yaml": CATALOG}, when=T0 + 9 * DAY)
    with caplog.at_level(logging.WARNING, logger="collector"):
        partial = source.poll()
    assert not partial.complete  # an hour's wait is not taken: the next poll carries on
    assert source.sleeps == [2.0]  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "github: scan of acme stopped early: GitHub asks to wait 3600s (Retry-After), and a "
        "scan waits 60s at most in all; keeping what it read (3 repositories), the next scan "
        "carries on"
    ]


def test_server_errors_are_retried_a_bounded_number_of_times(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    seed(sim)
    sim.add_fault("/graphql", 502, times=2)
    source = make_source()
    assert source.poll().complete
    assert source.sleeps == [1.0, 2.0]  # type: ignore[attr-defined]
    sim.push("notes", files={"catalog-info.yaml": CATALOG}, when=T0 + 9 * DAY)
    sim.add_fault("/graphql", 502, times=3)
    with pytest.raises(PollError, match=r"^github: GraphQL: 502"):
        source.poll()
    assert source.sleeps == [1.0, 2.0, 1.0, 2.0]  # type: ignore[attr-defined]

    # A backoff that would reach poll_timeout is not slept: the 502 stands.
    hurried = make_source(timeout=1, poll_timeout=1)
    sim.add_fault("/orgs/acme/repos", 502)
    with pytest.raises(PollError, match=r"^github: /orgs/acme/repos: 502 Server Error$"):
        hurried.poll()
    assert hurried.sleeps == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, r"^github: the credentials were rejected \(401 Bad credentials\)"),
        (403, r"^github: /orgs/acme/repos: forbidden \(403\): .*read access to metadata"),
    ],
)
def test_credential_failures_say_what_to_fix(
    sim: GitHubSimulator,
    make_source: MakeSource,
    status: int,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.add_fault("/orgs/acme/repos", status, body={"message": "Resource not accessible"})
    # PyGithub and urllib3 log requests at DEBUG (other tests may have quietened them).
    for name in ("", "github", "urllib3", "collector"):
        caplog.set_level(logging.DEBUG, logger=name)
    with pytest.raises(PollError, match=expected) as raised:
        make_source().poll()
    assert caplog.records  # the requests were logged, and the token was not
    assert TOKEN not in str(raised.value)
    assert TOKEN not in caplog.text


def test_revoked_token(sim: GitHubSimulator, make_source: MakeSource, token_env: str,
                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv(token_env, "ghp_revoked")
    with pytest.raises(PollError, match=r"rejected \(401"):
        make_source().poll()
    monkeypatch.setenv(token_env, "")
    with pytest.raises(PollError, match="environment variable TEST_GITHUB_TOKEN is not set"):
        make_source().poll()


def test_anything_shaped_like_a_github_token_is_redacted_from_errors(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    # An App's installation token is PyGithub's, so it cannot be compared against: a proxy
    # echoing it must still not put it in the error (and from there in the log).
    installation = "ghs_" + "x7" * 18
    sim.add_fault("/orgs/acme/repos", 400, body={"message": f"bad header: token {installation}"})
    with pytest.raises(PollError) as info:
        make_source().poll()
    assert installation not in str(info.value)
    assert "bad header: token [redacted]" in str(info.value)


def test_wrong_organisation(sim: GitHubSimulator, make_source: MakeSource) -> None:
    with pytest.raises(PollError, match=r"^github: organisation 'acne' not found \(404\) at http"):
        make_source(org="acne").poll()


def test_unreachable_server(make_source: MakeSource, sim: GitHubSimulator) -> None:
    source = make_source()
    sim.stop()
    with pytest.raises(PollError, match=r"^github: cannot reach http://127\.0\.0\.1:\d+: "):
        source.poll()


def test_graphql_partial_errors_keep_the_rest(
    sim: GitHubSimulator, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    seed(sim)
    source = make_source()
    # NOT_FOUND: gone since the listing. Any other error: unread, asked for again next scan.
    sim.add_graphql_error("checkout", "Could not resolve to a node", type="NOT_FOUND")
    sim.add_graphql_error("notes", "Something went wrong")
    with caplog.at_level(logging.WARNING, logger="collector"):
        observation = source.poll()
    assert [r.full_name for r in observation.repositories] == ["acme/legacy"]
    assert (observation.complete, observation.skipped) == (False, 1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "github: acme/notes: GraphQL could not read it: Something went wrong",
        "github: scan of acme stopped early: GraphQL could not read 1 repositories; keeping "
        "what it read (1 repositories), the next scan carries on",
    ]
    again = source.poll()
    assert [r.full_name for r in again.repositories] == [
        "acme/checkout",
        "acme/legacy",
        "acme/notes",
    ]
    assert (again.complete, again.skipped) == (True, 0)

    # A null node GitHub gives no reason for is taken as gone too.
    sim.push("notes", files={"catalog-info.yaml": CATALOG}, when=T0 + 9 * DAY)
    sim.add_fault("/graphql", 200, body={"data": {"nodes": [None]}})
    gone = source.poll()
    assert [r.full_name for r in gone.repositories] == ["acme/checkout", "acme/legacy"]
    assert (gone.complete, gone.skipped) == (True, 1)


def test_a_scan_that_read_nothing_is_a_failure(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    seed(sim)
    source = make_source()
    sim.add_graphql_error("checkout", "Something went wrong")
    sim.add_graphql_error("legacy", "Something went wrong")
    sim.add_graphql_error("notes", "Something went wrong")
    with pytest.raises(
        PollError,
        match=r"^github: GraphQL could not read 3 repositories; no repository of acme read yet$",
    ):
        source.poll()
    assert len(source.poll().repositories) == 3  # read again next time


def test_enterprise_base_url(token_env: str) -> None:
    with GitHubSimulator(org="acme", token=TOKEN, enterprise=True) as ghes:
        seed(ghes)
        settings = config.GitHub(org="acme", base_url=ghes.base_url, token_env=token_env)
        assert ghes.base_url.endswith("/api/v3")
        source = GitHubSource(settings)
        try:
            assert len(source.poll().repositories) == 3
        finally:
            source.close()
        assert [r.path for r in ghes.requests] == ["/api/v3/orgs/acme/repos", "/api/graphql"]


def test_github_app_installation(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(private_pem)
    with GitHubSimulator(org="acme", token=TOKEN, app=(123, 456, public_pem.decode())) as app_sim:
        seed(app_sim)
        settings = config.GitHub.model_validate(
            {
                "org": "acme",
                "base_url": app_sim.base_url,
                "app": {"app_id": 123, "installation_id": 456, "private_key_file": str(key_file)},
            }
        )
        source = GitHubSource(settings)
        try:
            assert len(source.poll().repositories) == 3
            assert len(source.poll().repositories) == 3
        finally:
            source.close()
        exchanges = [
            r for r in app_sim.requests if r.path == "/app/installations/456/access_tokens"
        ]
        assert len(exchanges) == 1  # the installation token is reused until it nears expiry


def test_a_github_app_key_that_is_not_a_key_fails_the_poll_clearly(
    sim: GitHubSimulator, tmp_path: Path
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"
    )
    settings = config.GitHub.model_validate(
        {
            "org": "acme",
            "base_url": sim.base_url,
            "app": {"app_id": 123, "installation_id": 456, "private_key_file": str(key_file)},
        }
    )
    source = GitHubSource(settings)
    try:
        with pytest.raises(PollError) as info:
            source.poll()
    finally:
        source.close()
    assert str(info.value) == (
        f"github: app.private_key_file {key_file} is not an unencrypted PEM private key; "
        "download a new key from the app's settings"
    )
    assert sim.requests == []


def test_token_file_is_read_on_every_poll(sim: GitHubSimulator, tmp_path: Path) -> None:
    seed(sim)
    token_file = tmp_path / "token"
    token_file.write_text("ghp_old\n")
    source = GitHubSource(
        config.GitHub(org="acme", base_url=sim.base_url, token_file=str(token_file))
    )
    try:
        with pytest.raises(PollError, match="401"):
            source.poll()
        token_file.write_text(TOKEN + "\n")  # the Secret was rotated
        assert len(source.poll().repositories) == 3
        token_file.unlink()
        with pytest.raises(PollError, match=r"cannot read token_file .*token: No such file"):
            source.poll()
    finally:
        source.close()


def test_rate_limit_budget_of_a_2000_repository_organisation(
    sim: GitHubSimulator, make_source: MakeSource
) -> None:
    for i in range(2000):
        files = {"catalog-info.yaml": CATALOG, ".github/workflows/deploy.yml": DEPLOY}
        sim.add_repo(
            f"svc-{i:04}", created=T0 + i * DAY / 10, pushed=T0 + i * DAY / 10, files=files
        )
    source = make_source(property_name="team")
    assert len(source.poll().repositories) == 2000
    full_scan_points = sim.points_used("core") + sim.points_used("graphql")
    assert full_scan_points <= 100
    sim.clear_requests()
    points_before = sim.points_used("core") + sim.points_used("graphql")
    assert len(source.poll().repositories) == 2000
    assert len(sim.requests) <= 25
    assert sim.points_used("core") + sim.points_used("graphql") == points_before


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        ({"byteSize": 3, "isBinary": False, "isTruncated": False, "text": "a:1"}, ("a:1", None)),
        (
            {"byteSize": 600_000, "isBinary": False, "isTruncated": True, "text": "é" * 250_000},
            (None, "600,000 bytes, truncated by GitHub at 500,000 bytes, not parsed"),
        ),
        (
            {"byteSize": 600_000, "isTruncated": True, "text": None},
            (None, "600,000 bytes, truncated by GitHub, not parsed"),
        ),
        ({"isTruncated": True}, (None, "truncated by GitHub, not parsed")),
        (
            {"byteSize": 2 * 1024 * 1024, "isTruncated": False, "text": "x"},
            (None, "larger than 1 MiB, not parsed"),
        ),
        ({"byteSize": 5, "isBinary": True, "text": None}, (None, "binary file, not parsed")),
        ({"byteSize": 5}, (None, "no text in the answer")),
    ],
    ids=[
        "text",
        "truncated",
        "truncated-no-text",
        "truncated-no-size",
        "over-1-mib",
        "binary",
        "no-text",
    ],
)
def test_what_a_blob_says_about_its_text(
    blob: dict[str, object], expected: tuple[str | None, str | None]
) -> None:
    assert _blob_text(blob) == expected
