/* The usage page's charts, drawn with Apache ECharts from the figures the page carries in <script
 * type="application/json"> blocks: {"kind": "stacked" | "bar" | "line", "categories", "series": [{name, values}],
 * "unit"}. The same figures are in the tables next to each chart, so without JavaScript nothing is lost. */
(function () {
  "use strict";
  // Answered, refused, errors; then the percentiles. Colours distinguishable in greyscale and by colour-blind readers.
  var PALETTE = ["#0b4a8b", "#c96b00", "#9e1b1f", "#5a5a5a"];

  function quietMotion() {
    return document.documentElement.classList.contains("elder") ||
      (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  function option(data) {
    var elder = document.documentElement.classList.contains("elder");
    var text = getComputedStyle(document.documentElement).getPropertyValue("--text").trim() || "#1a1a1a";
    var fontSize = elder ? 18 : 13;
    var horizontal = data.kind === "bar";
    var category = {
      type: "category", data: data.categories,
      axisLabel: { color: text, fontSize: fontSize, hideOverlap: true }, axisLine: { lineStyle: { color: text } }
    };
    var value = {
      type: "value", minInterval: data.unit ? 0 : 1, name: data.unit || "",
      axisLabel: { color: text, fontSize: fontSize }, splitLine: { lineStyle: { color: "#d0d0d0" } }
    };
    return {
      animation: !quietMotion(),
      aria: { enabled: true, decal: { show: data.kind === "stacked" } },
      color: PALETTE,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily, fontSize: fontSize, color: text },
      legend: { show: data.series.length > 1, top: 0, textStyle: { color: text, fontSize: fontSize } },
      grid: { left: 8, right: 24, top: data.series.length > 1 ? 36 : 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", textStyle: { fontSize: fontSize } },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? Object.assign({}, category, { inverse: true }) : value,
      series: data.series.map(function (series, index) {
        return {
          name: series.name, data: series.values,
          type: data.kind === "line" ? "line" : "bar",
          stack: data.kind === "stacked" ? "calls" : undefined,
          connectNulls: false, symbolSize: 6, barMaxWidth: 40,
          lineStyle: data.kind === "line" ? { type: ["solid", "dashed", "dotted"][index] || "solid", width: 2 } : undefined,
          itemStyle: data.kind === "bar" ? { color: PALETTE[2] } : undefined,
          label: data.kind === "bar" ? { show: true, position: "right", color: text, fontSize: fontSize } : undefined
        };
      })
    };
  }

  function draw(container) {
    var node = document.getElementById(container.getAttribute("data-usage-chart"));
    if (!node || typeof window.echarts === "undefined") return;
    var data;
    try {
      data = JSON.parse(node.textContent);
    } catch (error) {
      return;
    }
    if (data.kind === "bar") {
      container.style.height = Math.max(12, 3 + 2.5 * data.categories.length) + "rem";
    }
    container.classList.add("chart--drawn"); // shown only now, so it has a width to measure
    var chart = window.echarts.init(container, null, { renderer: "svg" });
    chart.setOption(option(data));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var charts = document.querySelectorAll("[data-usage-chart]");
    for (var i = 0; i < charts.length; i++) draw(charts[i]);
  });
})();
