"""GitHub's API as the GitHub source needs it: one request at a time, inside the budgets.

Every request goes through `GitHubAPI.request`, which refuses to dig into the
rate-limit reserve, retries 5xx answers a bounded number of times, honours a
secondary limit's Retry-After only within one allowance per poll, and turns
every failure into a `PollError` whose message says what to fix and never
holds a secret. PyGithub is the transport (auth including GitHub Apps and
their token renewal, Enterprise base URLs); its own retries are off because
they sleep on rate limits without a bound.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import github

from collector import __version__, config
from collector.model import RateLimit
from collector.sources import PollError

PER_PAGE = 100
MAX_WAIT_SECONDS = 60.0  # all Retry-After and backoff waits of one poll together
MAX_ATTEMPTS = 3  # per request, for 5xx answers and secondary limits
SERVER_ERROR_BACKOFF = (1.0, 2.0)
CORE, GRAPHQL = "core", "graphql"


class OutOfBudget(Exception):
    """A budget is down to its reserve, or a secondary limit asks for a longer wait:
    the poll ends with what it has."""


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

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        return tuple(self._limits[r] for r in sorted(self._limits))

    @property
    def graphql_url(self) -> str:
        return self._github().requester.graphql_url

    def start_poll(self) -> None:
        self._waited = 0.0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

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
                wait = self._handle_failure(exc, url, attempt)
                self._wait(wait)
                continue
            except json.JSONDecodeError:
                raise PollError(f"github: {_where(url)}: the answer is not valid JSON") from None
            self._note_limit(answer_headers, resource)
            return answer_headers, data
        raise AssertionError("unreachable")  # _handle_failure raises on the last attempt

    def _handle_failure(self, exc: github.GithubException, url: str, attempt: int) -> float:
        """Seconds to wait before trying again, or raise."""
        status, headers = exc.status, exc.headers
        message = _message(exc.data)
        last = attempt >= MAX_ATTEMPTS
        if status == 401:
            raise PollError(
                "github: the credentials were rejected (401 Bad credentials): "
                "the token or app key is revoked, expired or wrong"
            ) from None
        if status in (403, 429):
            retry_after = _int_header(headers, "retry-after")
            if retry_after is not None:  # a secondary limit
                if last:
                    raise OutOfBudget from None
                return float(max(retry_after, 0))
            if (
                _int_header(headers, "x-ratelimit-remaining") == 0
                or "rate limit" in message.lower()
            ):
                raise OutOfBudget from None
            raise PollError(
                f"github: {_where(url)}: forbidden (403): {message}; the token or app needs "
                "read access to metadata and contents (and custom properties if used)"
            ) from None
        if status == 404 and url.startswith("/orgs/"):
            raise PollError(
                f"github: organisation {self.settings.org!r} not found (404) at "
                f"{self.settings.base_url}, or the token cannot see it"
            ) from None
        if status >= 500 and not last:
            return SERVER_ERROR_BACKOFF[min(attempt, len(SERVER_ERROR_BACKOFF)) - 1]
        raise PollError(f"github: {_where(url)}: {status} {message}".rstrip()) from None

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        # The whole poll shares one allowance, so a poll never blocks for long.
        if self._waited + seconds > MAX_WAIT_SECONDS:
            raise OutOfBudget
        self._waited += seconds
        self.sleep(seconds)

    def _check_budget(self, resource: str) -> None:
        limit = self._limits.get(resource)
        if limit is None or self.clock() >= limit.reset:
            return
        if limit.remaining <= math.ceil(self.settings.rate_limit_reserve * limit.limit):
            raise OutOfBudget

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
                timeout=max(1, math.ceil(self.settings.timeout)),
                user_agent=f"adoption-collector/{__version__}",
                per_page=PER_PAGE,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
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
            self._app_auth = github.Auth.AppAuth(s.app.app_id, key).get_installation_auth(
                s.app.installation_id
            )
        return self._app_auth


def _read(path: str, key: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PollError(f"github: cannot read {key} {path}: {exc.strerror}") from None


def _message(data: object) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    return ""


def _where(url: str) -> str:
    return "GraphQL" if url.endswith("/graphql") else url.split("?", 1)[0]
