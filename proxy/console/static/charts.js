/* Bar charts per day as inline SVG, built with DOM calls (no library, no build step). */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 360, H = 150, LEFT = 44, BOTTOM = 20, TOP = 8;

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var tries = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < tries.length; i++) if (tries[i] * step >= value) return tries[i] * step;
    return 10 * step;
  }

  /** A <figure> with a titled bar chart of values per day; format(value) labels the axis and bars. */
  function bars(name, title, days, values, format) {
    format = format || function (v) { return String(v); };
    var figure = document.createElement("figure");
    figure.className = "chart";
    figure.setAttribute("data-chart", name);
    var caption = document.createElement("h3");
    var total = values.reduce(function (a, b) { return a + b; }, 0);
    caption.textContent = title + " · " + format(total);
    figure.appendChild(caption);
    var max = niceMax(Math.max.apply(null, values.concat([0])));
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title + " per day" });
    var plotW = W - LEFT - 4, plotH = H - TOP - BOTTOM;
    [0, 0.5, 1].forEach(function (f) {
      var y = TOP + plotH - f * plotH;
      svg.appendChild(el("line", { x1: LEFT, x2: W - 4, y1: y, y2: y, class: "axis" }));
      svg.appendChild(el("text", { x: LEFT - 4, y: y + 3, "text-anchor": "end" }, format(max * f)));
    });
    var slot = plotW / Math.max(1, values.length);
    values.forEach(function (v, i) {
      var h = (v / max) * plotH;
      var bar = el("rect", {
        x: LEFT + i * slot + slot * 0.15, y: TOP + plotH - h, width: Math.max(1, slot * 0.7), height: h,
        class: "bar", "data-day": days[i], "data-value": v,
      });
      bar.appendChild(el("title", {}, days[i] + ": " + format(v)));
      svg.appendChild(bar);
    });
    var labels = [0, Math.floor((days.length - 1) / 2), days.length - 1];
    labels.forEach(function (i, n) {
      if (n > 0 && i === labels[n - 1]) return;
      var x = LEFT + i * slot + slot / 2;
      svg.appendChild(el("text", { x: x, y: H - 6, "text-anchor": "middle" }, days[i].slice(5)));
    });
    figure.appendChild(svg);
    return figure;
  }

  window.ConsoleCharts = { bars: bars };
})();
