"""The project's own promises: CI runs exactly the README's test command."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (REPO / "README.md").read_text().splitlines()
    install, test = readme[3], readme[4]
    assert readme[2] == "```sh" and readme[5] == "```"
    assert install.startswith("python3 -m pip install -e . && grader run submissions/")
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == test
