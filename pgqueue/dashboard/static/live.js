// The overview's live figures: one EventSource on /events, whose snapshots
// come from a single read of the database shared by every open page.
(function () {
  "use strict";
  var WIDTH = 600, HEIGHT = 120, BAR = 10;
  var OUTCOMES = ["COMPLETED", "FAILED", "CANCELLED"];
  var NS = "http://www.w3.org/2000/svg";

  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }
  function number(n) { return Number(n || 0).toLocaleString("en-US"); }
  // as pgqueue.durations.age writes it on the server
  function age(seconds) {
    if (seconds === null || seconds === undefined) { return "-"; }
    seconds = Math.max(seconds, 0);
    var units = [["d", 86400], ["h", 3600], ["m", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) { return (seconds / units[i][1]).toFixed(1) + units[i][0]; }
    }
    return seconds.toFixed(1) + "s";
  }
  function chart(throughput) {
    var svg = document.getElementById("chart");
    if (!svg) { return; }
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var peak = 1;
    throughput.forEach(function (m) {
      var total = 0;
      Object.keys(m[1]).forEach(function (k) { total += m[1][k]; });
      peak = Math.max(peak, total);
    });
    throughput.forEach(function (m, i) {
      var base = HEIGHT;
      OUTCOMES.forEach(function (outcome) {
        var n = m[1][outcome] || 0;
        if (!n) { return; }
        var h = n / peak * HEIGHT;
        base -= h;
        var rect = document.createElementNS(NS, "rect");
        rect.setAttribute("x", i * BAR);
        rect.setAttribute("y", base);
        rect.setAttribute("width", BAR - 1);
        rect.setAttribute("height", h);
        rect.setAttribute("class", outcome.toLowerCase());
        var title = document.createElementNS(NS, "title");
        title.textContent = n + " " + outcome;
        rect.appendChild(title);
        svg.appendChild(rect);
      });
    });
  }
  var script = document.currentScript;
  var source = new EventSource(script ? script.getAttribute("data-events") : "events");
  source.onmessage = function (event) {
    var s = JSON.parse(event.data);
    if (s.error) { set("live-state", "cannot read: " + s.error); return; }
    set("running", number(s.running));
    set("live-slots", number(s.live_slots));
    set("live-workers", number(s.live_workers));
    set("oldest-due", age(s.oldest_due_seconds));
    set("failed-last-hour", number(s.failed_last_hour));
    ["PENDING", "CLAIMED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"].forEach(function (state) {
      set("count-" + state.toLowerCase(), number(s.by_state[state]));
    });
    var estimated = document.getElementById("estimated");
    if (estimated) { estimated.hidden = !s.estimated; }
    chart(s.throughput);
    set("live-state", "updated " + new Date(s.read_at * 1000).toLocaleTimeString());
  };
  source.onerror = function () { set("live-state", "reconnecting…"); };
})();
