"""The students' checker: ``grader check``, and ``needle-check`` of the student kit, are this one command.

In the grader it grades against the reference of any year and seed. In a
student kit (``student_kit.py``) the same code reads the one year and seed
bundled at build time, and says in one line what else it cannot do. The
kit's ``needle-check submit`` is ``grader submit`` (``serve.client``).
"""

import click

from . import __version__, bundle, grading, options, results
from .serve import ServiceError, client

COMMAND = "needle-check"


@click.command(name="check")
@click.argument("path", type=click.Path())
@options.data_option
@options.seed_option
@options.suite_option
@options.case_option
@options.year_option
@options.verbose_option
def command(path, data_dir, seed, suites, cases, year, verbose):
    """Check your homework before you hand it in: per question, what passes and what to fix.

    PATH is your hw1 folder (or an archive of it). Your code runs confined, as
    it will when your instructor grades it.
    """
    with grading.Session(data_dir, seed, suites=suites, cases=cases, year=year) as session:
        result = session.grade(session.stage(path))
    options.warn_about_year(result["name"], result, prog=getattr(click.get_current_context().find_root().command,
                                                                 "prog", "grader"))
    click.echo(results.render(result, verbose, student=True))


class KitCommand(options.OneLineErrors, click.Group):
    """``needle-check PATH`` checks, as ``needle-check check PATH`` does; ``needle-check submit PATH`` hands in."""

    prog = COMMAND
    known_errors = options.KNOWN_ERRORS + (ServiceError,)

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def main():
    """``needle-check``: the commands above, standing alone."""
    kit = KitCommand(COMMAND, help="Check your needle homework before you hand it in (needle-check PATH), and hand "
                                   "it in to your course's server (needle-check submit PATH --server URL).")
    kit.add_command(click.Command("check", callback=command.callback, params=list(command.params), help=command.help))
    kit.add_command(client.command)
    click.version_option(__version__, prog_name=COMMAND,
                         message=f"%(prog)s %(version)s: checks the {bundle.YEAR} handout with the inputs of seed "
                                 f"{bundle.SEED}")(kit)
    kit.main(prog_name=COMMAND)
