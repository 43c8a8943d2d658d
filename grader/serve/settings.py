"""A course's settings: what an instructor may change, how each is read from text, and how they read back.

Plain Python, so the commands can list the settings without loading the service's packages.
"""

import datetime

from ..years import YEARS
from . import ServiceError

LATE_POLICIES = ("accept", "penalty", "refuse")
COUNTED = ("last", "best")


def parse_time(text, what="time"):
    """An aware datetime from ISO-8601 text; without an offset it is this machine's local time."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ServiceError(f"{what} {text!r} is not an ISO-8601 time (for example 2026-12-14T23:59:00-05:00)") \
            from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(datetime.timezone.utc)


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


# What ``grader course set`` may change: name -> (how to read it, what it means).
SETTINGS = {
    "title": (str, "the course's title, shown on every page"),
    "deadline": (lambda text: None if text in ("", "none") else parse_time(text, "deadline"),
                 "ISO-8601 time; none removes it"),
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
    """Set ``{name: text}`` on the course; one line names a setting or value that cannot be used."""
    for name, text in changes.items():
        if name not in SETTINGS:
            raise ServiceError(f"no setting named {name!r}; settings: {', '.join(SETTINGS)}")
        parse, meaning = SETTINGS[name]
        try:
            value = parse(text)
        except (ValueError, TypeError) as exc:
            raise ServiceError(f"{name}={text!r} cannot be used: {meaning} ({exc})") from None
        setattr(course, name, value)


def describe(course):
    """The settings as lines for a terminal; the seed stays secret."""
    deadline = course.deadline.isoformat() if course.deadline else "none"
    return [f"title: {course.title}", f"handout year: {course.year}", f"deadline: {deadline}",
            f"late policy: {course.late_policy}" + (f", {course.penalty_per_day:.0%} per day late"
                                                    if course.late_policy == "penalty" else ""),
            f"counts: {course.counts}", f"cool-off: {course.cooloff_seconds} s",
            f"daily limit: {course.daily_limit or 'none'}", f"largest archive: {course.max_archive_bytes} bytes",
            f"lease: {course.lease_seconds} s", f"time budget: {course.budget_seconds} s per submission"]
