"""Part of the hostile-conftest sample: rewrites every test report as passed."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    print("CONFTEST LOADED")
