// Draws the Plotly figures the server built (assessments/charts.py): each <div data-figure="NAME"> gets the
// figure NAME from the page's JSON block #figures. plotly.js is served by the app (never a CDN).
(function () {
  "use strict";
  function draw() {
    var block = document.getElementById("figures");
    if (!block || typeof Plotly === "undefined") { return; }
    var figures = JSON.parse(block.textContent);
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var fig = figures[el.getAttribute("data-figure")];
      if (!fig) { return; }
      Plotly.newPlot(el, fig.data, fig.layout, {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"]})
        .then(function () { el.setAttribute("data-rendered", "true"); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
