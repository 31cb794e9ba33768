"""`adoption-collector demo`: the real pipeline and HTTP against simulated clusters on loopback."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import yaml

from collector import config
from collector.adoption import Snapshot
from collector.pipeline import Pipeline
from collector.service import Service, listen_error
from collector.simulator.backstage import BackstageSimulator
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.simulator.org import GITHUB_ORG, build_organisation
from collector.state import StateStore

DEMO_TOKEN = "demo-token-not-a-secret"
DEMO_GITHUB_TOKEN = "demo-github-token-not-a-secret"
DEMO_BACKSTAGE_TOKEN = "demo-backstage-token-not-a-secret"
# The synthetic platform went live about eight months before today.
DEMO_PLATFORM_AGE = dt.timedelta(days=240)


def _summary(snapshot: Snapshot | None) -> str:
    if snapshot is None:
        return "no cluster could be polled"

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    golden = sum(n for (_, path), n in snapshot.workloads.items() if path.value == "golden")
    total = sum(snapshot.workloads.values())  # adoption_workloads: tracked, as the poll logs say
    return (
        f"{snapshot.active_teams} active teams, {snapshot.adopted_teams} adopted "
        f"(adoption {pct(snapshot.ratio)}, voluntary {pct(snapshot.voluntary_ratio)}, "
        f"target {pct(snapshot.target_ratio)}); {golden} of {total} tracked workloads on a golden "
        "path"
    )


def command_line() -> str:
    """How to run this very collector again from another shell: the full path of the
    program, which need not be on PATH (`.venv/bin` rarely is)."""
    program = Path(sys.argv[0])
    if program.name == "adoption-collector":
        return str(program.absolute())
    return f"{sys.executable} -m collector"  # python -m collector, or a test


def _secret_file(path: Path, token: str) -> str:
    """`token` written to `path`, readable by its owner only."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return str(path)


# Ten answers a cycle: 5 promoters (9-10), 3 passives (7-8), 2 detractors (0-6).
_SCORES = (9, 10, 8, 7, 9, 3, 10, 6, 9, 8)


def _survey(now: dt.datetime) -> str:
    """A developer survey: an answer every three days for 120 days, newest first."""
    lines = ["date,score"]
    for i in range(40):
        day = (now - dt.timedelta(days=3 * i)).date()
        lines.append(f"{day.isoformat()},{_SCORES[i % len(_SCORES)]}")
    return "\n".join(lines) + "\n"


def run_demo(listen: str, once: bool, workdir: str | None = None) -> int:
    """Serve the synthetic organisation on loopback and run the collector against it.

    With `workdir`, the kubeconfigs, the config and the state stay there, so a user
    can point their own config (or `once`) at the simulated clusters while the demo runs.
    """
    now = dt.datetime.now(dt.UTC)
    org = build_organisation(now)
    with ExitStack() as stack:
        if workdir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="adoption-demo-"))
        else:
            tmp = workdir
            Path(tmp).mkdir(parents=True, exist_ok=True)
        kubeconfigs: dict[str, str] = {}
        for cluster in org.cluster_names:
            sim = stack.enter_context(KubeSimulator(token=DEMO_TOKEN))
            org.load_into(sim, cluster)
            kubeconfig = Path(tmp) / f"{cluster}.kubeconfig"
            sim.write_kubeconfig(kubeconfig, context=cluster, cluster_name=cluster)
            kubeconfigs[cluster] = str(kubeconfig)
        github_sim = stack.enter_context(GitHubSimulator(GITHUB_ORG, DEMO_GITHUB_TOKEN))
        org.load_github(github_sim)
        backstage_sim = stack.enter_context(
            BackstageSimulator(DEMO_BACKSTAGE_TOKEN, org.backstage_entities())
        )
        raw = org.demo_config(
            kubeconfigs,
            state_path=str(Path(tmp) / "adoption-state.db"),
            listen=listen,
            launch_date=(now - DEMO_PLATFORM_AGE).date(),
            github_base_url=github_sim.base_url,
            backstage_base_url=backstage_sim.base_url,
        )
        # The config names files, never the tokens, as a real deployment's would; files
        # (not the demo's own environment) let a copy of the config work in another shell.
        for section, token in (("github", github_sim.token), ("backstage", backstage_sim.token)):
            raw[section]["token_file"] = _secret_file(Path(tmp) / f"{section}-token", token)
            del raw[section]["token_env"]
        # The five predictors: a product manager, a baseline measured before the launch, and
        # a developer survey (an NPS of 30 over the last 90 days).
        survey = Path(tmp) / "developer-survey.csv"
        survey.write_text(_survey(now), encoding="utf-8")
        launch = (now - DEMO_PLATFORM_AGE).date()
        raw["platform"] = {
            **raw["platform"],
            "product_manager": "Dana Reyes",
            "baseline": {
                "deploys_per_team_week": 1.5,
                "lead_time_days": 9,
                "measured_on": (launch - dt.timedelta(days=30)).isoformat(),
            },
            "nps": str(survey),
        }
        settings = config.parse(raw, "demo")
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        pipeline = Pipeline(settings, StateStore(settings.state.path))
        if once:
            ok = pipeline.poll_once()
            sys.stdout.buffer.write(pipeline.exposition.scrape(gzipped=False))
            sys.stdout.flush()
            print(f"# demo: {_summary(pipeline.snapshot)}", file=sys.stderr)
            pipeline.close()
            return 0 if ok else 1
        try:
            service = Service(pipeline, settings.server.host, settings.server.port)
        except OSError as exc:
            pipeline.close()
            print(listen_error(listen, exc, "set --listen"), file=sys.stderr)
            return 2
        pipeline.poll_once()
        print(f"demo: serving {service.url}/metrics  (Ctrl-C to stop)")
        print(f"demo: {len(kubeconfigs)} simulated clusters; {_summary(pipeline.snapshot)}")
        print(
            f"demo: simulated GitHub organisation {GITHUB_ORG} "
            f"({github_sim.repo_count} repositories) at {github_sim.base_url}"
        )
        print(f"demo: simulated Backstage catalog at {backstage_sim.base_url}")
        if workdir is not None:
            print(f"demo: kubeconfigs and config in {workdir}; try, while this runs:")
            print(f"  {command_line()} once --config {config_path}")
        sys.stdout.flush()
        service.run_until_signalled()
    return 0
