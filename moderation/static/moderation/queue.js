// The queue page's keyboard shortcuts and selection (templates/moderation/queue.html).
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.item"));
  var decide = document.getElementById("decide");
  var help = document.getElementById("help");
  var cursor = 0;
  var leavingWithin = false;

  function boxes() { return rows.map(function (row) { return row.querySelector("input[type=checkbox]"); }); }
  function refresh() {
    var n = 0;
    rows.forEach(function (row) {
      var on = row.querySelector("input[type=checkbox]").checked;
      row.classList.toggle("selected", on);
      if (on) n += 1;
    });
    // The words come from the page, in the reviewer's language (data-format holds "__N__ selected").
    var count = document.getElementById("selected-count");
    count.textContent = (count.dataset.format || "__N__ selected").replace("__N__", n.toLocaleString(document.documentElement.lang || undefined));
    document.getElementById("blind-selected").disabled = n === 0;
    document.getElementById("keep-selected").disabled = n === 0;
  }
  function moveTo(i) {
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (row, j) { row.classList.toggle("cursor", j === cursor); });
    rows[cursor].scrollIntoView({ block: "nearest" });
  }
  function toggle() {
    if (!rows.length) return;
    var box = rows[cursor].querySelector("input[type=checkbox]");
    box.checked = !box.checked;
    refresh();
  }
  function act(kind) {
    if (!rows.length) return;
    if (!boxes().some(function (b) { return b.checked; })) {
      rows[cursor].querySelector("input[type=checkbox]").checked = true;
      refresh();
    }
    document.getElementById("decide-action").value = kind;
    leavingWithin = true;
    decide.submit();
  }
  function go(id) {
    var el = document.getElementById(id);
    if (!el) return;
    leavingWithin = true;
    if (el.tagName === "A") { window.location.href = el.href; } else { el.requestSubmit ? el.requestSubmit() : el.submit(); }
  }

  rows.forEach(function (row, i) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a, details, summary, input")) { moveTo(i); refresh(); return; }
      moveTo(i);
    });
  });
  document.getElementById("select-all") && document.getElementById("select-all").addEventListener("change", function (e) {
    boxes().forEach(function (b) { b.checked = e.target.checked; });
    refresh();
  });
  decide.addEventListener("submit", function () { leavingWithin = true; });
  document.querySelectorAll("form").forEach(function (f) { f.addEventListener("submit", function () { leavingWithin = true; }); });
  document.querySelectorAll("#next-page, .pager a").forEach(function (a) { a.addEventListener("click", function () { leavingWithin = true; }); });
  document.querySelectorAll("button[form=decide]").forEach(function (button) {
    button.addEventListener("click", function () { document.getElementById("decide-action").value = button.value; });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    if (t.matches && t.matches("input:not([type=checkbox]), select, textarea")) {
      if (event.key === "Escape") t.blur();
      return;
    }
    var key = event.key;
    if (help.classList.contains("open") && key !== "?" && key !== "Escape") return;
    switch (key) {
      case "j": case "ArrowDown": moveTo(cursor + 1); break;
      case "k": case "ArrowUp": moveTo(cursor - 1); break;
      case "x": case " ": toggle(); break;
      case "b": act("blind"); break;
      case "e": act("keep"); break;
      case "u": go("undo-last"); break;
      case "n": go("next-page"); break;
      case "?": help.classList.toggle("open"); break;
      case "Escape": help.classList.remove("open"); break;
      default: return;
    }
    event.preventDefault();
  });
  help.addEventListener("click", function (e) { if (e.target === help) help.classList.remove("open"); });

  // Leaving the queue for another page ends this reviewer's holds at once.
  window.addEventListener("pagehide", function () {
    if (leavingWithin || !navigator.sendBeacon) return;
    var data = new FormData();
    data.append("csrfmiddlewaretoken", decide.querySelector("[name=csrfmiddlewaretoken]").value);
    navigator.sendBeacon(decide.dataset.releaseUrl, data);
  });

  moveTo(0);
  refresh();
})();
