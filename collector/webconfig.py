"""Prometheus' web-config file: TLS, basic auth and extra response headers for the HTTP server.

The format is the one exporter-toolkit reads (node_exporter's `--web.config.file`), so a file
written for an exporter works here. What Python's ssl module cannot do is refused with a message
saying so, never silently ignored: inline `cert`/`key`/`client_ca`, `curve_preferences`,
`rate_limit`, and the two client-auth policies that accept a certificate without verifying it.
Relative paths resolve against the web-config file's directory, as exporter-toolkit does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import bcrypt

from collector import config
from collector.config import ConfigError

log = logging.getLogger(__name__)

ClientAuth = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
_VERIFY_MODES: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}

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

# exporter-toolkit allows exactly these, some with a fixed set of values, so every service of
# the ecosystem sends the same security headers for the same file.
HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}

_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
}
_UNSUPPORTED = {
    "rate_limit": "not supported by adoption-collector; remove it",
    "tls_server_config.cert": "not supported by adoption-collector; use cert_file",
    "tls_server_config.key": "not supported by adoption-collector; use key_file",
    "tls_server_config.client_ca": "not supported by adoption-collector; use client_ca_file",
    "tls_server_config.curve_preferences": (
        "not supported by adoption-collector (OpenSSL's default curves are used); remove it"
    ),
}
_BCRYPT = re.compile(rb"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


class WebConfigError(ConfigError):
    """The web-config file cannot be used; `problems` holds one `key.path: message` each."""


@dataclass(frozen=True)
class TLSSettings:
    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    client_allowed_sans: tuple[str, ...] = ()
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    ciphers: tuple[str, ...] = ()  # OpenSSL names; empty: OpenSSL's defaults
    prefer_server_cipher_suites: bool = True

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.cert_file, self.key_file) + (
            (self.client_ca_file,) if self.client_ca_file else ()
        )


@dataclass(frozen=True)
class WebConfig:
    path: Path
    tls: TLSSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    context: ssl.SSLContext | None = None  # built from `tls` when the file was loaded
    _auth: _PasswordCheck = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_auth", _PasswordCheck(self.users))

    def authorized(self, user: str, password: str) -> bool:
        return self._auth.check(user, password)

    def summary(self) -> str:
        parts = []
        if self.tls is None:
            parts.append("no TLS")
        else:
            parts.append("TLS")
            if self.tls.client_auth_type != "NoClientCert":
                parts.append(f"client certificates {self.tls.client_auth_type}")
        parts.append(f"{len(self.users)} basic auth user(s)" if self.users else "no basic auth")
        if self.headers:
            parts.append(f"{len(self.headers)} extra header(s)")
        return ", ".join(parts)


class _PasswordCheck:
    """bcrypt on a scrape's password, at most one at a time, remembered once it succeeds.

    bcrypt costs tens of milliseconds by design; a scrape every 15 s with the same password
    pays it once. Only successes are remembered, so guessing pays the full cost every time, and
    bcrypt runs one at a time, so a flood of guesses costs at most one core. Unknown users are
    checked against a dummy hash of the same cost: the timing does not tell which users exist.
    """

    MAX_REMEMBERED = 64

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = users
        self._remembered: set[bytes] = set()
        self._lock = threading.Lock()
        self._dummy = b""
        if users:
            cost = int(next(iter(users.values()))[4:6])
            self._dummy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(cost))

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode()))).digest()
        if hashed is not None and key in self._remembered:
            return True
        with self._lock:
            try:
                ok = bcrypt.checkpw(password.encode(), hashed or self._dummy)
            except ValueError:  # over bcrypt's 72 bytes: Go's bcrypt refuses those too
                ok = False
        if not (ok and hashed is not None):
            return False
        if len(self._remembered) >= self.MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered.add(key)
        return True


def load(path: str | Path) -> WebConfig:
    """Read, validate and load (certificates included) a web-config file, or raise
    WebConfigError naming the file and every problem's key path."""
    try:
        raw = config.read_yaml(path)
    except ConfigError as exc:
        raise WebConfigError(exc.source, exc.problems) from None
    return parse(raw, Path(path))


def parse(raw: object, path: Path) -> WebConfig:
    problems = _Problems(str(path))
    if raw is None:
        raw = {}  # an empty file is valid for exporter-toolkit too: plain HTTP, no auth
    if not isinstance(raw, dict):
        raise WebConfigError(str(path), ["(top level): must be a mapping"])
    base = path.parent
    known = {"tls_server_config", "http_server_config", "basic_auth_users"}
    for key in raw:
        if key not in known:
            problems.add(str(key), _UNSUPPORTED.get(str(key), "unknown key"))
    tls = _tls(raw.get("tls_server_config"), base, problems)
    headers = _http(raw.get("http_server_config"), problems)
    users = _users(raw.get("basic_auth_users"), problems)
    problems.raise_if_any()
    context = None
    if tls is not None:
        context = _ssl_context(tls, problems)
        problems.raise_if_any()
    return WebConfig(path=path, tls=tls, users=users, headers=headers, context=context)


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise WebConfigError(self.source, self.items)


def _mapping(value: object, where: str, problems: _Problems) -> dict[Any, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(where, "must be a mapping")
        return None
    return value


def _string(section: dict[Any, Any], key: str, where: str, problems: _Problems) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", "must be a string")
        return None
    return value


def _strings(section: dict[Any, Any], key: str, where: str, problems: _Problems) -> list[str]:
    value = section.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(f"{where}.{key}", "must be a list of strings")
        return []
    return value


def _tls(value: object, base: Path, problems: _Problems) -> TLSSettings | None:
    where = "tls_server_config"
    section = _mapping(value, where, problems)
    if not section:
        return None
    for key in section:
        if key not in _TLS_KEYS:
            problems.add(f"{where}.{key}", _UNSUPPORTED.get(f"{where}.{key}", "unknown key"))
    paths: dict[str, Path | None] = {}
    for key in ("cert_file", "key_file", "client_ca_file"):
        value = section.get(key)
        required = key != "client_ca_file"
        if required and key not in section:
            problems.add(f"{where}.{key}", "required key is missing")
        elif value is None or value == "":
            if required:
                problems.add(f"{where}.{key}", "must not be empty")
        elif not isinstance(value, str):
            problems.add(f"{where}.{key}", "must be a string")
        else:
            paths[key] = base / value
        paths.setdefault(key, None)

    auth = _string(section, "client_auth_type", where, problems) or "NoClientCert"
    if auth in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
        problems.add(
            f"{where}.client_auth_type",
            f"{auth} is not supported by adoption-collector: it accepts a client certificate "
            "without verifying it; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) "
            "with client_ca_file",
        )
    elif auth not in _VERIFY_MODES:
        problems.add(f"{where}.client_auth_type", "must be one of " + ", ".join(CLIENT_AUTH_TYPES))
    elif auth == "NoClientCert" and paths["client_ca_file"] is not None:
        problems.add(
            f"{where}.client_ca_file",
            "set, but client_auth_type is NoClientCert: no client certificate is asked for",
        )
    elif auth != "NoClientCert" and paths["client_ca_file"] is None:
        problems.add(f"{where}.client_ca_file", f"required with client_auth_type {auth}")

    sans = _strings(section, "client_allowed_sans", where, problems)
    if sans and auth != "RequireAndVerifyClientCert":
        problems.add(
            f"{where}.client_allowed_sans", "needs client_auth_type RequireAndVerifyClientCert"
        )

    versions: dict[str, ssl.TLSVersion] = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = _string(section, key, where, problems) or default
        if name not in _TLS_VERSIONS:
            problems.add(f"{where}.{key}", "must be one of TLS12, TLS13")
        versions[key] = _TLS_VERSIONS.get(name, _TLS_VERSIONS[default])
    if versions["min_version"] > versions["max_version"]:
        problems.add(f"{where}.min_version", "must not be above max_version")

    ciphers = []
    for i, suite in enumerate(_strings(section, "cipher_suites", where, problems)):
        if suite in CIPHER_SUITES:
            ciphers.append(CIPHER_SUITES[suite])
        elif suite not in TLS13_SUITES:
            problems.add(
                f"{where}.cipher_suites[{i}]",
                f"unknown cipher suite {suite}: must be one of " + ", ".join(CIPHER_SUITES),
            )
    prefer = section.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        problems.add(f"{where}.prefer_server_cipher_suites", "must be true or false")
        prefer = True

    cert, key = paths["cert_file"], paths["key_file"]
    if cert is None or key is None or auth not in _VERIFY_MODES:
        return None
    return TLSSettings(
        cert_file=cert,
        key_file=key,
        client_auth_type=auth,  # type: ignore[arg-type]
        client_ca_file=paths["client_ca_file"],
        client_allowed_sans=tuple(sans),
        min_version=versions["min_version"],
        max_version=versions["max_version"],
        ciphers=tuple(ciphers),
        prefer_server_cipher_suites=prefer,
    )


def _http(value: object, problems: _Problems) -> tuple[tuple[str, str], ...]:
    where = "http_server_config"
    section = _mapping(value, where, problems)
    if not section:
        return ()
    for key in section:
        if key not in ("http2", "headers"):
            problems.add(f"{where}.{key}", "unknown key")
    # HTTP/2 is never served (HTTP/1.1 only), so http2: true and false behave the same.
    if "http2" in section and not isinstance(section["http2"], bool):
        problems.add(f"{where}.http2", "must be true or false")
    headers = _mapping(section.get("headers"), f"{where}.headers", problems) or {}
    result = []
    for name, text in headers.items():
        at = f"{where}.headers.{name}"
        if name not in HEADERS:
            problems.add(at, "cannot be configured: must be one of " + ", ".join(HEADERS))
        elif not isinstance(text, str) or not _HEADER_VALUE.match(text):
            problems.add(at, "must be a string of printable ASCII")
        elif HEADERS[name] and text not in HEADERS[name]:
            problems.add(at, "must be one of " + ", ".join(HEADERS[name]))
        elif text:  # blank means unset, as in exporter-toolkit
            result.append((name, text))
    return tuple(result)


def _users(value: object, problems: _Problems) -> dict[str, bytes]:
    where = "basic_auth_users"
    section = _mapping(value, where, problems) or {}
    users = {}
    for user, hashed in section.items():
        at = f"{where}.{user}"
        if not isinstance(user, str) or not user:
            problems.add(at, "a user name must be a non-empty string")
        elif ":" in user:
            problems.add(at, "a user name cannot contain ':' (basic auth splits on it)")
        # Never echo the value: it is a password hash.
        elif not isinstance(hashed, str) or not _BCRYPT.match(hashed.encode()):
            problems.add(at, "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)")
        else:
            users[user] = hashed.encode()
    return users


def _no_passphrase() -> NoReturn:
    raise _Encrypted


class _Encrypted(Exception):
    pass


def _ssl_context(tls: TLSSettings, problems: _Problems) -> ssl.SSLContext | None:
    """The server context, with every file read now: a bad file is a startup error."""
    where = "tls_server_config"
    # OpenSSL says only "PEM lib" for a bad file of either kind; name the one at fault.
    for key, file, marker, what in (
        ("cert_file", tls.cert_file, b"-----BEGIN CERTIFICATE-----", "certificate"),
        ("key_file", tls.key_file, b"PRIVATE KEY-----", "private key"),
        ("client_ca_file", tls.client_ca_file, b"-----BEGIN CERTIFICATE-----", "certificate"),
    ):
        if file is None:
            continue
        try:
            data = file.read_bytes()
        except OSError as exc:
            problems.add(f"{where}.{key}", f"cannot read {file}: {exc.strerror}")
            continue
        if marker not in data:
            problems.add(f"{where}.{key}", f"{file} holds no PEM {what}")
    if problems.items:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = tls.min_version
    context.maximum_version = tls.max_version
    if tls.ciphers:
        context.set_ciphers(":".join(tls.ciphers))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        # The callback stops OpenSSL from prompting on the terminal for an encrypted key.
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except _Encrypted:
        problems.add(f"{where}.key_file", f"{tls.key_file} is encrypted; it must not be")
    except ssl.SSLError as exc:
        problems.add(
            f"{where}.key_file", f"cannot use {tls.key_file} with {tls.cert_file}: {_reason(exc)}"
        )
    context.verify_mode = _VERIFY_MODES[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            problems.add(
                f"{where}.client_ca_file",
                f"no usable CA certificate in {tls.client_ca_file}: {_reason(exc)}",
            )
    return None if problems.items else context


def _reason(exc: ssl.SSLError) -> str:
    reason = exc.reason or exc.strerror or str(exc)
    return {
        "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
        "PEM_LIB": "not a PEM certificate and key",
        "NO_START_LINE": "no PEM data",
    }.get(str(reason), str(reason))


def peer_allowed(tls: TLSSettings, peer: Mapping[str, Any] | None) -> bool:
    """client_allowed_sans: the verified client certificate has one of the listed SANs (DNS,
    IP, e-mail or URI; IP addresses compared as addresses, as Go prints them)."""
    if not tls.client_allowed_sans:
        return True
    if not peer:
        return False
    names = {_san(str(value)) for _kind, value in peer.get("subjectAltName", ())}
    return not names.isdisjoint(_san(name) for name in tls.client_allowed_sans)


def _san(value: str) -> str:
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return value


def _stamp(config: WebConfig) -> tuple[tuple[int, int, int, int] | None, ...]:
    """What identifies the files' contents cheaply; a Kubernetes Secret update swaps a symlink,
    which changes the inode behind the path."""
    files = (config.path, *(config.tls.files if config.tls else ()))
    stamps: list[tuple[int, int, int, int] | None] = []
    for file in files:
        try:
            st = os.stat(file)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
    return tuple(stamps)


class Watcher:
    """The web config in force, re-read when its file or a certificate, key or CA it names
    changes (checked at most every `check_every` seconds, when a connection arrives), so a
    rotated certificate or a new password applies without a restart. A file that no longer
    loads is logged once and the previous config stays in force; TLS cannot be turned on or
    off while the server runs (the listening socket is already plain or TLS)."""

    def __init__(self, config: WebConfig, check_every: float = 1.0) -> None:
        self._config = config
        self._stamp = _stamp(config)
        self._refused = self._stamp
        self._check_every = check_every
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def config(self) -> WebConfig:
        if time.monotonic() - self._checked < self._check_every:
            return self._config
        with self._lock:
            if time.monotonic() - self._checked >= self._check_every:
                try:
                    self._reload()
                finally:  # even a reload that failed waits its turn before the next
                    self._checked = time.monotonic()
            return self._config

    def _reload(self) -> None:
        current = self._config
        stamp = _stamp(current)
        if stamp in (self._stamp, self._refused):
            return
        try:
            new = load(current.path)
        except WebConfigError as exc:
            self._refused = stamp
            log.error(
                "%s: web config no longer loads, keeping the previous one: %s",
                exc.source,
                "; ".join(exc.problems),
            )
            return
        if (new.tls is None) != (current.tls is None):
            self._refused = stamp
            log.error(
                "%s: TLS cannot be turned %s while running; keeping the previous web config "
                "until a restart",
                current.path,
                "on" if new.tls else "off",
            )
            return
        self._config, self._stamp = new, _stamp(new)
        log.info("%s: web config reloaded (%s)", current.path, new.summary())
