"""Who is asking, and whether the course's rules let them submit now.

A person is known by their token (only its hash is stored); a client address
that sent too many wrong ones is turned away for a while (``throttle``). A request the
rules turn down is ``Refused``: an HTTP status, one line saying why, and
headers (a 429 says when to retry). Instructors are never limited; for a
student, the deadline under a ``refuse`` policy and the limits on earlier
submissions of the same kind (``policy.wait_seconds``) decide.
"""

import datetime
import math

from sqlalchemy import select

from . import policy, store, times
from .models import STUDENT, Person
from .throttle import client_address, too_many


class Refused(Exception):
    """A request turned down: its status, one line saying why, and headers."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def person_with_token(session, token):
    """The person holding ``token``, or None."""
    if not token:
        return None
    return session.scalars(select(Person).where(Person.token_hash == store.hash_token(token.strip()))).first()


def person_asking(request, session, token):
    """The person holding the token a request sent, or None; Refused (429) while its address is throttled."""
    throttle, address = request.app.state.throttle, client_address(request)
    wait = throttle.admit(address)
    if wait:
        raise Refused(429, *too_many(wait))
    person = person_with_token(session, token)
    if person is None:
        throttle.failed(address)
    return person


def check_rules(course, person, moment, earlier, of=""):
    """Refuse a student's submission made at ``moment`` that the deadline or the limits forbid.

    ``earlier`` holds the times of their earlier submissions of the same kind that count toward the limits
    (``of``: which kind, in words, as " of forward"); a refusal names the limit that makes them wait.
    """
    if person.role != STUDENT:
        return
    deadline = policy.deadline_of(course.deadline, person.extension_until)
    if policy.days_late(moment, deadline) and course.late_policy == "refuse":
        raise Refused(403, f"the deadline passed at {times.words(deadline, course.timezone)}: this course accepts "
                           "no late submissions")
    wait = policy.wait_seconds(moment, earlier, course.cooloff_seconds, course.daily_limit)
    if wait > 0:
        seconds = math.ceil(wait)
        at = moment + datetime.timedelta(seconds=seconds)
        raise Refused(429, f"{limit_reached(course, moment, earlier, wait, of)}: you may submit again in {seconds} s, "
                           f"at {times.words(at, course.timezone)}",
                      {"Retry-After": str(seconds)})


def limit_reached(course, moment, earlier, wait, of=""):
    """The limit that makes a student wait ``wait`` seconds, in words: the daily limit when its wait is that long,
    else the cool-off."""
    if policy.wait_seconds(moment, earlier, 0, course.daily_limit) >= wait:
        count = course.daily_limit
        return f"you have made the {count} submission{'s' if count != 1 else ''}{of} a day the course allows"
    cooloff = course.cooloff_seconds
    span = f"{cooloff // 60} min" if cooloff % 60 == 0 else f"{cooloff} s"
    return f"the course asks for {span} between submissions{of}"


def rules(course, person, moment):
    """What a person is told of the course's rules at ``moment``, and how long until they may submit."""
    earlier = [record.submitted_at for record in person.submissions if record.counts_for_limits]
    wait = policy.wait_seconds(moment, earlier, course.cooloff_seconds, course.daily_limit) \
        if person.role == STUDENT else 0
    return {"deadline": policy.deadline_of(course.deadline, person.extension_until),
            "late_policy": course.late_policy, "penalty_per_day": course.penalty_per_day,
            "cooloff_seconds": course.cooloff_seconds, "daily_limit": course.daily_limit,
            "counts": course.counts, "wait": math.ceil(wait) if wait > 0 else 0,
            "max_archive_bytes": course.max_archive_bytes}
