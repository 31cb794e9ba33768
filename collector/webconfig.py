"""The web-config file in force: TLS context, basic auth and response headers, reloaded on change.

The file's schema is `config.WebConfigFile` (exporter-toolkit's format, validated like the
config). Relative paths resolve against the file's directory, as exporter-toolkit does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import bcrypt

from collector import config
from collector.config import CIPHER_SUITES, ConfigError, TLSServerConfig

log = logging.getLogger(__name__)

_VERIFY = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class WebConfigError(ConfigError):
    """The web-config file cannot be used; `problems` holds one `key.path: message` each."""


class WebConfig:
    """One loaded web-config file. Basic auth: bcrypt on a scrape's password, one check at a
    time (a flood of guesses costs at most one core), and a success remembered (bcrypt costs
    tens of milliseconds by design; a scrape every 15 s pays it once). Failures are never
    remembered, and unknown users are checked against a dummy hash of the same cost, so timing
    tells no one which users exist."""

    def __init__(
        self,
        path: Path,
        tls: TLSServerConfig | None = None,  # file paths resolved against the file's directory
        users: Mapping[str, bytes] | None = None,  # user -> bcrypt hash
        headers: tuple[tuple[str, str], ...] = (),
        context: ssl.SSLContext | None = None,  # built from `tls`, every file read, at load
    ) -> None:
        self.path, self.tls, self.users = path, tls, dict(users or {})
        self.headers, self.context = headers, context
        self._passed: set[bytes] = set()
        self._bcrypt = threading.Lock()
        cost = int(next(iter(self.users.values()))[4:6]) if self.users else 4
        self._dummy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(cost)) if self.users else b""

    def _key(self, user: str, password: str) -> bytes:
        return hashlib.sha256(b"\0".join((user.encode(), password.encode()))).digest()

    def remembered(self, user: str, password: str) -> bool:
        """A password that already passed: no bcrypt needed."""
        return user in self.users and self._key(user, password) in self._passed

    def authorized(self, user: str, password: str) -> bool:
        if self.remembered(user, password):
            return True
        hashed = self.users.get(user)
        with self._bcrypt:
            try:
                ok = bcrypt.checkpw(password.encode(), hashed or self._dummy)
            except ValueError:  # over bcrypt's 72 bytes: Go's bcrypt refuses those too
                ok = False
        if ok and hashed is not None:
            if len(self._passed) >= 64:
                self._passed.clear()
            self._passed.add(self._key(user, password))
        return ok and hashed is not None

    def summary(self) -> str:
        parts = ["no TLS"] if self.tls is None else ["TLS"]
        if self.tls is not None and self.tls.client_auth_type != "NoClientCert":
            parts.append(f"client certificates {self.tls.client_auth_type}")
        parts.append(f"{len(self.users)} basic auth user(s)" if self.users else "no basic auth")
        if self.headers:
            parts.append(f"{len(self.headers)} extra header(s)")
        return ", ".join(parts)


def load(path: str | Path) -> WebConfig:
    """Read, validate and load (certificates included) a web-config file, or raise
    WebConfigError naming the file and every problem's key path."""
    source = str(path)
    try:
        raw = config.read_yaml(path)
        if not isinstance(raw, dict | None):
            raise ConfigError(source, ["(top level): must be a mapping"])
        # An empty file is valid for exporter-toolkit too: plain HTTP, no auth.
        parsed = config.validate(config.WebConfigFile, raw or {}, source)
        tls = parsed.tls_server_config
        if tls is not None:
            base = Path(path).parent
            tls = tls.model_copy(
                update={k: str(base / f) for k in _FILES if (f := getattr(tls, k)) is not None}
            )
        context = _ssl_context(tls, source) if tls is not None else None
    except ConfigError as exc:
        raise WebConfigError(exc.source, exc.problems) from None
    users = {user: hashed.encode() for user, hashed in parsed.basic_auth_users.items()}
    headers = parsed.http_server_config.headers.items()
    return WebConfig(Path(path), tls, users, headers, context)


_FILES = ("cert_file", "key_file", "client_ca_file")
# OpenSSL says only "PEM lib" for a bad file of any kind: each file is checked for its kind first.
_PEM = {
    "cert_file": (b"-----BEGIN CERTIFICATE-----", "certificate"),
    "key_file": (b"PRIVATE KEY-----", "private key"),
    "client_ca_file": (b"-----BEGIN CERTIFICATE-----", "certificate"),
}


class _Encrypted(Exception):
    pass


def _no_passphrase() -> NoReturn:
    raise _Encrypted  # instead of OpenSSL prompting on the terminal for an encrypted key


def _ssl_context(tls: TLSServerConfig, source: str) -> ssl.SSLContext:
    problems = []
    for key in _FILES:
        if (file := getattr(tls, key)) is None:
            continue
        marker, what = _PEM[key]
        try:
            if marker not in Path(file).read_bytes():
                problems.append(f"tls_server_config.{key}: {file} holds no PEM {what}")
        except OSError as exc:
            problems.append(f"tls_server_config.{key}: cannot read {file}: {exc.strerror}")
    if problems:
        raise ConfigError(source, problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.maximum_version = _VERSIONS[tls.max_version]
    if ciphers := [CIPHER_SUITES[s] for s in tls.cipher_suites if s in CIPHER_SUITES]:
        context.set_ciphers(":".join(ciphers))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except _Encrypted:
        problems.append(f"tls_server_config.key_file: {tls.key_file} is encrypted; it must not be")
    except ssl.SSLError as exc:
        problems.append(
            f"tls_server_config.key_file: cannot use {tls.key_file} with {tls.cert_file}: "
            f"{_reason(exc)}"
        )
    context.verify_mode = _VERIFY.get(tls.client_auth_type, ssl.CERT_REQUIRED)
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            problems.append(
                f"tls_server_config.client_ca_file: no usable CA certificate in "
                f"{tls.client_ca_file}: {_reason(exc)}"
            )
    if problems:
        raise ConfigError(source, problems)
    return context


def _reason(exc: ssl.SSLError) -> str:
    reason = str(exc.reason or exc.strerror or exc)
    return {
        "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
        "PEM_LIB": "not a PEM certificate and key",
        "NO_START_LINE": "no PEM data",
    }.get(reason, reason)


def peer_allowed(tls: TLSServerConfig, peer: Mapping[str, Any] | None) -> bool:
    """client_allowed_sans: the verified client certificate has one of the listed SANs (DNS,
    IP, e-mail or URI; IP addresses compared as addresses, as Go prints them)."""
    if not tls.client_allowed_sans:
        return True
    names = {_san(str(value)) for _kind, value in (peer or {}).get("subjectAltName", ())}
    return not names.isdisjoint(_san(name) for name in tls.client_allowed_sans)


def _san(value: str) -> str:
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return value


def _stamp(web: WebConfig) -> tuple[tuple[int, ...] | None, ...]:
    """What identifies the files' contents cheaply; a Kubernetes Secret update swaps a symlink,
    which changes the inode behind the path."""
    stats: list[tuple[int, ...] | None] = []
    for file in (str(web.path), *(web.tls.files if web.tls else ())):
        try:
            st = os.stat(file)
            stats.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
        except OSError:
            stats.append(None)
    return tuple(stats)


def _fixed(web: WebConfig) -> str | None:
    """What a running server cannot change: the listening socket is plain or TLS for good, and a
    handshake keeps the listening context's client_auth_type whatever context it is handed."""
    return None if web.tls is None else web.tls.client_auth_type


class Watcher:
    """The web config in force, re-read when its file or a certificate, key or CA it names
    changes (looked at, when asked, at most every `check_every` seconds): a rotated certificate
    or password applies without a restart. One that does not load, or changes what needs a
    restart (`_fixed`), is logged once and not applied."""

    def __init__(self, web: WebConfig, check_every: float = 1.0) -> None:
        self._config, self._check_every = web, check_every
        self._seen = _stamp(web)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def config(self) -> WebConfig:
        if time.monotonic() - self._checked >= self._check_every and self._lock.acquire(False):
            try:
                self._reload()
            finally:
                self._checked = time.monotonic()
                self._lock.release()
        return self._config

    def _reload(self) -> None:
        current, stamp = self._config, _stamp(self._config)
        if stamp == self._seen:
            return
        self._seen = stamp  # tried once per change, whatever comes of it
        try:
            new = load(current.path)
            if _fixed(new) != _fixed(current):
                raise WebConfigError(
                    str(current.path), ["turning TLS on or off, or a new client_auth_type: restart"]
                )
        except WebConfigError as exc:
            log.error(
                "%s: web config not applied, the previous one stays in force: %s",
                exc.source,
                "; ".join(exc.problems),
            )
            return
        self._config, self._seen = new, _stamp(new)
        log.info("%s: web config reloaded (%s)", current.path, new.summary())
