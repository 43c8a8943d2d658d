"""The course's time: one IANA zone for every time a person reads, times in words, dates read as people mean them.

- Times are stored, and the JSON API sends them, as ISO-8601 UTC. People read
  them in the course's zone, in words: "Mon 14 Dec, 23:59 EST" (with the year
  when it is not this year), and what happened within the last day as "3 min
  ago" or "5 h ago".
- A time typed without an offset is in the course's zone; a date alone means
  the end of that day there, as "the deadline is the 16th" does.
- A course's zone is given by its IANA name (``America/New_York``); the
  default is this machine's: ``$TZ``, else the zone ``/etc/localtime`` names,
  else UTC.
- Sizes are shown in MB (of 1024 x 1024 bytes).
"""

import datetime
import os
import re
import zoneinfo

from . import ServiceError

RECENT = datetime.timedelta(days=1)     # what happened since is said relatively ("3 min ago")
MB = 1024 * 1024
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def machine_zone():
    """This machine's IANA zone name, or UTC where it has none."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(os.path.realpath("/etc/localtime").split("/zoneinfo/", 1)[1])
    except IndexError:
        pass
    for name in candidates:
        try:
            return zone(name).key
        except ServiceError:
            continue
    return "UTC"


def zone(name):
    """The zone called ``name`` (IANA: ``Europe/Paris``, ``America/New_York``, ``UTC``)."""
    try:
        return zoneinfo.ZoneInfo(str(name).strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ServiceError(f"{name!r} is not a time zone: give an IANA name such as America/New_York, "
                           "Europe/Paris or UTC") from None


def parse(text, zone_name, what="time"):
    """An aware UTC datetime from ISO-8601 text: without an offset in ``zone_name``; a date alone is its last moment."""
    text = text.strip()
    here = zone(zone_name)
    if _DATE.fullmatch(text):
        try:
            day = datetime.date.fromisoformat(text)
        except ValueError:
            raise ServiceError(f"{what} {text!r} is not a date") from None
        return datetime.datetime.combine(day, datetime.time.max, here).astimezone(datetime.timezone.utc)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ServiceError(f"{what} {text!r} is not an ISO-8601 time (for example 2026-12-14T23:59, in the course's "
                           "time zone, 2026-12-14T23:59-05:00, or 2026-12-14 for the end of that day)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=here)
    return moment.astimezone(datetime.timezone.utc)


def words(moment, zone_name, now=None, year=None):
    """``Mon 14 Dec, 23:59 EST`` in the zone; the year is added when it is not ``now``'s (or when ``year``)."""
    if moment is None:
        return "none"
    here = zone(zone_name)
    local = _aware(moment).astimezone(here)
    if year is None:
        year = local.year != (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(here).year
    day = f"{local:%a} {local.day} {local:%b}" + (f" {local.year}" if year else "")
    return f"{day}, {local:%H:%M} {local.tzname()}"


def ago(moment, now=None):
    """``just now``, ``3 min ago``, ``5 h ago``, ``in 20 min``; None beyond a day either way."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    seconds = (now - _aware(moment)).total_seconds()
    if abs(seconds) >= RECENT.total_seconds():
        return None
    if abs(seconds) < 60:
        return "just now"
    amount = f"{round(abs(seconds) / 60)} min" if abs(seconds) < 3600 else f"{round(abs(seconds) / 3600)} h"
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def iso(moment):
    """ISO-8601 UTC, as the API sends times: ``2026-12-15T04:59:00+00:00``."""
    return None if moment is None else _aware(moment).astimezone(datetime.timezone.utc).isoformat()


def megabytes(count):
    """A size as people read it: "5 MB", "0.5 MB", "12 KB" (halves round up, as the pages' script rounds)."""
    if count * 10 < MB:
        return f"{max(1, (count + 512) // 1024)} KB"
    tenths = (count * 10 + MB // 2) // MB
    return f"{tenths // 10}" + (f".{tenths % 10}" if tenths % 10 else "") + " MB"


def _aware(moment):
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
