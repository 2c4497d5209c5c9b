// flowplan dashboard: the run page's live parts, plain JavaScript, no build step.
// Log lines and statuses arrive as server-sent events and are inserted as text, never as HTML.
(function () {
  "use strict";
  var run = document.getElementById("run");
  if (!run || !window.EventSource || run.dataset.finished === "yes") {
    return;
  }
  var shownStatus = run.dataset.status;
  var url = run.dataset.events;
  if (run.dataset.cursor) {
    url += "?after=" + encodeURIComponent(run.dataset.cursor);
  }
  var source = new EventSource(url);
  var reloading = false;

  function reload() {
    if (!reloading) {
      reloading = true;
      source.close();
      window.setTimeout(function () { window.location.reload(); }, 150);
    }
  }

  source.addEventListener("log", function (event) {
    var line = JSON.parse(event.data);
    var log = document.querySelector('pre.log[data-log-for="' + String(Number(line.step)) + '"]');
    if (!log) {
      reload();   // a step the page does not show yet (a new attempt)
      return;
    }
    var span = document.createElement("span");
    span.className = "line live " + (line.stream === "stderr" || line.stream === "system" ? line.stream : "stdout");
    span.textContent = line.text;
    log.appendChild(span);
    log.appendChild(document.createTextNode("\n"));
    var box = log.closest("details");
    if (box) { box.open = true; }
    log.scrollTop = log.scrollHeight;
  });

  source.addEventListener("status", function (event) {
    var status = JSON.parse(event.data);
    Object.keys(status.steps).forEach(function (id) {
      var badge = document.querySelector('details[data-step-id="' + String(Number(id)) + '"] [data-step-status]');
      if (!badge) {
        reload();
        return;
      }
      badge.textContent = status.steps[id];
      badge.className = "status status-" + status.steps[id];
    });
    if (status.run !== shownStatus) {
      reload();   // new buttons, durations, artifacts: the server renders them
    }
  });

  source.addEventListener("end", function () {
    source.close();
    reload();
  });
}());
