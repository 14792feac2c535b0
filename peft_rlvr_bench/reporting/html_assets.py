"""The leaderboard page's inline CSS and JavaScript (``html.py`` puts them in the page: no
network, no CDN).

The script sorts (a header click toggles better-first and reverse; ``#sort=<column>:<asc|desc>``
on load), filters rows by method name, shows and hides column groups (``#hide=cost,geometry``
on load) and expands a row into its per-task rows (``#expand=all`` on load). Task rows travel
with their row when it is sorted or filtered out.
"""

from __future__ import annotations

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto;
  max-width: 1600px; padding: 0 1em; color: #1b1f24; }
h1 { font-size: 1.5em; margin-bottom: .3em; }
h2 { font-size: 1.15em; margin-top: 1.8em; }
p.legend, p.verdict { max-width: 75em; }
p.verdict { background: #f3f6fa; border-left: 4px solid #4a78b0; padding: .6em .9em; }
.controls { display: flex; flex-wrap: wrap; gap: .4em 1.2em; align-items: center; margin: .6em 0; }
.controls input[type=search] { padding: .25em .5em; min-width: 16em; }
.controls label { white-space: nowrap; }
.scroll { overflow: auto; max-height: 75vh; border: 1px solid #d0d7de; }
table { border-collapse: separate; border-spacing: 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .65em; border-bottom: 1px solid #e1e4e8; white-space: nowrap; }
th { background: #f6f8fa; position: sticky; top: 0; z-index: 2; text-align: right; cursor: pointer;
  user-select: none; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff;
  z-index: 1; border-right: 1px solid #d0d7de; }
th:first-child { z-index: 3; background: #f6f8fa; }
td { text-align: right; }
tbody tr:hover td { outline: 1px solid #c8d7ea; }
tr.base td { color: #57606a; }
tr.derived td:first-child { padding-left: 1.6em; font-style: italic; }
tr.best td { font-weight: 600; }
tr.task td { font-size: .9em; color: #3d444d; background: #fbfcfd; }
tr.task td:first-child { padding-left: 2.2em; }
td .runs { font-size: .8em; margin-left: .4em; }
td .runs a { color: #4a78b0; margin-left: .15em; }
button.expand { border: none; background: none; cursor: pointer; padding: 0 .3em 0 0; font-size: .9em; }
td.contended { text-decoration: underline dotted #c68a00; }
.mark { color: #c68a00; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: .75em; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: .75em; }
dl dt { font-weight: 600; margin-top: .5em; }
dl dd { margin-left: 1.5em; }
footer { margin-top: 2em; padding-top: .6em; border-top: 1px solid #d0d7de; color: #57606a; font-size: .9em; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; }
footer dt { margin: 0; } footer dd { margin: 0; }
img { max-width: 100%; border: 1px solid #e1e4e8; }
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell.getAttribute("data-value");
    if (type === "number") {
      return raw === null || raw === "" ? null : parseFloat(raw);
    }
    return (raw === null ? cell.textContent : raw).toLowerCase();
  }
  function tasksOf(body, method) {
    return Array.prototype.filter.call(body.rows, function (r) {
      return r.getAttribute("data-parent") === method;
    });
  }
  function sortTable(table, column, order) {
    var headers = table.tHead.rows[0].cells, index = -1;
    for (var i = 0; i < headers.length; i++) {
      if (headers[i].getAttribute("data-key") === column) { index = i; }
      headers[i].removeAttribute("aria-sort");
    }
    if (index < 0) { return false; }
    var type = headers[index].getAttribute("data-type");
    var body = table.tBodies[0];
    var rows = Array.prototype.filter.call(body.rows, function (r) {
      return !r.hasAttribute("data-parent");
    });
    var tasks = {};
    rows.forEach(function (row) {
      var method = row.getAttribute("data-method");
      tasks[method] = tasksOf(body, method);
    });
    rows.sort(function (a, b) {
      var x = key(a.cells[index], type), y = key(b.cells[index], type);
      var tie = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
      if (x === null || y === null) { return x === y ? tie : (x === null ? 1 : -1); }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return (order === "desc" ? -c : c) || tie;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
      (tasks[row.getAttribute("data-method")] || []).forEach(function (t) { body.appendChild(t); });
    });
    headers[index].setAttribute("aria-sort", order === "desc" ? "descending" : "ascending");
    return true;
  }
  function setExpanded(row, open) {
    var button = row.querySelector("button.expand");
    if (!button) { return; }
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.textContent = open ? "\\u25BE" : "\\u25B8";
    tasksOf(row.parentNode, row.getAttribute("data-method")).forEach(function (t) {
      t.hidden = !open || row.hidden;
    });
  }
  function applyFilter(board, text) {
    text = text.toLowerCase();
    Array.prototype.forEach.call(board.tBodies[0].rows, function (row) {
      if (row.hasAttribute("data-parent")) { return; }
      row.hidden = text !== "" && row.getAttribute("data-method").toLowerCase().indexOf(text) < 0;
      var button = row.querySelector("button.expand");
      setExpanded(row, button ? button.getAttribute("aria-expanded") === "true" : false);
    });
  }
  function setGroup(group, shown) {
    document.body.classList.toggle("hide-" + group, !shown);
    var box = document.querySelector('#groups input[data-group="' + group + '"]');
    if (box) {
      box.checked = shown;
      if (shown) { box.setAttribute("checked", ""); } else { box.removeAttribute("checked"); }
    }
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var order = current ? (current === "ascending" ? "desc" : "asc") : th.getAttribute("data-first");
        var column = th.getAttribute("data-key");
        sortTable(table, column, order);
        if (table.id === "leaderboard") {
          try { history.replaceState(null, "", "#sort=" + column + ":" + order); } catch (e) { /* file: */ }
        }
      });
    });
  });
  var board = document.getElementById("leaderboard");
  if (board) {
    Array.prototype.forEach.call(board.querySelectorAll("button.expand"), function (button) {
      button.addEventListener("click", function (event) {
        event.stopPropagation();
        var row = button.closest("tr");
        setExpanded(row, button.getAttribute("aria-expanded") !== "true");
      });
    });
    var filter = document.getElementById("filter");
    if (filter) { filter.addEventListener("input", function () { applyFilter(board, filter.value); }); }
    Array.prototype.forEach.call(document.querySelectorAll("#groups input"), function (box) {
      box.addEventListener("change", function () { setGroup(box.getAttribute("data-group"), box.checked); });
    });
    var all = document.getElementById("expand-all");
    if (all) {
      all.addEventListener("click", function () {
        var open = all.getAttribute("aria-pressed") !== "true";
        all.setAttribute("aria-pressed", open ? "true" : "false");
        Array.prototype.forEach.call(board.tBodies[0].rows, function (r) { setExpanded(r, open); });
      });
    }
  }
  var hash = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  hash.split("&").forEach(function (part) {
    var sort = /^sort=([^:]+):(asc|desc)$/.exec(part);
    if (sort && board) { sortTable(board, sort[1], sort[2]); }
    var hide = /^hide=(.+)$/.exec(part);
    if (hide) { hide[1].split(",").forEach(function (g) { setGroup(g, false); }); }
    if (part === "expand=all" && board) {
      Array.prototype.forEach.call(board.tBodies[0].rows, function (r) { setExpanded(r, true); });
    }
    var filter = /^filter=(.*)$/.exec(part);
    if (filter && board) {
      var box = document.getElementById("filter");
      if (box) { box.value = filter[1]; }
      applyFilter(board, filter[1]);
    }
  });
})();
"""
