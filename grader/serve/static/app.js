// The pages' own script (no other runs: see the Content-Security-Policy). It keeps what a page
// shows current by asking the JSON API, and never reloads the page. Everything it writes goes in
// through textContent, except the feedback fragment, which the server renders and escapes.
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

function cell(row, text, href, className) {
  var td = row.insertCell();
  if (className) { td.className = className; }
  if (href) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    td.appendChild(a);
  } else {
    td.textContent = text;
  }
  td.setAttribute("data-sort", text);
  return td;
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
        if (row) {
          var status = row.querySelector(".status");
          status.textContent = s.summary;
          status.setAttribute("data-status", s.status);
        }
      });
      return true;
    });
  });
}

// One submission: its state, then its feedback once graded.
function watchSubmission(status) {
  if (!unfinished(status.getAttribute("data-status"))) { return; }
  every(1000, function () {
    return getJSON(status.getAttribute("data-live")).then(function (s) {
      status.textContent = s.summary;
      status.setAttribute("data-status", s.status);
      if (unfinished(s.status)) { return true; }
      var feedback = document.getElementById("feedback");
      return fetch(feedback.getAttribute("data-fragment"), {credentials: "same-origin"}).then(function (reply) {
        return reply.text();
      }).then(function (html) {
        feedback.innerHTML = html;
        return false;
      });
    });
  });
}

// The instructor's gradebook: rows rebuilt from the API, sorted by the column last clicked.
function watchGradebook(table) {
  var sortKey = null, ascending = true;
  var headers = table.tHead.rows[table.tHead.rows.length - 1].cells;   // below the column groups
  var keys = Array.prototype.map.call(headers, function (th) { return th.getAttribute("data-key"); });
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
          var name = cell(tr, r.student, "/instructor/students/" + encodeURIComponent(r.student), "name");
          if (r.warnings && r.warnings.length) {   // the counted submission's files disagree with the course's year
            var flag = document.createElement("span");
            flag.className = "flag";
            flag.title = r.warnings.join(" ");
            flag.textContent = "warning";
            name.appendChild(document.createTextNode(" "));
            name.appendChild(flag);
          }
        }
        else if (key === "counted") { cell(tr, r.counted ? "#" + r.counted : "", r.counted ? "/submissions/" + r.counted : null); }
        else if (key === "why") { cell(tr, r.why, null, "name"); }
        else if (key === "score") { cell(tr, points(r.score)); }
        else if (key.indexOf("suite:") === 0) { cell(tr, points(r.suites[key.slice(6)])); }
        else if (key.indexOf("value:") === 0) {
          var v = r.values_submitted[key.slice(6)];
          cell(tr, v ? v.correct + "/" + v.total : "", null, "values");
        }
        else { cell(tr, String(r[key])); }
      });
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  Array.prototype.forEach.call(headers, function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      if (!latest) {
        getJSON(table.getAttribute("data-live")).then(function (rows) { latest = rows; render(); });
      } else {
        render();
      }
    });
  });
  every(5000, function () {
    return getJSON(table.getAttribute("data-live")).then(function (rows) { latest = rows; render(); return true; });
  });
}

// The instructor's queue: waiting, running and could-not-grade lists.
function watchQueue(box) {
  var columns = {
    waiting: function (tr, j) {
      cell(tr, String(j.position)); cell(tr, "#" + j.submission, "/submissions/" + j.submission);
      cell(tr, j.student); cell(tr, j.purpose); cell(tr, j.enqueued_at);
    },
    running: function (tr, j) {
      cell(tr, "#" + j.submission, "/submissions/" + j.submission); cell(tr, j.student); cell(tr, j.purpose);
      cell(tr, j.cases_done + " of " + (j.cases_total || "?")); cell(tr, j.worker || ""); cell(tr, String(j.attempts));
    },
    failed: function (tr, j) {
      cell(tr, "#" + j.submission, "/submissions/" + j.submission); cell(tr, j.student); cell(tr, j.purpose);
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
        body.parentNode.replaceChild(fresh, body);
        box.querySelector('[data-count="' + name + '"]').textContent = String(lists[name].length);
      });
      return true;
    });
  });
}

// A size as the server words it (uploads.megabytes): "5 MB", "0.5 MB", "12 KB".
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
