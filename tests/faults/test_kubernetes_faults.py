"""Kubernetes API faults, end to end: the real Pipeline (and once the real Service) over
loopback HTTP against the simulated API server, with the official client.

Every fault case runs the same three polls: a good one, one under the fault, and one after
it. Whatever the fault, the process keeps serving; the figures that depend on the failed
cluster keep their last good values while `adoption_collector_up` and the error counter say
what failed; the next good poll recovers without a restart; and no poll outlasts its
configured timeout.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector import config
from collector.pipeline import Pipeline
from collector.service import Service
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import GOLDEN_LABELS, TOKEN, managed, seed_small
from tests.records import Samples, parse_samples

T0 = 1789466400.0  # 2026-09-15T10:00:00Z
INTERVAL = 300.0
TIMEOUT = 0.5  # kubernetes.timeout in these tests
POLL_TIMEOUT = 2.0  # kubernetes.poll_timeout
SLACK = 0.4  # scheduling noise on a busy machine, on top of a configured timeout
CLUSTER = "prod-eu"
ECHO = f"bad header Authorization: Bearer {TOKEN}"  # a proxy repeating the request


class Clock:
    """The pipeline's wall clock, moved by hand: one interval per poll."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Poll:
    ok: bool
    samples: Samples
    text: str
    seconds: float  # real time the poll took
    errors: list[str]  # collector log lines at ERROR
    warnings: list[str]  # collector log lines at WARNING


class Harness:
    def __init__(self, pipeline: Pipeline, clock: Clock, caplog: pytest.LogCaptureFixture):
        self.pipeline = pipeline
        self.clock = clock
        self.caplog = caplog

    def poll(self) -> Poll:
        self.clock.now += INTERVAL
        self.caplog.clear()
        started = time.monotonic()
        ok = self.pipeline.poll_kubernetes()
        seconds = time.monotonic() - started
        text = self.pipeline.exposition.latest.decode()
        assert TOKEN not in self.caplog.text  # every record, urllib3's debug lines included
        records = [r for r in self.caplog.records if r.name.startswith("collector")]
        return Poll(
            ok,
            parse_samples(text),
            text,
            seconds,
            [r.getMessage() for r in records if r.levelno >= logging.ERROR],
            [r.getMessage() for r in records if r.levelno == logging.WARNING],
        )


MakeHarness = Callable[..., Harness]


def settings_for(
    tmp_path: Path, clusters: dict[str, KubeSimulator], **kubernetes: object
) -> config.Settings:
    entries = []
    for name, sim in clusters.items():
        path = sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig", context=name)
        entries.append({"name": name, "kubeconfig": str(path), "context": name})
    return config.parse(
        {
            "platform": {"launch_date": "2026-03-01"},
            "teams": {"mandated": ["billing"]},
            "kubernetes": {
                "clusters": entries,
                "interval": "5m",
                "timeout": TIMEOUT,
                "poll_timeout": POLL_TIMEOUT,
                "page_size": 2,  # several pages per list, so a fault can land mid-list
                **kubernetes,
            },
            "golden_paths": [
                {
                    "name": "service-chart",
                    "match": {"labels": {"matchLabels": {"app.kubernetes.io/managed-by": "Helm"}}},
                }
            ],
            "state": {"path": str(tmp_path / "state.db")},
        }
    )


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


@pytest.fixture
def make_harness(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[MakeHarness]:
    pipelines: list[Pipeline] = []

    def make(
        clusters: dict[str, KubeSimulator], name: str = "main", **kubernetes: object
    ) -> Harness:
        workdir = tmp_path / name
        workdir.mkdir()
        settings = settings_for(workdir, clusters, **kubernetes)
        clock = Clock()
        pipeline = Pipeline(settings, StateStore(settings.state.path), clock=clock)
        pipelines.append(pipeline)
        return Harness(pipeline, clock, caplog)

    yield make
    for pipeline in pipelines:
        pipeline.close()


def key(
    name: str, cluster: str = CLUSTER, **labels: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    every = {"kube_cluster": cluster, "source": "kubernetes", **labels}
    return name, tuple(sorted(every.items()))


def workloads(cluster: str, path: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "adoption_workloads", (("kube_cluster", cluster), ("path", path))


UP = "adoption_collector_up"
ERRORS = "adoption_collector_poll_errors_total"
LAST_SUCCESS = "adoption_collector_last_success_timestamp_seconds"
COMPLETE = "adoption_collector_poll_complete"
FORBIDDEN = "adoption_collector_list_forbidden"


def figures(samples: Samples) -> Samples:
    """The adoption figures: everything but the collector's own status and runtime."""
    return {
        k: v
        for k, v in samples.items()
        if k[0].startswith("adoption_") and not k[0].startswith("adoption_collector_")
    }


def status(samples: Samples, cluster: str = CLUSTER) -> Samples:
    """The collector's own samples about one cluster."""
    return {
        k: v
        for k, v in samples.items()
        if k[0].startswith("adoption_collector_") and ("kube_cluster", cluster) in k[1]
    }


def fresh_figures(
    make_harness: MakeHarness, sim: KubeSimulator, at: float, **kubernetes: object
) -> Samples:
    """What a collector started from nothing would show at `at`: the yardstick for
    "current" figures."""
    reference = make_harness({CLUSTER: sim}, name=f"fresh-{time.monotonic_ns()}", **kubernetes)
    reference.clock.now = at - INTERVAL  # poll() moves it on by one interval
    polled = reference.poll()
    assert polled.ok
    return figures(polled.samples)


def add_golden_billing(sim: KubeSimulator) -> None:
    """A change made while the fault lasts: billing adopts the platform."""
    sim.add_workload(
        "Deployment",
        "bill",
        "ledger-api",
        labels=GOLDEN_LABELS,
        created="2026-09-10T00:00:00Z",
        managed_fields=managed("helm", "2026-09-10T00:00:00Z"),
    )


# --- faults under which the poll fails ------------------------------------------------------

FAILING: list[tuple[str, Callable[[KubeSimulator], None], str, float]] = [
    (
        "connection refused",
        lambda sim: sim.stop(),
        r"list namespaces: cannot reach the API server: .*\[Errno 111\] Connection refused",
        TIMEOUT,
    ),
    (
        "no answer within the timeout",
        lambda sim: sim.add_fault("/api/v1/namespaces", 200, delay=TIMEOUT + 1.0),
        r"list namespaces: timed out waiting for the response: "
        r"it took longer than kubernetes\.timeout \(0\.5s\)",
        TIMEOUT,
    ),
    (
        "a body that trickles",
        lambda sim: sim.add_fault("/apis/apps/v1/deployments", 200, trickle=0.1),
        r"list deployments\.apps: timed out reading the response: "
        r"it took longer than kubernetes\.timeout \(0\.5s\)",
        TIMEOUT,
    ),
    (
        "slow answers past the poll deadline",
        lambda sim: sim.add_fault("/", 200, delay=0.3, times=None),
        r"list \S+: timed out waiting for the response: "
        r"the poll took longer than kubernetes\.poll_timeout \(2s\)",
        POLL_TIMEOUT,
    ),
    (
        "500",
        lambda sim: sim.add_fault("/apis/batch/v1/jobs", 500),
        r"list jobs\.batch: server error \(500\): Internal error occurred: simulated failure",
        TIMEOUT,
    ),
    (
        "500 echoing the bearer token",
        lambda sim: sim.add_fault(
            "/apis/batch/v1/jobs",
            500,
            body=json.dumps({"kind": "Status", "message": ECHO}).encode(),
        ),
        r"list jobs\.batch: server error \(500\): bad header Authorization: Bearer \[redacted\]",
        TIMEOUT,
    ),
    (
        "503",
        lambda sim: sim.add_fault("/apis/apps/v1/statefulsets", 503),
        r"list statefulsets\.apps: server error \(503\): "
        r"the server is currently unable to handle the request",
        TIMEOUT,
    ),
    (
        "429 with a Retry-After past the poll deadline",
        lambda sim: sim.add_fault("/apis/apps/v1/daemonsets", 429, retry_after=5),
        r"list daemonsets\.apps: throttled \(429\): the server asked to wait 5s \(Retry-After\), "
        r"more than is left of kubernetes\.poll_timeout \(2s\): "
        r"Too many requests, please try again later\.",
        TIMEOUT,
    ),
    (
        "410 on every continue token",
        lambda sim: sim.add_fault(r"/api/v1/namespaces\?.*continue=", 410, times=None),
        r"list namespaces: continue token expired 4 times in a row \(410\)",
        TIMEOUT,
    ),
    (
        "malformed JSON",
        lambda sim: sim.add_fault(
            "/apis/apps/v1/deployments", 200, body=b'{"kind": "PartialObjectMetadataList", "it'
        ),
        r"list deployments\.apps: malformed JSON in the response: Unterminated string .*",
        TIMEOUT,
    ),
    (
        "connection dropped on every try",
        lambda sim: sim.add_fault("/apis/batch/v1/cronjobs", 200, drop=True, times=None),
        r"list cronjobs\.batch: cannot reach the API server: the connection was dropped: "
        r".*Remote end closed connection without response.*",
        TIMEOUT,
    ),
    (
        "body cut short",
        lambda sim: sim.add_fault("/apis/apps/v1/deployments", 200, drop=True, trickle=0.001),
        r"list deployments\.apps: reading the response failed: .*IncompleteRead.*",
        TIMEOUT,
    ),
    (
        "403 on namespaces",
        lambda sim: sim.add_fault("/api/v1/namespaces", 403),
        r"list namespaces: forbidden: cannot list namespaces at cluster scope "
        r"\(grant get/list/watch on namespaces\): namespaces is forbidden: .*",
        TIMEOUT,
    ),
    (
        "403 on every kind",
        lambda sim: sim.add_fault("/apis/", 403, times=None),
        r"forbidden: cannot list any configured kind \(grant get/list/watch on "
        r"deployments\.apps, statefulsets\.apps, daemonsets\.apps, cronjobs\.batch, jobs\.batch\)",
        TIMEOUT,
    ),
]


@pytest.mark.parametrize(
    ("inject", "cause", "limit"),
    [pytest.param(inject, cause, limit, id=name) for name, inject, cause, limit in FAILING],
)
def test_a_failed_poll_keeps_the_last_good_figures_and_recovers(
    sim: KubeSimulator,
    make_harness: MakeHarness,
    inject: Callable[[KubeSimulator], None],
    cause: str,
    limit: float,
) -> None:
    harness = make_harness({CLUSTER: sim})
    good = harness.poll()
    assert good.ok
    assert good.errors == []
    assert good.samples[key(UP)] == 1.0
    assert good.samples[("adoption_ratio", ())] == 0.5

    inject(sim)
    add_golden_billing(sim)  # must not show while the poll fails
    failed = harness.poll()

    assert failed.ok is False
    assert failed.seconds < limit + SLACK
    assert figures(failed.samples) == figures(good.samples)
    # Only up, completeness and the error count move; what the last good poll read stays.
    assert status(failed.samples) == {
        **status(good.samples),
        key(UP): 0.0,
        key(COMPLETE): 0.0,
        key(ERRORS): 1.0,
    }
    assert failed.samples[key(LAST_SUCCESS)] == T0 + INTERVAL
    (error,) = failed.errors
    assert re.fullmatch(
        rf"poll of kubernetes cluster {CLUSTER} failed: cluster {CLUSTER}: (?:{cause})", error
    ), error
    assert TOKEN not in failed.text

    sim.clear_faults()
    sim.start()  # a no-op unless the fault stopped it
    recovered = harness.poll()
    assert recovered.ok
    assert recovered.errors == []
    assert status(recovered.samples) == {
        **status(good.samples),
        key(ERRORS): 1.0,  # counted once, and kept
        key(LAST_SUCCESS): T0 + 3 * INTERVAL,
        key("adoption_collector_objects", kind="Deployment"): 4.0,
    }
    assert figures(recovered.samples) == fresh_figures(make_harness, sim, harness.clock.now)
    assert recovered.samples[("adoption_ratio", ())] == 1.0  # billing's change is in
    assert recovered.samples[("adoption_team_adopted", (("team", "billing"),))] == 1.0


# --- faults the poll rides out --------------------------------------------------------------

RIDDEN_OUT: list[tuple[str, Callable[[KubeSimulator], None], float, float]] = [
    (
        "429 with Retry-After: 1",
        lambda sim: sim.add_fault("/apis/apps/v1/daemonsets", 429, retry_after=1),
        1.0,
        1.0 + SLACK,
    ),
    (
        "503 with Retry-After: 1",
        lambda sim: sim.add_fault("/apis/batch/v1/jobs", 503, retry_after=1),
        1.0,
        1.0 + SLACK,
    ),
    (
        "410 in the middle of a paginated list",
        lambda sim: sim.add_fault(r"/api/v1/namespaces\?.*continue=", 410),
        0.0,
        TIMEOUT,
    ),
    (
        "a connection dropped once",
        lambda sim: sim.add_fault("/apis/apps/v1/deployments", 200, drop=True),
        0.0,
        TIMEOUT,
    ),
]


@pytest.mark.parametrize(
    ("inject", "least", "most"),
    [pytest.param(inject, least, most, id=name) for name, inject, least, most in RIDDEN_OUT],
)
def test_a_fault_the_poll_rides_out_costs_nothing(
    sim: KubeSimulator,
    make_harness: MakeHarness,
    inject: Callable[[KubeSimulator], None],
    least: float,
    most: float,
) -> None:
    harness = make_harness({CLUSTER: sim})
    good = harness.poll()
    inject(sim)
    add_golden_billing(sim)
    polled = harness.poll()
    assert sim.pending_faults == 0  # the fault was met, and ridden out
    assert polled.ok
    assert least <= polled.seconds < most
    assert polled.errors == []
    assert status(polled.samples) == {
        **status(good.samples),
        key(LAST_SUCCESS): T0 + 2 * INTERVAL,
        key("adoption_collector_objects", kind="Deployment"): 4.0,
    }
    assert figures(polled.samples) == fresh_figures(make_harness, sim, harness.clock.now)


# --- RBAC refusing one kind -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespaces", "path", "where"),
    [
        pytest.param((), "/apis/batch/v1/cronjobs", "at cluster scope", id="cluster-wide"),
        pytest.param(
            ("pay", "bill", "misc", "search"),
            "/apis/batch/v1/namespaces/pay/cronjobs",
            "in namespace pay",
            id="namespaced",
        ),
    ],
)
def test_a_kind_rbac_refuses_is_left_out_and_named(
    sim: KubeSimulator,
    make_harness: MakeHarness,
    namespaces: tuple[str, ...],
    path: str,
    where: str,
) -> None:
    harness = make_harness({CLUSTER: sim}, namespaces=list(namespaces))
    good = harness.poll()
    assert FORBIDDEN not in good.text  # rendered only while something is refused

    sim.add_fault(path, 403, times=2)  # this poll and the next
    partial = harness.poll()
    assert partial.ok
    assert partial.errors == []
    assert partial.warnings == [
        f"cluster {CLUSTER}: forbidden: cannot list cronjobs.batch {where} "
        "(grant get/list/watch on cronjobs.batch): cronjobs.batch is forbidden: "
        f'User "{sim.user}" cannot list resource "cronjobs" in API group "batch" '
        + ("at the cluster scope" if not namespaces else 'in the namespace "pay"')
    ]
    objects = {k: v for k, v in status(good.samples).items() if k[0] != LAST_SUCCESS}
    del objects[key("adoption_collector_objects", kind="CronJob")]
    assert status(partial.samples) == {
        **objects,
        key(UP): 1.0,
        key(COMPLETE): 0.0,
        key(ERRORS): 0.0,
        key(LAST_SUCCESS): T0 + 2 * INTERVAL,
        key(FORBIDDEN, kind="CronJob"): 1.0,
    }
    exposed = [line for line in partial.text.splitlines() if "list_forbidden" in line]
    assert exposed == [
        f"# HELP {FORBIDDEN} 1 for each kind RBAC refused to list in the last successful poll "
        "of the cluster; its workloads are left out of the figures.",
        f"# TYPE {FORBIDDEN} gauge",
        f'{FORBIDDEN}{{kind="CronJob",kube_cluster="{CLUSTER}",source="kubernetes"}} 1.0',
    ]
    # Everything else still counts: exactly what a collector not listing CronJobs shows.
    kinds = ["Deployment", "StatefulSet", "DaemonSet", "Job"]
    assert figures(partial.samples) == fresh_figures(
        make_harness, sim, harness.clock.now, namespaces=list(namespaces), kinds=kinds
    )
    assert (
        partial.samples[("adoption_team_workloads", (("path", "shadow"), ("team", "payments")))]
        == 1.0
    )

    assert harness.poll().warnings == partial.warnings  # once per poll, every poll

    recovered = harness.poll()
    assert recovered.warnings == []
    assert FORBIDDEN not in recovered.text
    assert status(recovered.samples) == {
        **status(good.samples),
        key(LAST_SUCCESS): T0 + 4 * INTERVAL,
    }
    assert figures(recovered.samples) == figures(good.samples)


# --- one cluster of three down for hours ----------------------------------------------------


def test_one_cluster_down_for_hours(sim: KubeSimulator, make_harness: MakeHarness) -> None:
    with KubeSimulator(token=TOKEN) as down, KubeSimulator(token=TOKEN) as other:
        down.add_namespace("team-a", {"team": "alpha"}, "2026-04-01T00:00:00Z")
        down.add_workload("Deployment", "team-a", "a1", labels=GOLDEN_LABELS)
        down.add_workload("Deployment", "team-a", "a2")
        other.add_namespace("team-b", {"team": "beta"}, "2026-05-01T00:00:00Z")
        other.add_workload("Deployment", "team-b", "b1")
        harness = make_harness({CLUSTER: sim, "prod-us": down, "staging": other})
        good = harness.poll()
        assert good.ok
        went_down = good.samples[key(LAST_SUCCESS, "prod-us")]

        down.stop()
        polls = 36  # three hours at one poll every five minutes
        for n in range(1, polls + 1):
            other.add_workload("Deployment", "team-b", f"b-new-{n}")  # the live ones move on
            polled = harness.poll()
            assert polled.ok is False
            assert polled.seconds < TIMEOUT + SLACK
            (error,) = polled.errors  # one line per failed poll, naming cluster and cause
            assert error.startswith(
                "poll of kubernetes cluster prod-us failed: cluster prod-us: list namespaces: "
                "cannot reach the API server: "
            )
        assert polled.samples[key(UP, "prod-us")] == 0.0
        assert polled.samples[key(ERRORS, "prod-us")] == float(polls)
        assert polled.samples[key(LAST_SUCCESS, "prod-us")] == went_down
        # The down cluster's last good figures are kept, the live ones are current.
        assert polled.samples[workloads("prod-us", "golden")] == 1.0
        assert polled.samples[workloads("prod-us", "shadow")] == 1.0
        assert polled.samples[workloads("staging", "shadow")] == 1.0 + polls
        assert polled.samples[("adoption_team_adopted", (("team", "alpha"),))] == 1.0
        for live in (CLUSTER, "staging"):
            assert polled.samples[key(UP, live)] == 1.0
            assert polled.samples[key(ERRORS, live)] == 0.0
            assert polled.samples[key(LAST_SUCCESS, live)] == harness.clock.now
        assert figures(polled.samples) != figures(good.samples)

        down.delete("Deployment", "team-a", "a1")  # changed while it was unreachable
        down.start()
        back = harness.poll()
        assert back.ok
        assert back.errors == []
        assert back.samples[key(UP, "prod-us")] == 1.0
        assert back.samples[key(ERRORS, "prod-us")] == float(polls)
        assert back.samples[key(LAST_SUCCESS, "prod-us")] == harness.clock.now
        assert workloads("prod-us", "golden") in back.samples
        assert back.samples[workloads("prod-us", "golden")] == 0.0
        assert back.samples[("adoption_team_adopted", (("team", "alpha"),))] == 0.0


# --- the service keeps serving while a poll is stuck ----------------------------------------


def fetch(url: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read(), time.monotonic() - started


def test_the_service_serves_the_last_good_figures_while_a_poll_hangs(
    sim: KubeSimulator, make_harness: MakeHarness
) -> None:
    harness = make_harness({CLUSTER: sim})
    pipeline = harness.pipeline
    service = Service(pipeline, "127.0.0.1", 0)
    service.start()  # its scheduler polls once at once; the interval is five minutes
    try:
        deadline = time.monotonic() + 10
        up = f'{UP}{{kube_cluster="{CLUSTER}",source="kubernetes"}} 1.0'
        while up not in pipeline.exposition.latest.decode():
            assert time.monotonic() < deadline, "the first scheduled poll never published"
            time.sleep(0.02)
        good = pipeline.exposition.latest

        sim.add_fault("/", 200, delay=0.3, times=None)  # the next poll crawls to its deadline
        result: list[bool] = []
        poller = threading.Thread(target=lambda: result.append(pipeline.poll_kubernetes()))
        poller.start()
        time.sleep(0.2)
        scrapes = 0
        while poller.is_alive():
            code, body, took = fetch(service.url + "/metrics")
            # Never blocked by the poll, never half-new: the last good poll's exposition,
            # then the process's own runtime metrics, read at each scrape.
            assert (code, body[: len(good)]) == (200, good)
            assert body[len(good) :].startswith(b"# HELP process_")
            assert took < 0.5
            scrapes += 1
            time.sleep(0.1)
        poller.join()
        assert result == [False]
        assert scrapes >= 5

        code, body, _ = fetch(service.url + "/metrics")
        samples = parse_samples(body.decode())
        assert samples[key(UP)] == 0.0
        assert samples[key(ERRORS)] == 1.0
        assert figures(samples) == figures(parse_samples(good.decode()))
        assert fetch(service.url + "/healthz")[:2] == (200, b"ok\n")
        assert fetch(service.url + "/readyz")[0] == 200

        sim.clear_faults()
        assert pipeline.poll_kubernetes() is True  # the next poll, no restart
        samples = parse_samples(fetch(service.url + "/metrics")[1].decode())
        assert samples[key(UP)] == 1.0
        assert samples[key(ERRORS)] == 1.0
    finally:
        service.stop()
