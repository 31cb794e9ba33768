"""Which golden path a workload or repository is on, which tool deployed it, which namespaces count.

Everything here runs once per workload per poll (tens of thousands of times), so
the configuration is compiled up front into matcher objects whose hot methods
only do dictionary look-ups, set membership and pre-compiled regex searches.
The module is pure: no I/O, no logging, no module-level mutable state.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import translate

from collector import catalog, config, model

__all__ = [
    "CompiledSelector",
    "GoldenPathMatcher",
    "NamespaceScope",
    "Reasons",
    "RepositoryMatcher",
    "Requirement",
    "deploy_tool",
    "selector_matches",
]

# A value quoted in a reason is clipped: annotation values can be hundreds of KiB.
_QUOTE_LIMIT = 80


def _quote(value: str) -> str:
    if len(value) > _QUOTE_LIMIT:
        value = value[: _QUOTE_LIMIT - 3] + "..."
    return f'"{value}"'


class Requirement:
    """One requirement of a selector (a matchLabels entry or a matchExpression), for
    explanations: whether it holds for one value, and how to say so or why not.

    `CompiledSelector.matches` checks the same compiled values (the same regex objects)
    in flat per-operator tuples for speed; the tests hold the two to the same answers.
    """

    __slots__ = ("allowed", "key", "operator", "patterns", "text")

    def __init__(
        self,
        key: str,
        operator: str,
        allowed: frozenset[str] = frozenset(),
        patterns: tuple[re.Pattern[str], ...] = (),
        shown: tuple[str, ...] = (),
    ) -> None:
        self.key = key
        self.operator = operator  # "=", or a matchExpressions operator
        self.allowed = allowed
        self.patterns = patterns
        listed = shown[0] if len(shown) == 1 else f"({', '.join(shown)})"
        self.text = (
            f"{key}={shown[0]}"
            if operator == "="
            else f"{key} exists"
            if operator == "Exists"
            else f"{key} does not exist"
            if operator == "DoesNotExist"
            else f"{key} {operator} {listed}"
        )

    def holds(self, value: str | None) -> bool:
        op = self.operator
        if op == "DoesNotExist":
            return value is None
        if op == "NotIn":
            return value is None or value not in self.allowed
        if value is None:
            return False
        if op == "Matches":
            return any(p.search(value) is not None for p in self.patterns)
        return op == "Exists" or value in self.allowed

    def failure(self, noun: str, value: str | None) -> str:
        """Why the requirement does not hold for `value`, stated plainly."""
        if value is None:
            return f"{noun} {self.key} is absent"
        shown = sorted(self.allowed) if self.operator != "Matches" else self._sources()
        quoted = _quote(value)
        if self.operator == "DoesNotExist":
            return f"{noun} {self.key} is {quoted}, but must be absent"
        if self.operator == "NotIn":
            return f"{noun} {self.key} is {quoted}, one of the excluded {', '.join(shown)}"
        if self.operator == "Matches":
            which = shown[0] if len(shown) == 1 else f"any of {', '.join(shown)}"
            return f"{noun} {self.key} is {quoted}, not matching {which}"
        if len(shown) == 1:
            return f"{noun} {self.key} is {quoted}, not {_quote(shown[0])}"
        return f"{noun} {self.key} is {quoted}, not one of {', '.join(shown)}"

    def _sources(self) -> list[str]:
        return [p.pattern for p in self.patterns]


class CompiledSelector:
    """A `config.Selector` turned into flat tuples, one per operator.

    Requirements are AND-ed, so the order they are checked in does not change
    the answer; the cheap checks run first and the regex searches last.
    """

    __slots__ = (
        "_absent",
        "_in",
        "_labels",
        "_matches",
        "_not_in",
        "_present",
        "keys",
        "requirements",
    )

    def __init__(self, selector: config.Selector) -> None:
        labels: list[tuple[str, str]] = list(selector.match_labels.items())
        # In the order the config gives them, for explanations: matchLabels, then
        # matchExpressions.
        requirements = [Requirement(k, "=", frozenset((v,)), shown=(v,)) for k, v in labels]
        present: list[str] = []
        absent: list[str] = []
        in_: list[tuple[str, frozenset[str]]] = []
        not_in: list[tuple[str, frozenset[str]]] = []
        matches: list[tuple[str, tuple[re.Pattern[str], ...]]] = []
        for req in selector.match_expressions:
            if req.operator == "In":
                in_.append((req.key, frozenset(req.values)))
            elif req.operator == "NotIn":
                not_in.append((req.key, frozenset(req.values)))
            elif req.operator == "Exists":
                present.append(req.key)
            elif req.operator == "DoesNotExist":
                absent.append(req.key)
            else:  # "Matches"
                # Kept as separate patterns rather than one alternation: joining
                # would renumber backreferences and break inline global flags.
                matches.append((req.key, tuple(re.compile(v) for v in req.values)))
            requirements.append(
                Requirement(
                    req.key,
                    req.operator,
                    frozenset(req.values) if req.operator in ("In", "NotIn") else frozenset(),
                    matches[-1][1] if req.operator == "Matches" else (),
                    tuple(req.values),
                )
            )
        self.requirements: tuple[Requirement, ...] = tuple(requirements)
        self._labels = tuple(labels)
        self._present = tuple(present)
        self._absent = tuple(absent)
        self._in = tuple(in_)
        self._not_in = tuple(not_in)
        self._matches = tuple(matches)
        # Every key the selector reads, including those it requires to be absent.
        self.keys: frozenset[str] = frozenset(selector.match_labels) | frozenset(
            req.key for req in selector.match_expressions
        )

    @property
    def is_empty(self) -> bool:
        """True when the selector matches everything (no labels, no expressions)."""
        return not self.keys

    def matches(self, values: Mapping[str, str]) -> bool:
        get = values.get
        for key, want in self._labels:
            if get(key) != want:
                return False
        for key in self._present:
            if key not in values:
                return False
        for key in self._absent:
            if key in values:
                return False
        for key, allowed in self._in:
            value = get(key)
            if value is None or value not in allowed:
                return False
        for key, denied in self._not_in:
            value = get(key)
            if value is not None and value in denied:
                return False
        for key, patterns in self._matches:
            value = get(key)
            if value is None:
                return False
            for pattern in patterns:
                if pattern.search(value) is not None:
                    break
            else:
                return False
        return True


def selector_matches(selector: config.Selector, values: Mapping[str, str]) -> bool:
    """One-off check; compiles the selector each call, so hot paths should keep a
    `CompiledSelector` instead."""
    return CompiledSelector(selector).matches(values)


class _CompiledPath:
    __slots__ = ("annotations", "criteria", "field_managers", "labels", "name", "namespace_labels")

    def __init__(self, name: str, crit: config.Match) -> None:
        self.name = name
        # An empty selector matches everything, so it is dropped like a missing one.
        self.labels = _compile_optional(crit.labels)
        self.annotations = _compile_optional(crit.annotations)
        self.namespace_labels = _compile_optional(crit.namespace_labels)
        self.field_managers = (
            None if crit.field_managers is None else frozenset(crit.field_managers)
        )
        # For explanations, in the order the README lists the criteria: (singular noun,
        # plural noun, which mapping of the workload it reads, its requirements).
        self.criteria = tuple(
            (noun, plural, source, selector.requirements)
            for noun, plural, source, selector in (
                ("label", "labels", _LABELS, self.labels),
                ("annotation", "annotations", _ANNOTATIONS, self.annotations),
                ("namespace label", "namespace labels", _NAMESPACE, self.namespace_labels),
            )
            if selector is not None
        )


_LABELS, _ANNOTATIONS, _NAMESPACE = range(3)


def _compile_optional(selector: config.Selector | None) -> CompiledSelector | None:
    if selector is None:
        return None
    compiled = CompiledSelector(selector)
    return None if compiled.is_empty else compiled


class GoldenPathMatcher:
    """Decides which configured golden path, if any, a workload is on.

    Paths are tried in configuration order and the first whose every given
    criterion holds wins, so operators control precedence by ordering.
    """

    __slots__ = ("_by_name", "_paths", "annotation_keys", "names")

    def __init__(self, paths: Sequence[config.GoldenPath]) -> None:
        # Paths with only GitHub signals never match a workload by its own metadata.
        self._paths = tuple(_CompiledPath(p.name, p.match) for p in paths if p.match is not None)
        self._by_name = {p.name: p for p in self._paths}
        self.names: tuple[str, ...] = tuple(p.name for p in self._paths)
        # Taken from the source selectors, not the compiled ones: an empty
        # selector is dropped when compiled but reads no keys anyway.
        keys: set[str] = set()
        for path in paths:
            if path.match is not None and path.match.annotations is not None:
                keys |= CompiledSelector(path.match.annotations).keys
        self.annotation_keys: frozenset[str] = frozenset(keys)

    def match(self, workload: model.Workload, namespace_labels: Mapping[str, str]) -> str | None:
        for path in self._paths:
            if path.field_managers is not None and not _any_manager_in(
                workload.managers, path.field_managers
            ):
                continue
            if path.labels is not None and not path.labels.matches(workload.labels):
                continue
            if path.namespace_labels is not None and not path.namespace_labels.matches(
                namespace_labels
            ):
                continue
            if path.annotations is not None and not path.annotations.matches(workload.annotations):
                continue
            return path.name
        return None

    def reasons(self) -> Reasons:
        """A memo of reason strings for one poll: many workloads share each one."""
        return Reasons(self._paths, self._by_name)


NO_WORKLOAD_PATH = "no golden path is configured for workloads"
_MANAGER = operator.attrgetter("manager")


class Reasons:
    """Why a workload is on its golden path, or which path it missed least and how.

    Built per poll by `GoldenPathMatcher.reasons()`; strings are memoised, so the
    thousands of workloads that fail the same requirement with the same value share
    one string. Only shadow workloads pay for the closest miss.
    """

    __slots__ = (
        "_annotation_keys",
        "_by_name",
        "_label_keys",
        "_managers",
        "_memo",
        "_misses",
        "_namespace_keys",
        "_paths",
    )

    def __init__(
        self, paths: tuple[_CompiledPath, ...], by_name: Mapping[str, _CompiledPath]
    ) -> None:
        self._paths = paths
        self._by_name = by_name
        self._memo: dict[object, str] = {}
        # What a closest miss depends on, read in C (`map`) as the key of a memo of whole
        # answers: most shadow workloads repeat another's values.
        keys: tuple[dict[str, None], ...] = ({}, {}, {})
        for path in paths:
            for _, _, source, requirements in path.criteria:
                keys[source].update(dict.fromkeys(r.key for r in requirements))
        self._label_keys, self._annotation_keys, self._namespace_keys = (tuple(k) for k in keys)
        self._managers = any(p.field_managers is not None for p in paths)
        self._misses: dict[object, str] = {}

    def golden(self, path_name: str, workload: model.Workload) -> str:
        """The criteria of `path_name` (which `match` returned) that the workload met."""
        path = self._by_name[path_name]
        if path.field_managers is None:
            key: object = path
        else:
            names = path.field_managers
            key = (path, next(m.manager for m in workload.managers if m.manager in names))
        reason = self._memo.get(key)
        if reason is None:
            parts = [
                f"{plural} {', '.join(r.text for r in requirements)}"
                for _, plural, _, requirements in path.criteria
            ]
            if isinstance(key, tuple):
                parts.append(f"field managers include {key[1]}")
            reason = self._memo[key] = f"{path.name}: {'; '.join(parts)}"
        return reason

    def closest_miss(self, workload: model.Workload, namespace_labels: Mapping[str, str]) -> str:
        """The path whose criteria held for the most individual requirements (the first
        in configuration order on a tie), and the first of its requirements that failed."""
        signature = (
            tuple(map(workload.labels.get, self._label_keys)),
            tuple(map(workload.annotations.get, self._annotation_keys)),
            tuple(map(namespace_labels.get, self._namespace_keys)),
            tuple(map(_MANAGER, workload.managers)) if self._managers else (),
        )
        reason = self._misses.get(signature)
        if reason is None:
            reason = self._misses[signature] = self._closest_miss(workload, namespace_labels)
        return reason

    def _closest_miss(self, workload: model.Workload, namespace_labels: Mapping[str, str]) -> str:
        sources = (workload.labels, workload.annotations, namespace_labels)
        best_held = -1
        best: tuple[_CompiledPath, object, str | None, str | None] | None = None
        for path in self._paths:
            held = 0
            failed: tuple[object, str | None, str | None] | None = None
            for noun, _, source, requirements in path.criteria:
                values = sources[source]
                for requirement in requirements:
                    value = values.get(requirement.key)
                    if requirement.holds(value):
                        held += 1
                    elif failed is None:
                        failed = (requirement, noun, value)
            if path.field_managers is not None:
                if _any_manager_in(workload.managers, path.field_managers):
                    held += 1
                elif failed is None:
                    failed = (path.field_managers, None, None)
            if held > best_held and failed is not None:
                best_held = held
                best = (path, *failed)
        if best is None:
            return NO_WORKLOAD_PATH
        miss, failed_on, miss_noun, miss_value = best
        if isinstance(failed_on, Requirement) and miss_noun is not None:
            key: object = (failed_on, miss_value)
            reason = self._memo.get(key)
            if reason is None:
                reason = self._memo[key] = (
                    f"{miss.name}: {failed_on.failure(miss_noun, miss_value)}"
                )
            return reason
        names = tuple(dict.fromkeys(m.manager for m in workload.managers if m.manager))
        key = (miss, names)
        reason = self._memo.get(key)
        if reason is None:
            have = ", ".join(names) if names else "none"
            want = ", ".join(sorted(miss.field_managers or ()))
            reason = self._memo[key] = f"{miss.name}: field managers are {have}, none of {want}"
        return reason


def _any_manager_in(managers: Iterable[model.FieldManager], names: frozenset[str]) -> bool:
    # A plain loop, not any(<generator>): this runs per workload and path.
    for entry in managers:  # noqa: SIM110
        if entry.manager in names:
            return True
    return False


# In-cluster controllers rewrite spec after deployment (the HPA scaling a
# Deployment shows up as kube-controller-manager, operators as
# <name>-controller-manager); that would hide the tool that deployed it.
_IN_CLUSTER = frozenset({"kube-controller-manager", "kube-scheduler", "kubelet"})
_IN_CLUSTER_SUFFIX = "-controller-manager"

# Exact names first: `helm-controller` is Flux's, not Helm's, and the Argo CD /
# Flux controllers must be recognised before any prefix or substring rule.
_EXACT_TOOL = {
    "helm": model.DeployTool.HELM,
    "argocd": model.DeployTool.ARGOCD,
    "argocd-controller": model.DeployTool.ARGOCD,
    "argocd-application-controller": model.DeployTool.ARGOCD,
    "kustomize-controller": model.DeployTool.FLUX,
    "helm-controller": model.DeployTool.FLUX,
    "kubectl": model.DeployTool.KUBECTL,
}


def _newness(entry: model.FieldManager) -> float:
    time = entry.time
    return float("-inf") if time is None else time


def _ignored(entry: model.FieldManager) -> bool:
    name = entry.manager
    fields = entry.fields  # `owns_spec`, read without a property call: this runs per entry
    return (
        not name  # an entry that names no manager says nothing of who deployed
        or fields is None
        or fields.spec is None
        or name in _IN_CLUSTER
        or name.endswith(_IN_CLUSTER_SUFFIX)
    )


@functools.lru_cache(maxsize=1024)  # a handful of distinct managers, on every workload
def _tool_for(manager: str) -> model.DeployTool:
    tool = _EXACT_TOOL.get(manager)
    if tool is not None:
        return tool
    if manager.startswith("kubectl-"):
        return model.DeployTool.KUBECTL
    if "terraform" in manager.lower():
        return model.DeployTool.TERRAFORM
    if manager.startswith("pulumi-kubernetes"):
        return model.DeployTool.PULUMI
    return model.DeployTool.OTHER


def deploy_tool(
    managers: Sequence[model.FieldManager],
) -> tuple[model.DeployTool, model.FieldManager | None]:
    """The tool that last wrote the workload's spec, from its managedFields, and the
    entry it was read from (None: no usable entry, the tool is unknown).

    In-cluster controllers and entries that own no spec field are ignored. Of
    the rest the newest by `time` wins; a missing time counts as oldest and a
    tie goes to the entry listed later.
    """
    best: model.FieldManager | None = None
    best_time: float | None = None  # of `best`, worked out only once another entry competes
    for entry in managers:
        if _ignored(entry):
            continue
        if best is None:
            best = entry
            continue
        if best_time is None:
            best_time = _newness(best)
        time = _newness(entry)
        # `>=` so the later entry wins ties, including two entries without time.
        if time >= best_time:
            best, best_time = entry, time
    if best is None:
        return model.DeployTool.UNKNOWN, None
    return _tool_for(best.manager), best


class NamespaceScope:
    """Compiled form of the include/exclude namespace globs.

    Glob matching is case-sensitive (`fnmatchcase`) because Kubernetes names
    are, and so the answer does not depend on the host OS as `fnmatch` would.
    """

    __slots__ = ("_exclude", "_include", "_include_all")

    def __init__(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        self._include = tuple(_glob(p) for p in include)
        self._exclude = tuple(_glob(p) for p in exclude)
        # The default include list is ["*"]; skip the regex for it.
        self._include_all = "*" in include

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.includes(name)

    def includes(self, name: str) -> bool:
        if not self._include_all and not any(p.match(name) for p in self._include):
            return False
        return not any(p.match(name) for p in self._exclude)


def _glob(pattern: str) -> re.Pattern[str]:
    # The translation fnmatchcase uses internally, compiled once here.
    return re.compile(translate(pattern))


class RepositoryMatcher:
    """Decides which golden path, if any, a repository is on, and so its path.

    A repository matches a path if any of its GitHub signals holds: generated
    from one of the template repositories, a catalog Component naming one of
    the source templates, or a job calling one of the reusable workflows at
    any ref. Paths are tried in configuration order, as for workloads. GitHub
    and Backstage names are case-insensitive, so all are compared lower-cased
    (a workflow's file path excepted: Git paths are case-sensitive).
    """

    __slots__ = ("_paths",)

    def __init__(self, paths: Sequence[config.GoldenPath]) -> None:
        compiled = []
        for path in paths:
            if path.github is None:
                continue
            signals = path.github
            workflows = frozenset(
                target
                for w in signals.workflows
                if (target := catalog.workflow_target(f"{w}@any")) is not None
            )
            compiled.append(
                (
                    path.name,
                    frozenset(t.lower() for t in signals.template_repositories),
                    frozenset(t.lower() for t in signals.source_templates),
                    workflows,
                )
            )
        self._paths = tuple(compiled)

    def match(self, repo: model.Repository) -> str | None:
        found = self.signal(repo)
        return None if found is None else found[0]

    def signal(self, repo: model.Repository) -> tuple[str, str] | None:
        """(the first golden path a signal holds for, that signal stated plainly), or None.
        Within a path: its template, then its source template, then its workflows."""
        template = repo.template.lower() if repo.template else None
        sources = {c.source_template.lower() for c in repo.components if c.source_template}
        targets = {t for u in repo.workflow_uses if (t := catalog.workflow_target(u)) is not None}
        for name, templates, source_templates, workflows in self._paths:
            if template in templates:
                return name, f"generated from template {repo.template}"
            if found := sources & source_templates:
                return name, f"catalog source template {min(found)}"
            if found := targets & workflows:
                return name, f"calls reusable workflow {min(found)}"
        return None

    def path(self, repo: model.Repository) -> tuple[model.RepoPath, str | None]:
        """(golden, its path) if a signal holds; else shadow with workflows, else other."""
        path, name, _ = self.explain(repo)
        return path, name

    def explain(self, repo: model.Repository) -> tuple[model.RepoPath, str | None, str]:
        """`path()` and the reason for it."""
        found = self.signal(repo)
        if found is not None:
            return model.RepoPath.GOLDEN, found[0], found[1]
        n = repo.workflow_files
        if n:
            return (
                model.RepoPath.SHADOW,
                None,
                f"has {n} workflow{'s' if n > 1 else ''}, none golden",
            )
        return model.RepoPath.OTHER, None, "no workflows"
