/* Progressive behaviour: charts (uPlot, vendored), the copy and print buttons. Every page works
   without it; the numbers behind each chart are in a table on the same page. */
(function () {
  "use strict";

  function usd(micros) {
    var m = Math.round(micros), sign = m < 0 ? "-" : "";
    m = Math.abs(m);
    var whole = Math.floor(m / 1000000), frac = String(m % 1000000).padStart(6, "0");
    frac = frac.replace(/0+$/, "");
    while (frac.length < 2) frac += "0";
    return sign + "$" + whole.toLocaleString("en-US") + "." + frac;
  }

  function label(metric, v) {
    return metric === "spend_micros" ? usd(v) : Math.round(v).toLocaleString("en-US");
  }

  function draw(el, data) {
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var ink = getComputedStyle(document.documentElement).getPropertyValue("--brand").trim();
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 220,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
      axes: [
        { stroke: "#4a5060" },
        { stroke: "#4a5060", size: 80, values: function (u, vals) {
            return vals.map(function (v) { return label(data.metric, v); }); } }
      ],
      series: [
        {},
        { label: data.metric, stroke: ink, fill: ink + "cc", width: 1,
          paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } }
      ]
    };
    var chart = new uPlot(opts, [xs, data.values], el);
    el.dataset.drawn = String(data.values.length);
    window.addEventListener("resize", function () {
      chart.setSize({ width: Math.max(260, el.clientWidth), height: 220 });
    });
  }

  function charts() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("script[data-chart]").forEach(function (node) {
      var el = document.getElementById(node.getAttribute("data-chart"));
      if (el) draw(el, JSON.parse(node.textContent));
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy"));
        var status = document.getElementById("copy-status");
        var done = function () { if (status) status.textContent = "Copied to the clipboard."; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () {
            input.select(); document.execCommand("copy"); done();
          });
        } else {
          input.select(); document.execCommand("copy"); done();
        }
      });
    });
  }

  function printButtons() {
    document.querySelectorAll("button[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    charts(); copyButtons(); printButtons();
  });
})();
