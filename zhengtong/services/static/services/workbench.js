/* The staff workbench's drawings. Everything they show is on the page as text and tables too, so without
 * JavaScript nothing is lost.
 *
 * - The process diagram: bpmn-js NavigatedViewer (global BpmnJS) fed by the <script type="application/json">
 *   block named in data-process-diagram: {"bpmn_xml", "current": [element ids], "done": [element ids]}; the
 *   current steps get the marker class zt-current, the steps done zt-done.
 * - The supervisor's charts: Apache ECharts bar charts from the block named in data-workbench-chart:
 *   {"categories": [...], "series": [{"name", "values"}]}. */
(function () {
  "use strict";
  var PALETTE = ["#0b4a8b", "#c96b00", "#9e1b1f"];

  function figures(container, attribute) {
    var node = document.getElementById(container.getAttribute(attribute));
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return null;
    }
  }

  function quietMotion() {
    return document.documentElement.classList.contains("elder") ||
      (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  function drawDiagram(container) {
    var data = figures(container, "data-process-diagram");
    if (!data || !data.bpmn_xml || typeof window.BpmnJS === "undefined") return;
    var viewer = new window.BpmnJS({ container: container });
    viewer.importXML(data.bpmn_xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      (data.done || []).forEach(function (id) {
        if (registry.get(id)) canvas.addMarker(id, "zt-done");
      });
      (data.current || []).forEach(function (id) {
        if (registry.get(id)) canvas.addMarker(id, "zt-current");
      });
      container.setAttribute("data-drawn", "true");
    }).catch(function () {
      container.textContent = "";  // the steps table above still says where the application is
    });
  }

  function drawChart(container) {
    var data = figures(container, "data-workbench-chart");
    if (!data || typeof window.echarts === "undefined") return;
    var elder = document.documentElement.classList.contains("elder");
    var text = getComputedStyle(document.documentElement).getPropertyValue("--text").trim() || "#1a1a1a";
    var fontSize = elder ? 18 : 13;
    container.classList.add("chart--drawn");
    var chart = window.echarts.init(container, null, { renderer: "svg" });
    chart.setOption({
      animation: !quietMotion(),
      aria: { enabled: true, decal: { show: true } },
      color: PALETTE,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily, fontSize: fontSize, color: text },
      legend: { top: 0, textStyle: { color: text, fontSize: fontSize } },
      grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", textStyle: { fontSize: fontSize } },
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: text, fontSize: fontSize } },
      yAxis: { type: "category", inverse: true, data: data.categories,
               axisLabel: { color: text, fontSize: fontSize } },
      series: data.series.map(function (series) {
        return { name: series.name, type: "bar", data: series.values, barMaxWidth: 32,
                 label: { show: true, position: "right", color: text, fontSize: fontSize } };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function start() {
    document.querySelectorAll("[data-process-diagram]").forEach(drawDiagram);
    document.querySelectorAll("[data-workbench-chart]").forEach(drawChart);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
