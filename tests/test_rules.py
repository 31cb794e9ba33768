from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from collector import config, model, rules
from collector.model import DeployTool


def sel(raw: dict[str, Any]) -> config.Selector:
    return config.Selector.model_validate(raw)


def path(name: str, match: dict[str, Any]) -> config.GoldenPath:
    return config.GoldenPath.model_validate({"name": name, "match": match})


def fm(manager: str, time: float | None = None, owns_spec: bool = True) -> model.FieldManager:
    return model.field_manager(manager=manager, time=time, owns_spec=owns_spec)


def workload(
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    managers: tuple[model.FieldManager, ...] = (),
) -> model.Workload:
    return model.workload(
        kind="Deployment",
        namespace="shop",
        name="web",
        created=None,
        labels=labels or {},
        annotations=annotations or {},
        managers=managers,
    )


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


# --- selectors ---------------------------------------------------------------

SELECTOR_CASES = [
    # empty selector matches everything, as in Kubernetes
    ("empty-on-empty", {}, {}, True),
    ("empty-on-labels", {}, {"a": "1"}, True),
    ("empty-lists", {"matchLabels": {}, "matchExpressions": []}, {"a": "1"}, True),
    # matchLabels
    ("labels-equal", {"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ("labels-differ", {"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ("labels-absent", {"matchLabels": {"app": "web"}}, {}, False),
    ("labels-case", {"matchLabels": {"app": "web"}}, {"app": "Web"}, False),
    ("labels-all-1", {"matchLabels": {"a": "1", "b": "2"}}, {"a": "1", "b": "2"}, True),
    ("labels-all-2", {"matchLabels": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
    ("labels-empty-value", {"matchLabels": {"a": ""}}, {"a": ""}, True),
    ("labels-empty-absent", {"matchLabels": {"a": ""}}, {}, False),
    # In
    ("in-hit", expr("tier", "In", "gold", "silver"), {"tier": "silver"}, True),
    ("in-miss", expr("tier", "In", "gold", "silver"), {"tier": "bronze"}, False),
    ("in-absent", expr("tier", "In", "gold"), {}, False),
    # NotIn
    ("notin-absent", expr("tier", "NotIn", "gold"), {}, True),
    ("notin-other", expr("tier", "NotIn", "gold", "silver"), {"tier": "bronze"}, True),
    ("notin-hit", expr("tier", "NotIn", "gold", "silver"), {"tier": "gold"}, False),
    # Exists / DoesNotExist
    ("exists-present", expr("tier", "Exists"), {"tier": ""}, True),
    ("exists-absent", expr("tier", "Exists"), {"other": "x"}, False),
    ("dne-absent", expr("tier", "DoesNotExist"), {"other": "x"}, True),
    ("dne-present", expr("tier", "DoesNotExist"), {"tier": ""}, False),
    # Matches: any of the regexes, re.search semantics
    (
        "matches-first",
        expr("img", "Matches", r"^ghcr\.io/", r"\.internal/"),
        {"img": "ghcr.io/x"},
        True,
    ),
    (
        "matches-second",
        expr("img", "Matches", r"^ghcr\.io/", r"\.internal/"),
        {"img": "reg.internal/x"},
        True,
    ),
    (
        "matches-none",
        expr("img", "Matches", r"^ghcr\.io/", r"\.internal/"),
        {"img": "docker.io/x"},
        False,
    ),
    ("matches-search-not-match", expr("img", "Matches", "io/x"), {"img": "ghcr.io/x"}, True),
    ("matches-anchored", expr("img", "Matches", "^io"), {"img": "ghcr.io/x"}, False),
    ("matches-absent", expr("img", "Matches", ".*"), {}, False),
    ("matches-empty-value", expr("img", "Matches", "^$"), {"img": ""}, True),
    ("matches-inline-flag", expr("img", "Matches", "(?i)^GHCR"), {"img": "ghcr.io/x"}, True),
    ("matches-non-ascii", expr("team", "Matches", "^zü"), {"team": "zürich"}, True),
    # all expressions must hold, together with matchLabels
    (
        "all-hold",
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["gold"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        },
        {"app": "web", "tier": "gold"},
        True,
    ),
    (
        "one-expression-fails",
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["gold"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        },
        {"app": "web", "tier": "gold", "legacy": "true"},
        False,
    ),
    (
        "labels-fail-expressions-hold",
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "Exists"}],
        },
        {"app": "api", "tier": "gold"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("raw", "values", "expected"),
    [c[1:] for c in SELECTOR_CASES],
    ids=[c[0] for c in SELECTOR_CASES],
)
def test_selector(raw: dict[str, Any], values: dict[str, str], expected: bool) -> None:
    selector = sel(raw)
    assert rules.CompiledSelector(selector).matches(values) is expected
    assert rules.selector_matches(selector, values) is expected


def test_compiled_selector_is_reusable() -> None:
    compiled = rules.CompiledSelector(sel(expr("a", "Matches", "^x", "^y")))
    results = [compiled.matches({"a": v}) for v in ("x1", "z", "y2", "")]
    assert results == [True, False, True, False]


def test_compiled_selector_keys() -> None:
    compiled = rules.CompiledSelector(
        sel(
            {
                "matchLabels": {"a": "1"},
                "matchExpressions": [
                    {"key": "b", "operator": "DoesNotExist"},
                    {"key": "c", "operator": "NotIn", "values": ["x"]},
                ],
            }
        )
    )
    assert compiled.keys == frozenset({"a", "b", "c"})
    assert compiled.is_empty is False
    assert rules.CompiledSelector(sel({})).is_empty is True


# --- golden paths ------------------------------------------------------------

PATHS = [
    path("platform-helm", {"labels": {"matchLabels": {"platform.io/chart": "service"}}}),
    path(
        "argo-annotated",
        {
            "annotations": expr("argocd.argoproj.io/tracking-id", "Exists"),
            "namespace_labels": {"matchLabels": {"platform.io/onboarded": "true"}},
        },
    ),
    path("flux", {"field_managers": ["kustomize-controller", "helm-controller"]}),
    path("catch-labelled", {"labels": expr("platform.io/chart", "Exists")}),
]


@pytest.mark.parametrize(
    ("labels", "annotations", "managers", "ns_labels", "expected"),
    [
        pytest.param({"platform.io/chart": "service"}, {}, (), {}, "platform-helm", id="labels"),
        # both criteria given and both hold
        pytest.param(
            {},
            {"argocd.argoproj.io/tracking-id": "x"},
            (),
            {"platform.io/onboarded": "true"},
            "argo-annotated",
            id="annotations+namespace",
        ),
        # one of two criteria fails -> path does not match
        pytest.param(
            {},
            {"argocd.argoproj.io/tracking-id": "x"},
            (),
            {"platform.io/onboarded": "false"},
            None,
            id="namespace-criterion-fails",
        ),
        pytest.param(
            {},
            {},
            (),
            {"platform.io/onboarded": "true"},
            None,
            id="annotation-criterion-fails",
        ),
        # annotation keys on labels do not count, and vice versa
        pytest.param(
            {"argocd.argoproj.io/tracking-id": "x"},
            {},
            (),
            {"platform.io/onboarded": "true"},
            None,
            id="annotation-key-on-labels",
        ),
        pytest.param(
            {}, {}, (fm("kubectl"), fm("helm-controller")), {}, "flux", id="field-manager-any"
        ),
        # field_managers only compares manager names, whatever owns_spec says
        pytest.param(
            {},
            {},
            (fm("kustomize-controller", owns_spec=False),),
            {},
            "flux",
            id="field-manager-status-only",
        ),
        pytest.param({}, {}, (fm("kubectl"),), {}, None, id="field-manager-miss"),
        pytest.param({}, {}, (fm("Helm-Controller"),), {}, None, id="field-manager-case"),
        # first matching path in configured order wins
        pytest.param(
            {"platform.io/chart": "service"},
            {},
            (fm("helm-controller"),),
            {},
            "platform-helm",
            id="first-wins-over-later",
        ),
        pytest.param(
            {"platform.io/chart": "worker"},
            {},
            (fm("helm-controller"),),
            {},
            "flux",
            id="first-misses-next-wins",
        ),
        pytest.param({"platform.io/chart": "worker"}, {}, (), {}, "catch-labelled", id="last-path"),
        pytest.param({"app": "web"}, {}, (), {}, None, id="no-path"),
    ],
)
def test_golden_path_match(
    labels: dict[str, str],
    annotations: dict[str, str],
    managers: tuple[model.FieldManager, ...],
    ns_labels: dict[str, str],
    expected: str | None,
) -> None:
    matcher = rules.GoldenPathMatcher(PATHS)
    assert matcher.match(workload(labels, annotations, managers), ns_labels) == expected


def test_order_decides_between_overlapping_paths() -> None:
    a = path("a", {"labels": expr("x", "Exists")})
    b = path("b", {"labels": {"matchLabels": {"x": "1"}}})
    w = workload({"x": "1"})
    assert rules.GoldenPathMatcher([a, b]).match(w, {}) == "a"
    assert rules.GoldenPathMatcher([b, a]).match(w, {}) == "b"


def test_empty_selector_criterion_matches_everything() -> None:
    matcher = rules.GoldenPathMatcher([path("any", {"labels": {}})])
    assert matcher.match(workload(), {}) == "any"


def test_all_four_criteria_required() -> None:
    p = path(
        "strict",
        {
            "labels": {"matchLabels": {"app": "web"}},
            "annotations": expr("owner", "Matches", "^team-"),
            "namespace_labels": expr("env", "In", "prod"),
            "field_managers": ["argocd-controller"],
        },
    )
    matcher = rules.GoldenPathMatcher([p])
    labels = {"app": "web"}
    notes = {"owner": "team-a"}
    managers = (fm("argocd-controller"),)
    assert matcher.match(workload(labels, notes, managers), {"env": "prod"}) == "strict"
    assert matcher.match(workload(labels, notes, managers), {"env": "dev"}) is None
    assert matcher.match(workload({}, notes, managers), {"env": "prod"}) is None
    assert matcher.match(workload(labels, {}, managers), {"env": "prod"}) is None
    assert matcher.match(workload(labels, notes, ()), {"env": "prod"}) is None


def test_no_paths() -> None:
    matcher = rules.GoldenPathMatcher([])
    assert matcher.match(workload({"a": "b"}), {}) is None
    assert matcher.annotation_keys == frozenset()
    assert matcher.names == ()


def test_annotation_keys_collected_from_every_annotation_selector() -> None:
    matcher = rules.GoldenPathMatcher(
        [
            path(
                "one",
                {
                    "annotations": {
                        "matchLabels": {"a/one": "x"},
                        "matchExpressions": [
                            {"key": "a/two", "operator": "DoesNotExist"},
                            {"key": "a/three", "operator": "Matches", "values": ["."]},
                        ],
                    },
                    "labels": {"matchLabels": {"label-only": "x"}},
                },
            ),
            path("two", {"annotations": expr("a/four", "NotIn", "x")}),
            path("three", {"annotations": {}}),
            path("four", {"namespace_labels": {"matchLabels": {"ns-only": "x"}}}),
        ]
    )
    assert matcher.annotation_keys == frozenset({"a/one", "a/two", "a/three", "a/four"})
    assert matcher.names == ("one", "two", "three", "four")


# --- deploy tool -------------------------------------------------------------


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        ("helm", DeployTool.HELM),
        ("argocd-controller", DeployTool.ARGOCD),
        ("argocd-application-controller", DeployTool.ARGOCD),
        ("argocd", DeployTool.ARGOCD),
        ("kustomize-controller", DeployTool.FLUX),
        ("helm-controller", DeployTool.FLUX),
        ("kubectl", DeployTool.KUBECTL),
        ("kubectl-client-side-apply", DeployTool.KUBECTL),
        ("kubectl-edit", DeployTool.KUBECTL),
        ("kubectl-rollout", DeployTool.KUBECTL),
        ("terraform", DeployTool.TERRAFORM),
        ("Terraform-Provider", DeployTool.TERRAFORM),
        ("hashicorp-TERRAFORM-provider-kubernetes", DeployTool.TERRAFORM),
        ("pulumi-kubernetes", DeployTool.PULUMI),
        ("pulumi-kubernetes-abc", DeployTool.PULUMI),
        ("pulumi", DeployTool.OTHER),
        ("kubectlx", DeployTool.OTHER),
        ("helmfile", DeployTool.OTHER),
        ("Go-http-client", DeployTool.OTHER),
        ("spinnaker", DeployTool.OTHER),
    ],
)
def test_deploy_tool_mapping(manager: str, expected: DeployTool) -> None:
    entry = fm(manager, time=1.0)
    assert rules.deploy_tool([entry]) == (expected, entry)


@pytest.mark.parametrize(
    ("managers", "expected"),
    [
        pytest.param([], DeployTool.UNKNOWN, id="none"),
        pytest.param(
            [fm("helm", owns_spec=False), fm("kubectl", owns_spec=False)],
            DeployTool.UNKNOWN,
            id="only-status-entries",
        ),
        pytest.param(
            [
                fm("kube-controller-manager", 9.0),
                fm("kube-scheduler", 9.0),
                fm("kubelet", 9.0),
                fm("vpa-recommender-controller-manager", 9.0),
            ],
            DeployTool.UNKNOWN,
            id="only-in-cluster-controllers",
        ),
        pytest.param(
            [fm("helm", 1.0), fm("kube-controller-manager", 9.0)],
            DeployTool.HELM,
            id="in-cluster-controller-ignored",
        ),
        pytest.param(
            [fm("helm", 1.0), fm("my-operator-controller-manager", 9.0)],
            DeployTool.HELM,
            id="suffix-controller-manager-ignored",
        ),
        pytest.param(
            [fm("helm", 1.0), fm("argocd-controller", 2.0)],
            DeployTool.ARGOCD,
            id="argocd-controller-not-ignored",
        ),
        pytest.param(
            [fm("helm", 1.0), fm("kustomize-controller", 2.0)],
            DeployTool.FLUX,
            id="kustomize-controller-not-ignored",
        ),
        pytest.param(
            [fm("helm", 1.0), fm("kubectl", 9.0, owns_spec=False)],
            DeployTool.HELM,
            id="newer-status-only-ignored",
        ),
        pytest.param(
            [fm("kubectl", 5.0), fm("helm", 3.0)],
            DeployTool.KUBECTL,
            id="most-recent-first-in-list",
        ),
        pytest.param(
            [fm("kubectl", 3.0), fm("helm", 5.0)],
            DeployTool.HELM,
            id="most-recent-last-in-list",
        ),
        pytest.param(
            [fm("kubectl", 5.0), fm("helm", None)],
            DeployTool.KUBECTL,
            id="time-none-is-oldest",
        ),
        pytest.param(
            [fm("helm", None), fm("kubectl", 0.0)],
            DeployTool.KUBECTL,
            id="time-none-older-than-epoch",
        ),
        pytest.param(
            [fm("kubectl", 0.0), fm("helm", None)],
            DeployTool.KUBECTL,
            id="time-none-older-than-epoch-listed-first",
        ),
        pytest.param(
            [fm("helm", 4.0), fm("kubectl", 4.0)],
            DeployTool.KUBECTL,
            id="tie-later-wins",
        ),
        pytest.param(
            [fm("kubectl", None), fm("helm", None)],
            DeployTool.HELM,
            id="tie-both-none-later-wins",
        ),
        pytest.param(
            [fm("helm", None)],
            DeployTool.HELM,
            id="single-without-time",
        ),
    ],
)
def test_deploy_tool_selection(managers: list[model.FieldManager], expected: DeployTool) -> None:
    tool, entry = rules.deploy_tool(managers)
    assert tool is expected
    assert rules.deploy_tool(tuple(managers)) == (tool, entry)
    # The entry the tool was read from: one of those given, or None when none is usable.
    if expected is DeployTool.UNKNOWN:
        assert entry is None
    else:
        assert entry is not None
        assert any(entry is m for m in managers)
        assert rules.deploy_tool([entry])[0] is expected


# --- namespace scope ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "include", "exclude", "expected"),
    [
        ("shop", ("*",), ("kube-system",), True),
        ("kube-system", ("*",), ("kube-system",), False),
        ("kube-public", ("*",), ("kube-*",), False),
        ("kubernetes-dashboard", ("*",), ("kube-*",), True),
        ("my-kube-tools", ("*",), ("kube-*",), True),  # globs are anchored at the start
        ("sandbox-team-a", ("team-*",), (), False),
        ("team-a-tools", ("*",), ("*-tool",), True),  # and at the end
        ("team-a-prod", ("team-*",), (), True),
        ("shop", ("team-*",), (), False),
        ("team-a-dev", ("team-*",), ("*-dev",), False),
        ("team-a", ("team-?",), (), True),
        ("team-ab", ("team-?",), (), False),
        ("team-b", ("team-[ab]",), (), True),
        ("team-c", ("team-[ab]",), (), False),
        ("payments", ("shop", "payments"), (), True),
        ("payments", (), (), False),
        ("payments", ("*",), ("*",), False),
        ("Shop", ("shop",), (), False),
        ("shop", ("shop*",), ("shop",), False),
    ],
)
def test_namespace_scope(
    name: str, include: tuple[str, ...], exclude: tuple[str, ...], expected: bool
) -> None:
    scope = rules.NamespaceScope(include, exclude)
    assert scope.includes(name) is expected
    assert (name in scope) is expected


def test_namespace_scope_defaults() -> None:
    k = config.Kubernetes()
    scope = rules.NamespaceScope(k.include_namespaces, k.excluded_namespaces)
    names = ["default", "kube-system", "kube-public", "kube-node-lease", "shop"]
    assert [n for n in names if n in scope] == ["default", "shop"]


# --- explanations from the same compiled selectors ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "values", "expected"),
    [c[1:] for c in SELECTOR_CASES],
    ids=[c[0] for c in SELECTOR_CASES],
)
def test_requirements_agree_with_the_fast_matcher(
    raw: dict[str, Any], values: dict[str, str], expected: bool
) -> None:
    compiled = rules.CompiledSelector(sel(raw))
    held = [r.holds(values.get(r.key)) for r in compiled.requirements]
    assert all(held) is expected
    assert len(held) == len(sel(raw).match_labels) + len(sel(raw).match_expressions)


@pytest.mark.parametrize(
    ("raw", "value", "failure"),
    [
        ({"matchLabels": {"app": "web"}}, None, "label app is absent"),
        ({"matchLabels": {"app": "web"}}, "api", 'label app is "api", not "web"'),
        (expr("tier", "In", "gold"), "tin", 'label tier is "tin", not "gold"'),
        (expr("tier", "In", "gold", "silver"), "tin", 'label tier is "tin", not one of gold, silver'),
        (expr("tier", "NotIn", "test", "dev"), "dev", 'label tier is "dev", one of the excluded dev, test'),
        (expr("tier", "Exists"), None, "label tier is absent"),
        (expr("legacy", "DoesNotExist"), "yes", 'label legacy is "yes", but must be absent'),
        (expr("img", "Matches", "^ghcr"), "docker.io/x", 'label img is "docker.io/x", not matching ^ghcr'),
        (expr("img", "Matches", "^a", "^b"), "c", 'label img is "c", not matching any of ^a, ^b'),
        (expr("img", "Matches", "^a"), "x" * 100, f'label img is "{"x" * 77}...", not matching ^a'),
    ],
)  # fmt: skip
def test_a_failed_requirement_is_stated_plainly(
    raw: dict[str, Any], value: str | None, failure: str
) -> None:
    (requirement,) = rules.CompiledSelector(sel(raw)).requirements
    assert not requirement.holds(value)
    assert requirement.failure("label", value) == failure


def test_no_workload_path_configured() -> None:
    matcher = rules.GoldenPathMatcher(
        [
            config.GoldenPath.model_validate(
                {"name": "t", "github": {"workflows": ["a/b/.github/workflows/c.yml"]}}
            )
        ]
    )
    workload = model.workload("Deployment", "ns", "w", None, {}, {}, ())
    assert matcher.match(workload, {}) is None
    assert (
        matcher.reasons().closest_miss(workload, {}) == "no golden path is configured for workloads"
    )


def test_the_closest_miss_counts_requirements_and_ties_go_to_the_first_path() -> None:
    paths = [
        {"name": "one", "match": {"labels": {"matchLabels": {"a": "1", "b": "2"}}}},
        {
            "name": "two",
            "match": {
                "labels": {"matchLabels": {"c": "3"}},
                "annotations": {"matchLabels": {"d": "4"}},
            },
        },
        {"name": "three", "match": {"labels": {"matchLabels": {"a": "1", "e": "5"}}}},
    ]
    matcher = rules.GoldenPathMatcher([config.GoldenPath.model_validate(p) for p in paths])
    reasons = matcher.reasons()

    def miss(labels: dict[str, str], annotations: dict[str, str] | None = None) -> str:
        w = model.workload("Deployment", "ns", "w", None, labels, annotations or {}, ())
        assert matcher.match(w, {}) is None
        return reasons.closest_miss(w, {})

    assert miss({}) == "one: label a is absent"
    assert miss({"b": "2"}) == "one: label a is absent"  # one held 1 of 2
    assert miss({"c": "3"}, {"d": "x"}) == 'two: annotation d is "x", not "4"'
    assert miss({"a": "1", "e": "0"}) == "one: label b is absent"  # one and three both hold 1
    # memoised: the same failure with the same value is the same string object
    assert miss({"a": "2"}) is miss({"a": "2", "z": "0"})
