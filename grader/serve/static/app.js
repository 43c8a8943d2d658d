// The pages' own script (no other runs: see the Content-Security-Policy). It keeps what a page
// shows current by asking the JSON API, and never reloads the page. Everything it writes goes in
// through textContent, except the feedback fragment, which the server renders and escapes.
// Changes a screen reader should hear go to the page's live regions (role="status").
"use strict";

function getJSON(url) {
  return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (reply) {
    if (!reply.ok) { throw new Error(url + ": " + reply.status); }
    return reply.json();
  });
}

function every(milliseconds, step) {
  // step() returns a promise of whether to go on; an error waits and tries again
  function tick() {
    step().then(function (goOn) { if (goOn) { setTimeout(tick, milliseconds); } },
                function () { setTimeout(tick, milliseconds * 3); });
  }
  setTimeout(tick, milliseconds);
}

function unfinished(status) { return status === "queued" || status === "running"; }

function points(value) {
  if (value === null || value === undefined) { return ""; }
  return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

// Times, as the server writes them (times.py): "3 min ago" within a day, else the date in the course's zone.
var ZONE = document.documentElement.getAttribute("data-zone") || "UTC";

function ago(iso) {
  var seconds = (Date.now() - Date.parse(iso)) / 1000, size = Math.abs(seconds);
  if (size >= 86400) { return null; }
  if (size < 60) { return "just now"; }
  var amount = size < 3600 ? Math.round(size / 60) + " min" : Math.round(size / 3600) + " h";
  return seconds > 0 ? amount + " ago" : "in " + amount;
}

function inWords(iso) {
  var parts = {};
  new Intl.DateTimeFormat("en-US", {timeZone: ZONE, weekday: "short", day: "numeric", month: "short",
                                    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"})
    .formatToParts(new Date(iso)).forEach(function (part) { parts[part.type] = part.value; });
  return parts.weekday + " " + parts.day + " " + parts.month + ", " + parts.hour + ":" + parts.minute + " " +
    parts.timeZoneName;
}

function timeElement(iso) {
  var time = document.createElement("time");
  if (!iso) { time.textContent = ""; return time; }
  time.setAttribute("datetime", iso);
  time.title = inWords(iso);
  time.textContent = ago(iso) || time.title;
  return time;
}

function keepTimesCurrent() {
  setInterval(function () {
    document.querySelectorAll("time[data-relative]").forEach(function (time) {
      time.textContent = ago(time.getAttribute("datetime")) || time.title;
    });
  }, 30000);
}

function cell(row, content, options) {
  options = options || {};
  var td = document.createElement(options.header ? "th" : "td");
  if (options.header) { td.setAttribute("scope", "row"); }
  if (options.className) { td.className = options.className; }
  if (content instanceof Node) {
    td.appendChild(content);
  } else if (options.href) {
    var a = document.createElement("a");
    a.href = options.href;
    a.textContent = content;
    td.appendChild(a);
  } else {
    td.textContent = content;
  }
  row.appendChild(td);
  return td;
}

function announce(id, text) {
  var region = document.getElementById(id);
  if (region) { region.textContent = text; }
}

// A submission's state as _status.html writes it: a badge, then the rest in words.
function showStatus(element, s) {
  var badge = document.createElement("span");
  var word = s.status === "could not grade" ? "not graded" : s.status;
  badge.className = "badge " + (s.status === "graded" ? "pass" : s.status === "could not grade" ? "fail" : "wait");
  badge.textContent = word;
  // a score's "100 / 100" never breaks across lines
  var rest = s.status === "graded" ? s.score_line.replace(/ \/ /g, "\u00a0/\u00a0") :
    s.status === "could not grade" ? "could not grade" :
    s.summary.split(": ").slice(1).join(": ") || s.summary;
  element.textContent = "";
  element.appendChild(badge);
  element.appendChild(document.createTextNode(" " + rest));
  element.setAttribute("data-status", s.status);
}

// A student's list of submissions: each row's state, while any is waiting or running.
function watchList(table) {
  every(1500, function () {
    var rows = table.querySelectorAll("tr[data-id]");
    var open = Array.prototype.some.call(rows, function (row) {
      return unfinished(row.querySelector(".status").getAttribute("data-status"));
    });
    if (!open) { return Promise.resolve(false); }
    return getJSON(table.getAttribute("data-live")).then(function (submissions) {
      submissions.forEach(function (s) {
        var row = table.querySelector('tr[data-id="' + s.id + '"]');
        if (!row) { return; }
        var status = row.querySelector(".status");
        if (status.getAttribute("data-status") !== s.status) {
          announce("announce", "Submission " + s.id + ": " + s.summary);
        }
        showStatus(status, s);
      });
      return true;
    });
  });
}

// One submission: its state and progress, then its feedback once graded.
function watchSubmission(status) {
  if (!unfinished(status.getAttribute("data-status"))) { return; }
  var progress = document.getElementById("progress"), line = document.getElementById("progress-line");
  every(1000, function () {
    return getJSON(status.getAttribute("data-live")).then(function (s) {
      if (status.textContent !== s.summary) { status.textContent = s.summary; }
      status.setAttribute("data-status", s.status);
      if (s.status === "running" && s.cases_total) {
        line.hidden = false;
        progress.max = s.cases_total;
        progress.value = s.cases_done;
        progress.textContent = s.cases_done + " of " + s.cases_total;
      } else {
        line.hidden = true;
      }
      if (unfinished(s.status)) { return true; }
      var feedback = document.getElementById("feedback");
      // an error page or the sign-in page (an expired session) is never put in the box: it fails, and is tried again
      return fetch(feedback.getAttribute("data-fragment"), {credentials: "same-origin"}).then(function (reply) {
        if (!reply.ok || reply.redirected) { throw new Error(reply.url + ": " + reply.status); }
        return reply.text();
      }).then(function (html) {
        feedback.innerHTML = html;
        return false;
      });
    });
  });
}

// The instructor's gradebook: rows rebuilt from the API, sorted by the column last chosen; groups shown or hidden.
function watchGradebook(table) {
  var sortKey = null, ascending = true;
  var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-key]"));
  var keys = headers.map(function (th) { return th.getAttribute("data-key"); });
  var latest = null;

  function value(row, key) {
    if (key.indexOf("suite:") === 0) {
      var score = row.suites[key.slice(6)];
      return score === undefined ? -1 : score;
    }
    if (key.indexOf("value:") === 0) {
      var values = row.values_submitted[key.slice(6)];
      return values ? values.correct / values.total : -1;
    }
    var v = row[key];
    return v === null || v === undefined ? -1 : v;
  }

  function render() {
    if (!latest) { return; }
    var rows = latest.slice();
    if (sortKey) {
      rows.sort(function (a, b) {
        var x = value(a, sortKey), y = value(b, sortKey);
        var order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
    }
    var body = document.createElement("tbody");
    rows.forEach(function (r) {
      var tr = body.insertRow();
      keys.forEach(function (key) {
        if (key === "student") {
          var name = cell(tr, r.student, {href: "/instructor/students/" + encodeURIComponent(r.student),
                                          header: true, className: "student"});
          if (r.warnings && r.warnings.length) {   // the counted submission's files disagree with the course's year
            var flag = document.createElement("span");
            flag.className = "flag";
            flag.title = r.warnings.join(" ");
            flag.textContent = "warning";
            name.appendChild(document.createTextNode(" "));
            name.appendChild(flag);
          }
        } else if (key === "counted") {
          cell(tr, r.counted ? "#" + r.counted : "", {href: r.counted ? "/submissions/" + r.counted : null});
        } else if (key === "why") { cell(tr, r.why, {className: "why"}); }
        else if (key === "score") { cell(tr, points(r.score), {className: "num"}); }
        else if (key.indexOf("suite:") === 0) { cell(tr, points(r.suites[key.slice(6)]), {className: "num suite"}); }
        else if (key.indexOf("value:") === 0) {
          var v = r.values_submitted[key.slice(6)];
          cell(tr, v ? v.correct + "/" + v.total : "", {className: "num values"});
        }
        else { cell(tr, String(r[key]), {className: "num"}); }
      });
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  headers.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      announce("sorted", "Sorted by " + th.textContent + ", " + (ascending ? "lowest first" : "highest first"));
      if (!latest) {
        getJSON(table.getAttribute("data-live")).then(function (rows) { latest = rows; render(); });
      } else {
        render();
      }
    });
  });

  var groups = document.getElementById("groups");
  if (groups) {
    groups.hidden = false;
    groups.querySelectorAll("button[data-group]").forEach(function (button) {
      var name = button.getAttribute("data-group"), stored = "gradebook-hide-" + name;
      function apply(shown) {
        button.setAttribute("aria-pressed", shown ? "true" : "false");
        table.classList.toggle("hide-" + name, !shown);
      }
      apply(window.localStorage.getItem(stored) !== "1");
      button.addEventListener("click", function () {
        var shown = button.getAttribute("aria-pressed") !== "true";
        window.localStorage.setItem(stored, shown ? "0" : "1");
        apply(shown);
      });
    });
  }

  every(5000, function () {
    return getJSON(table.getAttribute("data-live")).then(function (rows) { latest = rows; render(); return true; });
  });
}

// The instructor's queue: waiting, running and could-not-grade lists.
function watchQueue(box) {
  function progress(j) {
    var bar = document.createElement("progress");
    bar.max = j.cases_total || 1;
    bar.value = j.cases_done;
    bar.setAttribute("aria-label", "cases graded of submission " + j.submission);
    var holder = document.createElement("span");
    holder.appendChild(bar);
    holder.appendChild(document.createTextNode(" " + j.cases_done + " of " + (j.cases_total || "?")));
    return holder;
  }
  function submission(tr, j) { cell(tr, "#" + j.submission, {href: "/submissions/" + j.submission}); }
  var empty = {waiting: ["Nothing is waiting.", 5], running: ["Nothing is being graded.", 7],
               failed: ["Nothing so far.", 6]};
  var columns = {
    waiting: function (tr, j) {
      cell(tr, String(j.position), {className: "num"}); submission(tr, j);
      cell(tr, j.student); cell(tr, j.purpose); cell(tr, timeElement(j.enqueued_at));
    },
    running: function (tr, j) {
      submission(tr, j); cell(tr, j.student); cell(tr, j.purpose); cell(tr, progress(j));
      cell(tr, timeElement(j.started_at)); cell(tr, j.worker || "", {className: "mono"});
      cell(tr, String(j.attempts), {className: "num"});
    },
    failed: function (tr, j) {
      submission(tr, j); cell(tr, j.student); cell(tr, j.purpose); cell(tr, timeElement(j.finished_at));
      cell(tr, j.error || ""); cell(tr, j.internal ? "yes" : "no");
    }
  };
  every(2000, function () {
    return getJSON(box.getAttribute("data-live")).then(function (lists) {
      Object.keys(columns).forEach(function (name) {
        var body = box.querySelector('[data-list="' + name + '"]');
        var fresh = document.createElement("tbody");
        fresh.setAttribute("data-list", name);
        lists[name].forEach(function (job) { columns[name](fresh.insertRow(), job); });
        if (!lists[name].length) {
          cell(fresh.insertRow(), empty[name][0], {className: "empty"}).colSpan = empty[name][1];
        }
        body.parentNode.replaceChild(fresh, body);
        var count = box.querySelector('[data-count="' + name + '"]');
        if (count.textContent !== String(lists[name].length)) { count.textContent = String(lists[name].length); }
      });
      return true;
    });
  });
}

// A size as the server words it (times.megabytes): "5 MB", "0.5 MB", "12 KB".
function megabytes(count) {
  if (count * 10 < 1024 * 1024) { return Math.max(1, Math.floor((count + 512) / 1024)) + " KB"; }
  var tenths = Math.floor((count * 10 + 512 * 1024) / (1024 * 1024));
  return Math.floor(tenths / 10) + (tenths % 10 ? "." + (tenths % 10) : "") + " MB";
}

// The upload form: an archive beyond the course's cap is refused here, before it is sent (the server
// refuses it too, but a browser may show a large upload cut off as a broken connection).
function checkUploads(form) {
  var limit = Number(form.getAttribute("data-max-bytes"));
  var input = form.querySelector('input[type="file"]');
  var shown = document.getElementById("upload-message");   // the server's refusal, if any, until a file is chosen

  function refusal() {
    var file = input.files && input.files[0];
    if (!file || !limit || file.size <= limit) { return null; }
    return file.name + " is " + megabytes(file.size) + ": this course accepts archives of up to " +
      megabytes(limit) + ". Put only python/ and apps/ in it.";
  }
  function show() {
    var text = refusal();
    shown.textContent = text || "";
    shown.hidden = !text;
    return text;
  }
  input.addEventListener("change", show);
  form.addEventListener("submit", function (event) {
    if (show()) { event.preventDefault(); input.focus(); }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  keepTimesCurrent();
  var upload = document.getElementById("upload");
  if (upload) { checkUploads(upload); }
  var list = document.getElementById("submissions");
  if (list) { watchList(list); }
  var status = document.getElementById("status");
  if (status) { watchSubmission(status); }
  var book = document.getElementById("gradebook");
  if (book) { watchGradebook(book); }
  var queue = document.getElementById("queue");
  if (queue) { watchQueue(queue); }
});
