// The live page: each delivery the server sends is prepended to the table,
// as text (never as HTML), newest first, at most 500 rows.
(function () {
  "use strict";
  var table = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!table || !window.EventSource) {
    if (status) status.textContent = "This browser cannot show live deliveries.";
    return;
  }
  var body = table.tBodies[0];
  var source = new EventSource(table.getAttribute("data-stream"));
  var count = 0;
  function cell(row, text, cls) {
    var td = row.insertCell(-1);
    td.textContent = text;
    if (cls) td.className = cls;
  }
  source.addEventListener("open", function () {
    status.textContent = "Watching: new deliveries appear here as ingest accepts them.";
  });
  source.addEventListener("error", function () {
    status.textContent = "Disconnected; reconnecting…";
  });
  source.addEventListener("failure", function () {
    status.textContent = "The stream is unavailable; retrying…";
  });
  source.addEventListener("delivery", function (e) {
    var d = JSON.parse(e.data);
    var row = body.insertRow(0);
    row.className = "fresh";
    cell(row, d.time.replace("T", " ").replace(/\.\d+Z$/, "Z"));
    cell(row, d.source);
    cell(row, d.type);
    cell(row, d.contact || "");
    cell(row, d.summary);
    cell(row, d.key || d.dedupe_key, "mono");
    count++;
    status.textContent = count + " new event" + (count === 1 ? "" : "s") + " since this page opened.";
    while (body.rows.length > 500) body.deleteRow(-1);
  });
})();
