// Okno workspace: live SLA countdowns and j/k/Enter in the queue. The pages work without it.
(function () {
  "use strict";
  function left(ms) {
    var sign = ms < 0 ? "-" : "";
    var m = Math.floor(Math.abs(ms) / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60);
    m = m % 60;
    if (d) return sign + d + "d " + h + "h";
    if (h) return sign + h + "h " + (m < 10 ? "0" : "") + m + "m";
    return sign + m + "m";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-due")) - now;
      el.textContent = left(ms);
      el.classList.toggle("overdue", ms < 0);
    });
  }
  var selected = null;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue-rows tr[data-href]")); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) return;
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    row.scrollIntoView({ block: "nearest" });
    selected = row.getAttribute("data-href");
  }
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var all = rows();
    if (!all.length) return;
    var i = all.findIndex(function (r) { return r.getAttribute("data-href") === selected; });
    if (ev.key === "j") { select(all[Math.min(i + 1, all.length - 1)]); ev.preventDefault(); }
    else if (ev.key === "k") { select(all[Math.max(i - 1, 0)]); ev.preventDefault(); }
    else if (ev.key === "Enter" && i >= 0) { window.location.href = selected; ev.preventDefault(); }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var keep = rows().filter(function (r) { return r.getAttribute("data-href") === selected; })[0];
    if (keep) select(keep);
    tick();
  });
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
