// The live log: asks the console for invocations that finished after the newest one on the page and
// appends them. Hand-written and tiny on purpose: no framework, no build step, nothing vendored.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var status = document.getElementById("live-status");
  if (!log) { return; }
  var after = log.dataset.after;
  var POLL_MS = 1000;

  function append(event) {
    var empty = document.getElementById("no-events");
    if (empty) { empty.remove(); }
    var pre = document.createElement("pre");
    pre.className = "event " + event.outcome;
    pre.dataset.requestId = event.requestId;
    pre.textContent = event.message;  // text, never HTML: a function's output is not markup
    log.appendChild(pre);
  }

  function poll() {
    fetch(log.dataset.events + "?after=" + encodeURIComponent(after), {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("the console answered " + response.status); }
        return response.json();
      })
      .then(function (body) {
        body.events.forEach(append);
        after = body.after;
        status.textContent = "Following: new invocations appear below as they finish.";
        setTimeout(poll, POLL_MS);
      })
      .catch(function (error) {
        status.textContent = "Stopped following: " + error.message + ". Reload the page to try again.";
      });
  }
  setTimeout(poll, POLL_MS);
})();
