"""grader serve in a real browser: a student watches a submission be graded, without reloading; privacy; the
instructor's live gradebook. The server runs as ``grader serve`` on loopback, with one grading process."""

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from service import Server, make_course, wait_for, zipped  # noqa: E402


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served") / "course"
    tokens = make_course(folder)
    server = Server(folder, workers=1).start()
    yield folder, tokens, server
    assert server.stop() == 0


def sign_in(browser, server, token):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(server.url + "/signin")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait_for(lambda: not browser.current_url.endswith("/signin"), 30, what="signing in")


def no_errors(browser):
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def test_a_student_watches_a_submission_go_from_queued_to_100_and_only_they_can_see_it(course, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from grader.serve.client import Client

    folder, tokens, server = course
    # bea's submission takes the one grading process, so ann's waits its turn
    Client(server.url, tokens["bea"]).submit("bob.zip", zipped("bob"))
    archive = tmp_path / "alice.zip"
    archive.write_bytes(zipped("alice", nested="hw1/"))

    sign_in(browser, server, tokens["ann"])
    assert browser.current_url == server.url + "/me"
    browser.find_element(By.ID, "archive").send_keys(str(archive))
    browser.find_element(By.ID, "submit").click()
    wait_for(lambda: browser.current_url.startswith(server.url + "/submissions/"), 30, what="the submission's page")
    browser.execute_script("window.notReloaded = true")
    status = browser.find_element(By.ID, "status")
    seen = [status.text]
    wait_for(lambda: seen.append(status.text) or status.text == "graded: 100 / 100", 90, every=0.1,
             what="the submission's page showing 100")
    assert seen[0].startswith(("queued", "running")), seen
    assert any(text.startswith("running") for text in seen), seen
    assert browser.execute_script("return window.notReloaded") is True
    assert browser.find_element(By.ID, "total").text == "100 / 100"
    questions = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.feedback tr.question")]
    assert questions[0].startswith("Q1 forward 10 / 10") and questions[-1].startswith("Q6 nn_epoch 10 / 10")
    assert "sandbox" not in browser.find_element(By.TAG_NAME, "main").text
    assert "TIP" not in browser.find_element(By.TAG_NAME, "main").text   # every tip passed: no legend
    assert no_errors(browser) == []
    shot = Path(os.environ.get("NEEDLE_GRADER_SCREENSHOT_DIR") or tmp_path) / "student.png"
    browser.save_screenshot(str(shot))
    mine = browser.current_url

    sign_in(browser, server, tokens["bea"])
    browser.get(mine)
    assert "no submission" in browser.find_element(By.TAG_NAME, "main").text
    assert "100 / 100" not in browser.page_source
    assert [entry["message"].split(" - ", 1)[1] for entry in no_errors(browser)] == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"]

    sign_in(browser, server, tokens["prof"])
    assert browser.current_url == server.url + "/instructor"
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#gradebook tbody tr")) == 3, 30,
             what="the gradebook's rows")

    def gradebook():   # read in one go: the page rebuilds its rows as the scores change
        return dict(browser.execute_script("return Array.from(document.querySelectorAll('#gradebook tbody tr'))"
                                           ".map(function (row) { return [row.cells[0].textContent, "
                                           "row.cells[1].textContent]; })"))

    wait_for(lambda: gradebook() == {"ann": "100", "bea": "54.85", "cid": ""}, 30, what="both scores")
    score_header = browser.find_elements(By.CSS_SELECTOR, "#gradebook thead tr:last-child th")[1]
    score_header.click()
    wait_for(lambda: list(gradebook()) == ["cid", "bea", "ann"], 10, what="sorting by score, lowest first")
    assert score_header.get_attribute("aria-sort") == "ascending"
    score_header.click()
    wait_for(lambda: list(gradebook()) == ["ann", "bea", "cid"], 10, what="sorting by score, highest first")
    assert no_errors(browser) == []
    browser.save_screenshot(str(shot.with_name("gradebook.png")))
    browser.get(server.url + "/instructor/queue")
    assert "Could not grade (0)" in browser.find_element(By.TAG_NAME, "main").text
    browser.get(server.url + "/instructor/report")
    assert "Class report" in browser.page_source and no_errors(browser) == []
