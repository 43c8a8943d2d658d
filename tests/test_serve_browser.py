"""grader serve in a real browser, as a course lives it: pages for students and instructors, in every state.

One course (the 2024 handout, in New York's time zone, a 10%-a-day late
penalty) is served by ``grader serve`` on loopback with no grading process of
its own: this module grades its queue itself (``service.grade_queued``, the
worker's own function), so each state a page can show - empty, queued,
running, refused, could not grade, graded, regraded - holds while the pages
are looked at. The tests run in order, each a step in the course's life:

1. nothing submitted yet;
2. ann uploads from the page and watches it go from queued to running to
   graded, without reloading;
3. lea hands in with the kit the course serves, two days late;
4. a refused upload, a submission the service could not grade, an untouched
   starter and last year's layout;
5. the gradebook at 1366 px and at 390 px;
6. a regrade, which the students whose score it changes see, with why.

Every page is checked in every state with axe-core (no serious or critical
violation), for a distinct title and one heading, for errors in the
browser's console, and for page-level sideways scroll at both widths.
Screenshots go to ``$NEEDLE_GRADER_SCREENSHOT_DIR`` when it is set.
"""

import datetime
import os
import re
import shutil
import subprocess
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")
pytest.importorskip("axe_selenium_python", reason="axe-selenium-python is not installed (pip install .[test])")

from grader import student_kit, years  # noqa: E402
from kits import installed, student_env  # noqa: E402
from service import Server, database, grade_queued, grader, make_course, wait_for, zipped  # noqa: E402

ZONE = "America/New_York"
WIDE, NARROW = (1366, 900), (390, 844)
IN_WORDS = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)( \d{4})?, " \
           r"\d\d:\d\d (EST|EDT)"
TITLES = {}     # title -> the path that had it: every page's is its own


def folder_zip(folder, tmp, name, extra=()):
    """A zip of a homework folder, as a student makes one."""
    archive = tmp / name
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                handle.write(path, "hw1/" + path.relative_to(folder).as_posix())
        for entry, text in extra:
            handle.writestr("hw1/" + entry, text)
    return archive


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course, its people and its server; the homework folders the students hand in."""
    root = tmp_path_factory.mktemp("served")
    folder = root / "course"
    people = ("ann", "lea", "sam", "wes", "cid")
    tokens = make_course(folder, students=people, year="2024", timezone=ZONE, late_policy="penalty",
                         penalty_per_day=10)
    deadline = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1, hours=12)
    grader("course", "set", folder, "--deadline", deadline.isoformat())
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).astimezone(
        datetime.timezone(datetime.timedelta(hours=-5))).date()
    for name in people:      # everyone but lea has a few more days
        if name != "lea":
            echoed = grader("course", "extend", folder, name, "--until", later.isoformat())
            # a date alone is the end of that day in the course's zone, and the command says so
            assert re.fullmatch(rf"{name}: deadline {IN_WORDS} \(\d{{4}}-\d\d-\d\d 04:59:59 UTC\)\n", echoed), echoed
            assert ", 23:59 EST" in echoed
    solution, starter = root / "solution", root / "starter"
    years.write_handout(solution, with_solutions=True, year="2024")
    years.write_handout(starter, year="2024")
    server = Server(folder, workers=0).start()
    yield {"folder": folder, "tokens": tokens, "server": server, "root": root, "solution": solution,
           "starter": starter}
    assert server.stop() == 0


def shots_dir(tmp_path):
    return Path(os.environ.get("NEEDLE_GRADER_SCREENSHOT_DIR") or tmp_path)


def set_width(browser, size):
    width, height = size
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                   "deviceScaleFactor": 1, "mobile": width < 600})


def screenshot(browser, path, size=WIDE, full=True):
    """The page at this width, whole (as tall as it is, up to 6000 px) unless not ``full``."""
    set_width(browser, size)
    height = min(browser.execute_script("return document.documentElement.scrollHeight"), 6000) if full else size[1]
    set_width(browser, (size[0], height))
    browser.save_screenshot(str(path))
    set_width(browser, size)


def sign_in(browser, server, token):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(server.url + "/signin")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait_for(lambda: not browser.current_url.endswith("/signin"), 30, what="signing in")


def console_errors(browser):
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def serious_violations(browser):
    """axe-core's violations of impact serious or critical, one line each."""
    from axe_selenium_python import Axe

    axe = Axe(browser)
    axe.inject()
    found = axe.run()["violations"]
    return [f"{violation['id']} ({violation['impact']}): {violation['help']}: "
            + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            for violation in found if violation["impact"] in ("serious", "critical")]


def sideways_scroll(browser):
    """How far the page itself scrolls sideways (0: it fits), from document.documentElement.scrollWidth."""
    return browser.execute_script("return document.documentElement.scrollWidth - "
                                  "document.documentElement.clientWidth")


OVERFLOWING = """
return Array.from(document.querySelectorAll('body *')).filter(function (element) {
  if (element.getBoundingClientRect().right <= document.documentElement.clientWidth) { return false; }
  for (var up = element.parentElement; up; up = up.parentElement) {
    if (getComputedStyle(up).overflowX !== 'visible') { return false; }
  }
  return true;
}).slice(0, 5).map(function (e) { return e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60); });
"""   # what makes a page scroll sideways: an element out of the window that no box of its own clips


SPLIT_WORDS = """
var found = [];
document.querySelectorAll(arguments[0]).forEach(function (cell) {
  var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), node;
  while ((node = walker.nextNode())) {
    if (!node.parentElement.checkVisibility()) { continue; }      // in a closed <details>
    var before = null;          // within one text node: a <wbr> ends one, so its wrap points are never counted
    for (var i = 0; i < node.data.length; i++) {
      var range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      var box = range.getClientRects()[0], character = node.data[i];
      if (!box) { continue; }
      if (before && /\\S/.test(character) && !/[\\s\\/._:-]/.test(before.character) && box.top > before.top + 4) {
        found.push(node.data.slice(Math.max(0, i - 12), i) + "|" + node.data.slice(i, i + 12));
      }
      before = {character: character, top: box.top};
    }
  }
});
return found;
"""   # where text wraps inside a word: two letters on different lines, the first not a slash, dot, colon or dash


def split_words(browser, selector):
    """The places where the text of the elements matched wraps inside a word, as ``before|after``."""
    return browser.execute_script(SPLIT_WORDS, selector)


LINES = """
var element = document.querySelector(arguments[0]), range = document.createRange();
range.selectNodeContents(element);
if (arguments[1]) { range.setStartAfter(element.querySelector(arguments[1])); }
return new Set(Array.from(range.getClientRects()).map(function (box) { return Math.round(box.top); })).size;
"""


def lines_of(browser, selector, after=None):
    """How many lines the text of the element matched takes on the page (its text after its child ``after``)."""
    return browser.execute_script(LINES, selector, after)


CHART_TEXT = """
return Array.from(document.querySelectorAll(arguments[0])).map(function (text) {
  var box = text.getBoundingClientRect();
  return [text.textContent, box.left, box.right, box.top, box.bottom];
});
"""


def unreadable_labels(browser, selector):
    """The chart's labels rendered under 11 px tall, or overlapping another, as the page is now."""
    labels = browser.execute_script(CHART_TEXT, selector)
    assert labels, selector
    small = [f"{text}: {bottom - top:.1f} px" for text, _, _, top, bottom in labels if bottom - top < 11]
    overlapping = [f"{a[0]} over {b[0]}" for index, a in enumerate(labels) for b in labels[index + 1:]
                   if a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]]
    return small + overlapping


def inner_scroll(browser, selector):
    """How far the element scrolls sideways inside its own box (0: all of it is in view)."""
    return browser.execute_script("var box = document.querySelector(arguments[0]); "
                                  "return box.scrollWidth - box.clientWidth", selector)


def check_page(browser, url, state, load=True):
    """The page at ``url`` in this state: no serious axe violation, a title of its own and one heading, no console
    error, and no page-level sideways scroll at 1366 px nor at 390 px. Its main text."""
    from selenium.webdriver.common.by import By

    if load:
        set_width(browser, WIDE)
        browser.get(url)
    path = "/" + url.split("://", 1)[1].partition("/")[2]
    path = {"/submit": "/me"}.get(path, path)    # a refused upload shows the page it came from again
    assert serious_violations(browser) == [], (url, state)
    title = browser.title
    assert TITLES.setdefault(title, path) == path, f"{url} and {TITLES[title]} are both titled {title!r}"
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1, url
    assert console_errors(browser) == [], (url, state)
    for size in (WIDE, NARROW):
        set_width(browser, size)
        assert sideways_scroll(browser) == 0, (url, state, size, browser.execute_script(OVERFLOWING))
    set_width(browser, WIDE)
    return browser.find_element(By.TAG_NAME, "main").text


def test_every_page_is_accessible_and_fits_before_anything_is_submitted(course, browser, tmp_path):
    server, tokens = course["server"], course["tokens"]
    browser.get(server.url + "/signin")
    check_page(browser, server.url + "/signin", "signed out", load=False)
    sign_in(browser, server, tokens["ann"])
    text = check_page(browser, server.url + "/me", "empty")
    assert "Nothing yet" in text
    # the deadline in the course's zone, in words; the kit to download, the real server and the exact commands
    deadline = re.search(rf"Your deadline \(extended\): ({IN_WORDS})", text)     # ann's, later than the course's
    assert deadline, text
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "#terminal summary").click()
    commands = browser.find_element(By.CSS_SELECTOR, "#terminal pre").text
    # each command one line, its comment on the line above it; on a phone the box scrolls, no line wraps
    assert commands.splitlines() == [
        "# install the kit", f"pip install {student_kit.wheel_name()}", "# what passes, and what to fix",
        "needle-check ~/hw1", "# hand it in, and wait for the grade",
        f"needle-check submit ~/hw1 --server {server.url} --token YOUR_TOKEN --wait"]
    set_width(browser, NARROW)
    assert lines_of(browser, "#terminal pre code") == 6
    assert inner_scroll(browser, "#terminal pre") > 0 and sideways_scroll(browser) == 0
    assert browser.find_element(By.CSS_SELECTOR, "#terminal pre").get_attribute("tabindex") == "0"   # the keyboard scrolls it
    assert serious_violations(browser) == []
    screenshot(browser, shots_dir(tmp_path) / "student-terminal-390.png", NARROW)
    set_width(browser, WIDE)
    assert f"needle-check submit ~/hw1 --server {server.url} --token YOUR_TOKEN --wait" in commands
    assert f"pip install {student_kit.wheel_name()}" in commands
    assert browser.find_element(By.ID, "kit").get_attribute("href") == f"{server.url}/kit/{student_kit.wheel_name()}"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=archive]").text.startswith(
        "Your homework folder as a .zip or .tar.gz (at most 5 MB")
    screenshot(browser, shots_dir(tmp_path) / "student-upload.png")
    browser.get(server.url + "/submissions/99")          # an error page, as a student meets one
    console_errors(browser)
    assert serious_violations(browser) == []

    sign_in(browser, server, tokens["prof"])
    text = check_page(browser, server.url + "/instructor", "empty")
    assert "time zone: America/New_York" in text and "largest archive: 5 MB" in text
    assert re.search(rf"deadline: {IN_WORDS}", text), text
    for path in ("/instructor/queue", "/instructor/report", "/instructor/regrade"):
        check_page(browser, server.url + path, "empty")
    assert "Nothing to regrade now" in browser.find_element(By.TAG_NAME, "main").text
    check_page(browser, server.url + "/instructor/students/ann", "empty")


def test_a_student_uploads_and_watches_queued_then_running_then_graded_without_reloading(course, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from grader.serve import jobs
    from grader.serve.store import Location

    server, tokens, folder = course["server"], course["tokens"], course["folder"]
    archive = folder_zip(course["solution"], tmp_path, "hw1.zip")
    sign_in(browser, server, tokens["ann"])
    browser.find_element(By.ID, "archive").send_keys(str(archive))
    browser.find_element(By.ID, "submit").click()
    wait_for(lambda: browser.current_url.startswith(server.url + "/submissions/"), 30, what="the submission's page")
    page = browser.current_url
    browser.execute_script("window.notReloaded = true")
    status = browser.find_element(By.ID, "status")
    assert status.get_attribute("role") == "status"           # a screen reader hears each change
    assert status.text == "queued: 1st in line"
    check_page(browser, page, "queued", load=False)
    check_page(browser, server.url + "/me", "queued")

    # a worker elsewhere takes it: 26 of 103 cases done
    db, queue = database(folder), jobs.Queue(Location.of_folder(folder).queue)
    owner = "elsewhere/1/1"
    job_id = jobs.claim(db, 1, owner, lease_seconds=600).id
    jobs.renew(db, job_id, owner, 600, cases_done=26, cases_total=103)
    browser.get(page)
    assert browser.find_element(By.ID, "status").text == "running: 26 of 103 cases"
    progress = browser.find_element(By.ID, "progress")
    assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("26", "103")
    check_page(browser, page, "running", load=False)
    check_page(browser, server.url + "/me", "running")
    sign_in(browser, server, tokens["prof"])
    for path in ("/instructor", "/instructor/queue", "/instructor/students/ann", page.split(server.url)[1]):
        check_page(browser, server.url + path, "running, for an instructor")
    sign_in(browser, server, tokens["ann"])
    browser.get(page)
    browser.execute_script("window.notReloaded = true")

    def status():   # the feedback, its status line with it, is replaced once graded
        return browser.execute_script("return document.getElementById('status').textContent")

    jobs.give_back(db, queue, job_id, owner)        # it stops; this module's worker grades it, as the page watches
    queue.close()
    db.close()
    grading = threading.Thread(target=grade_queued, args=(folder,))
    grading.start()
    seen = [status()]
    wait_for(lambda: seen.append(status()) or seen[-1] == "graded: 100 / 100", 120, every=0.1,
             what="the submission's page showing 100")
    grading.join()
    assert any(text.startswith("running") for text in seen), seen
    assert browser.execute_script("return window.notReloaded") is True
    total = wait_for(lambda: browser.find_elements(By.ID, "total"), 10,      # the feedback follows its status line
                     what="the feedback's table")[0]
    assert total.text == "100 / 100"
    questions = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.feedback tr.question")]
    assert questions[0].startswith("Q1 forward 10 / 10") and questions[-1].startswith("Q6 nn_epoch 10 / 10")
    extra = [re.search(r"extra checks: (\d+) of \1 passed$", row) for row in questions]     # in plain words
    assert any(extra) and all(extra[index] for index, row in enumerate(questions) if "extra" in row), questions
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "sandbox" not in main and "TIP" not in main and "Read this first" not in main and "tips" not in main
    assert "Your instructor may regrade with a new one" in main
    # on a phone no header nor question name wraps inside a word, and the table fits its box
    set_width(browser, NARROW)
    assert split_words(browser, "table.feedback th, table.feedback td") == []
    assert inner_scroll(browser, "#feedback .scroll") == 0
    set_width(browser, WIDE)
    assert re.search(r"Submitted (just now|\d+ min ago)", main), main       # recent: relative
    assert re.fullmatch(IN_WORDS, browser.find_element(By.CSS_SELECTOR, "main p time").get_attribute("title"))
    check_page(browser, page, "graded", load=False)
    screenshot(browser, shots_dir(tmp_path) / "student-graded.png")
    # on a phone, the list's "100 / 100" stays on one line, as the server writes it and as the page's script does
    browser.get(server.url + "/me")
    set_width(browser, NARROW)
    assert lines_of(browser, "#submissions td.status", after=".badge") == 1
    browser.execute_script("showStatus(document.querySelector('#submissions td.status'), "
                           "{status: 'graded', score_line: '100 / 100', summary: ''})")
    assert lines_of(browser, "#submissions td.status", after=".badge") == 1
    set_width(browser, WIDE)

    # only ann and instructors see it; the instructor also sees how the sandbox ran it
    sign_in(browser, server, tokens["sam"])
    browser.get(page)
    assert "no submission" in browser.find_element(By.TAG_NAME, "main").text
    assert "100 / 100" not in browser.page_source
    assert [message.split(" - ", 1)[1] for message in console_errors(browser)] == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"]
    sign_in(browser, server, tokens["prof"])
    browser.get(page)
    browser.find_element(By.CSS_SELECTOR, "#sandbox summary").click()
    assert "uid" in browser.find_element(By.ID, "sandbox").text
    assert "may regrade" not in browser.find_element(By.TAG_NAME, "main").text     # said to the student only
    check_page(browser, page, "graded, for an instructor", load=False)


def test_a_late_student_hands_in_with_the_kit_the_course_serves_and_reads_what_counts(course, browser, tmp_path):
    from selenium.webdriver.common.by import By

    server, tokens, folder = course["server"], course["tokens"], course["folder"]
    sign_in(browser, server, tokens["lea"])
    browser.get(server.url + "/me")
    link = browser.find_element(By.ID, "kit").get_attribute("href")
    cookie = browser.get_cookie("needle_grader")
    request = urllib.request.Request(link, headers={"Cookie": f"needle_grader={cookie['value']}"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        assert reply.headers["Content-Disposition"] == f'attachment; filename="{student_kit.wheel_name()}"'
        wheel = tmp_path / student_kit.wheel_name()
        wheel.write_bytes(reply.read())
    environment, _, needle_check = installed(wheel)
    try:
        version = subprocess.run([needle_check, "--version"], capture_output=True, text=True).stdout
        # the course's year; a public seed, never the course's own (0 here)
        assert version.endswith(": checks the 2024 handout with the inputs of seed 1\n"), version
        homework = tmp_path / "hw1"
        shutil.copytree(course["solution"], homework)
        (homework / "hw1.ipynb").write_text("{}\n")
        (homework / "data").mkdir()
        submitting = subprocess.Popen([needle_check, "submit", str(homework), "--server", server.url, "--wait"],
                                      env=dict(student_env(), NEEDLE_GRADER_TOKEN=tokens["lea"]),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: grade_queued(folder), 60, every=0.5, what="lea's submission reaching the queue")
        out, err = submitting.communicate(timeout=120)
    finally:
        shutil.rmtree(environment)
    assert submitting.returncode == 0, err
    late = "100 → 80 counts (2 days late: 20% off)"
    assert err.splitlines()[0] == "not sent, as the grader reads only python/ and apps/: data/, hw1.ipynb"
    assert err.splitlines()[-1] == f"graded: {late}"
    number = re.match(r"submitted hw1\.zip as submission (\d+):", out).group(1)   # the course's count so far
    assert out.startswith(f"submitted hw1.zip as submission {number}: queued at position 1\n"
                          f"submission {number} of lea: 100 / 100\n")
    assert out.endswith(f"\nscore: {late}\n")

    browser.get(server.url + f"/submissions/{number}")
    assert browser.find_element(By.ID, "status").text == f"graded: {late}"
    warnings = browser.find_element(By.CSS_SELECTOR, ".warnings").text
    assert re.search(rf"Submitted 2 days late: 20% off \(the deadline: {IN_WORDS}\)\.", warnings), warnings
    assert browser.find_element(By.CSS_SELECTOR, "main .warnings") == browser.find_elements(
        By.CSS_SELECTOR, "main #feedback > *")[0]        # warnings come first, before the score
    check_page(browser, server.url + f"/submissions/{number}", "graded late", load=False)
    screenshot(browser, shots_dir(tmp_path) / "student-late.png")
    check_page(browser, server.url + "/me", "graded late")
    reply = urllib.request.urlopen(urllib.request.Request(server.url + f"/api/submissions/{number}", headers={
        "Authorization": f"Bearer {tokens['lea']}"}), timeout=30)
    shown = __import__("json").loads(reply.read())
    assert (shown["score"], shown["counted_score"], shown["score_line"]) == (100.0, 80.0, late)
    assert shown["submitted_at"].endswith("+00:00")       # the API keeps ISO-8601 UTC


def test_refused_not_graded_starter_and_last_years_layout_each_say_what_happened(course, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    from grader.serve import jobs
    from grader.serve.client import Client
    from grader.serve.store import Location

    server, tokens, folder = course["server"], course["tokens"], course["folder"]
    sign_in(browser, server, tokens["sam"])
    browser.get(server.url + "/me")
    text_file = tmp_path / "notes.zip"
    text_file.write_text("just some text\n")
    browser.find_element(By.ID, "archive").send_keys(str(text_file))
    before = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(staleness_of(before))       # the page again, with the server's refusal
    message = browser.find_element(By.CSS_SELECTOR, "main .message[role=alert]").text
    assert message == "notes.zip: not a readable zip archive (File is not a zip file)"
    console_errors(browser)          # the refusal's own 400
    check_page(browser, browser.current_url, "refused", load=False)

    sent = {name: Client(server.url, tokens[name]).submit("hw1.zip", data)["id"] for name, data in (
        ("sam", zipped(course["starter"])), ("wes", zipped("alice", leave_out={"python/needle/ops.py"})), ("cid", zipped("bob", leave_out={"python/needle/ops.py"})))}
    db, queue = database(folder), jobs.Queue(Location.of_folder(folder).queue)
    cid_job = max(job.id for job in db_jobs(db) if job.submission_id == sent["cid"])
    for _ in range(jobs.MAX_ATTEMPTS):        # the service fails twice: could not grade, at no cost to cid
        jobs.claim(db, cid_job, "elsewhere/1/1", lease_seconds=60)
        jobs.give_back(db, queue, cid_job, "elsewhere/1/1", failed=True, error="OSError: disk full")
    queue.close()
    db.close()
    sign_in(browser, server, tokens["prof"])
    text = check_page(browser, server.url + "/instructor/queue", "waiting and could not grade")
    assert "2 waiting, 0 running, 1 could not be graded." in text
    assert len(grade_queued(folder)) == 2      # sam's and wes's

    sign_in(browser, server, tokens["cid"])
    text = check_page(browser, server.url + f"/submissions/{sent['cid']}", "could not grade")
    assert "the service could not grade this (OSError: disk full)" in text

    sign_in(browser, server, tokens["sam"])
    text = check_page(browser, server.url + f"/submissions/{sent['sam']}", "graded: the starter")
    assert browser.find_element(By.ID, "status").text == "graded: 0 / 100"
    # identical failures are one row each, with the count and the cases behind a <details>
    rows = [row.text.splitlines()[0] for row in browser.find_elements(By.CSS_SELECTOR, "table.feedback tr.case")]
    assert "ERROR 4 cases: not implemented (Summation.compute, python/needle/ops/ops_mathematic.py:" \
        in "\n".join(rows), rows
    assert len(rows) < 40 and not any("(-v" in row for row in rows)
    which = browser.find_elements(By.XPATH, "//tr[contains(., 'Summation.compute')]//details[summary]")[-1]
    which.find_element(By.TAG_NAME, "summary").click()
    assert which.find_element(By.TAG_NAME, "ul").text.splitlines() == [
        "summation[5x4-all]", "summation[5x4-axis1]", "summation[5x4-axes0]", "summation[3x4x5-axes02]"]
    # its paths wrap on a phone at their slashes, never inside a word
    set_width(browser, NARROW)
    assert split_words(browser, "table.feedback") == [], split_words(browser, "table.feedback")
    assert inner_scroll(browser, "#feedback .scroll") == 0
    set_width(browser, WIDE)
    screenshot(browser, shots_dir(tmp_path) / "student-starter.png")
    screenshot(browser, shots_dir(tmp_path) / "student-starter-390.png", NARROW)

    sign_in(browser, server, tokens["wes"])
    # alice's 2022 layout without its flat ops.py, which a 2024 course refuses: accepted, with warnings first
    text = check_page(browser, server.url + f"/submissions/{sent['wes']}", "graded: last year's files")
    warnings = browser.find_element(By.CSS_SELECTOR, ".warnings").text
    assert "python/needle/ops/ops_mathematic.py was not submitted: the 2024 starter's version was used" in warnings
    screenshot(browser, shots_dir(tmp_path) / "student-wrong-year.png")


def db_jobs(db):
    from sqlalchemy import select

    from grader.serve.models import Job

    with db.reading() as session:
        return session.scalars(select(Job).order_by(Job.id)).all()


def test_the_gradebook_fits_1366_and_390_px_and_sorts_from_the_keyboard(course, browser, tmp_path):
    import statistics

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from grader import scores

    server, tokens = course["server"], course["tokens"]
    sign_in(browser, server, tokens["prof"])
    text = check_page(browser, server.url + "/instructor", "graded")
    figures = [item.text.split("\n") for item in browser.find_elements(By.CSS_SELECTOR, "#figures li")]
    counted = [100, 80, 0, 53.33]
    assert figures == [["students", "5"], ["submitted", "5"], ["graded", "4"],
                       ["mean", scores.shown(statistics.mean(counted))],
                       ["median", scores.shown(statistics.median(counted))]]
    histogram = browser.find_element(By.CSS_SELECTOR, "figure svg[role=img]")
    assert histogram.get_attribute("aria-label") == (
        "students' counted scores per score range: 0-10%: 1, 10-20%: 0, 20-30%: 0, 30-40%: 0, 40-50%: 0, 50-60%: 1, "
        "60-70%: 0, 70-80%: 0, 80-90%: 1, 90-100%: 1")
    assert "the last, none on time, 2 days late: 20% off" in text
    set_width(browser, NARROW)             # the chart is drawn at the phone's width, its text not scaled down
    assert unreadable_labels(browser, "figure svg text") == []
    set_width(browser, WIDE)

    def column(index):
        return browser.execute_script("return Array.from(document.querySelectorAll('#gradebook tbody tr'))"
                                      f".map(function (row) {{ var cell = row.cells[{index}]; "
                                      "return (cell.querySelector('a') || cell).textContent; })")

    assert column(0) == ["ann", "cid", "lea", "sam", "wes"]
    flagged = browser.find_elements(By.CSS_SELECTOR, "#gradebook tbody th .flag")     # wes's files disagree
    assert [flag.find_element(By.XPATH, "..").find_element(By.TAG_NAME, "a").text for flag in flagged] == ["wes"]
    score = browser.find_element(By.CSS_SELECTOR, "#gradebook th[data-key=score]")
    score.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)     # the keyboard reaches every header
    wait_for(lambda: column(0) == ["cid", "sam", "wes", "lea", "ann"], 10, what="sorting by score, lowest first")
    assert score.get_attribute("aria-sort") == "ascending"
    assert browser.find_element(By.ID, "sorted").text == "Sorted by score, lowest first"   # said to a screen reader
    score.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)
    wait_for(lambda: column(0) == ["ann", "lea", "wes", "sam", "cid"], 10, what="sorting by score, highest first")
    assert score.get_attribute("aria-sort") == "descending"

    # the per-question group can be hidden, and shown again
    toggle = browser.find_element(By.CSS_SELECTOR, "#groups button[data-group=suites]")
    suite_cell = "document.querySelector('#gradebook td.suite')"
    assert browser.execute_script(f"return getComputedStyle({suite_cell}).display") == "table-cell"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    assert browser.execute_script(f"return getComputedStyle({suite_cell}).display") == "none"
    toggle.click()
    assert browser.execute_script(f"return getComputedStyle({suite_cell}).display") == "table-cell"
    assert sideways_scroll(browser) == 0
    screenshot(browser, shots_dir(tmp_path) / "gradebook-1366.png")

    # on a phone the table scrolls in its own box; its header and the student column stay in view
    set_width(browser, NARROW)
    assert sideways_scroll(browser) == 0
    box = browser.find_element(By.ID, "gradebook-box")
    assert browser.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", box)
    browser.execute_script("arguments[0].scrollLeft = 400; arguments[0].scrollTop = 60", box)
    left = browser.execute_script("return arguments[0].getBoundingClientRect().left", box)
    student = browser.find_element(By.CSS_SELECTOR, "#gradebook tbody th.student")
    header = browser.find_element(By.CSS_SELECTOR, "#gradebook thead th[data-key=score]")
    assert abs(browser.execute_script("return arguments[0].getBoundingClientRect().left", student) - left) < 2
    assert abs(browser.execute_script("return arguments[0].getBoundingClientRect().top", header)
               - browser.execute_script("return arguments[0].getBoundingClientRect().top", box)) < 40
    assert serious_violations(browser) == []
    browser.execute_script("arguments[0].scrollLeft = 0; arguments[0].scrollTop = 0", box)
    screenshot(browser, shots_dir(tmp_path) / "gradebook-390.png", NARROW)
    set_width(browser, WIDE)

    check_page(browser, server.url + "/instructor/students/lea", "graded late")
    text = check_page(browser, server.url + "/instructor/report", "graded")
    assert "4 graded, 0 could not be graded. Mean" in text
    assert inner_scroll(browser, "main .scroll") == 0                     # the whole table at 1366 px
    set_width(browser, NARROW)
    assert unreadable_labels(browser, "svg.histogram text") == []
    assert unreadable_labels(browser, "svg.bars text") == []      # the cases failed most often, as legible
    screenshot(browser, shots_dir(tmp_path) / "report-390.png", NARROW)
    set_width(browser, WIDE)
    screenshot(browser, shots_dir(tmp_path) / "report-1366.png")


def test_a_regrade_is_confirmed_with_its_count_and_each_student_whose_score_changed_sees_why(course, browser,
                                                                                             tmp_path):
    from selenium.webdriver.common.by import By

    from grader.serve import jobs
    from grader.serve.store import Location

    server, tokens, folder = course["server"], course["tokens"], course["folder"]
    said = grader("course", "set", folder, "--year", "2022")
    assert said.endswith(f"a regrade is needed (the handout year changed from 2024 to 2022): grader course regrade "
                         f"{folder} grades every counted submission again; the gradebook says so until then\n")
    sign_in(browser, server, tokens["prof"])
    check_page(browser, server.url + "/instructor", "a regrade needed")
    assert browser.find_element(By.ID, "regrade-needed").text.startswith(
        "A regrade is needed: the handout year changed from 2024 to 2022.")
    browser.find_element(By.ID, "regrade").click()
    wait_for(lambda: browser.current_url.endswith("/instructor/regrade"), 10, what="the regrade's page")
    check_page(browser, browser.current_url, "a regrade to confirm", load=False)
    assert browser.find_element(By.ID, "regrade-count").text == "4 counted submissions"
    note = "the course's files are the 2022 handout's: graded as 2022"
    browser.find_element(By.ID, "note").send_keys(note)
    browser.find_element(By.ID, "confirm-regrade").click()
    wait_for(lambda: browser.current_url.endswith("/instructor/queue"), 10, what="the queue")

    db = database(folder)            # a worker elsewhere starts on the first
    owner, first = "elsewhere/1/1", min(job.id for job in db_jobs(db) if job.purpose == "regrade")
    jobs.claim(db, first, owner, lease_seconds=600)
    jobs.renew(db, first, owner, 600, cases_done=40, cases_total=96)
    text = check_page(browser, server.url + "/instructor/queue", "regrades waiting and running")
    assert "3 waiting, 1 running, 1 could not be graded." in text
    browser.execute_script("document.querySelector('[data-list=waiting]').setAttribute('data-old', '1')")
    wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, "[data-list=waiting][data-old]"), 10,
             what="the queue's live update")     # the script's times read as the server's
    assert re.fullmatch(IN_WORDS, browser.find_element(By.CSS_SELECTOR, "[data-list=waiting] time")
                        .get_attribute("title"))
    screenshot(browser, shots_dir(tmp_path) / "queue.png")
    queue = jobs.Queue(Location.of_folder(folder).queue)
    jobs.give_back(db, queue, first, owner)
    queue.close()
    db.close()
    browser.get(server.url + "/instructor")
    assert browser.find_elements(By.ID, "regrade-needed") == []        # it is queued: no banner
    assert len(grade_queued(folder)) == 4

    sign_in(browser, server, tokens["wes"])
    check_page(browser, server.url + "/submissions/4", "regraded")
    regraded = browser.find_element(By.ID, "regraded").text
    # wes sent alice's 2022 files but its flat ops.py (which a 2024 course refuses): as 2022, ops.py is the starter's
    assert re.fullmatch(rf"Your instructor regraded this submission on {IN_WORDS}: its score went from 53\.33 to "
                        rf"50\. Why: {note}", regraded), regraded
    history = browser.find_element(By.CSS_SELECTOR, "ol.history").text.splitlines()
    assert history[0].startswith("graded ") and history[0].endswith(": 53.33")
    assert history[1].endswith(f": 53.33 → 50 ({note})")
    screenshot(browser, shots_dir(tmp_path) / "student-regraded.png")
    assert "(regraded)" in check_page(browser, server.url + "/me", "regraded")


FAILING_FRAGMENTS = """
var realFetch = window.fetch, replies = window.fragmentReplies = [];
window.fetch = function (url, options) {
  if (String(url).endsWith("/feedback")) {
    if (replies.length === 0) {
      replies.push(503);
      return Promise.resolve(new Response("<h1>Service unavailable</h1>", {status: 503}));
    }
    if (replies.length === 1) {      // as after the session expired: the sign-in page, through a redirect
      replies.push("signed out");
      return realFetch(url, {credentials: "omit"});
    }
    replies.push(200);
  }
  return realFetch(url, options);
};
"""   # the feedback fetched once graded: first a 503, then the sign-in page, then the feedback


def test_feedback_that_fails_to_load_is_fetched_again_never_shown_in_its_place(course, browser):
    from selenium.webdriver.common.by import By

    from grader.serve.client import Client

    server, tokens, folder = course["server"], course["tokens"], course["folder"]
    sent = Client(server.url, tokens["cid"]).submit("hw1.zip", zipped("alice"))["id"]     # the course is 2022's now
    sign_in(browser, server, tokens["cid"])
    browser.get(f"{server.url}/submissions/{sent}")
    assert browser.find_element(By.ID, "status").text.startswith("queued")
    browser.execute_script(FAILING_FRAGMENTS)
    assert len(grade_queued(folder)) == 1
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#feedback #total"), 60, what="the feedback")
    assert browser.execute_script("return window.fragmentReplies") == [503, "signed out", 200]
    assert browser.find_elements(By.CSS_SELECTOR, "#feedback h1, #feedback form, #feedback #token") == []
    assert browser.find_element(By.ID, "status").text == "graded: 100 / 100"
