"""Result files: written only by the grader, atomically, validated against the shipped schema."""

import json
import os
import pathlib
import tempfile

import click

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schema" / "result.schema.json"
STATUS_MARKS = {"passed": ("ok", "green"), "failed": ("FAIL", "red"), "error": ("ERROR", "red"),
                "timeout": ("TIMEOUT", "yellow")}


def schema():
    return json.loads(SCHEMA_PATH.read_text())


def validate(result):
    """Raise ``jsonschema.ValidationError`` unless ``result`` follows the schema."""
    import jsonschema

    jsonschema.validate(result, schema())


def write_atomic(path, result):
    """Write JSON next to ``path``, then rename: a reader sees the old file or the new, never half."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False, encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, allow_nan=False, default=_plain)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_current(path, fingerprint):
    """Whether a finished result at ``path`` was graded from exactly these inputs."""
    previous = read(path)
    return previous is not None and previous.get("fingerprint") == fingerprint


def render(result, verbose=False):
    """A readable per-suite table and the total, for a terminal."""
    lines = [click.style(f"{result['name']}: {_points(result['score'])} / {_points(result['max_score'])}", bold=True)]
    env = result["environment"]
    lines.append(f"  data: {env.get('data_description', env['data']['source'])}")
    off = env["sandbox"]["off"]
    lines.append("  sandbox: " + ("all protections on" if not off else "off: " + ", ".join(off)))
    if env["reference"].get("note"):
        lines.append(f"  reference: {env['reference']['note']}")
    for note in result.get("notes", []):
        lines.append(f"  note: {note}")
    lines.append("")
    lines.append(f"  {'suite':<18}{'score':>14}   cases")
    for suite in result["suites"]:
        passed = sum(case["status"] == "passed" for case in suite["cases"])
        score = f"{_points(suite['score'])} / {_points(suite['max_score'])}"
        lines.append(f"  {suite['name']:<18}{score:>14}   {passed}/{len(suite['cases'])} passed")
        for case in suite["cases"]:
            if case["status"] == "passed" and not verbose:
                continue
            mark, colour = STATUS_MARKS[case["status"]]
            first, *rest = (case["message"] or case["status"]).splitlines() or [""]
            lines.append(f"    {click.style(mark, fg=colour)} {case['name']}: {first}")
            lines.extend(f"        {line}" for line in rest[:8])
    lines.append(f"  {'total':<18}{_points(result['score']) + ' / ' + _points(result['max_score']):>14}")
    return "\n".join(lines)


def _points(value):
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
