"""One poll deadline for both sources: what a request may take, and which setting ends it."""

from __future__ import annotations

import time

import pytest

from collector.sources import PollDeadline


def test_a_request_has_its_timeout_while_the_poll_has_more_left() -> None:
    deadline = PollDeadline("github", timeout=5, poll_timeout=60)
    deadline.start()
    before = time.monotonic()
    limit = deadline.request()
    assert (limit.by_poll, limit.limit) == (False, "it took longer than github.timeout (5s)")
    assert before + 5 <= limit.end <= time.monotonic() + 5
    assert 4 < limit.left() <= 5


def test_near_the_end_a_request_has_what_is_left_of_the_poll() -> None:
    deadline = PollDeadline("kubernetes", timeout=30, poll_timeout=0.5)
    deadline.start()
    limit = deadline.request()
    assert (limit.by_poll, limit.limit) == (
        True,
        "the poll took longer than kubernetes.poll_timeout (0.5s)",
    )
    assert 0 < limit.left() <= 0.5
    assert limit.end == pytest.approx(time.monotonic() + deadline.left(), abs=0.01)


def test_a_wait_fits_only_if_time_is_left_after_it() -> None:
    deadline = PollDeadline("github", timeout=1, poll_timeout=10)
    deadline.start()
    assert deadline.fits(5)
    assert not deadline.fits(10)  # it would reach the deadline: nothing left to ask in
    assert not deadline.fits(11)


def test_before_a_poll_starts_only_the_request_timeout_bounds() -> None:
    deadline = PollDeadline("github", timeout=2, poll_timeout=3)
    assert deadline.fits(3600)
    assert not deadline.request().by_poll


def test_each_poll_starts_afresh() -> None:
    deadline = PollDeadline("kubernetes", timeout=0.05, poll_timeout=0.05)
    deadline.start()
    time.sleep(0.06)
    assert deadline.left() < 0
    assert deadline.request().left() < 0
    deadline.start()
    assert 0 < deadline.left() <= 0.05
