"""What a submission's page shows of its result: the feedback of ``grader check``, written for a browser.

- **Warnings first**: lateness and what it costs, then what the grading
  noted (files taken from the starter, a run that ended outside any case).
- **The score** as the student counts it (``policy.score_line``), and a
  regrade that changed it, with the instructor's reason.
- **Per question**, each case that did not pass says what differs and where
  (its first values), then its hint, the cause found elsewhere, or the line
  of the student's code that failed. Values beyond the first few, and a
  traceback, are behind a ``<details>`` that shows all of them: a page has
  no ``-v``.
- **Cases that fail the same way are one row**: "14 cases: not implemented
  (Summation.compute, python/needle/ops.py:120)", with the cases listed.
- **Instructors** also get the sandbox's report: its layers, the uid, the
  platform and the timings, which a student's copy of the result never holds.
"""

import dataclasses
import re

from .. import results
from . import policy

FEW = 3          # value lines shown before the rest go behind a <details>
NOT_IMPLEMENTED = re.compile(r"not implemented: (?P<file>.+?), line (?P<line>\d+), in (?P<function>[^:]+): .*")


@dataclasses.dataclass
class Row:
    """One row of a question's table: a case, or several that failed the same way."""

    mark: str
    status: str
    tip: bool
    lines: list              # what differs and where: the first few lines
    more: list               # the rest of the values, behind a <details>
    notes: list              # the hint, the causes elsewhere, or where the code failed
    traceback: list          # the student's frames, behind a <details>
    cases: list = dataclasses.field(default_factory=list)

    @property
    def key(self):
        return self.mark, self.tip, tuple(self.lines), tuple(self.more), tuple(self.notes), tuple(self.traceback)


def case_row(case, tip):
    """The row of one case not passed, from its whole message; the student's computes that raised lead it."""
    lines = (case["message"] or case["status"]).splitlines() or [case["status"]]
    raised = len(case.get("student_raised") or ())
    lead, (first, *rest) = lines[:raised], lines[raised:] or [""]
    found = NOT_IMPLEMENTED.fullmatch(first)
    if found:
        first = f"not implemented ({found['function']}, {found['file']}:{found['line']})"
    hints = [line.removeprefix("hint: ") for line in rest if line.startswith("hint: ")]
    causes = [f"{cause['function']} also fails {cause['case'].replace('::', '/')}: fix that first"
              for cause in case.get("causes", [])]
    frames = [line.strip() for line in rest if line.startswith("  ")]
    values = lead + [first] * bool(first) + [line for line in rest if not line.startswith((" ", "hint: ", "("))]
    notes = [f"hint: {hint}" for hint in hints] + [f"cause: {cause}" for cause in causes]
    student_frames = [frame for frame in frames if frame != "..."]
    if not notes and student_frames:
        notes = [f"at {student_frames[-1]}"]
    mark, _ = results.ADVISORY_MARK if tip else results.STATUS_MARKS[case["status"]]
    return Row(mark, case["status"], tip, values[:FEW], values[FEW:], notes, frames if len(frames) > 1 else [],
               [case["name"]])


def grouped(rows):
    """``rows`` with those that say the same merged into one, in the order each first appears."""
    merged = {}
    for row in rows:
        if row.key in merged:
            merged[row.key].cases.extend(row.cases)
        else:
            merged[row.key] = row
    return list(merged.values())


def questions(result):
    """Per question: its score, how many cases passed, and its rows (``grouped``), failures before tips."""
    for question, suite in zip(results.feedback(result), result["suites"]):
        rows = [case_row(case, tip) for tip in (False, True) for case in suite["cases"]
                if case["status"] != "passed" and _tip(case) == tip]
        yield dict(question, rows=grouped(rows))


def _tip(case):
    """An advisory worth no points, as ``results.feedback`` counts tips."""
    return case.get("advisory", False) and case["max_score"] == 0


def warnings(shown, zone_words):
    """What the student must read first: lateness and its cost, then the grading's own notes and warnings."""
    out = []
    if shown["late"]:
        lateness = policy.late_words(shown["days_late"], 1 - shown["penalty"])
        out.append(f"Submitted {lateness} (the deadline: {zone_words}).")
    out += shown.get("warnings") or []
    if shown["result"]:
        out += shown["result"].get("notes", [])
    return list(dict.fromkeys(out))


def sandbox(result):
    """For instructors: how the sandbox ran this grading, as ``(what, value)`` lines."""
    environment = result["environment"]
    box = environment.get("sandbox", {})
    off = box.get("off", [])
    lines = [("sandbox", "all protections on" if not off else "off: " + ", ".join(off)),
             ("layers", ", ".join(f"{name} {state}" for name, state in box.get("layers", {}).items())),
             ("uid", str(box.get("uid"))), ("platform", environment.get("platform", "")),
             ("Python, numpy", f"{environment.get('python')}, {environment.get('numpy')}"),
             ("data", environment.get("data_description") or environment["data"]["source"]),
             ("reference", f"{environment['reference']['origin']} {environment['reference']['digest']}"),
             ("seed", str(environment.get("seed")))]
    timing = result.get("timing") or {}
    if "duration_s" in result:
        lines.append(("time", f"{result['duration_s']:.2f} s (" + ", ".join(
            f"{name.removesuffix('_s').replace('_', ' ')} {value:.2f} s" for name, value in timing.items()) + ")"))
    lines.append(("restarts", str(result.get("restarts", 0))))
    return lines
