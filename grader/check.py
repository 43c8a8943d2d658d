"""The students' checker: ``grader check``, and ``needle-check`` of the student kit, are this one command.

In the grader it grades against the reference of any year and seed. In a
student kit (``student_kit.py``) the same code reads the one year and seed
bundled at build time, and says in one line what else it cannot do.
"""

import click

from . import __version__, bundle, grading, options, results

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


class KitCommand(options.OneLineErrors, click.Command):
    prog = COMMAND


def main():
    """``needle-check``: the command above, standing alone."""
    kit = KitCommand(COMMAND, callback=command.callback, params=list(command.params), help=command.help)
    click.version_option(__version__, prog_name=COMMAND,
                         message=f"%(prog)s %(version)s: checks the {bundle.YEAR} handout with the inputs of seed "
                                 f"{bundle.SEED}")(kit)
    kit.main(prog_name=COMMAND)
