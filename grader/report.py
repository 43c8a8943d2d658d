"""A class at a glance: the results of a batch as a summary, a gradebook (CSV) and a page (HTML).

Everything in a result that came from a submission (its name, messages,
output, code) is untrusted here too: the page escapes all of it, runs no
script but its own (a content security policy allows that one alone), and
the CSV never lets a cell become a formula.
"""

import base64
import collections
import csv
import dataclasses
import hashlib
import html
import io
import os
import re
import statistics

from . import results, scores

BINS = 10            # the score distribution's bars
TOP = 15             # cases and messages listed in the terminal summary
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReportError(Exception):
    """The results folder cannot be read as a batch's results."""


@dataclasses.dataclass
class ClassResults:
    results: list            # every valid NAME.json, by name
    not_graded: list         # {"name", "error"} of submissions the batch could not grade
    skipped: list            # files that are not results, with why

    @property
    def names(self):
        return [result["name"] for result in self.results]


def load(folder):
    """The results in a folder written by ``grader run --out-dir``."""
    if not os.path.isdir(folder):
        raise ReportError(f"{folder}: no such folder")
    graded, skipped, not_graded = [], [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".json") or name.startswith("."):
            continue
        data = results.read(path)
        if name == "summary.json":
            if isinstance(data, dict):
                not_graded = [{"name": str(entry.get("name")), "error": str(entry.get("error"))}
                              for entry in data.get("submissions", []) if entry.get("status") == "could not grade"]
            continue
        try:
            results.validate(data)
        except Exception as exc:  # jsonschema's errors, or not JSON at all
            skipped.append((name, str(exc).splitlines()[0]))
            continue
        graded.append(data)
    if not graded and not not_graded:
        raise ReportError(f"{folder}: no results in it (write them with grader run --out-dir {folder})")
    return ClassResults(sorted(graded, key=lambda r: r["name"]), not_graded, skipped)


def cases_of(result):
    for suite in result["suites"]:
        for case in suite["cases"]:
            yield f"{suite['name']}::{case['name']}", case


def failure_rates(klass, advisory=False):
    """``[(case, failed, graded)]``, most failed first, over the scored (or the advisory) cases."""
    failed, seen = collections.Counter(), collections.Counter()
    for result in klass.results:
        for name, case in cases_of(result):
            if case.get("advisory", False) == advisory:
                seen[name] += 1
                failed[name] += case["status"] != "passed"
    return sorted(((name, failed[name], seen[name]) for name in seen), key=lambda row: (-row[1] / row[2], row[0]))


def _shape(message):
    """A message's first line with its figures blanked, so that the same mistake counts once."""
    first = (message or "").splitlines()[0] if message else ""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)[:160]


def common_messages(klass):
    """``[(message, count, example case)]`` of the failures, most common first."""
    counts, examples = collections.Counter(), {}
    for result in klass.results:
        for name, case in cases_of(result):
            if case["status"] != "passed" and not case.get("advisory"):
                key = _shape(case["message"])
                counts[key] += 1
                examples.setdefault(key, name)
    return [(message, count, examples[message]) for message, count in counts.most_common()]


def distribution(klass):
    """How many totals fall in each tenth of the maximum."""
    return bins([result["score"] / result["max_score"] if result["max_score"] else 0.0 for result in klass.results])


def bins(shares):
    """How many of ``shares`` (0..1) fall in each tenth: 0-10% ... 90-100%, the full mark in the last."""
    counts = [0] * BINS
    for share in shares:
        counts[min(max(int(share * BINS), 0), BINS - 1)] += 1
    return counts


def summary_lines(klass):
    """The class summary for a terminal."""
    totals = [result["score"] for result in klass.results]
    lines = [f"{len(klass.results)} graded, {len(klass.not_graded)} could not be graded"]
    if totals:
        lines.append(f"total: mean {scores.shown(statistics.mean(totals))}, "
                     f"median {scores.shown(statistics.median(totals))}, "
                     f"min {scores.shown(min(totals))}, max {scores.shown(max(totals))}")
        lines.append("score distribution (share of the maximum):")
        bins = distribution(klass)
        for index, count in enumerate(bins):
            low, high = index * 100 // BINS, (index + 1) * 100 // BINS
            lines.append(f"  {low:3d}-{high:<3d}% {'#' * count} {count}")
    rates = [row for row in failure_rates(klass) if row[1]]
    if rates:
        lines.append("cases failed most often:")
        lines.extend(f"  {failed:4d}/{seen:<4d} {name}" for name, failed, seen in rates[:TOP])
    messages = common_messages(klass)
    if messages:
        lines.append("most common failure messages:")
        lines.extend(f"  {count:4d}x {scores.clean(message, 140)}   (e.g. {case})" for message, count, case in
                     messages[:TOP])
    tips = [row for row in failure_rates(klass, advisory=True) if row[1]]
    if tips:
        lines.append("advisories not met (no points unless --strict):")
        lines.extend(f"  {failed:4d}/{seen:<4d} {name}" for name, failed, seen in tips)
    for entry in klass.not_graded:
        lines.append(f"could not grade {scores.clean(entry['name'], 200)}: {scores.clean(entry['error'], 300)}")
    for name, why in klass.skipped:
        lines.append(f"skipped {scores.clean(name, 200)}: {scores.clean(why, 300)}")
    return lines


def spreadsheet_cell(value):
    """A CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(klass, path):
    """One row per submission: name, handout, total, each suite, status."""
    suites = list(scores.SUITE_POINTS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "handout", "total", *suites, "status"])
    for result in klass.results:
        per_suite = {suite["name"]: suite["score"] for suite in result["suites"]}
        writer.writerow([spreadsheet_cell(result["name"]), result.get("handout", ""), scores.shown(result["score"]),
                         *(scores.shown(per_suite[suite]) if suite in per_suite else "" for suite in suites),
                         "graded"])
    for entry in klass.not_graded:
        writer.writerow([spreadsheet_cell(entry["name"]), "", "", *([""] * len(suites)), "could not grade"])
    results.write_text_atomic(path, buffer.getvalue())


SCRIPT = """
document.querySelectorAll("table.sortable th button").forEach(function (button) {
  button.addEventListener("click", function () {
    var header = button.closest("th"), table = header.closest("table"), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(header.parentNode.cells, header);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
th button { font: inherit; font-weight: bold; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
td.name, th.name { text-align: left; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; }
mark { background: #ffe08a; }
.failed { color: #a00; } .tip { color: #066; }
details { margin: 0.3em 0; }
.pair { display: flex; gap: 1em; } .pair > div { flex: 1; min-width: 0; }
svg.chart { max-width: 40rem; }   /* as wide as its box, in percent, never scaled (report._chart) */
svg text { font-size: 11px; fill: #222; }
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _chart(kind, height, label):
    """The opening of an inline SVG chart of class ``kind``, named for screen readers: as wide as its container,
    in percent, and never scaled, so that its text stays as large on a phone as on a desktop (a chart drawn at
    one width and scaled down shrank its labels to 5 px on a phone)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="100%" height="{height}" '
            f'role="img" aria-label="{_e(label)}">')


def _bar_chart(rows, row_height=36, longest=80):
    """A horizontal bar chart (inline SVG, ``_chart``) of ``[(label, value in 0..1, text)]``, each label on the
    line above its bar (beside it, it left the bars no room on a phone), the longest bar ``longest`` percent of
    the width (the rest holds its text)."""
    parts = [_chart("bars", row_height * len(rows) + 4,
                    "failure rate per case: " + "; ".join(f"{name} {text}" for name, _, text in rows))]
    for index, (name, value, text) in enumerate(rows):
        y = row_height * index
        bar = max(0.0, min(1.0, value)) * longest
        parts.append(f'<text x="0" y="{y + 13}">{_e(name)}</text>'
                     f'<rect x="0" y="{y + 18}" width="{bar:.1f}%" height="13" fill="#c44"></rect>'
                     f'<text x="{bar + 1:.1f}%" y="{y + 29}">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(counts, height=180, top=18, what="students"):
    """The score distribution as vertical bars (inline SVG, ``_chart``), each with its count above it, the axis
    marked 0% to 100%."""
    tallest = max(counts) or 1
    step = 100 / len(counts)
    ranges = [f"{index * 100 // len(counts)}-{(index + 1) * 100 // len(counts)}%" for index in range(len(counts))]
    label = f"{what} per score range: " + ", ".join(f"{where}: {count}" for where, count in zip(ranges, counts))
    parts = [_chart("histogram", top + height + 20, label),
             f'<line x1="0" x2="100%" y1="{top + height + 0.5}" y2="{top + height + 0.5}" stroke="#57606a"></line>']
    for index, count in enumerate(counts):
        bar = height * count / tallest
        x = index * step
        parts.append(f'<rect x="{x + 0.4:.1f}%" y="{top + height - bar:.1f}" width="{step - 0.8:.1f}%" '
                     f'height="{bar:.1f}" fill="#36a"></rect>'
                     f'<text x="{x + step / 2:.1f}%" y="{top + height - bar - 4:.1f}" text-anchor="middle">'
                     f'{count}</text>')
    for index in range(0, len(counts) + 1, 2):      # 0%, 20%, ... 100%: each label has room on a phone
        anchor = "start" if index == 0 else "end" if index == len(counts) else "middle"
        parts.append(f'<text x="{index * step:.1f}%" y="{top + height + 15}" text-anchor="{anchor}">'
                     f'{index * 100 // len(counts)}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def content_security_policy():
    """The page's policy: its own styles and images, and no script but its own, by hash."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'"


def render_html(klass, pairs=()):
    """One self-contained page: ``render_body``, with its style and its script inline."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<meta http-equiv=\"Content-Security-Policy\" content=\"{content_security_policy()}\">",
                      "<title>needle-grader: class report</title>", f"<style>{STYLE}</style></head><body><main>",
                      "<h1>Class report</h1>", render_body(klass, pairs),
                      f"</main><script>{SCRIPT}</script></body></html>"])


def _sortable(name, css=""):
    """A header the page's script sorts by, a button so that the keyboard reaches it."""
    attribute = f' class="{css}"' if css else ""
    return f'<th{attribute}><button type="button" class="sort">{_e(name)}</button></th>'


def render_body(klass, pairs=()):
    """The report under its heading: the summary, the gradebook, two charts, each student's failures, similar
    pairs. The service shows it in its own pages, with ``SCRIPT`` served as a file of its own."""
    suites = list(scores.SUITE_POINTS)
    totals = [result["score"] for result in klass.results]
    figures = (f" Mean {scores.shown(statistics.mean(totals))}, median {scores.shown(statistics.median(totals))}, "
               f"lowest {scores.shown(min(totals))}, highest {scores.shown(max(totals))}." if totals else "")
    out = [f'<p class="totals">{len(klass.results)} graded, {len(klass.not_graded)} could not be graded.{figures}</p>',
           '<h2>Gradebook</h2><div class="scroll"><table class="sortable" id="report-gradebook"><thead><tr>' +
           _sortable("name", "name") + _sortable("handout") + _sortable("total") +
           "".join(_sortable(suite) for suite in suites) + _sortable("status") + "</tr></thead><tbody>"]
    for index, result in enumerate(klass.results):
        per_suite = {suite["name"]: suite["score"] for suite in result["suites"]}
        out.append(f'<tr><td class="name" data-sort="{_e(result["name"])}"><a href="#student-{index}">'
                   f'{_e(result["name"])}</a></td><td data-sort="{_e(result.get("handout", ""))}">'
                   f'{_e(result.get("handout", ""))}</td>'
                   f'<td data-sort="{result["score"]}">{scores.shown(result["score"])}</td>' +
                   "".join(f'<td data-sort="{per_suite.get(suite, -1)}">'
                           f'{scores.shown(per_suite[suite]) if suite in per_suite else ""}</td>'
                           for suite in suites) + '<td data-sort="graded">graded</td></tr>')
    for entry in klass.not_graded:
        out.append(f'<tr><td class="name" data-sort="{_e(entry["name"])}">{_e(entry["name"])}</td>'
                   '<td data-sort=""></td><td data-sort="-1"></td>' +
                   "".join('<td data-sort="-1"></td>' for _ in suites) +
                   f'<td data-sort="could not grade" title="{_e(entry["error"])}">could not grade</td></tr>')
    out.append("</tbody></table></div>")
    out.append("<h2>Score distribution</h2>" + histogram(distribution(klass)))
    rates = [row for row in failure_rates(klass) if row[1]][:30]
    out.append("<h2>Cases failed most often</h2>")
    out.append(_bar_chart([(name, failed / seen, f"{failed}/{seen}") for name, failed, seen in rates])
               if rates else "<p>Every scored case passed for everyone.</p>")
    if pairs:
        out.append(similarity_html(pairs))
    out.append("<h2>Students</h2>")
    for index, result in enumerate(klass.results):
        out.append(f'<section id="student-{index}"><h3>{_e(result["name"])}: {scores.shown(result["score"])} / '
                   f'{scores.shown(result["max_score"])}</h3>')
        failing = [(name, case) for name, case in cases_of(result) if case["status"] != "passed"]
        if not failing:
            out.append("<p>Every case passed.</p>")
        for name, case in failing:
            kind = "tip" if case.get("advisory") else "failed"
            out.append(f'<details><summary class="{kind}">{_e(name)}: {_e(case["status"])}'
                       f'{" (advisory)" if case.get("advisory") else ""}</summary><pre>{_e(case["message"])}</pre>'
                       "</details>")
        out.append("</section>")
    for entry in klass.not_graded:
        out.append(f"<section><h3>{_e(entry['name'])}: could not grade</h3><pre>{_e(entry['error'])}</pre></section>")
    return "\n".join(out)


def similarity_html(pairs):
    """The similar pairs, most similar first, with their matching code side by side."""
    out = ["<h2>Similar code</h2>", "<p>Only the students' own code is compared: their solution blocks and what "
           "they added, not the starter the class shares. Matching regions are marked.</p>"]
    for pair in pairs:
        out.append(f"<details><summary>{_e(pair.first)} and {_e(pair.second)}: {pair.similarity:.0%} "
                   f"({pair.share_first:.0%} of {_e(pair.first)}'s code, {pair.share_second:.0%} of "
                   f"{_e(pair.second)}'s)</summary><div class=\"pair\"><div><pre>{_marked(pair.code_first, pair.slices_first)}"
                   f"</pre></div><div><pre>{_marked(pair.code_second, pair.slices_second)}</pre></div></div></details>")
    return "\n".join(out)


def _marked(code, slices):
    """``code`` escaped, with the character ranges ``slices`` in <mark>."""
    parts, position = [], 0
    for start, end in sorted(slices):
        if start < position:
            start = position
        if end <= start:
            continue
        parts.append(_e(code[position:start]))
        parts.append(f"<mark>{_e(code[start:end])}</mark>")
        position = end
    parts.append(_e(code[position:]))
    return "".join(parts)


def write_html(klass, path, pairs=()):
    results.write_text_atomic(path, render_html(klass, pairs))
