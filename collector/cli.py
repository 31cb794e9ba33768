"""Command line: run | once | check-config | demo | report | explain.

Exit codes: 0 success, 1 a source failed (`once`), 2 the config or state file is unusable.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence

from collector import __version__, config, report, webconfig
from collector.pipeline import Pipeline
from collector.service import Service, stop_on_signals
from collector.state import StateError, StateStore

log = logging.getLogger("collector")

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_CONFIG = 0, 1, 2


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler logs every job run at INFO, urllib3 every connection retry at WARNING;
    # the pipeline's one line per poll (naming the cause of a failure) is enough.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    # uvicorn says each start and stop, and warns of every malformed request a stranger sends:
    # on an exporter's port, that would be a log anyone can fill.
    logging.getLogger("uvicorn").setLevel(logging.ERROR)


def _load(path: str) -> config.Settings | None:
    try:
        return config.load(path)
    except config.ConfigError as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _pipeline(settings: config.Settings | None) -> Pipeline | None:
    """The state opened for valid settings, or None after saying why on stderr."""
    if settings is None:
        return None
    try:
        state = StateStore(settings.state.path, on_unreadable=settings.state.on_unreadable)
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return Pipeline(settings, state)


def _web_config(settings: config.Settings) -> tuple[bool, webconfig.WebConfig | None]:
    """(False, None) after saying why on stderr; (True, None) when no web config is set."""
    path = settings.server.web_config_file
    if path is None:
        return True, None
    try:
        return True, webconfig.load(path)
    except webconfig.WebConfigError as exc:
        print(f"{exc.source}: invalid web configuration (server.web_config_file)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return False, None


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args.file)
    if settings is None:
        return EXIT_CONFIG
    ok, web = _web_config(settings)
    if not ok:
        return EXIT_CONFIG
    clusters = len(settings.kubernetes.clusters)
    paths = len(settings.golden_paths)
    print(f"{args.file}: ok ({clusters} cluster(s), {paths} golden path(s))")
    if web is not None:
        print(f"{web.path}: web config ok ({web.summary()})")
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    pipeline = _pipeline(_load(args.config))
    if pipeline is None:
        return EXIT_CONFIG
    try:
        ok = pipeline.poll_once()
        sys.stdout.buffer.write(pipeline.exposition.latest)
        sys.stdout.flush()
    finally:
        pipeline.close()
    return EXIT_OK if ok else EXIT_SOURCE_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    stopping = threading.Event()
    stop_on_signals(stopping)
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    # Every mistake in the files first: opening the state may upgrade or move it aside.
    ok, web = _web_config(settings)
    if not ok:
        return EXIT_CONFIG
    pipeline = _pipeline(settings)
    if pipeline is None:
        return EXIT_CONFIG
    server = settings.server
    try:
        service = Service(pipeline, server.host, server.port, web, stopping=stopping)
    except OSError as exc:
        pipeline.close()
        print(f"error: cannot listen on {server.listen}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    service.run_until_signalled()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from collector.simulator.demo import run_demo

    return run_demo(listen=args.listen, once=args.once, workdir=args.workdir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adoption-collector",
        description="Measures golden-path adoption of a platform and exports Prometheus metrics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="poll on schedule and serve /metrics, /healthz, /readyz")
    run.add_argument("--config", required=True, metavar="FILE")
    run.set_defaults(func=cmd_run)

    once = sub.add_parser("once", help="poll every source once and print the exposition")
    once.add_argument("--config", required=True, metavar="FILE")
    once.set_defaults(func=cmd_once)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_check_config)

    demo = sub.add_parser("demo", help="run against an embedded simulated organisation")
    demo.add_argument("--once", action="store_true", help="print the exposition and exit")
    demo.add_argument("--listen", default="127.0.0.1:9853", metavar="HOST:PORT")
    demo.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the simulated clusters' kubeconfigs, the config and the state in DIR",
    )
    demo.set_defaults(func=cmd_demo)

    summary = sub.add_parser(
        "report", help="poll once (or read a running collector) and print teams and what to migrate"
    )
    summary.add_argument("--config", metavar="FILE", help="poll once with this config")
    summary.add_argument("--from", dest="from_url", metavar="URL", help="read a collector's API")
    summary.add_argument(
        "--format", choices=list(report.FORMATS), default="table", help=report.FORMAT_HELP
    )
    summary.add_argument("--curve", action="store_true", help=report.CURVE_HELP)
    summary.set_defaults(func=report.cmd_report)

    explain = sub.add_parser("explain", help="explain one team or one workload in sentences")
    explain.add_argument(
        "workload", nargs="?", type=report.parse_workload, metavar="CLUSTER/NAMESPACE/KIND/NAME"
    )
    explain.add_argument("--team", metavar="TEAM")
    explain.add_argument("--config", metavar="FILE", help="poll once with this config")
    explain.add_argument("--from", dest="from_url", metavar="URL", help="read a collector's API")
    explain.set_defaults(func=report.cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
