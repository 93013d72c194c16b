/* Draws the KPI charts from the JSON the page embeds with Django's json_script
 * (<script type="application/json" id="kpi-charts">). No inline script, no eval: the page's
 * CSP allows only same-origin script files. Each <canvas data-chart="NAME"> gets the chart
 * described under NAME; the tables under the charts hold the same figures. */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#64748b"];

  function config(spec) {
    var stacked = spec.type === "stacked-bar";
    var type = spec.type === "line" ? "line" : "bar";
    var datasets = spec.datasets.map(function (set, i) {
      var colour = PALETTE[i % PALETTE.length];
      return {
        label: set.label,
        data: set.data,
        backgroundColor: colour,
        borderColor: colour,
        spanGaps: true,
        tension: 0.2,
      };
    });
    return {
      type: type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: datasets.length > 1 || stacked } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: spec.unit === "orders" ? 0 : undefined } },
        },
      },
    };
  }

  function draw() {
    var source = document.getElementById("kpi-charts");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var charts = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = charts[canvas.dataset.chart];
      if (spec) {
        new window.Chart(canvas, config(spec));
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
