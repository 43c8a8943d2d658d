"""grader report: the class summary, the gradebook (CSV), the page (HTML, in a real browser) and similarity."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import generated_with
from grader import report, years

REPO_ROOT = Path(__file__).resolve().parent.parent
HOSTILE_NAME = '"><img src=x onerror=alert(1)>'
FORMULA_NAME = "=HYPERLINK(1)"


def grader(*args, cwd=REPO_ROOT):
    completed = subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                               timeout=600)
    return completed


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """alice, bob, carol, and two whose names and messages are markup and a formula; graded, and a report."""
    root = tmp_path_factory.mktemp("class")
    klass = root / "class"
    klass.mkdir()
    for name in ("alice", "bob", "carol"):
        shutil.copytree(REPO_ROOT / "submissions" / name, klass / name)
    generated_with(klass / HOSTILE_NAME, "2022",
                   {"Negate.compute": 'raise ValueError("<script>alert(2)</script> \\"><img src=x onerror=alert(3)>")'})
    generated_with(klass / FORMULA_NAME, "2024", {"Exp.compute": "return a"})
    out = root / "results"
    completed = grader("run", "--batch", str(klass), "--out-dir", str(out), "-q", "--suite", "forward",
                       "--suite", "topo_sort")
    assert completed.returncode == 0, completed.stderr
    return out


def test_the_summary_lists_what_the_class_fails(graded_class):
    completed = grader("report", str(graded_class))
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "5 graded, 0 could not be graded"
    # totals 30, 29.7223, 29.6, 29.2 and 0: mean 23.7045
    assert lines[1] == "total: mean 23.7, median 29.6, min 0, max 30"
    assert "cases failed most often:" in lines
    most = lines.index("cases failed most often:")
    assert lines[most + 1].split() == ["1/1", "forward::exp"]   # only the 2024 student has it, and fails it
    assert ["2/5", "forward::negate"] in [line.split() for line in lines[most:]]   # carol and the markup one
    assert "advisories not met (no points unless --strict):" in lines


def test_the_gradebook_csv_has_a_row_per_student_and_no_formulas(graded_class, tmp_path):
    completed = grader("report", str(graded_class), "--csv", str(tmp_path / "book.csv"))
    assert completed.returncode == 0, completed.stderr
    rows = list(csv.reader((tmp_path / "book.csv").open()))
    assert rows[0] == ["name", "handout", "total", "forward", "backward", "topo_sort", "compute_gradient",
                       "softmax_loss", "nn_epoch", "status"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {HOSTILE_NAME, "'" + FORMULA_NAME, "alice", "bob", "carol"}
    assert by_name["alice"] == ["alice", "2022", "30", "10", "", "20", "", "", "", "graded"]
    assert by_name["bob"] == ["bob", "2022", "29.2", "9.2", "", "20", "", "", "", "graded"]
    # 2024's forward has 36 cases, of 0.2778 (the first 28) or 0.2777: without exp's (the last), 9.7223 of 10
    assert by_name["'" + FORMULA_NAME] == ["'" + FORMULA_NAME, "2024", "29.72", "9.72", "", "20", "", "", "",
                                           "graded"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_every_result_and_the_summary_add_up_exactly(graded_class, unbalanced_sums):
    summary = json.loads((graded_class / "summary.json").read_text())
    assert unbalanced_sums(summary) == []
    entries = {entry["name"]: entry for entry in summary["submissions"]}
    assert (entries[FORMULA_NAME]["score"], entries[FORMULA_NAME]["suites"]) == (
        29.7223, {"forward": 9.7223, "topo_sort": 20.0})
    for entry in summary["submissions"]:
        result = json.loads((graded_class / entry["result"]).read_text())
        assert unbalanced_sums(result) == [], entry["name"]
        assert result["score"] == entry["score"]


def test_a_formula_guard_is_applied_to_every_dangerous_start():
    assert [report.spreadsheet_cell(text) for text in ("=1+1", "+1", "-1", "@SUM(A1)", "plain", 3.5)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "plain", "3.5"]


def test_the_page_escapes_everything_that_came_from_a_submission(graded_class, tmp_path):
    page = tmp_path / "report.html"
    assert grader("report", str(graded_class), "--html", str(page)).returncode == 0
    text = page.read_text()
    assert "<img" not in text and "<script>alert" not in text
    assert text.count("<script>") == 1          # the page's own, allowed by hash in its security policy
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text and "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "http" not in text.replace("http-equiv", "").replace("http://www.w3.org/2000/svg", "")
    # scores to two decimals; the exact total only sorts the column
    assert '<td data-sort="29.7223">29.72</td><td data-sort="9.7223">9.72</td>' in text
    assert f"<h3>{FORMULA_NAME}: 29.72 / 30</h3>" in text


def test_the_page_loads_cleanly_and_its_table_sorts_in_a_browser(graded_class, browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    assert grader("report", str(graded_class), "--html", str(page)).returncode == 0
    browser.get(page.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#report-gradebook tbody tr")
    assert len(rows) == 5

    def names():
        return [row.find_element(By.CSS_SELECTOR, "td.name").text for row in
                browser.find_elements(By.CSS_SELECTOR, "#report-gradebook tbody tr")]

    def totals():
        return [float(row.find_elements(By.TAG_NAME, "td")[2].text) for row in
                browser.find_elements(By.CSS_SELECTOR, "#report-gradebook tbody tr")]

    assert names() == sorted(names())
    total_header = browser.find_elements(By.CSS_SELECTOR, "#report-gradebook th")[2]
    total_button = total_header.find_element(By.TAG_NAME, "button")   # a button: the keyboard reaches it
    total_button.click()
    assert totals() == sorted(totals()) and total_header.get_attribute("aria-sort") == "ascending"
    total_button.click()
    assert totals() == sorted(totals(), reverse=True) and total_header.get_attribute("aria-sort") == "descending"
    assert HOSTILE_NAME in names()
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert browser.execute_script("return document.scripts.length") == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect")) > 5   # the two charts
    shot = Path(os.environ.get("NEEDLE_GRADER_SCREENSHOT") or tmp_path / "report.png")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


OMAR = {
    "BroadcastTo.gradient": """
return _sum_to_shape(out_grad, node.inputs[0].shape)
""",
    "Summation.gradient": """
source_shape = node.inputs[0].shape
kept = _kept_shape(source_shape, self.axes)
return broadcast_to(reshape(out_grad, kept), source_shape)
""",
    "MatMul.gradient": """
lhs, rhs = node.inputs
lhs_grad = matmul(out_grad, transpose(rhs))
rhs_grad = matmul(transpose(lhs), out_grad)
return _sum_to_shape(lhs_grad, lhs.shape), _sum_to_shape(rhs_grad, rhs.shape)
""",
    "EWiseDiv.gradient": """
lhs, rhs = node.inputs
quotient_grad = out_grad / rhs
return quotient_grad, negate(quotient_grad * lhs / rhs)
""",
    "softmax_loss": """
rows = Z.shape[0]
normaliser = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
picked = ndl.summation(ndl.multiply(Z, y_one_hot), axes=(1,))
return ndl.divide_scalar(ndl.summation(normaliser - picked), rows)
""",
}
OMAR_HELPERS = '''

def _sum_to_shape(grad, shape):
    """Add up grad over the axes that broadcasting stretched, back to shape."""
    shape = tuple(shape)
    leading = len(grad.shape) - len(shape)
    stretched = [axis for axis in range(len(grad.shape))
                 if axis < leading or (shape[axis - leading] == 1 and grad.shape[axis] != 1)]
    if stretched:
        grad = summation(grad, axes=tuple(stretched))
    return reshape(grad, shape)


def _kept_shape(shape, axes):
    """shape with each summed axis kept at size 1."""
    if axes is None:
        axes = range(len(shape))
    elif isinstance(axes, int):
        axes = (axes,)
    marked = {axis % len(shape) for axis in axes}
    return tuple(1 if axis in marked else size for axis, size in enumerate(shape))
'''
RENAMES = {"grad": "g", "shape": "dims", "stretched": "summed", "leading": "extra", "lhs": "left", "rhs": "right",
           "source_dims": "in_dims", "kept": "keep", "axes": "ax", "marked": "chosen", "quotient_g": "q",
           "normaliser": "lse", "picked": "correct", "rows": "count"}


def _renamed(text):
    import re

    for old, new in RENAMES.items():   # names only, never attributes (Z.shape stays)
        text = re.sub(rf"(?<!\.)\b{old}\b", new, text)
    return text


def _omar(folder, copy=False):
    generated_with(folder, "2022", {name: _renamed(body) if copy else body for name, body in OMAR.items()})
    helpers = OMAR_HELPERS.split("\n\n\ndef ")
    if copy:   # the two helpers the other way round, renamed (their parameters too)
        helpers = [_renamed(helpers[0])] + [_renamed(part) for part in reversed(helpers[1:])]
    ops = folder / "python" / "needle" / "ops.py"
    ops.write_text(ops.read_text() + "\n\n\ndef ".join(helpers))
    return folder


def test_similarity_finds_the_near_copies_and_only_them(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    for name in ("alice", "bob"):
        shutil.copytree(REPO_ROOT / "submissions" / name, klass / name)
    years.write_handout(klass / "reference", with_solutions=True, year="2022")
    _omar(klass / "omar")
    _omar(klass / "omar-copy", copy=True)
    assert "def _kept_shape(dims, ax):" in (klass / "omar-copy" / "python/needle/ops.py").read_text()
    out = tmp_path / "results"
    assert grader("run", "--batch", str(klass), "--out-dir", str(out), "-q", "--suite", "topo_sort").returncode == 0
    completed = grader("report", str(out), "--similarity", "--html", str(tmp_path / "report.html"))
    assert completed.returncode == 0, completed.stderr
    listed = completed.stdout.split("similar pairs (at least 50% of one student's own code matches):\n")[1]
    pairs = [line.split(None, 1)[1].split(" (")[0] for line in listed.splitlines() if line.startswith("  ")]
    assert pairs == ["omar and omar-copy"], completed.stdout
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Similar code</h2>" in page and page.count("<mark>") > 5
    from grader import similarity

    klass_results = report.load(out)
    everyone = {(pair.first, pair.second): pair.similarity for pair in
                similarity.similar_pairs(klass_results.results, threshold=0.0)}
    assert everyone[("omar", "omar-copy")] > 0.8
    assert max(value for key, value in everyone.items() if key != ("omar", "omar-copy")) < 0.5
