"""Which team owns a workload, a namespace or a repository: labels, catalog owners, a static map.

Pure functions, no I/O or state: they run for every workload of every poll.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum

from collector.model import Repository

__all__ = [
    "MAX_TEAM_LENGTH",
    "NO_OWNER",
    "Owner",
    "TeamSource",
    "namespace_owner",
    "namespace_team",
    "normalise_team",
    "repository_team",
    "workload_owner",
    "workload_team",
]


class TeamSource(StrEnum):
    """Which of the ownership sources decided a workload's team."""

    WORKLOAD_LABEL = "workload_label"
    CATALOG = "catalog"
    NAMESPACE_LABEL = "namespace_label"
    STATIC_MAP = "static_map"
    NONE = "none"


# (team or None, the source that decided, its detail: the label key, the catalog
# Component, "ownership.namespaces", or None). Shared between the workloads it applies
# to, so callers build one per namespace or Component, not one per workload.
Owner = tuple[str | None, TeamSource, str | None]
NO_OWNER: Owner = (None, TeamSource.NONE, None)
STATIC_MAP_KEY = "ownership.namespaces"

# The longest Kubernetes object name. Label values stop at 63 characters; a catalog
# owner or custom property longer than this is garbage, and a team name is repeated
# in about nine series, so a 1 MiB one would be 9 MiB of exposition.
MAX_TEAM_LENGTH = 253
# JSON may escape lone surrogates ("\ud800"); no UTF-8 text, the exposition included, can hold one.
_SURROGATE = re.compile("[\ud800-\udfff]")


@functools.lru_cache(maxsize=4096)  # a few team names, on nearly every workload of every poll
def normalise_team(raw: str | None) -> str | None:
    """A team name, or a Backstage entity reference `[kind:][namespace/]name`, as
    its bare lower-cased name: `group:default/Payments` -> `payments`.

    Returns None for None, for anything that is empty once the prefixes and
    surrounding whitespace are gone, and for names over MAX_TEAM_LENGTH, so
    callers can treat "no team" uniformly. Non-ASCII characters are kept
    (`str.lower`, not `casefold`, so `ß` stays); a lone surrogate becomes U+FFFD.
    """
    if raw is None:
        return None
    ref = raw.strip()
    # As Backstage parses refs: a colon is the kind separator only if it comes
    # before any slash; the first slash after that ends the namespace.
    colon = ref.find(":")
    slash = ref.find("/")
    if colon != -1 and (slash == -1 or colon < slash):
        ref = ref[colon + 1 :]
        slash = ref.find("/")
    if slash != -1:
        ref = ref[slash + 1 :]
    name = ref.strip().lower()
    if not name or len(name) > MAX_TEAM_LENGTH:
        return None
    return name if name.isascii() else _SURROGATE.sub("\ufffd", name)


def _first_team(labels: Mapping[str, str], label_keys: Sequence[str]) -> tuple[str, str] | None:
    """(team, the key that named it), from the first key with a usable value."""
    for key in label_keys:
        value = labels.get(key)
        if value is not None:
            team = normalise_team(value)
            if team is not None:
                return team, key
    return None


def namespace_owner(
    namespace: str,
    namespace_labels: Mapping[str, str],
    label_keys: Sequence[str],
    static_map: Mapping[str, str],
) -> Owner:
    """`namespace_team()` and which source named the team."""
    found = _first_team(namespace_labels, label_keys)
    if found is not None:
        return found[0], TeamSource.NAMESPACE_LABEL, found[1]
    team = normalise_team(static_map.get(namespace))
    return NO_OWNER if team is None else (team, TeamSource.STATIC_MAP, STATIC_MAP_KEY)


def namespace_team(
    namespace: str,
    namespace_labels: Mapping[str, str],
    label_keys: Sequence[str],
    static_map: Mapping[str, str],
) -> str | None:
    """The team the namespace itself names: the first of `label_keys` on the
    namespace with a non-empty value, else `static_map[namespace]`, else None.

    Workload labels are deliberately not consulted: this is the evidence that a
    team has onboarded, which a single labelled workload does not prove.
    A key present with an empty (or prefix-only) value is skipped as if absent.
    """
    return namespace_owner(namespace, namespace_labels, label_keys, static_map)[0]


def workload_owner(
    workload_labels: Mapping[str, str],
    label_keys: Sequence[str],
    namespace: Owner,
    catalog: Owner | None = None,
) -> Owner:
    """`workload_team()` and which source decided: `namespace` is what
    `namespace_owner()` says of the workload's namespace, `catalog` the owner the
    selecting catalog Component gives (None, or team None: no Component names one)."""
    found = _first_team(workload_labels, label_keys)
    if found is not None:
        return found[0], TeamSource.WORKLOAD_LABEL, found[1]
    if catalog is not None and catalog[0] is not None:
        return catalog
    return namespace


def workload_team(
    workload_labels: Mapping[str, str],
    label_keys: Sequence[str],
    namespace_team: str | None,
    catalog_team: str | None = None,
) -> str | None:
    """The team owning a workload, most specific source first.

    1. the first of `label_keys` present on the workload with a non-empty value;
    2. else `catalog_team`, the team of the catalog Component that selects the
       workload (Backstage's Kubernetes plugin convention), already normalised;
    3. else `namespace_team`, what `namespace_team()` says of its namespace (its
       labels, then the static map), computed once per namespace by the caller;
    4. else None.

    Values are normalised with `normalise_team`. A key that is present but whose
    value is empty or whitespace-only (or only a Backstage prefix such as
    `group:`) is skipped, i.e. treated as absent, so the search continues with
    the next key and then the namespace; an empty label must not hide an owner
    recorded elsewhere.
    """
    catalog: Owner = (catalog_team, TeamSource.CATALOG, None)
    return workload_owner(
        workload_labels, label_keys, (namespace_team, TeamSource.NONE, None), catalog
    )[0]


def repository_team(repo: Repository) -> str | None:
    """The `spec.owner` of the repository's first catalog Component that names one,
    else its ownership custom property, else None; normalised like every team."""
    for component in repo.components:
        team = normalise_team(component.owner)
        if team is not None:
            return team
    return normalise_team(repo.property_team)
