// The live log: asks the console for the lines since the newest one on the page, drops those it already
// shows (lines of one invocation share its timestamp) and appends the rest. Hand-written and tiny on
// purpose: no framework, no build step, nothing vendored.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var status = document.getElementById("live-status");
  if (!log) { return; }
  var since = log.dataset.since;
  var seen = new Set();
  log.querySelectorAll(".line").forEach(function (line) { seen.add(line.dataset.eventId); });
  var POLL_MS = 1000;

  function cell(className, text) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = text;  // text, never HTML: a function's output is not markup
    return span;
  }

  function append(event) {
    if (seen.has(event.eventId)) { return; }
    seen.add(event.eventId);
    var empty = document.getElementById("no-events");
    if (empty) { empty.remove(); }
    var line = document.createElement("div");
    line.className = "line";
    line.dataset.eventId = event.eventId;
    line.appendChild(cell("time", new Date(event.timestamp).toISOString().slice(11, 23)));
    line.appendChild(cell("stream", event.logStreamName.slice(-8)));
    line.appendChild(cell("message", event.message));
    log.appendChild(line);
    since = Math.max(Number(since), event.timestamp);
  }

  function poll() {
    var query = "?since=" + encodeURIComponent(since) + "&filter=" + encodeURIComponent(log.dataset.filter);
    fetch(log.dataset.events + query, {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("the console answered " + response.status); }
        return response.json();
      })
      .then(function (body) {
        body.events.forEach(append);
        setTimeout(poll, POLL_MS);
      })
      .catch(function (error) {
        status.textContent = "Stopped following: " + error.message + ". Reload the page to try again.";
      });
  }
  setTimeout(poll, POLL_MS);
})();
