from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import catalog
from collector.catalog import (
    KUBERNETES_ID_LABEL,
    MAX_FILE_BYTES,
    NO_LINKS,
    LabelSelector,
    Links,
    LinkTarget,
    ParseError,
    parse_catalog_info,
    parse_entity,
    parse_workflow,
    workflow_target,
)
from collector.model import Component, Group

KID = KUBERNETES_ID_LABEL
SELECTOR = "backstage.io/kubernetes-label-selector"
TEMPLATE = "backstage.io/source-template"


def comp(  # noqa: PLR0917 - one argument per field, as the record has
    name: str,
    owner: str | None = None,
    template: str | None = None,
    kid: str | None = None,
    selector: str | None = None,
    namespace: str | None = None,
    repository: str | None = None,
) -> Component:
    return Component(name, owner, template, kid, selector, namespace, repository)


# --- catalog-info.yaml ---------------------------------------------------------

FULL = f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    {TEMPLATE}: template:default/python-service
    {KID}: checkout-prod
    {SELECTOR}: "app=checkout,tier in (web, api)"
    github.com/project-slug: acme/checkout
spec:
  type: service
  owner: group:default/payments
  lifecycle: production
"""

MULTI = """\
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
---
kind: Component
metadata: {name: web}
spec: {owner: team-a}
---
kind: API
metadata: {name: web-api}
spec: {owner: team-a}
---
kind: Group
metadata: {name: team-a}
---
kind: Component
metadata: {name: worker}
spec: {owner: user:jane}
"""

CATALOG_CASES = [
    pytest.param("", (), [], id="empty-file"),
    pytest.param("# only a comment\n", (), [], id="only-comment"),
    pytest.param(
        FULL,
        (
            comp(
                "checkout",
                owner="group:default/payments",
                template="template:default/python-service",
                kid="checkout-prod",
                selector="app=checkout,tier in (web, api)",
                repository="acme/checkout",
            ),
        ),
        [],
        id="full-component",
    ),
    pytest.param(
        MULTI, (comp("web", owner="team-a"), comp("worker", owner="user:jane")), [], id="multi"
    ),
    pytest.param(
        "---\n---\nkind: Component\nmetadata: {name: a}\n---\n", (comp("a"),), [], id="empty-docs"
    ),
    pytest.param("kind: component\nmetadata: {name: a}\n", (), [], id="kind-case-sensitive"),
    pytest.param("metadata: {name: a}\n", (), [], id="no-kind"),
    pytest.param(
        "kind: Component\nspec: {owner: x}\n",
        (),
        ["document 1: Component skipped, metadata.name is missing"],
        id="no-metadata",
    ),
    pytest.param(
        "kind: Component\nmetadata: [a]\n---\nkind: Component\nmetadata: {name: 12}\n"
        "---\nkind: Component\nmetadata: {name: '  '}\n---\nkind: Component\nmetadata: {}\n",
        (),
        [
            "document 1: Component skipped, metadata is a list, not a mapping",
            "document 2: Component skipped, metadata.name is a number",
            "document 3: Component skipped, metadata.name is blank",
            "document 4: Component skipped, metadata.name is missing",
        ],
        id="bad-metadata",
    ),
    pytest.param(
        "- kind: Component\n---\njust text\n---\n42\n---\ntrue\n---\n2024-01-02\n"
        "---\nkind: Component\nmetadata: {name: a}\n",
        (comp("a"),),
        [
            "document 1 is a list, not a mapping",
            "document 2 is a string, not a mapping",
            "document 3 is a number, not a mapping",
            "document 4 is a boolean, not a mapping",
            "document 5 is a date, not a mapping",
        ],
        id="non-mapping-documents",
    ),
    pytest.param(
        f"kind: Component\nmetadata:\n  name: a\n  annotations:\n    {KID}: 12\n"
        f"    {TEMPLATE}: [x]\n    {SELECTOR}: app=a\n    other/number: 3\n"
        "spec: {owner: {name: x}}\n",
        (comp("a", selector="app=a"),),
        [
            "document 1: spec.owner is a mapping, not a string",
            f"document 1: {TEMPLATE} is a list, not a string",
            f"document 1: {KID} is a number, not a string",
        ],
        id="non-string-values",
    ),
    pytest.param(
        f"kind: Component\nmetadata:\n  name: ' a '\n  annotations:\n    {KID}: ''\n"
        f"    {SELECTOR}: '   '\n    {TEMPLATE}: ' t '\nspec: {{owner: ''}}\n",
        (comp("a", template="t"),),
        [],
        id="blank-is-absent",
    ),
    pytest.param(
        "kind: Component\nmetadata: {name: a, annotations: [x]}\nspec: owner-x\n",
        (comp("a"),),
        [
            "document 1: spec is a string, not a mapping",
            "document 1: metadata.annotations is a list, not a mapping",
        ],
        id="non-mapping-parts",
    ),
    pytest.param(
        "kind: Component\nmetadata: {name: a}\nspec: {owner: 2024-13-45}\n",
        (),
        ["not valid YAML: month must be in 1..12"],
        id="impossible-date",
    ),
    pytest.param(
        "defaults: &d {owner: team-b, type: service}\nkind: Component\nmetadata: {name: a}\n"
        "spec: {<<: *d, type: website}\n",
        (comp("a", owner="team-b"),),
        [],
        id="merge-key",
    ),
]


@pytest.mark.parametrize(("text", "components", "problems"), CATALOG_CASES)
def test_parse_catalog_info(
    text: str, components: tuple[Component, ...], problems: list[str]
) -> None:
    assert parse_catalog_info(text) == (components, problems)


# libyaml and the pure-Python parser word the same error differently.
UNCLOSED = (
    "did not find expected ',' or '{}'"
    if yaml.__with_libyaml__
    else "expected ',' or '{}', but got '{}'"
)


def test_invalid_yaml_keeps_earlier_documents() -> None:
    text = (
        "kind: Component\nmetadata: {name: a}\n---\nkind: Component\nmetadata:\n  name: [b\n"
        "---\nkind: Component\nmetadata: {name: c}\n"
    )
    problem = UNCLOSED.format("]", "<document start>")
    assert parse_catalog_info(text) == (
        (comp("a"),),
        [f"line 7, column 1: not valid YAML: while parsing a flow sequence, {problem}"],
    )
    problem = UNCLOSED.format("}", "<stream end>")
    assert parse_workflow("jobs:\n  a: {uses: o/r/.github/workflows/a.yml@v1\n") == (
        (),
        [f"line 3, column 1: not valid YAML: while parsing a flow mapping, {problem}"],
    )


def test_size_limit() -> None:
    doc = "kind: Component\nmetadata: {name: a}\n#"
    exact = doc + "x" * (MAX_FILE_BYTES - len(doc))
    assert parse_catalog_info(exact) == ((comp("a"),), [])
    too_large = ((), ["larger than 1 MiB, not parsed"])
    assert parse_catalog_info(exact + "x") == too_large
    assert parse_catalog_info(doc + "x" * 5 * MAX_FILE_BYTES) == too_large
    # Counted in UTF-8 bytes: fewer characters than the limit, more bytes.
    assert parse_catalog_info(doc + "é" * (MAX_FILE_BYTES // 2)) == too_large
    assert parse_workflow("#" * (MAX_FILE_BYTES + 1)) == ((), ["larger than 1 MiB, not parsed"])


def test_document_limit() -> None:
    docs = [f"---\nkind: Component\nmetadata: {{name: c{i}}}\n" for i in range(101)]
    hundred = tuple(comp(f"c{i}") for i in range(100))
    assert parse_catalog_info("".join(docs[:100])) == (hundred, [])
    assert parse_catalog_info("".join(docs)) == (
        hundred,
        ["more than 100 YAML documents, the rest not read"],
    )


def _laughs(levels: int) -> list[str]:
    """Each level a list of nine references to the one before: 9**levels strings."""
    lines = ["    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return lines


def test_billion_laughs_is_not_expanded() -> None:
    # Only the types of the few values read are looked at, so 9**12 strings
    # cost nothing; a message printing one would never finish.
    head = ["kind: Component", "metadata:", "  annotations:", *_laughs(12), f"    {KID}: *l12"]
    text = "\n".join([*head, "  name: bomb", "spec:", "  owner: *l11", "  x: *l12"])
    assert parse_catalog_info(text) == (
        (comp("bomb"),),
        [
            "document 1: spec.owner is a list, not a string",
            f"document 1: {KID} is a list, not a string",
        ],
    )
    as_name = "\n".join([*head, "  name: *l12"])
    assert parse_catalog_info(as_name) == (
        (),
        ["document 1: Component skipped, metadata.name is a list"],
    )
    as_document = "\n".join("- " + line.split(": ", 1)[1] for line in _laughs(12))
    assert as_document.splitlines()[1] == f"- &l1 [{', '.join(['*l0'] * 9)}]"
    assert parse_catalog_info(as_document) == ((), ["document 1 is a list, not a mapping"])
    workflow = "\n".join(["x:", *_laughs(12), "jobs:", "  a: {uses: *l12}", "  b: *l12"])
    assert parse_workflow(workflow) == (
        (),
        ["job 'a': uses is a list, not a string", "job 'b' is a list, not a mapping"],
    )


def test_merge_key_bomb_is_not_expanded() -> None:
    # Old PyYAML copied merged keys once per reference: 9**14 pairs here.
    lines = ["m0: &m0 {owner: team-c, type: service}"]
    for i in range(1, 15):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}")
    text = "\n".join([*lines, "kind: Component", "metadata: {name: a}", "spec: *m14"])
    assert parse_catalog_info(text) == ((comp("a", owner="team-c"),), [])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 100_000, id="deep-flow"),
        pytest.param("- " * 100_000 + "x", id="deep-block"),
        pytest.param("name: \ud800\n", id="lone-surrogate"),
        pytest.param("\x00\x01", id="control-characters"),
        pytest.param("? [a, b]\n: c\n", id="unhashable-key"),
        pytest.param("a: !!python/object:os.system x\n", id="unsafe-tag"),
    ],
)
def test_hostile_yaml_never_raises(text: str) -> None:
    for components, problems in (parse_catalog_info(text), parse_workflow(text)):
        assert components == ()
        assert len(problems) == 1
        assert re.match(r"(line \d+, column \d+: )?not valid YAML: ", problems[0])
        assert len(problems[0]) < 200
        assert "\n" not in problems[0]


# --- workflows -----------------------------------------------------------------

WORKFLOW = """\
name: ci
on:
  push:
    branches: [main]
jobs:
  build:
    uses: acme/platform/.github/workflows/build.yml@v2
    with: {language: python}
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: acme/platform/.github/workflows/not-a-job-call.yml@v1
  local:
    uses: ./.github/workflows/lint.yml
  docker:
    uses: docker://alpine:3
  deploy:
    needs: [build, test]
    uses: Acme/Deploy/.github/workflows/deploy.yaml@refs/heads/main
    secrets: inherit
"""

WORKFLOW_CASES = [
    pytest.param(
        WORKFLOW,
        (
            "acme/platform/.github/workflows/build.yml@v2",
            "./.github/workflows/lint.yml",
            "docker://alpine:3",
            "Acme/Deploy/.github/workflows/deploy.yaml@refs/heads/main",
        ),
        [],
        id="job-calls-not-steps",
    ),
    pytest.param("on: push\njobs: {}\n", (), [], id="no-job"),
    pytest.param(
        "on: push\njobs:\n  a: {runs-on: x, steps: []}\n  b: {uses: ''}\n", (), [], id="no-call"
    ),
    pytest.param(
        "true: x\n1: y\n? 2024-01-01\n: z\njobs:\n  2: {uses: o/r/.github/workflows/a.yml@v1}\n"
        "  on: {uses: o/r/.github/workflows/b.yml@v1}\n",
        ("o/r/.github/workflows/a.yml@v1", "o/r/.github/workflows/b.yml@v1"),
        [],
        # `on` is True, and True == 1 in Python: a job `1:` would be the same key.
        id="non-string-keys",
    ),
    pytest.param(
        "jobs:\n  a: just-text\n  b: [x]\n  c:\n  d: {uses: [x]}\n"
        "  e: {uses: o/r/.github/workflows/e.yml@v1}\n",
        ("o/r/.github/workflows/e.yml@v1",),
        [
            "job 'a' is a string, not a mapping",
            "job 'b' is a list, not a mapping",
            "job 'c' is empty, not a mapping",
            "job 'd': uses is a list, not a string",
        ],
        id="bad-jobs",
    ),
    pytest.param("on: push\n", (), ["no jobs"], id="jobs-missing"),
    pytest.param("jobs: [a, b]\n", (), ["jobs is a list, not a mapping"], id="jobs-list"),
    pytest.param("", (), ["top level is empty, not a mapping"], id="empty"),
    pytest.param("- jobs\n", (), ["top level is a list, not a mapping"], id="top-level-list"),
    pytest.param("jobs\n", (), ["top level is a string, not a mapping"], id="top-level-string"),
    pytest.param(
        "jobs: {a: {uses: o/r/.github/workflows/a.yml@v1}}\n---\njobs: {}\n",
        ("o/r/.github/workflows/a.yml@v1",),
        ["more than one YAML document, only the first read"],
        id="two-documents",
    ),
]


@pytest.mark.parametrize(("text", "uses", "problems"), WORKFLOW_CASES)
def test_parse_workflow(text: str, uses: tuple[str, ...], problems: list[str]) -> None:
    assert parse_workflow(text) == (uses, problems)


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        (
            "acme/platform/.github/workflows/build.yml@v2",
            "acme/platform/.github/workflows/build.yml",
        ),
        (
            "Acme/Platform/.github/workflows/Build.yml@v2",
            "acme/platform/.github/workflows/Build.yml",
        ),
        (
            "acme/platform/.github/workflows/b.yaml@refs/heads/main",
            "acme/platform/.github/workflows/b.yaml",
        ),
        (
            "acme/platform/.github/workflows/b.yml@0123456789abcdef0123456789abcdef01234567",
            "acme/platform/.github/workflows/b.yml",
        ),
        (
            "my-org.x/re_po.js/.github/workflows/b.yml@v1",
            "my-org.x/re_po.js/.github/workflows/b.yml",
        ),
        (" acme/platform/.github/workflows/b.yml@v1 ", "acme/platform/.github/workflows/b.yml"),
        ("acme/platform/.github/workflows/b.yml", None),  # no ref
        ("acme/platform/.github/workflows/b.yml@", None),
        ("acme/platform/.github/workflows/b.yml@v1@v2", None),
        ("./.github/workflows/lint.yml", None),
        ("docker://alpine:3", None),
        ("actions/checkout@v4", None),
        ("acme/.github/workflows/b.yml@v1", None),  # too few parts
        ("acme/platform/workflows/b.yml@v1", None),
        ("acme/platform/.github/b.yml@v1", None),
        ("acme/platform/ci/b.yml@v1", None),  # not under .github/workflows
        ("acme/platform/.github/workflows/sub/b.yml@v1", None),
        ("acme/platform/.GitHub/workflows/b.yml@v1", None),
        ("acme/platform/.github/workflows/b.json@v1", None),
        ("acme/platform/.github/workflows/.yml@v1", None),
        ("", None),
    ],
)
def test_workflow_target(uses: str, expected: str | None) -> None:
    assert workflow_target(uses) == expected


# --- label selectors -------------------------------------------------------------

SELECTOR_CASES = [
    ("app=web", {"app": "web", "x": "y"}, True),
    ("app=web", {"app": "api"}, False),
    ("app=web", {}, False),
    ("app==web", {"app": "web"}, True),
    # Label values are case-sensitive, as in Kubernetes.
    ("app=Web", {"app": "Web"}, True),
    ("app=Web", {"app": "web"}, False),
    ("app=web", {"app": "Web"}, False),
    ("app!=Web", {"app": "web"}, True),
    ("tier in (Gold)", {"tier": "gold"}, False),
    ("tier notin (Gold)", {"tier": "gold"}, True),
    ("app!=web", {"app": "api"}, True),
    ("app!=web", {}, True),  # as in Kubernetes: absent is not equal
    ("app!=web", {"app": "web"}, False),
    ("app=", {"app": ""}, True),
    ("app=", {}, False),
    ("tier in (gold, silver)", {"tier": "silver"}, True),
    ("tier in (gold,silver)", {"tier": "bronze"}, False),
    ("tier in (gold)", {}, False),
    ("tier notin (gold,silver)", {"tier": "bronze"}, True),
    ("tier notin (gold)", {}, True),
    ("tier notin(gold)", {"tier": "gold"}, False),
    ("tier in ()", {"tier": ""}, True),  # Kubernetes reads () as the empty value
    ("tier", {"tier": ""}, True),
    ("tier", {"other": "x"}, False),
    ("!tier", {"other": "x"}, True),
    ("!tier", {"tier": "x"}, False),
    ("  app = web ,  ! legacy , tier in ( a , b )  ", {"app": "web", "tier": "b"}, True),
    ("app=web,!legacy,tier in (a,b)", {"app": "web", "tier": "b", "legacy": ""}, False),
    ("app.kubernetes.io/name=web,in=notin", {"app.kubernetes.io/name": "web", "in": "notin"}, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), SELECTOR_CASES)
def test_label_selector(text: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty label selector"),
        ("   ", "empty label selector"),
        ("a,", "nothing after the last ','"),
        (",a", "empty key before ','"),
        ("a,,b", "empty key before ','"),
        ("=b", "empty key before '='"),
        ("!=b", "empty key before '!='"),
        ("!", "empty key at the end"),
        ("(a)", "empty key before '('"),
        ("a in (b", "unbalanced parentheses: missing ')'"),
        ("a in (", "unbalanced parentheses: missing ')'"),
        ("a=b)", "unbalanced parentheses: unexpected ')'"),
        ("a in (b))", "unbalanced parentheses: unexpected ')'"),
        ("a in b", "expected '(' after in/notin"),
        ("a notin", "expected '(' after in/notin"),
        ("a in (b c)", "expected ',' or ')' in a value list, found 'c'"),
        ("a=(b)", "expected a value, found '('"),
        ("a>1", "bad operator '>' after 'a': use =, ==, !=, in or notin"),
        ("a b", "bad operator 'b' after 'a': use =, ==, !=, in or notin"),
        ("a!b", "bad operator '!' after 'a': use =, ==, !=, in or notin"),
        ("a=b c", "expected ',' or the end, found 'c'"),
        ("!a=b", "expected ',' or the end, found '='"),
    ],
)
def test_label_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as raised:
        LabelSelector(text)
    assert str(raised.value) == message


def test_label_selector_equalities() -> None:
    selector = LabelSelector("a=1, b!=2, c==3, d in (4), !e, f")
    assert selector.equalities == (("a", "1"), ("c", "3"))
    assert LabelSelector("d in (4), !e").equalities == ()


# --- links -----------------------------------------------------------------------


def target(component: str, repository: str = "acme/shop") -> LinkTarget:
    return LinkTarget(repository=repository, component=component, team="payments", golden_path=None)


def links(*components: Component) -> Links:
    return Links((c, target(c.name)) for c in components)


@pytest.mark.parametrize(
    ("components", "labels", "expected"),
    [
        pytest.param((comp("web"),), {KID: "web"}, "web", id="name-fallback"),
        pytest.param((comp("web"),), {"app": "web"}, None, id="name-needs-the-label"),
        pytest.param((comp("web", kid="web-prod"),), {KID: "web-prod"}, "web", id="kubernetes-id"),
        pytest.param((comp("web", kid="web-prod"),), {KID: "web"}, None, id="id-replaces-name"),
        pytest.param((comp("web", kid=" "),), {KID: "web"}, "web", id="blank-id-is-absent"),
        pytest.param(
            (comp("web", kid="web", selector="app=shop"),), {"app": "shop"}, "web", id="selector"
        ),
        pytest.param(
            (comp("web", kid="web", selector="app=shop"),),
            {KID: "web"},
            None,
            id="selector-wins-over-id",
        ),
        pytest.param(
            (comp("web", selector="app=shop,env!=dev"),),
            {"app": "shop", "env": "dev"},
            None,
            id="all-requirements-checked",
        ),
        pytest.param(
            (comp("web", selector="tier in (gold)"),), {"tier": "gold"}, "web", id="unindexed"
        ),
        pytest.param(
            (comp("web", selector="app=Web"),), {"app": "Web"}, "web", id="selector-same-case"
        ),
        pytest.param(
            (comp("web", selector="app=Web"),), {"app": "web"}, None, id="selector-case-sensitive"
        ),
        pytest.param(
            (comp("web", selector="app=web"),), {"app": "WEB"}, None, id="label-case-sensitive"
        ),
        pytest.param(
            (comp("web", selector="tier in (Gold)"),),
            {"tier": "gold"},
            None,
            id="unindexed-case-sensitive",
        ),
        pytest.param((comp("web", selector=" "),), {KID: "web"}, "web", id="blank-selector"),
        pytest.param(
            (comp("a", selector="app=shop,env=prod"), comp("b", selector="app=shop")),
            {"app": "shop", "env": "dev"},
            "b",
            id="next-in-bucket",
        ),
        pytest.param(
            (comp("a", selector="app=shop"), comp("b", kid="shop")),
            {KID: "shop", "app": "shop"},
            "a",
            id="first-wins",
        ),
        pytest.param(
            (comp("b", kid="shop"), comp("a", selector="app=shop")),
            {KID: "shop", "app": "shop"},
            "b",
            id="first-wins-reversed",
        ),
        pytest.param(
            (comp("a", selector="!legacy"), comp("b")),
            {KID: "b"},
            "a",
            id="first-wins-unindexed",
        ),
        pytest.param(
            (comp("b"), comp("a", selector="!legacy")),
            {KID: "b"},
            "b",
            id="first-wins-indexed",
        ),
        pytest.param(
            (comp("a", kid="x"), comp("b", kid="x")), {KID: "x"}, "a", id="first-of-same-id"
        ),
        pytest.param(
            (comp("a", kid="x", selector="a in (b"), comp("b", kid="x")),
            {KID: "x"},
            "b",
            id="invalid-selector-no-id-fallback",
        ),
    ],
)
def test_links_find(
    components: tuple[Component, ...], labels: dict[str, str], expected: str | None
) -> None:
    found = links(*components).find(labels)
    assert (found and found.component) == expected


def test_links_counts() -> None:
    built = links(
        comp("a"),
        comp("b", selector="app in (b"),
        comp("c", selector="tier=gold"),
        comp("d", selector="tier notin (x)"),
        comp("e", selector="=x"),
    )
    assert (len(built), built.invalid_selectors, built.unindexed) == (3, 2, 1)
    assert built.find({KID: "b", "tier": "x"}) is None  # not even by its name
    assert built.find({"tier": "gold"}) == target("c")


def test_links_entries_compare_by_value() -> None:
    entries = [(comp("a"), target("a")), (comp("b", selector="bad ("), target("b"))]
    assert Links(entries).entries == Links(iter(entries)).entries == tuple(entries)
    assert Links(entries).entries != Links(entries[:1]).entries


def test_no_links() -> None:
    assert len(NO_LINKS) == 0
    assert not NO_LINKS
    assert NO_LINKS.find({KID: "a"}) is None
    assert catalog.NO_LINKS.invalid_selectors == 0


def test_links_index_at_scale() -> None:
    # 2,000 components of every kind; only the 100 without any equality are
    # checked on every find, the rest are reached through the workload's labels.
    components: list[Component] = []
    for i in range(2000):
        if i % 4 == 0:
            components.append(comp(f"c{i}"))
        elif i % 4 == 1:
            components.append(comp(f"c{i}", kid=f"id-{i}"))
        elif i % 20 == 2:
            components.append(comp(f"c{i}", selector=f"svc-{i}, tier notin (dev)"))
        else:
            components.append(comp(f"c{i}", kid=f"c{i}", selector=f"app=c{i},tier in (web,api)"))
    built = links(*components)
    assert (len(built), built.invalid_selectors, built.unindexed) == (2000, 0, 100)

    def labels_of(i: int) -> dict[str, str]:
        common = {"team": "payments", "tier": "web", "app.kubernetes.io/managed-by": "Helm"}
        if i % 4 == 0:
            return {**common, KID: f"c{i}"}
        if i % 4 == 1:
            return {**common, KID: f"id-{i}"}
        if i % 20 == 2:
            return {**common, f"svc-{i}": ""}
        return {**common, "app": f"c{i}"}

    workloads = [labels_of(i) for i in range(2000)] + [{"app": "unknown", "tier": "web"}]
    found = [built.find(workloads[n % len(workloads)]) for n in range(50_000)]
    hits = [t.component for t in found if t is not None]
    assert len(hits) == 50_000 - 50_000 // len(workloads)
    assert all(t is None or t.component == f"c{n % 2001}" for n, t in enumerate(found))


# --- Backstage entities ------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_ENTITY = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Component", "Group", "API"]) | _JSON},
    optional={
        "metadata": st.fixed_dictionaries(
            {},
            optional={"name": st.text(max_size=8) | _JSON, "annotations": _JSON},
        )
        | _JSON,
        "spec": st.fixed_dictionaries(
            {},
            optional={"owner": _JSON, "parent": _JSON, "profile": _JSON},
        )
        | _JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(_ENTITY | _JSON)
def test_any_json_from_the_catalog_api_is_a_record_or_problems_never_an_exception(
    entity: object,
) -> None:
    record, problems = parse_entity(entity)
    assert record is None or isinstance(record, Component | Group)
    assert all(isinstance(p, str) for p in problems)


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        pytest.param(
            {
                "kind": "Component",
                "metadata": {
                    "name": "web",
                    "annotations": {
                        "backstage.io/kubernetes-namespace": "shop",
                        "backstage.io/source-location": "url:https://github.com/acme/web.git",
                    },
                },
                "spec": {"owner": "group:default/shop"},
            },
            (comp("web", "group:default/shop", namespace="shop", repository="acme/web"), []),
            id="component",
        ),
        pytest.param(
            {"kind": "Group", "metadata": {"name": "Payments"}, "spec": {"parent": 3}},
            (
                Group("payments", None, None),
                ["Group payments: spec.parent is a number, not a string"],
            ),
            id="group-with-bad-parent",
        ),
        pytest.param({"kind": "System", "metadata": {"name": "s"}}, (None, []), id="other-kind"),
        pytest.param([], (None, ["entity is a list, not a mapping"]), id="not-a-mapping"),
    ],
)
def test_parse_entity(entity: object, expected: tuple[object, list[str]]) -> None:
    assert parse_entity(entity) == expected
