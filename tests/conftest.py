import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

TOX_ENVIRONMENTS = ("py310", "py311", "py312", "py313")
# A tox run gives each of these files to one environment: the service's end-to-end tests, which start
# real servers and processes, and files whose tests share what a module fixture built (a student kit,
# a class, a course with published values), and the check of one job against two, which no other Python
# changes. One run of each is enough.
ONE_ENVIRONMENT = {"test_serve_machines.py": "py312", "test_serve_faults.py": "py313",
                   "test_serve_browser.py": "py311", "test_student_kit.py": "py311",
                   "test_report.py": "py310", "test_serve_mugrade.py": "py310", "test_reference.py": "py312",
                   "test_serve_refusals_browser.py": "py310", "test_serve_years.py": "py313",
                   "test_determinism.py::test_one_job_and_two_forked_and_exec_d_give_the_same_verdicts": "py313"}
# The other tests that grade whole submissions, or drive a course's web app and commands, are dealt out one
# by one, in turn, to the three environments that py312's long file above leaves free: grading gives the same
# verdicts on every Python, which tests/test_determinism.py checks in every environment against the others,
# and one run of each service test is enough. Everything else runs in each.
DEALT_OUT = {"test_course.py", "test_cli.py", "test_grading.py", "test_hostile.py", "test_values.py",
             "test_serve_api.py", "test_gradescope.py", "test_serve_errors.py", "test_serve_course.py",
             "test_template.py"}
DEALT_TO = ("py310", "py311", "py313")
DEALT_KEY = pytest.StashKey()   # (tests this environment runs, tests that one environment runs)


def tox_environment_of(items):
    """Test -> the tox environment that runs it, for the tests that run in one only."""
    owners, dealt = {}, 0
    for item in items:
        chosen = ONE_ENVIRONMENT.get(item.path.name) or ONE_ENVIRONMENT.get(f"{item.path.name}::{item.originalname}")
        if chosen:
            owners[item] = chosen
        elif item.path.name in DEALT_OUT:
            owners[item] = DEALT_TO[dealt % len(DEALT_TO)]
            dealt += 1
    return owners


def pytest_collection_modifyitems(config, items):
    environment = os.environ.get("NEEDLE_GRADER_TOX_ENV")
    if environment not in TOX_ENVIRONMENTS:   # outside tox, everything runs
        return
    owners = tox_environment_of(items)
    elsewhere = [item for item in items if owners.get(item, environment) != environment]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if owners.get(item, environment) == environment]
        config.stash[DEALT_KEY] = (len(owners) - len(elsewhere), len(owners))


def pytest_report_collectionfinish(config):
    if DEALT_KEY in config.stash:
        mine, dealt = config.stash[DEALT_KEY]
        return (f"{os.environ['NEEDLE_GRADER_TOX_ENV']} runs {mine} of the {dealt} tests that one of "
                f"{', '.join(TOX_ENVIRONMENTS)} runs (tests/conftest.py), and every other test")


MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------------------
# Shared fixtures (used by several test files)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_mnist_dir():
    """The folder holding MNIST's test set: $NEEDLE_GRADER_MNIST, else
    <repo>/../shared/data/mnist.  Tests that need it skip when it is absent."""
    folder = Path(os.environ.get("NEEDLE_GRADER_MNIST") or REPO_ROOT.parent / "shared" / "data" / "mnist")
    missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
    if missing:
        pytest.skip(
            "real MNIST test set not found: %s missing in %s (set NEEDLE_GRADER_MNIST to the folder)"
            % (", ".join(missing), folder)
        )
    return folder


@pytest.fixture(scope="session")
def generated_mnist(tmp_path_factory):
    """(images_path, labels_path) of the grader's generated MNIST-like
    dataset (1000 examples, seed 0)."""
    from grader.kit import idx

    return idx.generate_mnist_like(tmp_path_factory.mktemp("generated-mnist"), n=1000, seed=0)


# ---------------------------------------------------------------------------
# Fixtures for the grader tests
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory):
    """Recomputed references go to a folder of this test session, unless tox chose one."""
    if not os.environ.get("NEEDLE_GRADER_CACHE"):
        os.environ["NEEDLE_GRADER_CACHE"] = str(tmp_path_factory.mktemp("reference-cache"))
    return Path(os.environ["NEEDLE_GRADER_CACHE"])


@pytest.fixture(scope="session")
def sandbox_layers():
    """The isolation layers this machine offers: name -> "on" or "off: why"."""
    from grader import grading, isolation

    workspace = isolation.Workspace()
    try:
        return dict(grading.detect_sandbox(workspace, isolation.Limits()).layers)
    finally:
        workspace.close()


@pytest.fixture
def run_grader():
    """Run the ``grader`` command; returns (completed process, the --out result or None).

    The result of a successful run is always checked against the schema that ships with the package.
    """
    import json
    import subprocess
    import sys

    from grader import results

    def run(*args, timeout=300):
        completed = subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO_ROOT, capture_output=True,
                                   text=True, timeout=timeout)
        result = None
        if "--out" in args and completed.returncode == 0:
            out = Path(args[args.index("--out") + 1])
            if out.exists():
                result = json.loads(out.read_text())
                results.validate(result)
        return completed, result

    return run


@pytest.fixture(scope="session")
def grading_session():
    """One in-process grading session per (data folder, seed), shared by the tests that grade samples.

    Its children are forked from a template, as a batch's are: every sample and corpus test checks that
    they get the verdicts an exec'd child gets (tests/test_determinism.py compares the two ways)."""
    from grader import grading

    sessions = {}

    def get(data_dir=None, seed=0):
        key = (str(data_dir) if data_dir else None, seed)
        if key not in sessions:
            sessions[key] = grading.Session(key[0], seed, template=True)
        return sessions[key]

    yield get
    for session in sessions.values():
        session.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by selenium; tests skip, saying why, where either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("headless Chromium is not installed (Debian packages chromium and chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromedriver))
    yield driver
    driver.quit()


def _throwaway(kind):
    """A server of ``servers.KIND`` for the session, stopped at its end; the test skips where it cannot start."""
    import servers

    try:
        server = getattr(servers, kind)()
    except servers.Unavailable as exc:
        pytest.skip(f"no {kind} for this test: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL on loopback (``.new_database()`` gives a URL)."""
    yield from _throwaway("Postgres")


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway redis-server on loopback (``.new_database()`` gives a URL)."""
    yield from _throwaway("Redis")


@pytest.fixture(scope="session")
def unbalanced_sums():
    """Every sum in a result that does not add up, as text (none: ``[]``).

    Cases add up to their suite and suites to the total, score and max_score
    alike, to 1e-6; each is a whole number of 1e-4 points. For our result,
    Gradescope's results.json (its tests add up to its score) and a batch's
    summary.json (each entry's suites add up to its score).
    """

    def sums(data):
        if "tests" in data:
            return [("score", data["score"], [test["score"] for test in data["tests"]])]
        if "submissions" in data:
            return [(entry["name"], entry["score"], list(entry["suites"].values()))
                    for entry in data["submissions"] if "score" in entry]
        found = [(key, data[key], [suite[key] for suite in data["suites"]]) for key in ("score", "max_score")]
        return found + [(f"{suite['name']} {key}", suite[key], [case[key] for case in suite["cases"]])
                        for suite in data["suites"] for key in ("score", "max_score")]

    def check(data):
        wrong = []
        for name, whole, parts in sums(data):
            if abs(sum(parts) - whole) > 1e-6:
                wrong.append(f"{name}: {whole} but its parts add up to {sum(parts)}")
            wrong += [f"{name}: {value} is not a whole number of 1e-4 points" for value in (whole, *parts)
                      if abs(value * 1e4 - round(value * 1e4)) > 1e-6]
        return wrong

    return check


# ---------------------------------------------------------------------------
# Fixtures for the needle and handout tests
# ---------------------------------------------------------------------------


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
