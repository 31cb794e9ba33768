"""The developer survey: a CSV file of answers, `date,score`, read when it changes.

A line whose date is not `YYYY-MM-DD` (or an RFC 3339 time) or whose score is not a whole
number from 0 to 10 is skipped, counted and logged with its line number, once per change
of the file; a header line `date,score` is not an answer. A file that cannot be read is
logged and gives no answers (and no NPS), never a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answers:
    answers: tuple[tuple[float, int], ...]  # (unix seconds of the answer's date, score 0-10)
    skipped: int  # lines that were not an answer
    readable: bool = True


_NOTHING = Answers((), 0, readable=False)


class SurveyFile:
    """Reads the file again only when its modification time or size changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._answers = _NOTHING

    def read(self) -> Answers:
        try:
            status = os.stat(self.path)
        except OSError as exc:
            if self._answers.readable or self._seen is None:
                log.error("platform.nps: cannot read %s: %s", self.path, exc.strerror or exc)
            self._seen = (-1, -1)
            self._answers = _NOTHING
            return self._answers
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._seen:
            self._seen = stamp
            self._answers = self._parse()
        return self._answers

    def _parse(self) -> Answers:
        answers: list[tuple[float, int]] = []
        skipped = 0
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as f:
                for number, row in enumerate(csv.reader(f), start=1):
                    if not row or all(not cell.strip() for cell in row):
                        continue
                    if number == 1 and [c.strip().lower() for c in row] == ["date", "score"]:
                        continue
                    answer, problem = _answer(row)
                    if answer is None:
                        skipped += 1
                        log.warning(
                            "platform.nps: %s line %d skipped: %s", self.path, number, problem
                        )
                    else:
                        answers.append(answer)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            log.error("platform.nps: cannot read %s: %s", self.path, exc)
            return _NOTHING
        return Answers(tuple(answers), skipped)


def _answer(row: list[str]) -> tuple[tuple[float, int] | None, str]:
    if len(row) != 2:
        return None, f"expected 2 fields (date,score), found {len(row)}"
    date_text, score_text = (cell.strip() for cell in row)
    when = _time(date_text)
    if when is None:
        return None, f"the date {date_text[:40]!r} is not YYYY-MM-DD"
    try:
        score = int(score_text)
    except ValueError:
        return None, f"the score {score_text[:40]!r} is not a whole number from 0 to 10"
    if not 0 <= score <= 10:
        return None, f"the score {score} is outside 0-10"
    return (when, score), ""


def _time(text: str) -> float | None:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
