"""GitHub's API as the GitHub source needs it: one request at a time, inside the budgets.

Every request goes through `GitHubAPI.request`, which refuses to dig into the
rate-limit reserve, retries 5xx answers a bounded number of times, honours a
secondary limit's Retry-After only within one allowance per poll, and turns
every failure into a `PollError` whose message says what to fix and never
holds a secret. PyGithub is the transport (auth including GitHub Apps and
their token renewal, Enterprise base URLs); its own retries are off because
they sleep on rate limits without a bound.

Time is bounded twice. A scan has `poll_timeout`: no wait is taken that would
reach it, and a request in flight when it passes is cut off; the scan then
stops with what it read (`DeadlineReached`). A request has `timeout` from its
first byte sent to its last byte read. requests' own timeout bounds each socket
read only, so a body trickling in a byte at a time would never end; a watchdog
shuts the socket at the limit instead (`_BoundedAdapter`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import github
import requests
import requests.adapters
import urllib3
from cryptography.hazmat.primitives import serialization
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

from collector import __version__, config
from collector.model import RateLimit
from collector.sources import PollDeadline, PollError

PER_PAGE = 100
MAX_WAIT_SECONDS = 60.0  # all Retry-After and backoff waits of one poll together
MAX_ATTEMPTS = 3  # per request, for 5xx answers and secondary limits
SERVER_ERROR_BACKOFF = (1.0, 2.0)
CORE, GRAPHQL = "core", "graphql"


class OutOfBudget(Exception):
    """A budget is down to its reserve, or a secondary limit asks for a longer wait:
    the poll ends with what it has. The message says which, for the log."""


class DeadlineReached(OutOfBudget):
    """The scan's `poll_timeout` has passed, or a wait would reach it."""


class RequestTimeout(requests.exceptions.Timeout):
    """No complete answer within the request's time limit."""


def parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _int_header(headers: Mapping[str, Any] | None, name: str) -> int | None:
    value = header(headers, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class GitHubAPI:
    def __init__(
        self,
        settings: config.GitHub,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._client: github.Github | None = None
        self._client_token: str | None = None
        self._app_auth: github.Auth.Auth | None = None
        self._limits: dict[str, RateLimit] = {}
        self._waited = 0.0  # seconds waited in the current poll
        self._deadline = PollDeadline("github", settings.timeout, settings.poll_timeout)

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        return tuple(self._limits[r] for r in sorted(self._limits))

    @property
    def graphql_url(self) -> str:
        return self._github().requester.graphql_url

    def start_poll(self) -> None:
        self._waited = 0.0
        self._deadline.start()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _redact(self, value: Any) -> Any:
        """Servers and proxies may echo the Authorization header in an error: what of an
        answer can reach a message or the log loses the token first."""
        secret = self._client_token
        if isinstance(value, str):
            if secret and len(secret) >= 4:
                value = value.replace(secret, "[redacted]")
            # An App's installation tokens are PyGithub's, never ours to compare against:
            # anything shaped like a GitHub token goes too.
            return _GITHUB_TOKEN.sub("[redacted]", value)
        if isinstance(value, list):
            return [self._redact(item) for item in value]
        if isinstance(value, dict):
            return {key: self._redact(item) for key, item in value.items()}
        return value

    def request(
        self,
        verb: str,
        url: str,
        resource: str,
        *,
        parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        input: object = None,
    ) -> tuple[Mapping[str, Any], Any]:
        client = self._github()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._check_budget(resource)
            limit = self._deadline.request()
            left = limit.left()
            if left <= 0:
                raise self._deadline_reached()
            _in_flight.limit = left
            try:
                answer_headers, data = client.requester.requestJsonAndCheck(
                    verb,
                    url,
                    parameters=dict(parameters or {}),
                    headers=dict(headers or {}),
                    input=input,
                )
            except github.GithubException as exc:
                self._note_limit(exc.headers, resource)
                self._retry_after(self._handle_failure(exc, url, attempt))
                continue
            except requests.exceptions.Timeout:
                if limit.by_poll:  # cut short by the scan's deadline
                    raise self._deadline_reached() from None
                raise PollError(
                    f"github: {verb} {_where(url)}: no complete answer within "
                    f"{self.settings.timeout:g}s (github.timeout)"
                ) from None
            except json.JSONDecodeError:
                raise PollError(f"github: {_where(url)}: the answer is not valid JSON") from None
            finally:
                _in_flight.limit = None
            self._note_limit(answer_headers, resource)
            if isinstance(data, dict) and data.get("errors"):  # GraphQL's, which get logged
                data = {**data, "errors": self._redact(data["errors"])}
            return answer_headers, data
        raise AssertionError("unreachable")  # _handle_failure raises on the last attempt

    def _handle_failure(self, exc: github.GithubException, url: str, attempt: int) -> float:
        """Raise, or return a Retry-After for `_retry_after` to honour (0 after a 5xx,
        whose backoff is slept here: one that does not fit in the scan's waits or time
        fails the scan, as its last attempt would)."""
        status, headers = exc.status, exc.headers
        message = self._redact(_message(exc.data))
        last = attempt >= MAX_ATTEMPTS
        if status == 401:
            raise PollError(
                "github: the credentials were rejected (401 Bad credentials): the token or "
                f"app key is revoked, expired or wrong; {self._credential_fix()}"
            ) from None
        if status in (403, 429):
            retry_after = _int_header(headers, "retry-after")
            if retry_after is not None:  # a secondary limit
                if last:
                    raise OutOfBudget(
                        f"a secondary rate limit was still in force after {MAX_ATTEMPTS} attempts"
                    ) from None
                return float(max(retry_after, 0))
            if _int_header(headers, "x-ratelimit-remaining") == 0:
                resource = header(headers, "x-ratelimit-resource") or _where(url)
                raise OutOfBudget(
                    f"the {resource} rate limit is exhausted until "
                    f"{_utc(_int_header(headers, 'x-ratelimit-reset'))}"
                ) from None
            if "rate limit" in message.lower():
                raise OutOfBudget(f"GitHub refused {_where(url)}: {message}") from None
            raise PollError(
                f"github: {_where(url)}: forbidden (403): {message}; the token or app needs "
                "read access to metadata and contents (and custom properties if used)"
            ) from None
        if status == 404 and url.startswith("/orgs/"):
            raise PollError(
                f"github: organisation {self.settings.org!r} not found (404) at "
                f"{self.settings.base_url}: check github.org, and that the token's owner "
                "is a member (or the app is installed there)"
            ) from None
        if status >= 500 and not last:
            backoff = SERVER_ERROR_BACKOFF[min(attempt, len(SERVER_ERROR_BACKOFF)) - 1]
            if self._fits(backoff):
                self._waited += backoff
                self.sleep(backoff)
                return 0.0
        raise PollError(f"github: {_where(url)}: {status} {message}".rstrip()) from None

    def _fits(self, seconds: float) -> bool:
        # The whole poll shares one allowance, so a poll never blocks for long; and a wait
        # that would reach the deadline would leave no time for the request it waits for.
        return self._waited + seconds <= MAX_WAIT_SECONDS and self._deadline.fits(seconds)

    def _retry_after(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._waited + seconds > MAX_WAIT_SECONDS:
            raise OutOfBudget(
                f"GitHub asks to wait {seconds:g}s (Retry-After), and a scan waits "
                f"{MAX_WAIT_SECONDS:g}s at most in all"
            )
        if not self._fits(seconds):
            raise DeadlineReached(
                f"GitHub asks to wait {seconds:g}s (Retry-After), which would pass "
                f"github.poll_timeout ({self.settings.poll_timeout:g}s)"
            )
        self._waited += seconds
        self.sleep(seconds)

    def _deadline_reached(self) -> DeadlineReached:
        return DeadlineReached(f"github.poll_timeout ({self.settings.poll_timeout:g}s) reached")

    def _check_budget(self, resource: str) -> None:
        limit = self._limits.get(resource)
        if limit is None or self.clock() >= limit.reset:
            return
        if limit.remaining <= math.ceil(self.settings.rate_limit_reserve * limit.limit):
            raise OutOfBudget(
                f"the {resource} rate limit is down to its reserve ({limit.remaining} of "
                f"{limit.limit} points left until {_utc(limit.reset)})"
            )

    def _credential_fix(self) -> str:
        s = self.settings
        if s.token_env is not None:
            return f"put a valid token in environment variable {s.token_env} and restart"
        if s.token_file is not None:
            return f"write a valid token to {s.token_file} (read again on every scan)"
        assert s.app is not None
        return (
            f"check app {s.app.app_id}, installation {s.app.installation_id} and "
            f"{s.app.private_key_file}, and that the app is still installed"
        )

    def _note_limit(self, headers: Mapping[str, Any] | None, default_resource: str) -> None:
        remaining = _int_header(headers, "x-ratelimit-remaining")
        limit = _int_header(headers, "x-ratelimit-limit")
        reset = _int_header(headers, "x-ratelimit-reset")
        if remaining is None or limit is None or reset is None:
            return
        resource = header(headers, "x-ratelimit-resource") or default_resource
        self._limits[resource] = RateLimit(resource, remaining, limit, float(reset))

    def note_graphql_limit(self, value: object) -> None:
        if not isinstance(value, dict):
            return
        remaining, limit = value.get("remaining"), value.get("limit")
        reset = parse_time(value.get("resetAt"))
        if isinstance(remaining, int) and isinstance(limit, int) and reset is not None:
            self._limits[GRAPHQL] = RateLimit(GRAPHQL, remaining, limit, reset)

    def _github(self) -> github.Github:
        auth = self._auth()
        token = getattr(auth, "token", None) if isinstance(auth, github.Auth.Token) else None
        if self._client is None or token != self._client_token:
            if self._client is not None:
                self._client.close()
            self._client = github.Github(
                base_url=self.settings.base_url,
                auth=auth,
                # Each socket read; the whole request is bounded by `_BoundedAdapter`.
                timeout=max(1, math.ceil(self.settings.timeout)),
                user_agent=f"adoption-collector/{__version__}",
                per_page=PER_PAGE,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            _bound_requests(self._client)
            self._client_token = token
        return self._client

    def _auth(self) -> github.Auth.Auth:
        s = self.settings
        if s.token_env is not None:
            token = os.environ.get(s.token_env, "").strip()
            if not token:
                raise PollError(f"github: environment variable {s.token_env} is not set or empty")
            return github.Auth.Token(token)
        if s.token_file is not None:
            # Read on every poll: a mounted Secret is rotated in place.
            token = _read(s.token_file, "token_file").strip()
            if not token:
                raise PollError(f"github: token_file {s.token_file} is empty")
            return github.Auth.Token(token)
        assert s.app is not None  # config guarantees exactly one credential
        if self._app_auth is None:
            # PyGithub renews the installation token itself before it expires.
            key = _read(s.app.private_key_file, "app.private_key_file")
            try:  # PyGithub would only fail at the first request, with a JWT library error
                serialization.load_pem_private_key(key.encode(), password=None)
            except (ValueError, TypeError):
                raise PollError(
                    f"github: app.private_key_file {s.app.private_key_file} is not an "
                    "unencrypted PEM private key; download a new key from the app's settings"
                ) from None
            self._app_auth = github.Auth.AppAuth(s.app.app_id, key).get_installation_auth(
                s.app.installation_id
            )
        return self._app_auth


# GitHub's token formats: ghp_/gho_/ghu_/ghs_/ghr_ (ghs_ for App installations), github_pat_.
_GITHUB_TOKEN = re.compile(r"\b(?:gh[opusr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})")


def _read(path: str, key: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PollError(f"github: cannot read {key} {path}: {exc.strerror}") from None


def _utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "an unknown time"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(data: object) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    return ""


def _where(url: str) -> str:
    return "GraphQL" if url.endswith("/graphql") else url.split("?", 1)[0]


# -- a time limit on a whole request ----------------------------------------------------

# What the request being made on this thread may take, in seconds; None: no limit of ours.
_in_flight = threading.local()


class _Watch:
    """One request's time limit. When it fires, the connection's socket is shut down, so a
    read blocked in the middle of a trickling body returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._done = False
        self.fired = False

    def attach(self, connection: object) -> None:
        with self._lock:
            self._connection = connection
            if self.fired:
                self._shut()

    def fire(self) -> None:
        with self._lock:
            if not self._done:
                self.fired = True
                self._shut()

    def finish(self) -> None:
        with self._lock:
            self._done = True

    def _shut(self) -> None:
        sock = getattr(self._connection, "sock", None)
        if isinstance(sock, socket.socket):
            # Once shut, the pool finds the connection dropped and never reuses it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _attach(connection: object) -> None:
    watch = getattr(_in_flight, "watch", None)
    if isinstance(watch, _Watch):
        watch.attach(connection)


class _Pool(urllib3.HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _attach(connection)
        return connection


class _TLSPool(urllib3.HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _attach(connection)
        return connection


class _BoundedAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose requests end by `_in_flight.limit`, body included."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        limit = getattr(_in_flight, "limit", None)
        if limit is None:
            return super().send(request, stream=stream, **kwargs)
        watch = _Watch()
        _in_flight.watch = watch
        timer = threading.Timer(limit, watch.fire)
        timer.daemon = True
        timer.start()
        try:
            response = super().send(request, stream=True, **kwargs)
            if not stream:
                _ = response.content  # the body too, while the watch runs
        except Exception:
            if watch.fired:
                raise RequestTimeout(f"no complete answer within {limit:g}s") from None
            raise
        finally:
            timer.cancel()
            watch.finish()
            _in_flight.watch = None
        if watch.fired:  # fired between the last byte and `finish`
            response.close()
            raise RequestTimeout(f"no complete answer within {limit:g}s")
        return response


def _mount_bounded(connection: HTTPRequestsConnectionClass | HTTPSRequestsConnectionClass) -> None:
    adapter = _BoundedAdapter(
        max_retries=connection.retry,
        pool_connections=connection.pool_size,
        pool_maxsize=connection.pool_size,
    )
    connection.adapter = adapter
    for prefix in ("http://", "https://"):
        connection.session.mount(prefix, adapter)


class _BoundedHTTP(HTTPRequestsConnectionClass):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _mount_bounded(self)


class _BoundedHTTPS(HTTPSRequestsConnectionClass):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _mount_bounded(self)


_BOUNDED: dict[str, type[HTTPRequestsConnectionClass | HTTPSRequestsConnectionClass]] = {
    "http": _BoundedHTTP,
    "https": _BoundedHTTPS,
}


def _bound_requests(client: github.Github) -> None:
    """Make `client` connect through `_BoundedAdapter`. PyGithub has no public hook for
    its transport; its connection class is a per-instance attribute, so this changes
    nothing for other clients in the process. Fails loudly if PyGithub renames it."""
    requester = client.requester
    attribute = "_Requester__connectionClass"
    if not hasattr(requester, attribute):
        raise RuntimeError("PyGithub changed its connection class attribute: update github_api")
    setattr(requester, attribute, _BOUNDED[requester.scheme])
