"""Verdicts and scores: what the grader decides, in its own process, from plain values.

Each case of a suite shares the suite's points by weight. A case passes only
when the child ran it to the end without an error, every value the
reference has was produced, and each matches. A missing value is a failure,
never a pass.

An advisory case checks more than the homework asks (deeper graphs, other
argument types, stricter habits): it runs and says what it found, but it is
worth nothing unless grading is strict. When a case fails after running a
student function that fails the cases grading it, the message names them:
that is where the cause is.

A compute of the student's that raised where the grader stood in with its own
answer changes no verdict, but the case's message leads with it, passed or
not (and the result lists it under ``student_raised``): in the student's own
package that call would have crashed, so a value that then differs is not
where to look first. A compute not written yet (``NotImplementedError``) is
not named: its own forward case says so.
"""

import fractions
import os
import re

from . import compare, handout

SUITE_POINTS = {"forward": 10, "backward": 25, "topo_sort": 20, "compute_gradient": 25, "softmax_loss": 10,
                "nn_epoch": 10}
STATUSES = ("passed", "failed", "error", "timeout")
# terminal escape sequences (CSI and OSC) as a whole, then any other control character but tab and newline
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f]")
MAX_MESSAGE = 4000
MAX_CAUSES = 3  # named in one failure's message
PLACES = 4      # every score in a result is a whole number of 10**-PLACES points
SHOWN_PLACES = 2


def clean(text, limit=MAX_MESSAGE):
    """Text from the child, safe to print: no terminal escapes, bounded length (unless ``limit`` is None)."""
    text = _CONTROL.sub("", str(text))
    return text if limit is None or len(text) <= limit else text[:limit] + " [...]"


def suite_of(case):
    return case.split("::", 1)[0]


def _student_frames(stage, submission_dir):
    frames = []
    for entry in stage.get("traceback") or []:
        path = str(entry.get("path", ""))
        absolute = path if os.path.isabs(path) else os.path.normpath(os.path.join(submission_dir, path))
        if absolute.startswith(submission_dir + os.sep) and os.path.isfile(absolute):
            frames.append((os.path.relpath(absolute, submission_dir), entry.get("lineno"), absolute))
    return frames


def _frame_text(path, relative, lineno):
    """``python/needle/ops.py, line 12, in EWiseDiv.compute: return a / b``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            source = handle.read()
    except OSError:
        return f"{relative}, line {lineno}"
    lines = source.splitlines()
    function = handout.function_at(source, lineno)
    text = f"{relative}, line {lineno}" + (f", in {function}" if function else "")
    return text + (f": {lines[lineno - 1].strip()}" if 0 < lineno <= len(lines) else "")


def describe_exception(stage, submission_dir):
    """``(status, message)`` of an exception in the child.

    The message is the exception's last line and the traceback trimmed to the
    submission's own frames: the outermost one (where the case entered the
    submission) and the innermost three (where it failed). The kit's own
    ``CaseError`` means the submission returned something unusable: a wrong
    answer, so ``failed``; any other exception is an ``error``.
    """
    crash = stage.get("crash") or {}
    message = str(crash.get("message") or "").strip() or "an exception"
    exception, _, detail = message.partition(":")
    exception = exception.rsplit(".", 1)[-1].lstrip("_")  # numpy._core._exceptions._ArrayMemoryError
    message = f"{exception}:{detail}" if detail else exception
    status = "error"
    if exception == "CaseError":
        status, message = "failed", detail.strip()
    elif exception == "SubmissionImportError":
        message = detail.strip()
    elif exception == "SystemExit":
        message = f"the submission called sys.exit({detail.strip()})"
    elif exception == "NotImplementedError":
        message = f"not implemented ({message})"
        frames = _student_frames(stage, submission_dir)
        if frames:
            relative, lineno, absolute = frames[-1]
            return status, f"not implemented: {_frame_text(absolute, relative, lineno)}"
    elif exception.endswith("MemoryError"):
        message = f"out of memory ({message})"
    frames = _student_frames(stage, submission_dir)
    if exception == "RecursionError":
        # Which frame the limit strikes in, and the message's wording, are the interpreter's
        # (3.12 drops "while calling a Python object"): the recursion itself is the student's.
        message = "RecursionError: maximum recursion depth exceeded"
        frames = frames[:-1] or frames
    shown = frames if len(frames) <= 4 else [frames[0], None, *frames[-3:]]
    lines = [message]
    for frame in shown:
        if frame is None:
            lines.append("  ...")
            continue
        relative, lineno, absolute = frame
        lines.append("  " + _frame_text(absolute, relative, lineno))
    return status, "\n".join(lines)


def student_raised(run, submission_dir):
    """The student's computes that raised in this case where the grader answered: function, exception,
    message, and where in the submission (``python/needle/ops.py:236``; None if no frame is the student's)."""
    found = []
    for entry in run.raised:
        if entry["exception"] == "NotImplementedError":
            continue
        frames = _student_frames(entry, submission_dir)
        found.append({"function": entry["function"], "exception": entry["exception"], "message": entry["message"],
                      "where": f"{frames[-1][0]}:{frames[-1][1]}" if frames else None})
    return found


def raised_line(raised):
    """``Negate.compute raised OverflowError: ... at python/needle/ops.py:236; the grader used its own value
    and went on``."""
    exception = f"{raised['exception']}: {raised['message']}" if raised["message"] else raised["exception"]
    where = f" at {raised['where']}" if raised["where"] else ""
    return f"{raised['function']} raised {exception}{where}; the grader used its own value and went on"


def verdict(expected_case, run, reference, submission_dir):
    """``(status, message, figures)`` of one case, with the case's hint where it applies (never to a case
    not run).

    The student's computes that raised where the grader stood in (``student_raised``) lead the message.
    """
    status, message, figures = _verdict(expected_case, run, reference, submission_dir)
    hint = None if run.not_run else expected_case.get("hint")
    # hint_on names statuses ("timeout") or words of the message ("RecursionError")
    if hint and any(word == status or (word not in STATUSES and word in message)
                    for word in expected_case.get("hint_on") or ("timeout",)):
        message += f"\nhint: {hint}"
    raised = [raised_line(entry) for entry in student_raised(run, submission_dir)]
    if raised:
        message = "\n".join(raised + ([message] if message else []))
    return status, message, figures


def _verdict(expected_case, run, reference, submission_dir):
    case = run.case
    if run.status in ("timeout", "error"):
        return run.status, run.message or run.status, {}
    failing = [stage for stage in run.stages if stage.get("outcome") not in ("passed", "skipped")]
    if failing:
        return (*describe_exception(failing[0], submission_dir), {})
    if not run.ended:
        return "error", "no result came back for this case", {}
    if run.problems:
        return "failed", "the grader refused what came back: " + "; ".join(run.problems), {}
    messages, figures, ok = [], {}, True
    for name, meta in expected_case["values"].items():
        expected = reference.expected(case, name)
        entry = run.values.get(name)
        if entry is None or "value" not in entry:
            ok = False
            messages.append(f"{name}: not produced")
            continue
        tolerance = {key: meta.get(key) for key in ("rtol", "atol", "norm")}
        if meta.get("kind") == "gradient":
            result = compare.compare_gradient(expected, entry["value"], entry.get("numeric"), **tolerance)
        else:
            result = compare.compare(expected, entry["value"], exact_dtype=meta.get("exact_dtype", False),
                                     **tolerance)
        for key in ("max_abs_error", "max_rel_error"):
            value = result.figures.get(key)
            if value is not None:
                figures[key] = max(figures.get(key) or 0.0, value)
        if not result.ok:
            ok = False
            messages.append(f"{name}: {result.message}")
            figures.setdefault("first_mismatch", {"value": name, **result.figures})
    return ("passed" if ok else "failed"), "\n".join(messages), figures


def score(reference, execution, submission_dir, selected=None, strict=False):
    """The ``suites`` part of a result, the total and the maximum.

    Only ``selected`` cases (all when None) are scored; each keeps the share
    of its suite's points that its weight gives it among the suite's scored
    cases. Advisory cases are scored only when ``strict``.

    Every score and maximum is a whole number of 10**-PLACES points, and the
    parts add up exactly: a suite's points are split among its scored cases
    by ``apportion``, a case scores its share or nothing, a suite scores the
    sum of its cases' scores and the total is the sum of the suites'.
    """
    verdicts = {}
    for case in reference.cases:
        if selected is not None and case not in selected:
            continue
        run = execution.cases.get(case)
        if run is None:
            verdicts[case] = ("error", "no result came back for this case", {})
        else:
            verdicts[case] = verdict(reference.cases[case], run, reference, submission_dir)
    suspects = suspected_functions(reference, execution, verdicts)
    suites, total, max_total = [], 0, 0      # in units of 10**-PLACES points, as are the sums below
    for suite, points in SUITE_POINTS.items():
        names = [case for case in reference.cases if suite_of(case) == suite]
        weights = [float(reference.cases[case].get("weight") or 1)
                   if strict or not reference.cases[case].get("advisory") else 0.0 for case in names]
        shares = dict(zip(names, apportion(points, weights)))
        cases, suite_score, suite_max = [], 0, 0
        for case in names:
            if case not in verdicts:
                continue
            run = execution.cases.get(case)
            status, message, figures = verdicts[case]
            own = set(reference.cases[case].get("checks") or ())
            causes = [] if status == "passed" or run is None else [
                {"function": function, "case": witness} for function, witness in suspects.items()
                if function in run.used and function not in own][:MAX_CAUSES]
            message += "".join(f"\n({cause['function']} also fails {cause['case'].replace('::', '/')}: "
                               "fix that first)" for cause in causes)
            case_score = shares[case] if status == "passed" else 0
            suite_score += case_score
            suite_max += shares[case]
            entry = {"name": case.split("::", 1)[1], "status": status,
                     "advisory": bool(reference.cases[case].get("advisory")),
                     "score": _points(case_score), "max_score": _points(shares[case]), "message": clean(message),
                     "max_abs_error": figures.get("max_abs_error"), "max_rel_error": figures.get("max_rel_error"),
                     "duration_s": round(run.duration, 4) if run else 0.0}
            if figures.get("first_mismatch"):
                entry["first_mismatch"] = figures["first_mismatch"]
            if causes:
                entry["causes"] = causes
            raised = student_raised(run, submission_dir) if run else []
            if raised:
                entry["student_raised"] = [{key: clean(value, 500) if isinstance(value, str) else value
                                            for key, value in found.items()} for found in raised]
            if run and run.output:
                entry["output"] = clean(run.output, 2000)
            cases.append(entry)
        if cases:
            suites.append({"name": suite, "score": _points(suite_score), "max_score": _points(suite_max),
                           "cases": cases})
            total += suite_score
            max_total += suite_max
    return suites, _points(total), _points(max_total)


def apportion(points, weights):
    """``points`` split in proportion to ``weights``, as whole numbers of 10**-PLACES points that add up to
    ``points`` exactly: the largest-remainder method.

    Each share is first rounded down; the units still missing go one each to
    the shares that lost the most, the earlier on a tie. No weight at all
    gives no share.
    """
    units = round(points * 10 ** PLACES)
    weights = [fractions.Fraction(weight) for weight in weights]
    weight_sum = sum(weights)
    if not weight_sum:
        return [0] * len(weights)
    exact = [units * weight / weight_sum for weight in weights]
    shares = [int(share) for share in exact]   # rounded down: every share is non-negative
    by_remainder = sorted(range(len(exact)), key=lambda index: -(exact[index] - shares[index]))
    for index in by_remainder[:units - sum(shares)]:
        shares[index] += 1
    return shares


def _points(units):
    return units / 10 ** PLACES


def shown(points):
    """A score as people read it, on a terminal, in a report or a gradebook: at most SHOWN_PLACES decimals
    (97.2759 as 97.28, 12.5 as 12.5, 100.0 as 100)."""
    return f"{points:.{SHOWN_PLACES}f}".rstrip("0").rstrip(".")


def suspected_functions(reference, execution, verdicts):
    """Student functions that fail on their own: function -> a scored case that shows it.

    A failing case is evidence against the functions it grades only while no
    other suspect ran in it too: a softmax_loss case that fails because
    backward() is wrong accuses compute_gradient_of_variables, not
    softmax_loss. Suspects whose every failing case also ran another suspect
    are cleared, until none is left to clear. The likeliest come first: those
    failing the largest share of the cases that grade them (a gradient wrong
    only for batched shapes is a poorer suspect than one wrong everywhere).
    """
    graded = {}
    for case, meta in reference.cases.items():
        if case in verdicts and not meta.get("advisory"):
            for function in meta.get("checks") or ():
                graded[function] = graded.get(function, 0) + 1
    witnesses = {}
    for case, (status, _, _) in verdicts.items():
        meta = reference.cases[case]
        if status == "passed" or meta.get("advisory"):
            continue
        run = execution.cases.get(case)
        others = set(run.used if run else ()) - set(meta.get("checks") or ())
        for function in meta.get("checks") or ():
            witnesses.setdefault(function, []).append((case, others))
    suspects = set(witnesses)
    while True:
        cleared = {function for function in suspects
                   if all(others & (suspects - {function}) for _, others in witnesses[function])}
        if not cleared:
            break
        suspects -= cleared
    ranked = sorted(suspects, key=lambda function: (-len(witnesses[function]) / graded[function], function))
    return {function: next(case for case, others in witnesses[function] if not others & (suspects - {function}))
            for function in ranked}
