"""The ``grader`` command."""

import difflib
import os
import pathlib
import sys
import tempfile

import click

from . import (__version__, batch, check, datasets, gradescope, grading, handout, isolation, options, progress,
               reference, reference_run, report, results, scores, similarity, student_kit, submission, years)
from .options import case_option, data_option, seed_option, suite_option, verbose_option, year_option
from .serve import ServiceError, commands as service_commands


class Grader(options.OneLineErrors, click.Group):
    """Turns the errors a user can cause into one line and a non-zero exit code."""

    known_errors = options.KNOWN_ERRORS + (report.ReportError, ServiceError)


@click.group(cls=Grader)
@click.version_option(__version__, prog_name="grader")
def main():
    """Grade needle (CMU 10-714 homework 1) submissions offline, against the reference solution."""


def _limits(timeout, memory_mb, budget=None):
    limits = isolation.Limits()
    if timeout is not None:
        limits.case_timeout = timeout
    if memory_mb is not None:
        limits.memory_bytes = memory_mb * isolation.MiB
    if budget is not None:
        limits.submission_budget = budget
    return limits


def limit_options(command):
    command = click.option("--budget", type=click.FloatRange(min=0, min_open=True),
                           help=f"Wall-clock seconds for all cases of one submission; cases not run by then score 0 "
                                f"[default: {isolation.Limits.submission_budget:g}].")(command)
    command = click.option("--memory-mb", type=click.IntRange(min=256),
                           help=f"Address-space limit of the submission's process "
                                f"[default: {isolation.Limits.memory_bytes // isolation.MiB}].")(command)
    return click.option("--timeout", type=float, help="Wall-clock seconds per case, instead of each case's own.")(
        command)


RESULT_FORMATS = {"needle-grader": lambda result: result, "gradescope": gradescope.results_json}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--batch", "batch_dir", type=click.Path(file_okay=False),
              help="Grade every submission in this folder: each subfolder and each archive.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON result of one submission here.")
@click.option("--out-dir", type=click.Path(file_okay=False),
              help="Write NAME.json per submission and summary.json; finished, unchanged submissions are skipped.")
@click.option("--force", is_flag=True, help="Regrade submissions whose result is already current.")
@click.option("-j", "--jobs", type=click.IntRange(min=1),
              help="Submissions graded at once [default: the CPU count, fewer if memory is short].")
@click.option("-q", "--quiet", is_flag=True, help="Plain lines instead of the live progress display.")
@data_option
@seed_option
@suite_option
@case_option
@limit_options
@year_option
@click.option("--strict", is_flag=True, help="Score the advisory cases too (checks beyond what the homework asks).")
@click.option("--format", "result_format", type=click.Choice(RESULT_FORMATS), default="needle-grader",
              show_default=True, help="The format of result files and of --json: ours, or Gradescope's results.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the table.")
@click.option("--no-template", is_flag=True,
              help="Start every grading process afresh, instead of forking it from a warm template (the way for "
                   "more than one submission).")
@verbose_option
def run(paths, batch_dir, out, out_dir, force, jobs, quiet, data_dir, seed, suites, cases, timeout, memory_mb, budget,
        year, strict, result_format, as_json, no_template, verbose):
    """Grade each submission at PATHS (folders, .zip or .tar.gz) as the handout year its files show."""
    paths = list(paths) + (batch.find_submissions(batch_dir) if batch_dir else [])
    if not paths:
        raise click.UsageError("give the submissions to grade: PATHS, or --batch FOLDER")
    if out and len(paths) > 1:
        raise click.UsageError("--out takes one submission; use --out-dir for several")
    names = [submission.submission_name(path) for path in paths]
    twins = sorted({name for name in names if names.count(name) > 1})
    if out_dir and twins:
        raise click.UsageError(f"several submissions are named {', '.join(twins)}: their results would overwrite "
                               "each other in --out-dir")
    limits = _limits(timeout, memory_mb, budget)
    if jobs is None:
        jobs, lowered = batch.default_jobs(limits.memory_bytes) if len(paths) > 1 else (1, None)
        if lowered:
            click.echo(f"grader: {lowered}", err=True)
    template = len(paths) > 1 and not no_template
    with grading.Session(data_dir, seed, limits, suites, cases, strict=strict, year=year, template=template) as session:
        if not any(session.selected(one) for one in ([year] if year else years.YEARS)):
            raise click.UsageError("no case matches the --suite/--case filters")
        tables = len(paths) == 1 or not out_dir
        with progress.for_batch(len(paths), quiet or tables or as_json) as shown:
            encode = RESULT_FORMATS[result_format]

            def report(outcome, counts):
                if outcome.status == "graded":
                    options.warn_about_year(outcome.name, outcome.result, shown.echo)
                shown.echo(_outcome_line(outcome, counts, tables, as_json and encode, verbose),
                           err=outcome.error is not None)

            outcomes = batch.Batch(session, paths, out_dir, force, jobs, report, shown.update, target=out,
                                   encode=encode).run()
    if any(outcome.status == "could not grade" for outcome in outcomes):
        sys.exit(2)


def _outcome_line(outcome, counts, tables, encode, verbose):
    prefix = f"[{counts['done']}/{counts['total']}] " if counts["total"] > 1 else ""
    if outcome.error is not None:
        return f"grader: error: {outcome.error}"
    if outcome.status == "unchanged":
        return f"{prefix}{outcome.name}: unchanged since {outcome.target}, skipped (--force regrades)"
    result = outcome.result
    if encode:
        return results.dumps(encode(result))
    if tables:
        return results.render(result, verbose) + (f"\n  result written to {outcome.target}" if outcome.target else "")
    return (f"{prefix}{outcome.name}: {scores.shown(result['score'])} / {scores.shown(result['max_score'])} "
            f"({result['duration_s']:.1f} s) -> {outcome.target}")


main.add_command(check.command)


@main.command(name="report")
@click.argument("results_dir", type=click.Path())
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the gradebook: a row per submission.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write one self-contained page: gradebook, charts, each student's failures.")
@click.option("--similarity", "compare_code", is_flag=True,
              help="Compare the students' own code pairwise and list the similar pairs.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=similarity.THRESHOLD, show_default=True,
              help="With --similarity: the share of a student's own code that must match to list a pair.")
def report_command(results_dir, csv_path, html_path, compare_code, threshold):
    """Summarise a class's results: a folder written by grader run --out-dir."""
    klass = report.load(results_dir)
    for line in report.summary_lines(klass):
        click.echo(line)
    pairs = similarity.similar_pairs(klass.results, threshold) if compare_code else ()
    if compare_code:
        click.echo(f"similar pairs (at least {threshold:.0%} of one student's own code matches):"
                   if pairs else f"no pair of students shares {threshold:.0%} of their own code")
        for pair in pairs:
            click.echo(f"  {pair.similarity:4.0%}  {scores.clean(pair.first, 200)} and {scores.clean(pair.second, 200)} "
                       f"({pair.share_first:.0%} and {pair.share_second:.0%} of their own code)")
    if csv_path:
        report.write_csv(klass, csv_path)
        click.echo(f"gradebook written to {csv_path}")
    if html_path:
        report.write_html(klass, html_path, pairs)
        click.echo(f"report written to {html_path}")


@main.group(name="gradescope")
def gradescope_group():
    """Grade on Gradescope: build the autograder bundle; what the bundle runs."""


@gradescope_group.command(name="build")
@click.argument("out", type=click.Path(dir_okay=False))
@data_option
@seed_option
def gradescope_build(out, data_dir, seed):
    """Write the autograder bundle OUT.zip: setup.sh, run_autograder, the grader, the reference values."""
    if not out.endswith(".zip"):
        raise click.UsageError("the bundle is a .zip (Gradescope's autograder format)")
    with tempfile.TemporaryDirectory() as folder:
        published = reference.published_root()
        if data_dir or seed:   # the values of this data and seed, computed now
            published = pathlib.Path(folder) / "reference"
            workspace = isolation.Workspace()
            try:
                sandbox = grading.detect_sandbox(workspace, isolation.Limits())
                dataset = datasets.resolve(data_dir, workspace.data_dir)
                for year in years.YEARS:
                    reference_run.publish(sandbox, dataset, seed, year, directory=published / year)
            finally:
                workspace.close()
        bundle = gradescope.build(out, reference.REPO_ROOT, published, data_dir, seed)
    click.echo(f"wrote {bundle}: upload it as the autograder of a Gradescope programming assignment")


@gradescope_group.command(name="run")
@click.option("--root", type=click.Path(file_okay=False), default="/autograder", show_default=True,
              help="Gradescope's autograder folder: submission/ in, results/results.json out.")
@data_option
@seed_option
@year_option
def gradescope_run(root, data_dir, seed, year):
    """Grade ROOT/submission and write ROOT/results/results.json (what run_autograder calls)."""
    try:
        with grading.Session(data_dir, seed, year=year) as session:
            result = session.grade(session.stage(gradescope.submission_path(root)))
        data = gradescope.results_json(result)
    except (submission.SubmissionError, isolation.SandboxError) as exc:
        data = gradescope.failure_json(str(exc))
    gradescope.write_results(root, data)
    click.echo(f"{os.path.join(root, 'results', 'results.json')}: {scores.shown(data['score'])} points")


@main.command()
@data_option
@seed_option
def publish(data_dir, seed):
    """Compute every case's expected value, for every handout year, from needle/ into reference/."""
    workspace = isolation.Workspace()
    try:
        sandbox = grading.detect_sandbox(workspace, isolation.Limits())
        dataset = datasets.resolve(data_dir, workspace.data_dir)
        for year in years.YEARS:
            published = reference_run.publish(sandbox, dataset, seed, year)
            click.echo(f"published {len(published.cases)} cases of {year} to {published.directory} "
                       f"(digest {published.digest()}; data: {dataset.describe()}; seed {seed})")
    finally:
        workspace.close()


@main.command()
@click.argument("path", type=click.Path())
@click.option("--code", is_flag=True, help="Diff each solution block against the reference's instead.")
@data_option
@seed_option
@suite_option
@case_option
@limit_options
@year_option
def diff(path, code, data_dir, seed, suites, cases, timeout, memory_mb, budget, year):
    """Show, case by case, where a submission's values differ from the reference's."""
    if code:
        click.echo(code_diff(path, year))
        return
    with grading.Session(data_dir, seed, _limits(timeout, memory_mb, budget), suites, cases, year=year) as session:
        staged = session.stage(path)
        execution = session.execute(staged)
        for line in value_diff(session.reference(staged.year), execution, staged.directory):
            click.echo(line)


def value_diff(ref, execution, submission_dir, max_rows=8):
    import numpy as np

    from . import compare

    for case, run in execution.cases.items():
        expected_case = ref.cases[case]
        status, message, _ = scores.verdict(expected_case, run, ref, submission_dir)
        yield click.style(f"{case}: {status}", bold=True, fg="green" if status == "passed" else "red")
        if status in ("error", "timeout"):
            yield from (f"    {line}" for line in scores.clean(message).splitlines())
            continue
        for name, meta in expected_case["values"].items():
            expected = ref.expected(case, name)
            got = run.values.get(name, {}).get("value")
            if got is None:
                yield f"  {name}: expected {expected.dtype}{list(expected.shape)}, not produced"
                continue
            tolerance = {key: meta.get(key) for key in ("rtol", "atol", "norm")}
            result = compare.compare(expected, got, exact_dtype=meta.get("exact_dtype", False), **tolerance)
            yield (f"  {name}: expected {expected.dtype}{list(expected.shape)}, got {got.dtype}{list(got.shape)}"
                   + ("" if result.ok else f" - {result.message}"))
            if result.ok or got.shape != expected.shape:
                continue
            exp, val, error, bad = compare.mismatches(
                expected, got, *compare.tolerances(expected, meta.get("rtol"), meta.get("atol")))
            if meta.get("norm") is not None:
                bad = error > 0
            yield f"    {'index':<16}{'expected':>16}{'got':>16}{'abs error':>14}"
            for flat in np.flatnonzero(bad.ravel())[:max_rows]:
                where = tuple(int(i) for i in np.unravel_index(flat, expected.shape))
                yield (f"    {str(where):<16}{float(exp[where]):>16.7g}{float(val[where]):>16.7g}"
                       f"{float(error[where]):>14.3g}")
            if bad.sum() > max_rows:
                yield f"    ... {int(bad.sum()) - max_rows} more"


def code_diff(path, year=None):
    """Unified diffs of each solution block of a submission against its year's reference solution."""
    sources, _ = submission.read_sources(path)
    year = year or submission.detect_year(path, sources).year
    out = [f"handout {year}"]
    for course, text in years.course_sources(year, with_solutions=True).items():
        expected_blocks = {b.function: b for b in handout.find_solution_blocks(text, course)}
        if course not in sources:
            out.append(f"{course}: not submitted")
            continue
        try:
            got_blocks = {b.function: b for b in handout.find_solution_blocks(
                sources[course].decode("utf-8", errors="replace"), course)}
        except (ValueError, SyntaxError) as exc:
            out.append(f"{course}: solution blocks cannot be read ({exc})")
            continue
        for function, block in expected_blocks.items():
            theirs = got_blocks.get(function)
            if theirs is None:
                out.append(f"{course} {function}: no solution block in the submission")
                continue
            lines = list(difflib.unified_diff(block.text.splitlines(), theirs.text.splitlines(),
                                              f"reference {course} {function}", f"submission {course} {function}",
                                              lineterm=""))
            out.extend(lines or [f"{course} {function}: identical to the reference"])
    return "\n".join(out)


@main.command(name="student-kit")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--year", type=click.Choice(years.YEARS), default=years.DEFAULT_YEAR, show_default=True,
              help="The handout year the kit checks.")
@seed_option
def student_kit_command(out_dir, year, seed):
    """Write the student kit into OUT_DIR: a wheel whose `needle-check PATH` is `grader check`, without the solution.

    It holds the expected values of one year and seed, on generated data: grade with another seed.
    """
    wheel = student_kit.build_for(out_dir, year, seed)
    click.echo(f"wrote {wheel}: students run `pip install {wheel.name}`, then `{check.COMMAND} PATH` "
               f"(the {year} handout, seed {seed})")


@main.command()
def doctor():
    """Show which isolation layers this machine offers."""
    workspace = isolation.Workspace()
    try:
        sandbox = grading.detect_sandbox(workspace, isolation.Limits())
        template, children = grading.start_template(sandbox)
        if template is not None:
            template.close()
    finally:
        workspace.close()
    click.echo(f"needle-grader {__version__}, Python {sys.version.split()[0]}, uid {os.geteuid()}")
    for line in isolation.doctor_lines(sandbox):
        click.echo("  " + line)
    click.echo(f"  {'children':18} {grading.describe_children(sandbox, children)}")
    data = os.environ.get("NEEDLE_GRADER_DATA")
    click.echo(f"  data: {data if data else 'no $NEEDLE_GRADER_DATA; a generated dataset is used unless --data'}")
    click.echo(f"  reference cache: {reference.cache_root()}")


@main.command(name="handout")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--with-solutions", is_flag=True, help="Write the reference solution itself, in the same layout.")
@click.option("--year", type=click.Choice(years.YEARS), default=years.DEFAULT_YEAR, show_default=True,
              help="The handout year whose layout and starter code to write.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def handout_command(out, with_solutions, year, force):
    """Write that year's student starter code (course layout) into OUT."""
    written = years.write_handout(out, with_solutions=with_solutions, overwrite=force, year=year)
    for path in written:
        click.echo(f"wrote {path}")


service_commands.register(main)
