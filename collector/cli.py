"""Command line: run | once | check-config | demo | report | explain.

Exit codes: 0 success, 1 a source failed (`once`), 2 the config or state file is unusable
(and argparse's usage errors).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence

from pydantic import ValidationError

from collector import __version__, checks, config, report, webconfig
from collector.pipeline import Pipeline
from collector.service import Service, listen_error, stop_on_signals
from collector.state import StateError, StateStore

log = logging.getLogger("collector")

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_CONFIG = 0, 1, 2
CONFIG_ENV = "ADOPTION_COLLECTOR_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "logfmt", "json")


class LogFormatter(logging.Formatter):
    """One line per record, stamped in UTC RFC 3339 with milliseconds: `text` for people,
    `logfmt` and `json` for log pipelines (Loki, Elasticsearch) that parse fields."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        ts, level = self.formatTime(record), record.levelname.lower()
        if self.kind == "json":
            fields = {"ts": ts, "level": level, "logger": record.name, "msg": message}
            return json.dumps(fields, ensure_ascii=False)
        if self.kind == "logfmt":
            return f"ts={ts} level={level} logger={record.name} msg={_logfmt_value(message)}"
        return f"{ts} {record.levelname} {record.name}: {message}"


def _logfmt_value(value: str) -> str:
    if value and not any(c in value for c in ' "=\\') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)  # quotes, and escapes newlines and quotes


def _setup_logging(level: str, kind: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(kind))
    logging.basicConfig(level=level.upper(), handlers=[handler])
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


def _resolvable(settings: config.Settings, source: str) -> bool:
    """False after saying why on stderr: a listen host no name service knows."""
    server = settings.server
    try:
        socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        print(f"{source}: invalid configuration", file=sys.stderr)
        print(f"  server.listen: host {server.host} cannot be resolved", file=sys.stderr)
        return False
    return True


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or args.config
    if path is None:
        print(f"check-config: give FILE, --config FILE or set {CONFIG_ENV}", file=sys.stderr)
        return EXIT_CONFIG
    settings = _load(path)
    if settings is None or not _resolvable(settings, path):
        return EXIT_CONFIG
    ok, web = _web_config(settings)
    if not ok:
        return EXIT_CONFIG
    warnings = checks.offline(settings, os.environ)
    if args.online:
        warnings += checks.online(settings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    clusters = len(settings.kubernetes.clusters)
    paths = len(settings.golden_paths)
    print(f"{path}: ok ({clusters} cluster(s), {paths} golden path(s))")
    if web is not None:
        print(f"{web.path}: web config ok ({web.summary()})")
    if warnings and args.strict:
        print(f"{path}: {len(warnings)} warning(s), refused with --strict", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    pipeline = _pipeline(_load(args.config))
    if pipeline is None:
        return EXIT_CONFIG
    try:
        ok = pipeline.poll_once()
        sys.stdout.buffer.write(pipeline.exposition.scrape(gzipped=False))
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
    if args.listen is not None:
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"listen": args.listen})}
        )
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
        print(listen_error(server.listen, exc, "set server.listen or --listen"), file=sys.stderr)
        return EXIT_CONFIG
    service.run_until_signalled()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from collector.simulator.demo import run_demo

    return run_demo(listen=args.listen, once=args.once, workdir=args.workdir)


def _listen(value: str) -> str:
    """HOST:PORT as server.listen takes it; argparse turns the error into a usage error."""
    try:
        return config.Server(listen=value).listen
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:9853"
        ) from None


_EXITS = {
    "run": "0 stopped by SIGTERM or SIGINT; 2 the config, web config or state is unusable, "
    "or the address cannot be listened on",
    "once": "0 every source polled; 1 a source failed (what was read is still printed); "
    "2 the config or state is unusable",
    "check-config": "0 valid (warnings, if any, on stderr); 2 invalid, or warnings with --strict",
    "demo": "0 stopped by Ctrl-C (or --once polled everything); 1 a simulated source failed "
    "(--once); 2 the address cannot be listened on",
    "report": "0 ok; 1 a source failed (still printed) or --from unreadable; "
    "2 the config or state is unusable",
    "explain": "0 ok; 1 a source failed, --from unreadable, or an unknown team or workload; "
    "2 the config or state is unusable",
}


def build_parser() -> argparse.ArgumentParser:
    # --log-level and --log-format are taken before or after the command: both parsers know
    # them, and the subcommand's copy (SUPPRESS) only overrides when given there.
    def logging_options(parser: argparse.ArgumentParser, top: bool) -> None:
        parser.add_argument(
            "--log-level",
            type=str.lower,
            choices=LOG_LEVELS,
            default="info" if top else argparse.SUPPRESS,
            help="debug, info (default), warning or error; any case",
        )
        parser.add_argument(
            "--log-format",
            type=str.lower,
            choices=LOG_FORMATS,
            default="text" if top else argparse.SUPPRESS,
            help="text (default), logfmt or json; timestamps are UTC RFC 3339",
        )

    env_config = os.environ.get(CONFIG_ENV) or None
    config_help = f"the config file (default: ${CONFIG_ENV})"

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=f"exit codes: {_EXITS[name]}",
        )
        logging_options(parser, top=False)
        return parser

    def config_option(parser: argparse.ArgumentParser, required: bool) -> None:
        parser.add_argument(
            "--config",
            required=required and env_config is None,
            default=env_config,
            metavar="FILE",
            help=config_help,
        )

    parser = argparse.ArgumentParser(
        prog="adoption-collector",
        description="Measures golden-path adoption of a platform and exports Prometheus metrics.",
        epilog="exit codes: 0 ok, 1 a source failed, 2 a usage, config or state error; "
        "each command's --help says which it uses",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    logging_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    run = command("run", "poll on schedule and serve /metrics, /healthz, /readyz")
    config_option(run, required=True)
    run.add_argument("--listen", type=_listen, metavar="HOST:PORT", help="overrides server.listen")
    run.set_defaults(func=cmd_run)

    once = command("once", "poll every source once and print the exposition")
    config_option(once, required=True)
    once.set_defaults(func=cmd_once)

    check = command("check-config", "validate a config file, and warn about likely mistakes")
    check.add_argument("file", nargs="?", metavar="FILE", help="the config file (or --config)")
    config_option(check, required=False)
    check.add_argument("--strict", action="store_true", help="exit 2 on warnings too")
    check.add_argument(
        "--online",
        action="store_true",
        help="poll every source once (nothing is written) and warn also about teams in "
        "teams.mandated or teams.onboarded that no workload or repository belongs to",
    )
    check.set_defaults(func=cmd_check_config)

    demo = command("demo", "run against an embedded simulated organisation")
    demo.add_argument("--once", action="store_true", help="print the exposition and exit")
    demo.add_argument("--listen", type=_listen, default="127.0.0.1:9853", metavar="HOST:PORT")
    demo.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the simulated clusters' kubeconfigs, the config, the GitHub token file "
        "and the state in DIR",
    )
    demo.set_defaults(func=cmd_demo)

    summary = command(
        "report", "poll once (or read a running collector) and print teams and what to migrate"
    )
    config_option(summary, required=False)
    summary.add_argument("--from", dest="from_url", metavar="URL", help="read a collector's API")
    summary.add_argument(
        "--format", choices=list(report.FORMATS), default="table", help=report.FORMAT_HELP
    )
    summary.add_argument("--curve", action="store_true", help=report.CURVE_HELP)
    summary.set_defaults(func=report.cmd_report)

    explain = command("explain", "explain one team or one workload in sentences")
    explain.add_argument(
        "workload", nargs="?", type=report.parse_workload, metavar="CLUSTER/NAMESPACE/KIND/NAME"
    )
    explain.add_argument("--team", metavar="TEAM")
    config_option(explain, required=False)
    explain.add_argument("--from", dest="from_url", metavar="URL", help="read a collector's API")
    explain.set_defaults(func=report.cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level, args.log_format)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
