"""The canary token never leaves the collector: every error path that sees a credential is
provoked on purpose, including servers that echo the Authorization header back, and the
canary is looked for in the log (at DEBUG), the exposition and the exception.

The autouse `canary_watch` fixture (tests/conftest.py) would fail these tests on a leaked
log line anyway; the assertions here say so explicitly and also cover what it cannot see.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.github import GitHubSimulator, iso
from collector.simulator.kube import KubeSimulator
from collector.sources import PollError
from collector.sources.github import GitHubSource
from collector.state import StateStore
from tests.cluster import TOKEN
from tests.conftest import CANARY, CanaryWatch

ECHO = f"invalid header: Authorization: Bearer {CANARY}"
DAY = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
CATALOG = (
    "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
    "metadata:\n  name: svc\nspec:\n  owner: payments\n"
)


def kube_status(code: int) -> bytes:
    return json.dumps(
        {"kind": "Status", "status": "Failure", "message": ECHO, "code": code}
    ).encode()


@pytest.fixture
def all_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger that could see a request at DEBUG, whatever earlier tests set them to.
    PyGithub's own logger stays at the INFO it sets itself on import: at DEBUG it logs whole
    answers, the App's installation tokens among them, and the collector never lowers it."""
    for name in ("", "collector", "urllib3", "kubernetes", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def exception_texts(exc: BaseException) -> str:
    """What an exception shows wherever it ends up: message, repr, and the traceback Python
    prints (with whatever it chains; a context raised `from None` is not shown anywhere)."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def assert_clean(watch: CanaryWatch, caplog: pytest.LogCaptureFixture, *texts: str | bytes) -> None:
    assert watch.leaks == []
    assert CANARY not in caplog.text
    for text in texts:
        shown = text.decode() if isinstance(text, bytes) else text
        assert CANARY not in shown, shown.replace(CANARY, "<CANARY>")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# --- the detector itself -------------------------------------------------------------------


def test_the_watch_sees_the_canary_in_messages_exceptions_and_stacks(
    canary_watch: CanaryWatch,
) -> None:
    log = logging.getLogger("collector.canary-check")
    log.debug("token %s", CANARY)
    try:
        raise ValueError(f"bad token {CANARY}")
    except ValueError:
        log.warning("a failure", exc_info=True)
    log.info("plain", stack_info=True)  # the stack holds this line's source, not the canary
    log.error("%s", {"headers": {"Authorization": f"Bearer {CANARY}".encode()}})
    leaks = canary_watch.take()
    assert [leak.split(":", 1)[0] for leak in leaks] == [
        "collector.canary-check DEBUG",
        "collector.canary-check WARNING",
        "collector.canary-check ERROR",
    ]
    assert leaks[0] == "collector.canary-check DEBUG: token <CANARY>"
    assert all(CANARY not in leak for leak in leaks)
    assert canary_watch.take() == []


def test_a_test_that_logs_the_canary_fails(
    pytester: pytest.Pytester, canary_watch: CanaryWatch
) -> None:
    # The autouse fixture from tests/conftest.py, in an inner session of its own.
    pytester.makeconftest("from tests.conftest import canary_watch  # noqa: F401\n")
    pytester.makepyfile(
        """
        import logging
        from tests.conftest import CANARY

        def test_leaks():
            logging.getLogger("somewhere.deep").debug("Authorization: Bearer %s", CANARY)

        def test_clean():
            logging.getLogger("somewhere.deep").debug("Authorization: Bearer (removed)")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*the canary token appeared in the log:",
            "*somewhere.deep DEBUG: Authorization: Bearer <CANARY>",
        ]
    )
    # The outer watch saw the inner session's records too: claim them.
    assert [leak.split(":", 1)[0] for leak in canary_watch.take()] == ["somewhere.deep DEBUG"]


def test_simulators_and_helpers_use_the_canary(kube_sim: KubeSimulator) -> None:
    assert kube_sim.token == TOKEN == CANARY
    assert CANARY.startswith("canary-")
    assert len(CANARY) == len("canary-") + 24


# --- Kubernetes ---------------------------------------------------------------------------


def kube_settings(tmp_path: Path, sim: KubeSimulator, timeout: str = "2s") -> config.Settings:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
    return config.parse(
        {
            "platform": {"launch_date": "2026-03-01"},
            "kubernetes": {
                "clusters": [{"name": "prod", "kubeconfig": str(kubeconfig)}],
                "timeout": timeout,
                "page_size": 1,
            },
            "golden_paths": [{"name": "chart", "match": {"labels": {"matchLabels": {"g": "y"}}}}],
            "state": {"path": str(tmp_path / "state.db")},
        }
    )


def seed(sim: KubeSimulator) -> None:
    sim.add_namespace("pay", {"team": "payments"}, "2026-03-10T00:00:00Z")
    sim.add_namespace("bill", {"team": "billing"}, "2026-03-10T00:00:00Z")
    sim.add_workload("Deployment", "pay", "api", labels={"g": "y"}, created="2026-04-01T00:00:00Z")


@pytest.fixture
def kube_pipeline(tmp_path: Path, kube_sim: KubeSimulator) -> Iterator[Pipeline]:
    seed(kube_sim)
    settings = kube_settings(tmp_path, kube_sim)
    pipeline = Pipeline(settings, StateStore(settings.state.path))
    yield pipeline
    pipeline.close()


# Every fault answers every request, so each of the two polls below meets it.
KUBE_FAULTS: dict[str, dict[str, Any]] = {
    "401 echoing the header": {"status": 401, "body": kube_status(401)},
    "403 echoing the header": {"status": 403, "body": kube_status(403)},
    "404 echoing the header": {"status": 404, "body": kube_status(404)},
    "410 echoing the header": {"status": 410, "body": kube_status(410)},
    "429 echoing the header": {"status": 429, "body": kube_status(429), "retry_after": 0},
    "500 echoing in plain text": {"status": 500, "body": ECHO.encode()},
    "503 echoing, Retry-After 0": {"status": 503, "body": kube_status(503), "retry_after": 0},
    "malformed JSON around it": {"status": 200, "body": b'{"items": [' + CANARY.encode()},
    "a Status where a list belongs": {"status": 200, "body": kube_status(200)},
}


@pytest.mark.parametrize("fault", KUBE_FAULTS.values(), ids=KUBE_FAULTS.keys())
def test_kubernetes_failures_never_show_the_token(
    kube_sim: KubeSimulator,
    kube_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
    fault: dict[str, Any],
) -> None:
    kube_sim.add_fault(".*", times=None, **fault)
    assert kube_pipeline.poll_kubernetes() is False
    with pytest.raises(PollError) as raised:
        kube_pipeline.sources["prod"].poll()
    (logged,) = error_lines(all_debug)
    assert logged.startswith("poll of kubernetes cluster prod failed: cluster prod: list ")
    assert_clean(
        canary_watch, all_debug, exception_texts(raised.value), kube_pipeline.exposition.latest
    )


def test_a_token_echoed_mid_list_never_shows(
    kube_sim: KubeSimulator,
    kube_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    # The first page is fine; the page after it (a continue request) echoes the header.
    kube_sim.add_fault("continue=", 500, body=kube_status(500), times=None)
    assert kube_pipeline.poll_kubernetes() is False
    (logged,) = error_lines(all_debug)
    assert "server error (500)" in logged
    assert "[redacted]" in logged  # what the server said is kept, less the token
    assert_clean(canary_watch, all_debug, kube_pipeline.exposition.latest)


def test_a_rejected_token_never_shows(
    kube_sim: KubeSimulator,
    kube_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    kube_sim.token = "rotated-elsewhere"  # the collector still presents the canary
    assert kube_pipeline.poll_kubernetes() is False
    with pytest.raises(PollError, match=r"unauthorized \(401\)") as raised:
        kube_pipeline.sources["prod"].poll()
    assert_clean(
        canary_watch, all_debug, exception_texts(raised.value), kube_pipeline.exposition.latest
    )


def test_an_unreachable_or_slow_server_never_shows_the_token(
    tmp_path: Path,
    kube_sim: KubeSimulator,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    seed(kube_sim)
    settings = kube_settings(tmp_path, kube_sim, timeout="1s")
    pipeline = Pipeline(settings, StateStore(settings.state.path))
    try:
        kube_sim.add_fault(".*", 200, delay=1.5)  # a read timeout
        with pytest.raises(PollError, match="timed out") as slow:
            pipeline.sources["prod"].poll()
        kube_sim.stop()
        assert pipeline.poll_kubernetes() is False
        with pytest.raises(PollError, match="cannot reach the API server") as down:
            pipeline.sources["prod"].poll()
        texts = exception_texts(slow.value) + exception_texts(down.value)
        assert_clean(canary_watch, all_debug, texts, pipeline.exposition.latest)
    finally:
        pipeline.close()


# --- GitHub -----------------------------------------------------------------------------------

TOKEN_ENV = "CANARY_TEST_GITHUB_TOKEN"


@pytest.fixture
def org() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(org="acme", token=CANARY) as sim:
        sim.add_repo("svc", created=DAY, pushed=DAY, files={"catalog-info.yaml": CATALOG})
        yield sim


def github_settings(tmp_path: Path, org: GitHubSimulator, **credential: object) -> config.Settings:
    github = {"org": "acme", "base_url": org.base_url, **(credential or {"token_env": TOKEN_ENV})}
    return config.parse(
        {
            "platform": {"launch_date": "2026-03-01"},
            "github": github,
            "state": {"path": str(tmp_path / "state.db")},
        }
    )


def github_pipeline(settings: config.Settings) -> Pipeline:
    assert settings.github is not None
    # No real sleeps between retries: the waits are not what is being tested.
    source = GitHubSource(settings.github, sleep=lambda _: None)
    return Pipeline(settings, StateStore(settings.state.path), sources={}, github=source)


@pytest.fixture
def gh_pipeline(
    tmp_path: Path, org: GitHubSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    monkeypatch.setenv(TOKEN_ENV, CANARY)
    pipeline = github_pipeline(github_settings(tmp_path, org))
    yield pipeline
    pipeline.close()


GRAPHQL_FAILURE = {"errors": [{"type": "FORBIDDEN", "message": ECHO}]}


GITHUB_FAULTS: dict[str, dict[str, Any]] = {
    "401 echoing the header": {"path_regex": "/orgs/", "status": 401, "body": {"message": ECHO}},
    "403 echoing the header": {"path_regex": "/orgs/", "status": 403, "body": {"message": ECHO}},
    "404 echoing the header": {"path_regex": "/orgs/", "status": 404, "body": {"message": ECHO}},
    "422 echoing the header": {"path_regex": "/orgs/", "status": 422, "body": {"message": ECHO}},
    "500 echoing the header": {"path_regex": "/orgs/", "status": 500, "body": {"message": ECHO}},
    "429 echoing, Retry-After 0": {
        "path_regex": "/orgs/",
        "status": 429,
        "body": {"message": ECHO},
        "retry_after": 0,
    },
    "malformed JSON around it": {
        "path_regex": "/orgs/",
        "status": 200,
        "body": b'[{"full_name": "' + CANARY.encode(),
    },
    "GraphQL errors echoing it": {
        "path_regex": "/graphql",
        "status": 200,
        "body": GRAPHQL_FAILURE,
    },
    "GraphQL 502 echoing it": {"path_regex": "/graphql", "status": 502, "body": ECHO.encode()},
}


@pytest.mark.parametrize("fault", GITHUB_FAULTS.values(), ids=GITHUB_FAULTS.keys())
def test_github_failures_never_show_the_token(
    org: GitHubSimulator,
    gh_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
    fault: dict[str, Any],
) -> None:
    org.add_fault(times=None, **fault)
    assert gh_pipeline.poll_github() is False
    assert gh_pipeline.github is not None
    with pytest.raises(PollError) as raised:
        gh_pipeline.github.poll()
    (logged,) = error_lines(all_debug)
    assert logged.startswith("poll of github failed: github: ")
    assert_clean(
        canary_watch, all_debug, exception_texts(raised.value), gh_pipeline.exposition.latest
    )


def test_github_partial_graphql_errors_never_show_the_token(
    org: GitHubSimulator,
    gh_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    org.add_repo("other", created=DAY, pushed=DAY)
    org.add_graphql_error("svc", ECHO, type="FORBIDDEN")
    assert gh_pipeline.poll_github() is True  # the rest of the scan is kept
    warnings = [r.getMessage() for r in all_debug.records if r.levelno == logging.WARNING]
    assert any("acme/svc" in w for w in warnings), warnings
    assert_clean(canary_watch, all_debug, gh_pipeline.exposition.latest)


def test_github_rejected_token_and_unreachable_server(
    tmp_path: Path,
    org: GitHubSimulator,
    gh_pipeline: Pipeline,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    assert gh_pipeline.github is not None
    org.token = "rotated-elsewhere"
    with pytest.raises(PollError, match=r"rejected \(401") as rejected:
        gh_pipeline.github.poll()
    org.stop()
    assert gh_pipeline.poll_github() is False
    with pytest.raises(PollError, match="cannot reach") as down:
        gh_pipeline.github.poll()
    texts = exception_texts(rejected.value) + exception_texts(down.value)
    assert_clean(canary_watch, all_debug, texts, gh_pipeline.exposition.latest)


def test_a_token_file_holding_the_canary_never_shows(
    tmp_path: Path,
    org: GitHubSimulator,
    all_debug: pytest.LogCaptureFixture,
    canary_watch: CanaryWatch,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(CANARY + "\n")
    pipeline = github_pipeline(github_settings(tmp_path, org, token_file=str(token_file)))
    try:
        assert pipeline.poll_github() is True  # every request and answer logged at DEBUG
        assert all_debug.records
        org.add_fault("/orgs/", 403, body={"message": ECHO}, times=None)
        assert pipeline.poll_github() is False
        assert_clean(canary_watch, all_debug, pipeline.exposition.latest)
    finally:
        pipeline.close()


def test_an_installation_token_is_never_logged(
    tmp_path: Path, all_debug: pytest.LogCaptureFixture, canary_watch: CanaryWatch
) -> None:
    """GitHub answers the App's token exchange with the installation token in the body."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with GitHubSimulator(org="acme", token=CANARY, app=(123, 456, public.decode())) as org:
        org.add_repo("svc", created=DAY, pushed=DAY, files={"catalog-info.yaml": CATALOG})
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        # The exchange hands out the canary, which this simulator also accepts as a token.
        exchange = {"token": CANARY, "expires_at": iso(expires), "permissions": {}}
        org.add_fault("/access_tokens$", 201, body=exchange, method="POST")
        app = {"app_id": 123, "installation_id": 456, "private_key_file": str(key_file)}
        pipeline = github_pipeline(github_settings(tmp_path, org, app=app))
        try:
            assert pipeline.poll_github() is True
            assert [r.status for r in org.requests] == [201, 200, 200]
            assert_clean(canary_watch, all_debug, pipeline.exposition.latest)
        finally:
            pipeline.close()
