"""A course's settings: what an instructor may change, how each is read from text, and how they read back.

Plain Python, so the commands can list the settings without loading the service's packages.
"""

from ..years import YEARS
from . import ServiceError, times

LATE_POLICIES = ("accept", "penalty", "refuse")
COUNTED = ("last", "best")


def _deadline(text, course):
    return None if text.strip().lower() in ("", "none") else times.parse(text, course.timezone, "deadline")


def _percent(text):
    value = float(str(text).rstrip("%"))
    if not 0 <= value <= 100:
        raise ValueError("a percentage from 0 to 100")
    return value / 100


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise ValueError("a whole number, 0 or more")
    return value


def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError("a whole number, 1 or more")
    return value


def _choice(options):
    def parse(text):
        if text not in options:
            raise ValueError("one of " + ", ".join(options))
        return text
    return parse


# What ``grader course set`` may change: name -> (how to read it, what it means). The time zone comes first,
# so that a deadline given with it is read in it; ``_deadline`` reads in the course's zone.
SETTINGS = {
    "timezone": (lambda text: times.zone(text).key, "the course's time zone (IANA, e.g. America/New_York): every time "
                                                   "shown, and every time given without an offset, is in it"),
    "title": (str, "the course's title, shown on every page"),
    "deadline": (_deadline, "ISO-8601 time, in the course's time zone unless it has an offset; a date alone "
                            "(2026-12-14) is the end of that day; none removes it"),
    "late_policy": (_choice(LATE_POLICIES), "what happens after the deadline: accept, penalty or refuse"),
    "penalty_per_day": (_percent, "with late_policy penalty: the share of the score lost per day late, in %"),
    "counts": (_choice(COUNTED), "which submission counts: last (the last on time) or best"),
    "cooloff_seconds": (_non_negative, "seconds a student waits between submissions"),
    "daily_limit": (lambda text: None if text in ("", "none", "0") else _non_negative(text),
                    "submissions a student may make in 24 hours; none for no limit"),
    "max_archive_bytes": (_non_negative, "the largest archive accepted, in bytes"),
    "lease_seconds": (_non_negative, "how long a worker holds a job without a sign of life before it is requeued"),
    "budget_seconds": (_positive, "seconds of grading one submission may take in all; cases not run by then "
                                  "score 0"),
    "year": (_choice(YEARS), "the handout year every submission is graded as"),
}


def apply_settings(course, changes):
    """Set ``{name: text}`` on the course; one line names a setting or value that cannot be used.

    A change of the handout year marks the course as needing a regrade (``Course.regrade_needed``).
    """
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ServiceError(f"no setting named {unknown[0]!r}; settings: {', '.join(SETTINGS)}")
    for name in [name for name in SETTINGS if name in changes]:
        parse, meaning = SETTINGS[name]
        text = changes[name]
        try:
            value = _deadline(text, course) if name == "deadline" else parse(text)
        except (ValueError, TypeError, ServiceError) as exc:
            raise ServiceError(f"{name}={text!r} cannot be used: {meaning} ({exc})") from None
        if name == "year" and value != course.year:
            course.regrade_needed = f"the handout year changed from {course.year} to {value}"
        setattr(course, name, value)


def _penalty_words(course):
    if course.late_policy == "penalty":
        return f", {course.penalty_per_day:.0%} per day late"
    if course.late_policy == "refuse" and course.penalty_per_day:
        return f" (late work already in: {course.penalty_per_day:.0%} off per day late)"
    return ""


def describe(course, terminal=True):
    """The settings as lines; on a ``terminal`` times carry their UTC form too. The seed stays secret."""
    deadline = times.words(course.deadline, course.timezone, year=terminal)
    if terminal and course.deadline:
        deadline += f" ({course.deadline:%Y-%m-%d %H:%M:%S} UTC)"
    lines = [f"title: {course.title}", f"handout year: {course.year}", f"time zone: {course.timezone}",
             f"deadline: {deadline}",
             f"late policy: {course.late_policy}" + _penalty_words(course),
             f"counts: {course.counts}", f"cool-off: {course.cooloff_seconds} s",
             f"daily limit: {course.daily_limit or 'none'}",
             f"largest archive: {times.megabytes(course.max_archive_bytes)}", f"lease: {course.lease_seconds} s",
             f"time budget: {course.budget_seconds} s per submission"]
    if course.regrade_needed:
        lines.append(f"regrade needed: {course.regrade_needed}")
    return lines
