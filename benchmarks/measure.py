"""Measured work in fresh child processes, their memory, and the statistics of the figures.

Every measured path runs in a process of its own, started with `spawn` (a fresh
interpreter, not a fork of this one), so its peak RSS is its own: not the
simulators', not the orchestrating process', not a previous run's.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

_CONTEXT = multiprocessing.get_context("spawn")


class BenchError(Exception):
    """A benchmark could not measure what it set out to (not a missed target)."""


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise BenchError(f"/proc/self/status has no {field}")


def rss_mb() -> float:
    """This process' resident memory now, in MiB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process' peak resident memory so far (the high-water mark), in MiB."""
    return _status_mb("VmHWM")


@dataclass(frozen=True, slots=True)
class _Done:
    value: Any


@dataclass(frozen=True, slots=True)
class _Failed:
    text: str


def _run(
    conn: Connection,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    try:
        conn.send(_Done(target(conn, *args, **kwargs)))
    except BaseException:
        conn.send(_Failed(traceback.format_exc()))
    finally:
        conn.close()


def _call(conn: Connection, func: Callable[..., Any], *args: Any) -> Any:
    del conn  # a one-shot call needs no conversation
    return func(*args)


class Child:
    """`target(conn, *args, **kwargs)` in a fresh interpreter. It may talk over `conn`
    (`send`, `recv` here); what it returns is `result()`, what it raises a BenchError here."""

    def __init__(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.conn, child_end = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_run, args=(child_end, target, args, kwargs), daemon=True
        )
        self.process.start()
        child_end.close()

    def send(self, message: object) -> None:
        self.conn.send(message)

    def waiting(self, timeout: float) -> bool:
        """True once a message (or the end) is there to receive, waiting at most `timeout`."""
        return self.conn.poll(timeout)

    def recv(self, timeout: float = 1800.0) -> Any:
        """The next message; BenchError if the child failed, died, finished or said
        nothing in time."""
        message = self._next(timeout)
        if isinstance(message, _Done):
            raise BenchError("child process finished while a message was expected")
        return message

    def result(self, timeout: float = 1800.0) -> Any:
        """What the child's target returned, skipping messages it still sends."""
        while not isinstance(message := self._next(timeout), _Done):
            pass
        return message.value

    def _next(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise BenchError(f"no answer from child process within {timeout:.0f}s")
        try:
            message = self.conn.recv()
        except EOFError:
            self.process.join(5)
            raise BenchError(f"child process died (exit code {self.process.exitcode})") from None
        if isinstance(message, _Failed):
            raise BenchError(f"child process failed:\n{message.text}")
        return message

    def close(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def call(func: Callable[..., Any], *args: Any, timeout: float = 1800.0) -> Any:
    """`func(*args)` in a fresh interpreter; its return value must pickle."""
    with Child(_call, func, *args) as child:
        return child.result(timeout)


def median(values: Sequence[float]) -> float:
    if not values:
        raise BenchError("no measurements")
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of the values at or below."""
    if not values:
        raise BenchError("no measurements")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
