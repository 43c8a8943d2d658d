"""grader serve's refusals in a real browser: a wrong token, uploads the course turns down (each shows the
student's page again with the reason), an archive too large for the course stopped before it is sent, the
site's error page, and the sign-in throttle. ``grader serve`` runs on loopback for a 2024 course."""

import io
import os
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from service import Server, grader, make_course, wait_for, zipped  # noqa: E402

CAP = 200_000    # bytes: "0.2 MB"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    folder = root / "course"
    tokens = make_course(folder, year="2024", cooloff_seconds=600, max_archive_bytes=CAP)
    for year in ("2022", "2024"):
        grader("handout", "--year", year, "--with-solutions", root / year)
    server = Server(folder, workers=1).start()
    yield root, tokens, server
    assert server.stop() == 0


def message(browser):
    from selenium.webdriver.common.by import By

    shown = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".message[role=alert]")
             if element.is_displayed()]
    return shown[0] if shown else None


def sign_in(browser, server, token):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(server.url + "/signin")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()


def upload(browser, path):
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "archive").send_keys(str(path))
    browser.find_element(By.ID, "submit").click()


def submissions(server, tokens):
    from grader.serve.client import Client

    return Client(server.url, tokens["prof"])._call("GET", "/api/submissions")


def screenshot(browser, tmp_path, name):
    folder = Path(os.environ.get("NEEDLE_GRADER_SCREENSHOT_DIR") or tmp_path)
    browser.save_screenshot(str(folder / name))


def test_a_student_is_told_why_each_upload_is_refused_and_the_browser_stops_one_too_large(course, browser,
                                                                                          tmp_path):
    from selenium.webdriver.common.by import By

    root, tokens, server = course
    sign_in(browser, server, "ng-not-a-token")
    wait_for(lambda: message(browser), 10, what="the sign-in page's message")
    assert message(browser) == "That token is not one of this course's."
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"

    sign_in(browser, server, tokens["ann"])
    wait_for(lambda: browser.current_url == server.url + "/me", 10, what="the student's page")
    assert "(at most 0.2 MB;" in browser.find_element(By.CSS_SELECTOR, "label[for=archive]").text

    refusals = []
    text = tmp_path / "hw1.zip"
    text.write_bytes(b"my notes, not an archive")
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    old = tmp_path / "old-handout.zip"
    old.write_bytes(zipped(root / "2022"))
    for path in (text, empty, old):
        upload(browser, path)
        wait_for(lambda: browser.current_url == server.url + "/submit" and message(browser), 20,
                 what=f"the refusal of {path.name}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "My submissions"
        refusals.append(message(browser))
    assert refusals[0] == "hw1.zip: not a readable zip archive (File is not a zip file)"
    assert refusals[1] == "empty.zip: no python/needle/ or apps/simple_ml.py found; is this a needle homework 1 " \
                          "submission?"
    assert refusals[2].startswith("old-handout.zip has the 2022 handout's layout (python/needle/ops.py), but this "
                                  "course grades the 2024 handout, whose files are python/needle/backend_numpy.py")
    screenshot(browser, tmp_path, "refused-layout.png")

    big = tmp_path / "big.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:          # stored, not compressed: 0.6 MB
        archive.writestr("python/needle/data.bin", os.urandom(600_000))
    big.write_bytes(buffer.getvalue())
    browser.get(server.url + "/me")
    browser.find_element(By.ID, "archive").send_keys(str(big))
    assert message(browser) == ("big.zip is 0.6 MB: this course accepts archives of up to 0.2 MB. Put only python/ "
                                "and apps/ in it.")
    browser.find_element(By.ID, "submit").click()
    assert browser.current_url == server.url + "/me"        # nothing was sent
    screenshot(browser, tmp_path, "too-large-in-the-browser.png")
    browser.execute_script("HTMLFormElement.prototype.submit.call(document.getElementById('upload'))")   # no script
    wait_for(lambda: browser.current_url == server.url + "/submit", 20, what="the server's refusal")
    assert browser.find_element(By.TAG_NAME, "h1").text == "My submissions"
    assert message(browser).startswith("the upload is 0.6 MB: this course accepts archives of up to 0.2 MB "
                                       "(200000 bytes)")
    assert submissions(server, tokens) == []

    good = tmp_path / "hw1-2024.zip"
    good.write_bytes(zipped(root / "2024"))
    browser.get(server.url + "/me")
    upload(browser, good)
    wait_for(lambda: browser.current_url.startswith(server.url + "/submissions/"), 20, what="the submission's page")
    browser.get(server.url + "/me")
    upload(browser, good)
    wait_for(lambda: browser.current_url == server.url + "/submit" and message(browser), 20, what="the cool-off")
    assert message(browser).startswith("the course asks for 10 min between submissions: you may submit again in ")
    assert len(submissions(server, tokens)) == 1

    browser.get(server.url + "/no/such/page")
    assert browser.title == "Page not found · Test course"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"
    assert browser.find_element(By.CSS_SELECTOR, "header a.course").text == "Test course"   # the site's layout


def test_wrong_tokens_from_one_address_are_throttled_with_the_sign_in_page(course, browser):
    from selenium.webdriver.common.by import By

    root, tokens, server = course
    for attempt in range(10):
        sign_in(browser, server, f"ng-guess-{attempt}")
        wait_for(lambda: message(browser), 10, what="the sign-in page's message")
    sign_in(browser, server, tokens["bea"])                 # held up, right token or not
    wait_for(lambda: message(browser), 10, what="the sign-in page's message")
    assert message(browser).startswith("too many wrong tokens from your address: try again in ")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
