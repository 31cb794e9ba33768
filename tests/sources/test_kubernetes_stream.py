"""The source handing its records to the cluster's summary page by page (`tally.ClusterStream`),
against the same poll held whole and summarised at once: a list that starts over, or a kind
refused in one namespace, must leave the summary and the deploy counts exactly as they are
for a poll that never saw those pages."""

from __future__ import annotations

from collector import deploys, rules, tally
from collector.simulator.kube import KubeSimulator
from collector.sources.kubernetes import KubernetesSource
from tests.records import settings
from tests.sources.kube import MakeSource, deployments, expire_tokens_at_the_second_page

KNOWN = deploys.Known(baseline=0.0, generations={})  # every workload new: each counts


def streamed(source: KubernetesSource) -> tuple[tally.ClusterSummary, deploys.Delta]:
    cfg = settings()
    counting = deploys.Tally("sim", KNOWN, 1.0)
    stream = tally.ClusterStream(
        "sim", cfg, rules.GoldenPathMatcher(cfg.golden_paths), None, counting
    )
    observation = source.poll(stream)
    assert observation.workloads == []  # none held: they went to the stream
    summary = stream.summary()
    delta = counting.delta(len(summary.records), stream.uids, complete=not observation.forbidden)
    return summary, delta


def held(source: KubernetesSource) -> tuple[tally.ClusterSummary, deploys.Delta]:
    cfg = settings()
    counting = deploys.Tally("sim", KNOWN, 1.0)
    observation = source.poll()
    summary = tally.summarise(
        observation, cfg, rules.GoldenPathMatcher(cfg.golden_paths), None, counting
    )
    uids = lambda: (w.uid for w in observation.workloads)  # noqa: E731
    return summary, counting.delta(len(summary.records), uids, complete=not observation.forbidden)


def test_a_list_that_starts_over_counts_once(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    deployments(kube_sim, 5)
    kube_sim.add_workload("Job", "pay", "j", created="2026-01-03T00:00:00Z")
    source = make_source(page_size=2)
    expected = held(source)
    assert len(expected[0].records) == 6
    assert expected[1].path  # deploys were counted: the comparison below means something

    kube_sim.requests.clear()
    expirer = expire_tokens_at_the_second_page(kube_sim)
    found = streamed(source)
    expirer.join()
    first_pages = [
        r for r in kube_sim.requests if r.path.endswith("deployments") and "continue" not in r.query
    ]
    assert len(first_pages) == 2  # the list did start over
    assert found == expected


def test_a_kind_refused_in_one_namespace_is_left_out_whole(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    kube_sim.add_namespace("shop", {"team": "checkout"}, "2026-02-01T00:00:00Z")
    deployments(kube_sim, 2, "pay")
    deployments(kube_sim, 1, "shop")
    kube_sim.add_workload("Job", "shop", "j", created="2026-02-02T00:00:00Z")
    source = make_source(kinds=["Deployment", "Job"], namespaces=["pay", "shop"])
    # Refused in shop, after pay's deployments were read and handed on.
    kube_sim.add_fault("/apis/apps/v1/namespaces/shop/deployments", 403, times=2)
    summary, delta = streamed(source)
    assert [(r.kind, r.namespace, r.name) for r in summary.records] == [("Job", "shop", "j")]
    assert summary.read == 1
    assert len(delta.changed) == 1  # the Job's deploy alone
    assert (summary, delta) == held(source)
