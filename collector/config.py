"""Typed settings: the YAML config file, its defaults, and errors that name the key path.

Every section is a pydantic model that forbids unknown keys, so a typo is an
error rather than a silently ignored setting. `load()` is the one way in: it
returns `Settings` or raises `ConfigError` listing every problem at once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from collector.yamlproblem import yaml_problem

DEFAULT_PORT = 9853

_M = TypeVar("_M", bound=BaseModel)

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """`30s`, `5m`, `1h`, `1d` (or a bare number of seconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 5m, 1h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(int(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    else:
        raise ValueError("must be a duration such as 30s, 5m, 1h or 1d" + _not(value))
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _parse_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a date in the form YYYY-MM-DD" + _not(value))


def _not(value: object) -> str:
    """`, not '5min'`: the value a user wrote, echoed when it is a short plain word. A token
    pasted into the wrong key is never echoed: tokens are longer than any word echoed here."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = str(value)
    if len(text) > _ECHO_MAX or not re.fullmatch(r"[\w .:/+-]*", text):
        return ""
    return f", not {value!r}"


_ECHO_MAX = 16


Date = Annotated[dt.date, BeforeValidator(_parse_date)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AdoptionTarget(_Section):
    months: int = Field(ge=0)
    ratio: float = Field(ge=0.0, le=1.0)


DEFAULT_TARGETS = (
    AdoptionTarget(months=0, ratio=0.10),
    AdoptionTarget(months=3, ratio=0.30),
    AdoptionTarget(months=6, ratio=0.50),
    AdoptionTarget(months=12, ratio=0.70),
)


class Baseline(_Section):
    """Figures measured before the platform, to prove what it changed against."""

    deploys_per_team_week: float = Field(ge=0)
    lead_time_days: float | None = Field(default=None, ge=0)
    measured_on: Date


class Platform(_Section):
    launch_date: Date
    adoption_targets: tuple[AdoptionTarget, ...] = DEFAULT_TARGETS
    # The five predictors of platform success (collector/predictors.py).
    product_manager: str | None = Field(default=None, min_length=1)
    baseline: Baseline | None = None
    nps: str | None = Field(default=None, min_length=1)  # CSV of survey answers: date,score
    nps_window: Duration = 90 * 86400.0

    @field_validator("adoption_targets")
    @classmethod
    def _distinct_months(cls, targets: tuple[AdoptionTarget, ...]) -> tuple[AdoptionTarget, ...]:
        months = [t.months for t in targets]
        if len(set(months)) != len(months):
            raise ValueError("each months value may appear only once")
        return tuple(sorted(targets, key=lambda t: t.months))


class Teams(_Section):
    mandated: tuple[str, ...] = ()
    onboarded: dict[str, Date] = Field(default_factory=dict)


class Ownership(_Section):
    labels: tuple[str, ...] = ("team", "owner")
    namespaces: dict[str, str] = Field(default_factory=dict)
    # An organisation custom property naming a repository's team, read when its
    # catalog-info.yaml names no owner.
    github_property: str | None = Field(default=None, min_length=1)


class Cluster(_Section):
    name: str = Field(min_length=1)
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    # With in_cluster: where the service-account token and the API server's CA are
    # mounted; None: the kubelet's standard paths.
    token_file: str | None = Field(default=None, min_length=1)
    ca_file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_way_in(self) -> Cluster:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("set exactly one of kubeconfig or in_cluster: true")
        if self.in_cluster and self.context is not None:
            raise ValueError("context applies only with kubeconfig")
        if not self.in_cluster and (self.token_file or self.ca_file):
            raise ValueError("token_file and ca_file apply only with in_cluster: true")
        return self


SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
Kind = Literal["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"]
DEFAULT_KINDS: tuple[Kind, ...] = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")


class Kubernetes(_Section):
    interval: Duration = 300.0
    timeout: Duration = 30.0  # per HTTP request, reading a slow body included
    # A whole poll of one cluster, throttling waits included: past it the poll fails
    # and the cluster's figures keep their last good values.
    poll_timeout: Duration = 120.0
    clusters: tuple[Cluster, ...] = ()
    include_namespaces: tuple[str, ...] = ("*",)
    exclude_namespaces: tuple[str, ...] = ()
    # The system namespaces stay excluded whatever exclude_namespaces lists: adding one
    # exclusion must not make kube-system count as a team's shadow.
    track_system_namespaces: bool = False
    kinds: tuple[Kind, ...] = DEFAULT_KINDS
    # Empty: list cluster-wide (needs a ClusterRole). Names: list only in these
    # namespaces and get each of them, which namespaced Roles allow.
    namespaces: tuple[str, ...] = ()
    page_size: int = Field(default=500, ge=1, le=10000)

    @property
    def excluded_namespaces(self) -> tuple[str, ...]:
        """The patterns never tracked: exclude_namespaces, and the system namespaces
        unless track_system_namespaces."""
        system = () if self.track_system_namespaces else SYSTEM_NAMESPACES
        return tuple(dict.fromkeys((*system, *self.exclude_namespaces)))

    @model_validator(mode="after")
    def _poll_outlasts_request(self) -> Kubernetes:
        if self.poll_timeout < self.timeout:
            raise ValueError("poll_timeout must be at least timeout")
        return self

    @field_validator("clusters")
    @classmethod
    def _unique_names(cls, clusters: tuple[Cluster, ...]) -> tuple[Cluster, ...]:
        names = [c.name for c in clusters]
        if len(set(names)) != len(names):
            raise ValueError("cluster names must be unique")
        return clusters

    @field_validator("kinds")
    @classmethod
    def _some_kinds(cls, kinds: tuple[Kind, ...]) -> tuple[Kind, ...]:
        if not kinds:
            raise ValueError("list at least one kind")
        return tuple(dict.fromkeys(kinds))


Operator = Literal["In", "NotIn", "Exists", "DoesNotExist", "Matches"]


class Requirement(_Section):
    key: str = Field(min_length=1)
    operator: Operator
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Requirement:
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values must be empty for operator {self.operator}")
        if self.operator in ("In", "NotIn", "Matches") and not self.values:
            raise ValueError(f"values must not be empty for operator {self.operator}")
        if self.operator == "Matches":
            for value in self.values:
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(
                        f"values: {value!r} is not a regular expression: {exc}"
                    ) from None
        return self


class Selector(_Section):
    """Kubernetes LabelSelector semantics plus the Matches operator; empty matches everything."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[Requirement, ...] = Field(default=(), alias="matchExpressions")


class GitHubApp(_Section):
    app_id: int = Field(gt=0)
    installation_id: int = Field(gt=0)
    private_key_file: str = Field(min_length=1)


def _variable_name(value: str | None, example: str) -> str | None:
    """A token pasted where a variable's name belongs is refused, and never echoed (nor is
    it: problems never quote the value); GitHub's token prefixes are refused outright."""
    if value is not None and (
        not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
        or re.match(r"gh[opusr]_|github_pat_", value)
    ):
        raise ValueError(
            f"must be the NAME of an environment variable, such as {example}, not the token itself"
        )
    return value


def _http_url(value: str, example: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http(s) URL such as {example}")
    return value.rstrip("/")


class GitHub(_Section):
    org: str = Field(min_length=1)
    base_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    token_env: str | None = Field(default=None, min_length=1)
    token_file: str | None = Field(default=None, min_length=1)
    app: GitHubApp | None = None
    interval: Duration = 1800.0
    timeout: Duration = 30.0  # per HTTP request
    # A whole scan, Retry-After waits included: past it the scan stops and keeps what it read.
    poll_timeout: Duration = 600.0
    include_archived: bool = False
    rate_limit_reserve: float = Field(default=0.1, ge=0.0, lt=1.0)

    @field_validator("token_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        return _variable_name(value, "GITHUB_TOKEN")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value, "https://api.github.com")

    @model_validator(mode="after")
    def _one_credential(self) -> GitHub:
        given = [k for k in ("token_env", "token_file", "app") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of token_env, token_file or app")
        if self.poll_timeout < self.timeout:
            raise ValueError("poll_timeout must be at least timeout")
        return self


class Backstage(_Section):
    base_url: str = Field(min_length=1)  # the backend's base URL, without /api/catalog
    # A static token from Backstage's backend.auth.externalAccess; the file is read every poll.
    token_env: str | None = Field(default=None, min_length=1)
    token_file: str | None = Field(default=None, min_length=1)
    interval: Duration = 900.0
    timeout: Duration = 30.0  # per HTTP request
    poll_timeout: Duration = 300.0  # every page of one poll: past it the poll fails
    page_size: int = Field(default=500, ge=1, le=10000)

    @field_validator("token_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        return _variable_name(value, "BACKSTAGE_TOKEN")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = _http_url(value, "https://backstage.example.com")
        if value.endswith("/api/catalog"):
            raise ValueError("must be the backend's base URL, without /api/catalog")
        return value

    @model_validator(mode="after")
    def _one_token(self) -> Backstage:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("set exactly one of token_env or token_file")
        if self.poll_timeout < self.timeout:
            raise ValueError("poll_timeout must be at least timeout")
        return self


class GitHubMatch(_Section):
    """A repository is on the golden path if any listed signal holds."""

    template_repositories: tuple[str, ...] = ()  # owner/name of template repositories
    source_templates: tuple[str, ...] = ()  # catalog-info.yaml backstage.io/source-template
    workflows: tuple[str, ...] = ()  # owner/repo/.github/workflows/file.yml, any ref

    @field_validator("template_repositories")
    @classmethod
    def _owner_name(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name.count("/") != 1 or name.startswith("/") or name.endswith("/"):
                raise ValueError(f"{name!r} must be owner/name")
        return names

    @field_validator("workflows")
    @classmethod
    def _workflow_path(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if "@" in path or not re.match(r"^[^/]+/[^/]+/\.github/workflows/[^/]+\.ya?ml$", path):
                raise ValueError(
                    f"{path!r} must be owner/repo/.github/workflows/FILE.yml, without @ref"
                )
        return paths

    @model_validator(mode="after")
    def _some_signal(self) -> GitHubMatch:
        if not (self.template_repositories or self.source_templates or self.workflows):
            raise ValueError(
                "give at least one of template_repositories, source_templates, workflows"
            )
        return self


class Match(_Section):
    labels: Selector | None = None
    annotations: Selector | None = None
    namespace_labels: Selector | None = None
    field_managers: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _some_criterion(self) -> Match:
        if (self.labels, self.annotations, self.namespace_labels, self.field_managers) == (
            None,
            None,
            None,
            None,
        ):
            raise ValueError(
                "give at least one of labels, annotations, namespace_labels, field_managers"
            )
        return self


class GoldenPath(_Section):
    name: str = Field(min_length=1)
    match: Match | None = None  # Kubernetes workloads
    github: GitHubMatch | None = None  # repositories

    @model_validator(mode="after")
    def _matches_something(self) -> GoldenPath:
        if self.match is None and self.github is None:
            raise ValueError("give match (workloads), github (repositories) or both")
        return self


class State(_Section):
    path: str = "./adoption-state.db"
    # A state file that cannot be read: `fail` refuses to start (the default: the
    # history is evidence); `keep_aside` renames it next to itself and starts anew.
    on_unreadable: Literal["fail", "keep_aside"] = "fail"


class Limits(_Section):
    # Teams beyond this many are folded into team="_other", so a cluster that
    # suddenly reports 100,000 teams cannot exhaust the collector's or Prometheus' memory.
    max_teams: int = Field(default=2000, ge=1)
    # adoption_workload_info series beyond this many are dropped (and counted), so opting
    # in cannot put a 100,000-workload cluster's every object into Prometheus.
    max_workload_series: int = Field(default=10000, ge=1)


class Exporter(_Section):
    # One adoption_workload_info series per tracked workload: opt-in, as its cardinality
    # grows with the workloads (up to limits.max_workload_series).
    workload_info: bool = False


class CollectorIdentity(_Section):
    # A name for what this collector polls (a region, a network zone), exported only as the
    # `scope` label of adoption_collector_build_info: team series stay as they are, so
    # org-wide recording rules combine collectors without knowing their scopes.
    scope: str | None = Field(default=None, min_length=1)


class Server(_Section):
    listen: str = f"0.0.0.0:{DEFAULT_PORT}"
    # TLS and basic auth in Prometheus' web-config file format, as node_exporter reads it.
    web_config_file: str | None = Field(default=None, min_length=1)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, e.g. 0.0.0.0:9853")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Settings(_Section):
    platform: Platform
    teams: Teams = Teams()
    ownership: Ownership = Ownership()
    kubernetes: Kubernetes = Kubernetes()
    github: GitHub | None = None
    backstage: Backstage | None = None
    golden_paths: tuple[GoldenPath, ...] = ()
    state: State = State()
    server: Server = Server()
    limits: Limits = Limits()
    exporter: Exporter = Exporter()
    collector: CollectorIdentity = CollectorIdentity()

    @field_validator("golden_paths")
    @classmethod
    def _unique_paths(cls, paths: tuple[GoldenPath, ...]) -> tuple[GoldenPath, ...]:
        names = [p.name for p in paths]
        if len(set(names)) != len(names):
            raise ValueError("golden path names must be unique")
        return paths


class ConfigError(Exception):
    """The config cannot be used; `problems` holds one `key.path: message` line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = str(part)
    return path or "(top level)"


# pydantic's words for a wrong type name its own classes ("a valid dictionary or instance of
# _TLSServerConfig"); a YAML user needs the YAML word.
_PLAIN_TYPE_MESSAGES = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


# Types whose wrong value is echoed: choices, numbers and booleans, never a free string a
# secret could have been pasted into.
_ECHOED = {"literal_error", "int_parsing", "int_from_float", "float_parsing", "bool_parsing"}


def _message(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key" + _did_you_mean(model, _clean_loc(tuple(error["loc"])))
    if kind == "missing":
        return "required key is missing"
    echo = _not(error.get("input")) if kind in _ECHOED else ""
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in re.split(r",| or ", expected) if c.strip()]
        return "must be one of " + ", ".join(choices) + echo
    if kind in ("int_parsing", "int_from_float"):
        return "must be a whole number" + echo
    if kind == "float_parsing":
        return "must be a number" + echo
    if kind in _PLAIN_TYPE_MESSAGES:
        return _PLAIN_TYPE_MESSAGES[kind] + echo
    if kind == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    if kind in ("value_error", "assertion_error"):
        return str(error["ctx"]["error"]) if "ctx" in error else str(error["msg"])
    return str(error["msg"]).lower().replace("input should", "must")


def _did_you_mean(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`: did you mean mandated?` for an unknown key close to one the section knows."""
    section: object = model
    for part in loc[:-1]:
        section = _inner(section, part)
    section = _optional(section)
    if not (isinstance(section, type) and issubclass(section, BaseModel)):
        return ""
    known = [f.alias or name for name, f in section.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f": did you mean {close[0]}?" if close else ""


def _optional(annotation: object) -> object:
    """X for X | None."""
    if get_origin(annotation) in (Union, UnionType):
        return next((a for a in get_args(annotation) if a is not type(None)), None)
    return annotation


def _inner(annotation: object, part: int | str) -> object:
    """The type found one key (or list index) inside `annotation`, or None."""
    annotation = _optional(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(part, int):
        return args[0] if origin is tuple and args else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    return args[1] if origin is dict and len(args) == 2 else None


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic adds pseudo steps naming the validator, the tagged type or a mapping's key
    # (as opposed to its value); users never wrote them
    return tuple(
        p
        for p in loc
        if not (isinstance(p, str) and (p.startswith(("function-", "union")) or p == "[key]"))
    )


def validate(model: type[_M], raw: object, source: str) -> _M:
    """`raw` as `model`, or ConfigError naming every problem's key path: the one way any file
    of ours (the config, the web config) reports a mistake."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{_key_path(_clean_loc(tuple(e['loc'])))}: {_message(e, model)}" for e in exc.errors()
        ]
        raise ConfigError(source, problems) from None


def parse(raw: object, source: str = "config") -> Settings:
    if raw is None:
        raise ConfigError(source, ["(top level): the file is empty"])
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): must be a mapping of sections"])
    return validate(Settings, raw, source)


def load(path: str | Path) -> Settings:
    return parse(read_yaml(path), str(path))


def read_yaml(path: str | Path) -> object:
    """The YAML document in `path`, or ConfigError with one `(file)` or `line, column`
    problem: never an exception of the YAML library, whatever the file holds."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"(file): not UTF-8 text (byte {exc.start})"]) from None
    try:
        return yaml.safe_load(text)
    # YAMLError; RecursionError, as PyYAML builds nested nodes recursively; ValueError for
    # a scalar that resolves but cannot build, e.g. 2024-13-45.
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ConfigError(source, [yaml_problem(exc)]) from None


# --- The web-config file -------------------------------------------------------------------
# Prometheus exporter-toolkit's format (node_exporter's --web.config.file), validated with the
# same machinery as the config: collector.webconfig loads it. What Python's ssl module cannot do
# is refused by name, never silently ignored.

# Go's names (the only ones exporter-toolkit accepts) -> OpenSSL's, for TLS 1.2. TLS 1.3 suites
# are not configurable in Go either: listing them is allowed and changes nothing.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
VERIFIED_CLIENT_AUTH = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
_TLS_ORDER = {"TLS12": 12, "TLS13": 13}
_WEB_UNSUPPORTED = {
    "rate_limit": "; remove it",
    "cert": "; use cert_file",
    "key": "; use key_file",
    "client_ca": "; use client_ca_file",
    "curve_preferences": " (OpenSSL's default curves are used); remove it",
}
# exporter-toolkit allows exactly these headers, some with a fixed set of values, so every
# service of the ecosystem sends the same security headers for the same file.
_FIXED_HEADER_VALUES = {
    "x_content_type_options": ("nosniff",),
    "x_frame_options": ("deny", "sameorigin"),
}
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")


def _refuse_unsupported(value: object, info: ValidationInfo) -> None:
    if value is not None:
        raise ValueError(
            f"not supported by adoption-collector{_WEB_UNSUPPORTED[str(info.field_name)]}"
        )


def _printable(value: str) -> str:
    if not re.fullmatch(r"[\t\x20-\x7e]*", value):
        raise ValueError("must be a string of printable ASCII")
    return value


def _cipher_suite(name: str) -> str:
    if name not in CIPHER_SUITES and name not in TLS13_SUITES:
        raise ValueError(f"unknown cipher suite {name}: must be one of " + ", ".join(CIPHER_SUITES))
    return name


def _user(name: str) -> str:
    if not name:
        raise ValueError("a user name must be a non-empty string")
    if ":" in name:
        raise ValueError("a user name cannot contain ':' (basic auth splits on it)")
    return name


def _bcrypt_hash(value: str) -> str:
    if not _BCRYPT.match(value):  # never echoed: it is a password hash
        raise ValueError("must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)")
    return value


_Printable = Annotated[str, AfterValidator(_printable)]
_File = Annotated[str, Field(min_length=1)]


class TLSServerConfig(_Section):
    cert_file: _File
    key_file: _File
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    client_ca_file: _File | None = Field(default=None, validate_default=True)
    client_allowed_sans: tuple[str, ...] = ()
    max_version: Literal["TLS12", "TLS13"] = "TLS13"
    min_version: Literal["TLS12", "TLS13"] = "TLS12"
    cipher_suites: tuple[Annotated[str, AfterValidator(_cipher_suite)], ...] = ()
    prefer_server_cipher_suites: StrictBool = True
    cert: object = None
    key: object = None
    client_ca: object = None
    curve_preferences: object = None

    _unsupported = field_validator("cert", "key", "client_ca", "curve_preferences")(
        _refuse_unsupported
    )

    @property
    def files(self) -> tuple[str, ...]:
        return (self.cert_file, self.key_file, *filter(None, [self.client_ca_file]))

    @field_validator("client_auth_type")
    @classmethod
    def _verified(cls, auth: str) -> str:
        if auth not in VERIFIED_CLIENT_AUTH:
            raise ValueError(
                f"{auth} is not supported by adoption-collector: it accepts a client certificate "
                "without verifying it; use RequireAndVerifyClientCert (or "
                "VerifyClientCertIfGiven) with client_ca_file"
            )
        return auth

    # Checked on the later key against the earlier ones (fields validate in the order above),
    # so each problem names the key to change.
    @field_validator("client_ca_file")
    @classmethod
    def _ca_fits_auth(cls, ca: str | None, info: ValidationInfo) -> str | None:
        auth = info.data.get("client_auth_type")
        if auth == "NoClientCert" and ca is not None:
            raise ValueError(
                "set, but client_auth_type is NoClientCert: no client certificate is asked for"
            )
        if auth not in (None, "NoClientCert") and ca is None:
            raise ValueError(f"required with client_auth_type {auth}")
        return ca

    @field_validator("client_allowed_sans")
    @classmethod
    def _sans_need_verification(
        cls, sans: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        if sans and info.data.get("client_auth_type") != "RequireAndVerifyClientCert":
            raise ValueError("needs client_auth_type RequireAndVerifyClientCert")
        return sans

    @field_validator("min_version")
    @classmethod
    def _min_below_max(cls, minimum: str, info: ValidationInfo) -> str:
        maximum = info.data.get("max_version")
        if maximum is not None and _TLS_ORDER[minimum] > _TLS_ORDER[maximum]:
            raise ValueError("must not be above max_version")
        return minimum


class ResponseHeaders(_Section):
    strict_transport_security: _Printable = Field("", alias="Strict-Transport-Security")
    x_content_type_options: _Printable = Field("", alias="X-Content-Type-Options")
    x_frame_options: _Printable = Field("", alias="X-Frame-Options")
    x_xss_protection: _Printable = Field("", alias="X-XSS-Protection")
    content_security_policy: _Printable = Field("", alias="Content-Security-Policy")

    @field_validator("x_content_type_options", "x_frame_options")
    @classmethod
    def _fixed_values(cls, value: str, info: ValidationInfo) -> str:
        allowed = _FIXED_HEADER_VALUES[str(info.field_name)]
        if value and value not in allowed:  # blank means unset, as in exporter-toolkit
            raise ValueError("must be one of " + ", ".join(allowed))
        return value

    def items(self) -> tuple[tuple[str, str], ...]:
        """The headers to send: the set ones, by their HTTP names."""
        fields = type(self).model_fields
        return tuple((f.alias or n, v) for n, f in fields.items() if (v := getattr(self, n)))


class HTTPServerConfig(_Section):
    # HTTP/2 is never served, so http2: true and false behave the same.
    http2: StrictBool = False
    headers: ResponseHeaders = Field(default_factory=lambda: ResponseHeaders.model_validate({}))


class WebConfigFile(_Section):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[
        Annotated[str, AfterValidator(_user)], Annotated[str, AfterValidator(_bcrypt_hash)]
    ] = Field(default_factory=dict)
    rate_limit: object = None

    _unsupported = field_validator("rate_limit")(_refuse_unsupported)
