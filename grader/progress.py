"""How a batch shows its progress: a live display on a terminal, plain lines everywhere else.

Either way each finished submission gets one line; on a terminal the lines
scroll above a bar that says how many are done, running and could not be
graded, the time spent and the time left.
"""

import sys

import click


class PlainProgress:
    """One line per finished submission, nothing else: for logs, pipes and ``--quiet``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def echo(self, line, err=False):
        click.echo(line, err=err)

    def update(self, counts):
        pass


class LiveProgress(PlainProgress):
    """A rich progress bar under the lines of finished submissions."""

    def __init__(self, total):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.console = Console(stderr=False, highlight=False)
        self.progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[running]} running, {task.fields[failed]} could not grade"),
                                 TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                 console=self.console, transient=False)
        self.task = self.progress.add_task("grading", total=total, running=0, failed=0)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def echo(self, line, err=False):
        # rich owns the terminal while the bar is live; its console prints above the bar
        self.console.print(line, markup=False, highlight=False, style="red" if err else None)

    def update(self, counts):
        self.progress.update(self.task, completed=counts["done"], running=counts["running"], failed=counts["failed"])


def for_batch(total, quiet):
    """The live display on a terminal (unless ``quiet``), else plain lines."""
    if quiet or not sys.stdout.isatty():
        return PlainProgress()
    return LiveProgress(total)
