"""Result files: written only by the grader, atomically, validated against the shipped schema."""

import json
import math
import os
import pathlib
import tempfile

import click

from . import scores

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schema" / "result.schema.json"
GRADESCOPE_SCHEMA_PATH = SCHEMA_PATH.with_name("gradescope.schema.json")
STATUS_MARKS = {"passed": ("ok", "green"), "failed": ("FAIL", "red"), "error": ("ERROR", "red"),
                "timeout": ("TIMEOUT", "yellow")}
ADVISORY_MARK = ("TIP", "cyan")


def schema(path=SCHEMA_PATH):
    return json.loads(path.read_text())


def validate(result, path=SCHEMA_PATH):
    """Raise ``jsonschema.ValidationError`` unless ``result`` follows the schema (ours, or Gradescope's)."""
    import jsonschema

    jsonschema.validate(result, schema(path))


def dumps(result, indent=2):
    """Strict JSON text of a result: no NaN or Infinity tokens, whatever a submission produced."""
    return json.dumps(_finite(result), indent=indent, allow_nan=False, default=_plain)


def write_atomic(path, result):
    """Write a result as strict JSON (see ``write_text_atomic``)."""
    write_text_atomic(path, dumps(result) + "\n")


def write_text_atomic(path, text):
    """Write next to ``path``, then rename: a reader sees the old file or the new, never half."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False, encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def _finite(value):
    """``value`` with every NaN or infinite float turned into None (the message says which it was)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _plain(value):
    if hasattr(value, "item"):
        return _finite(value.item())
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def current(path, fingerprint):
    """The finished result at ``path`` if it was graded from exactly these inputs, else None."""
    previous = read(path)
    return previous if isinstance(previous, dict) and previous.get("fingerprint") == fingerprint else None


QUESTIONS = {"forward": "Q1", "backward": "Q2", "topo_sort": "Q3", "compute_gradient": "Q4", "softmax_loss": "Q5",
             "nn_epoch": "Q6"}
FRESH_INPUTS = ("Your instructor may grade with fresh inputs: every case is drawn anew, so only code that computes "
                "its answers passes both.")


def render(result, verbose=False, student=False):
    """A readable per-suite table and the total, for a terminal.

    Each case that did not pass takes one or two lines (``brief``); with
    ``verbose`` its whole message, and the cases that passed too. For a
    ``student`` (``grader check``): questions instead of the grading set-up,
    and a word about fresh inputs.
    """
    total = f"{scores.shown(result['score'])} / {scores.shown(result['max_score'])}"
    lines = [click.style(f"{result['name']}: {total}", bold=True)]
    lines.append(f"  handout: {result['handout']}{_disagreeing(result, verbose)}")
    if not student:
        env = result["environment"]
        lines.append(f"  data: {env.get('data_description', env['data']['source'])}")
        off = env["sandbox"]["off"]
        lines.append("  sandbox: " + ("all protections on" if not off else "off: " + ", ".join(off)))
        if env["reference"].get("note"):
            lines.append(f"  reference: {env['reference']['note']}")
    for note in result.get("notes", []):
        lines.append(f"  note: {note}")
    lines.append("")
    lines.append(f"  {'question' if student else 'suite':<22}{'score':>14}   cases")
    questions = list(feedback(result, verbose))
    for question in questions:
        score = f"{scores.shown(question['score'])} / {scores.shown(question['max_score'])}"
        summary = f"{question['passed']}/{question['scored']} passed"
        if question["tips"]:
            summary += f", tips {question['tips_passed']}/{question['tips']}"
        title = f"{question['question']} {question['suite']}" if student else question["suite"]
        lines.append(f"  {title:<22}{score:>14}   {summary}")
        for case in question["cases"]:
            first, *rest = case["lines"]
            lines.append(f"    {click.style(case['mark'], fg=case['colour'])} {case['name']}: {first}")
            lines.extend(f"        {line}" for line in rest)
    lines.append(f"  {'total':<22}{total:>14}")
    if any(question["tips_failed"] for question in questions):
        lines.append("  (TIP: a check beyond the homework, worth no points" + ("" if student else " unless --strict") +
                     ")")
    if student:
        lines.append(f"  {FRESH_INPUTS}")
    return "\n".join(lines)


def feedback(result, verbose=False):
    """Per suite, what a reader is shown: the score, how many cases passed, and each case not passed.

    Advisory cases worth no points are counted apart, as tips. Each case shown
    has its mark (``FAIL``, ``TIP``...), its colour and its lines: ``brief``, or
    with ``verbose`` the whole message, and the cases that passed too.
    """
    for suite in result["suites"]:
        scored = [case for case in suite["cases"] if case["max_score"] > 0 or not case.get("advisory")]
        advisories = [case for case in suite["cases"] if case not in scored]
        shown = []
        for case in scored + advisories:
            if case["status"] == "passed" and not verbose:
                continue
            mark, colour = ADVISORY_MARK if case in advisories and case["status"] != "passed" \
                else STATUS_MARKS[case["status"]]
            lines = (case["message"] or case["status"]).splitlines() if verbose else brief(case)
            shown.append({"name": case["name"], "mark": mark, "colour": colour, "status": case["status"],
                          "tip": case in advisories, "lines": lines or [case["status"]]})
        yield {"suite": suite["name"], "question": QUESTIONS[suite["name"]], "score": suite["score"],
               "max_score": suite["max_score"], "passed": sum(case["status"] == "passed" for case in scored),
               "scored": len(scored), "tips_passed": sum(case["status"] == "passed" for case in advisories),
               "tips": len(advisories),
               "tips_failed": sum(case["status"] != "passed" for case in advisories), "cases": shown}


def _disagreeing(result, verbose):
    """The findings about the handout year that point elsewhere, briefly (all of them with ``verbose``)."""
    against = [finding for finding in result.get("detection", {}).get("findings", []) if not finding["agrees"]]
    if not against:
        return ""
    shown = [f"{finding['what']} ({' or '.join(finding['years'])})"
             for finding in (against if verbose else against[:1])]
    more = f"; and {len(against) - len(shown)} more (-v)" if len(shown) < len(against) else ""
    pointing = "finding points" if len(against) == 1 else "findings point"
    return click.style(f", though {len(against)} {pointing} elsewhere: {'; '.join(shown)}{more}", fg="yellow")


def brief(case):
    """A case's message in one or two lines: what differs and where, then the likeliest cause.

    The second line is the case's hint, where it applies; else the likeliest
    failing case elsewhere whose function this case ran; else the innermost
    line of the student's code in a traceback; else how many more values
    differ. When a compute of the student's raised where the grader stood in,
    that leads, and what the case found then follows it. The whole message
    stays in the JSON and under ``-v``.
    """
    first, *rest = (case["message"] or case["status"]).splitlines() or [""]
    raised = len(case.get("student_raised") or ())
    if raised:
        following = rest[raised - 1:] or rest
        return [first, following[0]] if following else [first]
    hints = [line for line in rest if line.startswith("hint: ")]
    frames = [line.strip() for line in rest if line.startswith("  ") and line.strip() != "..."]
    values = [line for line in rest if not line.startswith((" ", "hint: ", "("))]
    if hints:
        second = hints[0]
    elif case.get("causes"):
        cause = case["causes"][0]
        second = f"cause: {cause['function']} also fails {cause['case'].replace('::', '/')}: fix that first"
    elif frames:
        second = f"at {frames[-1]}"
    elif values:
        second = f"and {len(values)} more value{'s differ' if len(values) > 1 else ' differs'} (-v shows all)"
    else:
        return [first]
    return [first, second]

