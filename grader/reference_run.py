"""Computing expected values: every case of a year run on that year's solution, generated from needle/.

The run uses the same child, suites and confinement as grading a submission
(``supervise.execute`` in "reference" mode), so the values are computed
exactly as a student's are. Kept apart from ``reference.py`` because a
student kit holds the values and what reads them, never what computes them.
"""

import dataclasses
import pathlib
import shutil

from . import isolation, reference, supervise, years


def compute(sandbox, dataset, seed, year):
    """Run every case of the year on its reference solution, in a child that runs nothing else.

    It runs under the default limits, without a time budget: limits tightened for
    grading a submission (``--timeout``, ``--memory-mb``, ``--budget``) are not meant
    for the reference.
    """
    sandbox = dataclasses.replace(sandbox, limits=isolation.Limits(submission_budget=None))
    staged = pathlib.Path(sandbox.workspace.root) / f"reference-solution-{year}"
    shutil.rmtree(staged, ignore_errors=True)
    years.write_handout(staged, with_solutions=True, year=year)
    isolation.make_world_readable(staged)
    execution = supervise.execute(sandbox, str(staged), [], mode="reference", data=dataset.child_paths(),
                                  seed=seed, year=year, student=years.student_functions(year),
                                  slot=supervise.REFERENCE_SLOT)
    problems = [" ".join(filter(None, [f"{case}: {run.status or 'error'}", run.message, _stage_text(run)]))
                for case, run in execution.cases.items() if not run.ended or run.stages or run.status]
    problems += execution.notes
    if problems or not execution.cases:
        shown = problems[:5] + ([f"and {len(problems) - 5} more"] if len(problems) > 5 else [])
        raise reference.ReferenceError("the reference solution failed: " + "; ".join(shown or ["no cases ran"]))
    cases, values = {}, {}
    for case, run in execution.cases.items():
        meta = execution.case_meta.get(case, {})
        cases[case] = {**{key: meta.get(key) for key in supervise.CASE_META},
                       "values": {name: entry["meta"] for name, entry in run.values.items()}}
        for name, entry in run.values.items():
            values[reference.value_key(case, name)] = entry["value"]
    return cases, values


def _stage_text(run):
    return " ".join(str((stage.get("crash") or {}).get("message", "")) for stage in run.stages)


def compute_into(directory, sandbox, dataset, seed, year, origin="computed"):
    """Compute the year's reference for this data and seed, write it to ``directory`` and return it."""
    directory = pathlib.Path(directory)
    print_ = reference.fingerprint(dataset, seed, year)
    cases, values = compute(sandbox, dataset, seed, year)
    reference.write(directory, print_, cases, values)
    return reference.read(directory, origin)


def publish(sandbox, dataset, seed, year, directory=None):
    """Compute the year's reference and write it to ``directory`` (``reference/YEAR`` by default)."""
    return compute_into(directory or reference.published_root() / year, sandbox, dataset, seed, year, "published")
