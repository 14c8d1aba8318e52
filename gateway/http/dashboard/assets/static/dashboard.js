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

  // An axis steps by whole cents (spend) or whole counts, so no two ticks read alike
  // ("$0.000001" three times on an empty chart).
  function steps(metric) {
    var out = [];
    for (var m = metric === "spend_micros" ? 10000 : 1; m < 1e16; m *= 10) out.push(m, 2 * m, 5 * m);
    return out;
  }

  function nothing(data) {
    return data.values.every(function (v) { return v === 0; });
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Stacked bars: each part drawn as a bar up to the sum of it and the parts below it,
  // the highest sum first, so each lower part paints over the one above it.
  function stackedSeries(data) {
    var parts = data.series && data.series.length ? data.series : [{ label: "All", values: data.values }];
    var sums = [], running = data.days.map(function () { return 0; });
    parts.forEach(function (part) {
      running = running.map(function (v, i) { return v + part.values[i]; });
      sums.push(running);
    });
    var series = [{}], ys = [];
    for (var i = parts.length - 1; i >= 0; i--) {
      var colour = css("--s" + Math.min(i, 5));
      series.push({ label: parts[i].label, stroke: colour, fill: colour, width: 0,
        paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } });
      ys.push(sums[i]);
    }
    return { series: series, ys: ys };
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // Weeks and months are labelled at their own first day (every other one when narrow);
  // days keep uPlot's own ticks.
  function xAxis(data, xs, el, muted, line) {
    var axis = { stroke: muted, grid: { stroke: line }, ticks: { stroke: line } };
    if (data.granularity === "day") return axis;
    axis.splits = function () { return xs; };
    axis.values = function (u, vals) {
      var step = u.width < 600 ? 2 : 1;
      return vals.map(function (v, i) {
        if ((xs.length - 1 - i) % step) return "";
        var d = new Date(v * 1000);
        return data.granularity === "month"
          ? MONTHS[d.getUTCMonth()] + (d.getUTCMonth() === 0 || i === 0 ? " " + d.getUTCFullYear() : "")
          : (d.getUTCMonth() + 1) + "/" + d.getUTCDate();
      });
    };
    return axis;
  }

  function draw(el, data) {
    if (nothing(data)) {  // an empty chart says so instead of an axis of zeros
      el.textContent = "Nothing to chart in this period yet.";
      el.classList.add("plot-empty");
      el.dataset.drawn = String(data.days.length);
      el.dataset.parts = "0";
      return;
    }
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var muted = css("--muted"), line = css("--line");
    var stack = stackedSeries(data);
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 220,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: function (u, min, max) {  // half a bucket each side: no bar cut
          var half = (xs.length > 1 ? xs[1] - xs[0] : 86400) / 2;
          return [xs[0] - half, xs[xs.length - 1] + half];
        } },
        y: { range: function (u, min, max) { return [0, Math.max(max, steps(data.metric)[0])]; } }
      },
      axes: [
        xAxis(data, xs, el, muted, line),
        { stroke: muted, grid: { stroke: line }, ticks: { stroke: line }, size: 80,
          incrs: steps(data.metric),
          values: function (u, vals) { return vals.map(function (v) { return label(data.metric, v); }); } }
      ],
      series: stack.series
    };
    var chart = new uPlot(opts, [xs].concat(stack.ys), el);
    el.dataset.drawn = String(data.days.length);
    el.dataset.parts = String(stack.ys.length);
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

  // Money forms carry single-use tokens minted when the page is drawn. The pages are
  // no-store, so Back draws the page again with new ones: the history entry keeps the
  // tokens it was first drawn with, and a form reached by Back or Forward gets them back
  // (a submit of it is then refused as already submitted, instead of moving money again).
  function pinFormTokens() {
    var fields = document.querySelectorAll("input[name=form_token][data-form]");
    if (!fields.length || !window.history || !window.performance) return;
    var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var state = history.state && typeof history.state === "object" ? history.state : {};
    if (state.formTokens && nav && nav.type === "back_forward") {
      fields.forEach(function (f) {
        var token = state.formTokens[f.getAttribute("data-form")];
        if (token) f.value = token;
      });
      return;
    }
    var tokens = {};
    fields.forEach(function (f) { tokens[f.getAttribute("data-form")] = f.value; });
    history.replaceState(Object.assign({}, state, { formTokens: tokens }), "");
  }

  pinFormTokens();  // before the person can submit: the script is deferred, the DOM is read

  document.addEventListener("DOMContentLoaded", function () {
    charts(); copyButtons(); printButtons();
  });
})();
