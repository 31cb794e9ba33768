"""The I/O edge: each source turns one system's API into compact `model` records."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


class PollError(Exception):
    """A poll of one source failed; the message names the source and the cause, never a secret."""


@dataclass(frozen=True, slots=True)
class RequestLimit:
    """The time one request has: its own timeout or the rest of the poll's, whichever
    ends first, and which of the two that is (so an error names the setting to change)."""

    end: float  # time.monotonic()
    by_poll: bool  # the poll's deadline, not the request's own timeout, ends it
    limit: str  # why it ends, naming the setting

    def left(self) -> float:
        return self.end - time.monotonic()


class PollDeadline:
    """One poll's time: `poll_timeout` for the whole poll, `timeout` for each request in it,
    both settings of `section` (`kubernetes`, `github`), named in what a limit says.

    Monotonic, so a wall clock that jumps moves neither. Before `start` the poll has no
    end of its own and a request has just its timeout."""

    __slots__ = ("_end", "poll_timeout", "section", "timeout")

    def __init__(self, section: str, timeout: float, poll_timeout: float) -> None:
        self.section = section
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self._end = math.inf

    def start(self) -> None:
        self._end = time.monotonic() + self.poll_timeout

    @property
    def end(self) -> float:
        """The time.monotonic() by which the poll must end."""
        return self._end

    def left(self) -> float:
        """Seconds until the poll must end (negative once past it)."""
        return self._end - time.monotonic()

    def fits(self, wait: float) -> bool:
        """Whether waiting `wait` seconds still leaves the poll time for a request: a wait
        that would reach the deadline only delays the failure."""
        return wait < self.left()

    def request(self) -> RequestLimit:
        """The limit of a request starting now."""
        request_end = time.monotonic() + self.timeout
        if request_end <= self._end:
            return RequestLimit(
                request_end,
                False,
                f"it took longer than {self.section}.timeout ({self.timeout:g}s)",
            )
        return RequestLimit(
            self._end,
            True,
            f"the poll took longer than {self.section}.poll_timeout ({self.poll_timeout:g}s)",
        )
