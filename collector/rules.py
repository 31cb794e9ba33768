"""Which golden path a workload or repository is on, which tool deployed it, which namespaces count.

Everything here runs once per workload per poll (tens of thousands of times), so
the configuration is compiled up front into matcher objects whose hot methods
only do dictionary look-ups, set membership and pre-compiled regex searches.
The module is pure: no I/O, no logging, no module-level mutable state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import translate

from collector import catalog, config, model

__all__ = [
    "CompiledSelector",
    "GoldenPathMatcher",
    "NamespaceScope",
    "RepositoryMatcher",
    "deploy_tool",
    "selector_matches",
]


class CompiledSelector:
    """A `config.Selector` turned into flat tuples, one per operator.

    Requirements are AND-ed, so the order they are checked in does not change
    the answer; the cheap checks run first and the regex searches last.
    """

    __slots__ = ("_absent", "_in", "_labels", "_matches", "_not_in", "_present", "keys")

    def __init__(self, selector: config.Selector) -> None:
        labels: list[tuple[str, str]] = list(selector.match_labels.items())
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
    __slots__ = ("annotations", "field_managers", "labels", "name", "namespace_labels")

    def __init__(self, name: str, crit: config.Match) -> None:
        self.name = name
        # An empty selector matches everything, so it is dropped like a missing one.
        self.labels = _compile_optional(crit.labels)
        self.annotations = _compile_optional(crit.annotations)
        self.namespace_labels = _compile_optional(crit.namespace_labels)
        self.field_managers = (
            None if crit.field_managers is None else frozenset(crit.field_managers)
        )


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

    __slots__ = ("_paths", "annotation_keys", "names")

    def __init__(self, paths: Sequence[config.GoldenPath]) -> None:
        # Paths with only GitHub signals never match a workload by its own metadata.
        self._paths = tuple(_CompiledPath(p.name, p.match) for p in paths if p.match is not None)
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


def _ignored(entry: model.FieldManager) -> bool:
    name = entry.manager
    return not entry.owns_spec or name in _IN_CLUSTER or name.endswith(_IN_CLUSTER_SUFFIX)


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


def deploy_tool(managers: Sequence[model.FieldManager]) -> model.DeployTool:
    """The tool that last wrote the workload's spec, from its managedFields.

    In-cluster controllers and entries that own no spec field are ignored. Of
    the rest the newest by `time` wins; a missing time counts as oldest and a
    tie goes to the entry listed later.
    """
    best: model.FieldManager | None = None
    best_time = float("-inf")
    for entry in managers:
        if _ignored(entry):
            continue
        time = float("-inf") if entry.time is None else entry.time
        # `>=` so the later entry wins ties, including two entries without time.
        if best is None or time >= best_time:
            best, best_time = entry, time
    if best is None:
        return model.DeployTool.UNKNOWN
    return _tool_for(best.manager)


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
        template = repo.template.lower() if repo.template else None
        sources = {c.source_template.lower() for c in repo.components if c.source_template}
        targets = {t for u in repo.workflow_uses if (t := catalog.workflow_target(u)) is not None}
        for name, templates, source_templates, workflows in self._paths:
            if template in templates or sources & source_templates or targets & workflows:
                return name
        return None

    def path(self, repo: model.Repository) -> tuple[model.RepoPath, str | None]:
        """(golden, its path) if a signal holds; else shadow with workflows, else other."""
        name = self.match(repo)
        if name is not None:
            return model.RepoPath.GOLDEN, name
        if repo.workflow_files:
            return model.RepoPath.SHADOW, None
        return model.RepoPath.OTHER, None
