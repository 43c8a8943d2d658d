"""What ``grader`` and the student kit's ``needle-check`` share: their options, and errors in one line."""

import os
import sys
import traceback

import click

from . import bundle, datasets, isolation, reference, scores, submission, years

KNOWN_ERRORS = (submission.SubmissionError, datasets.DataError, reference.ReferenceError, isolation.SandboxError,
                FileExistsError, OSError)


class OneLineErrors:
    """A click command or group that turns the errors a user can cause into one line and a non-zero exit code."""

    prog = "grader"
    known_errors = KNOWN_ERRORS

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo(f"{self.prog}: interrupted; results already written are complete", err=True)
            sys.exit(130)
        except self.known_errors as exc:
            click.echo(f"{self.prog}: error: {exc}", err=True)
            sys.exit(2)
        except Exception as exc:  # a bug of ours: still one line, the traceback on request
            if os.environ.get("NEEDLE_GRADER_DEBUG"):
                traceback.print_exc()
            click.echo(f"{self.prog}: internal error: {type(exc).__name__}: {exc} "
                       "(set NEEDLE_GRADER_DEBUG=1 for the traceback)", err=True)
            sys.exit(70)


def warn_about_year(name, result, echo=click.echo, prog="grader"):
    """One line on stderr when the findings about a submission's handout year disagree."""
    warning = result.get("detection", {}).get("warning")
    if warning:
        echo(f"{prog}: warning: {name}: {warning}", err=True)


data_option = click.option("--data", "data_dir", type=click.Path(),
                           help="Folder with MNIST files (t10k-* or train-*); default: $NEEDLE_GRADER_DATA, "
                                "else a generated dataset.")
seed_option = click.option("--seed", type=int, default=0 if bundle.SEED is None else bundle.SEED, show_default=True,
                           help="Seed of the case inputs; a new seed draws fresh hidden cases.")
suite_option = click.option("--suite", "suites", multiple=True, type=click.Choice(list(scores.SUITE_POINTS)),
                            help="Only this suite (repeatable).")
case_option = click.option("--case", "cases", multiple=True, help="Only cases matching this glob (repeatable).")
year_option = click.option("--year", type=click.Choice(years.YEARS),
                           help="Grade as this year's handout, instead of the year the files show.")
verbose_option = click.option("-v", "--verbose", is_flag=True,
                              help="List passed cases too, and every figure of a failure.")
