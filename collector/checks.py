"""`check-config`'s warnings: settings that are valid but will likely not measure what was meant.

Each warning names the key path and says what will happen. The checks read the environment and
the files the config names, and never print what those hold (a token, a key).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from collector.config import Settings
from collector.ownership import normalise_team
from collector.pipeline import Pipeline
from collector.state import StateStore


def offline(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Warnings from the config, the environment and the files it names; no network."""
    warnings: list[str] = []
    for i, cluster in enumerate(settings.kubernetes.clusters):
        if cluster.kubeconfig is not None:
            warnings += _kubeconfig(
                f"kubernetes.clusters[{i}]", cluster.kubeconfig, cluster.context
            )
    github = settings.github
    if github is not None:
        warnings += _token("github", github.token_env, github.token_file, "GitHub scan", environ)
        if github.app is not None:
            warnings += _file("github.app.private_key_file", github.app.private_key_file)
    else:
        unused = " is set, but there is no github: section: it is never used"
        if settings.ownership.github_property is not None:
            warnings.append(f"ownership.github_property{unused}")
        warnings += [
            f"golden_paths[{i}].github{unused}"
            for i, path in enumerate(settings.golden_paths)
            if path.github is not None
        ]
    backstage = settings.backstage
    if backstage is not None:
        warnings += _token(
            "backstage", backstage.token_env, backstage.token_file, "Backstage poll", environ
        )
    if settings.platform.nps is not None:
        warnings += [
            f"{w}: the developer NPS is not known"
            for w in _file("platform.nps", settings.platform.nps)
        ]
    if not settings.kubernetes.clusters and github is None:
        warnings.append(
            "kubernetes.clusters: no clusters and no github: section: nothing will be polled"
        )
    if not settings.golden_paths:
        warnings.append(
            "golden_paths: none configured: every workload and repository counts as shadow"
        )
    return warnings


def online(settings: Settings) -> list[str]:
    """Poll every source once, writing nothing, and warn about teams the config names that no
    workload or repository belongs to: a typo in teams.mandated would otherwise silently
    count that team as voluntary."""
    with tempfile.TemporaryDirectory(prefix="adoption-check-") as scratch:
        pipeline = Pipeline(settings, StateStore(Path(scratch) / "state.db"))
        try:
            ok = pipeline.poll_once()
            snapshot = pipeline.snapshot
        finally:
            pipeline.close()
    warnings = [] if ok else ["a source could not be polled (see the errors above)"]
    known = {t.team for t in snapshot.teams} if snapshot else set()
    if snapshot is not None and snapshot.repos is not None:
        known |= {team for team, _ in snapshot.repos}
    named = [("teams.mandated", t) for t in settings.teams.mandated]
    named += [(f"teams.onboarded.{t}", t) for t in settings.teams.onboarded]
    for key, team in named:
        if normalise_team(team) not in known:
            warnings.append(f"{key}: no workload or repository belongs to team {team!r}")
    return warnings


def _token(
    section: str,
    variable: str | None,
    file: str | None,
    poll: str,
    environ: Mapping[str, str],
) -> list[str]:
    if variable is not None and not environ.get(variable):
        return [
            f"{section}.token_env: the environment variable {variable} is not set "
            f"(or empty): every {poll} will fail"
        ]
    if file is not None:
        return _file(f"{section}.token_file", file)
    return []


def _file(key: str, path: str) -> list[str]:
    if not Path(path).is_file():
        return [f"{key}: {path}: no such file"]
    return []


def _kubeconfig(key: str, path: str, context: str | None) -> list[str]:
    if not Path(path).is_file():
        return [f"{key}.kubeconfig: {path}: no such file"]
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError):
        return [f"{key}.kubeconfig: {path}: not a readable kubeconfig"]
    contexts = document.get("contexts") if isinstance(document, dict) else None
    names = [
        str(c["name"]) for c in contexts or () if isinstance(c, dict) and c.get("name") is not None
    ]
    if context is None:
        current = document.get("current-context") if isinstance(document, dict) else None
        if not current:
            return [f"{key}.kubeconfig: {path}: no current-context, and no context is set"]
        return []
    if context not in names:
        have = ", ".join(names) if names else "none"
        return [f"{key}.context: no context {context!r} in {path} (it has: {have})"]
    return []
