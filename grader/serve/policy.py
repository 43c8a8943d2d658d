"""A course's rules for time and fairness, as plain functions of plain values.

- **Deadline.** A student's deadline is the course's, or their extension when
  later. A submission after it is late by whole days, counted up: a minute
  late is one day.
- **Late policy.** ``accept``: a late submission is graded and counts in full;
  ``penalty``: its score is multiplied by ``1 - days x penalty_per_day`` (never
  below 0); ``refuse``: it is not accepted at all. One already in (taken before
  the policy changed, or the deadline moved) keeps the per-day penalty, so that
  closing the door after a grace period under ``penalty`` takes back nothing,
  and gives nothing: only ``accept`` counts late work in full.
- **Limits.** Between two of a student's submissions they wait ``cooloff``
  seconds, and within any 24 hours they make at most ``daily_limit`` (when
  set). Submissions the service itself failed to grade count toward neither.
  Instructors have no limits.
- **Which submission counts.** ``last``: the last one graded on time, or, for a
  student with none on time, the last one graded; ``best``: the highest score
  after the late penalty, the earlier on a tie.
"""

import dataclasses
import datetime
import math

DAY = datetime.timedelta(days=1)


def deadline_of(course_deadline, extension):
    """The student's own deadline: the later of the course's and their extension (None: no deadline)."""
    if course_deadline is None:
        return extension
    return max(course_deadline, extension) if extension else course_deadline


def days_late(submitted_at, deadline):
    """Whole days after the deadline, counted up; 0 when on time or without a deadline."""
    if deadline is None or submitted_at <= deadline:
        return 0
    return math.ceil((submitted_at - deadline) / DAY)


def penalty_factor(late_policy, penalty_per_day, days):
    """What a score is multiplied by, ``days`` late under the policy."""
    if days == 0 or late_policy == "accept":
        return 1.0
    return max(0.0, 1.0 - days * penalty_per_day)


def wait_seconds(now, earlier, cooloff, daily_limit):
    """Seconds before the student may submit again (0: now), from the times of their earlier submissions.

    ``earlier`` holds only the submissions that count toward the limits.
    """
    waits = [0.0]
    if earlier and cooloff:
        waits.append(cooloff - (now - max(earlier)).total_seconds())
    if daily_limit:
        window = sorted(moment for moment in earlier if now - moment < DAY)
        if len(window) >= daily_limit:
            waits.append((window[len(window) - daily_limit] + DAY - now).total_seconds())
    return max(waits)


@dataclasses.dataclass(frozen=True)
class Graded:
    """A graded submission, as the counting rule sees it."""

    id: int
    submitted_at: datetime.datetime
    score: float
    max_score: float
    days_late: int
    factor: float            # the late penalty's

    @property
    def counted_score(self):
        return self.score * self.factor


def counted(graded, counts):
    """``(the submission that counts, why)`` among a student's graded submissions; ``(None, why)`` if none."""
    if not graded:
        return None, "nothing graded yet"
    if counts == "best":
        best = max(graded, key=lambda entry: (entry.counted_score, -entry.submitted_at.timestamp()))
        return best, "the best score" + (f", {late_words(best.days_late, best.factor)}" if best.days_late else "")
    on_time = [entry for entry in graded if entry.days_late == 0]
    if on_time:
        return max(on_time, key=lambda entry: entry.submitted_at), "the last on time"
    last = max(graded, key=lambda entry: entry.submitted_at)
    return last, f"the last, none on time, {late_words(last.days_late, last.factor)}"


def late_words(days, factor):
    """``2 days late: 20% off``, or ``2 days late: no penalty`` where the policy accepts it in full."""
    words = f"{days} day{'s' if days > 1 else ''} late"
    return words + (f": {1 - factor:.0%} off" if factor < 1 else ": no penalty")


def score_line(score, max_score, days, factor, shown=str):
    """What a student reads of a score: ``100 / 100``, or late ``100 → 80 counts (2 days late: 20% off)``.

    ``shown`` writes a score (``scores.shown``).
    """
    if not days:
        return f"{shown(score)} / {shown(max_score)}"
    if factor >= 1:
        return f"{shown(score)} / {shown(max_score)} ({late_words(days, factor)})"
    return f"{shown(score)} → {shown(score * factor)} counts ({late_words(days, factor)})"
