/* Bar charts drawn with Apache ECharts from data the server put in the page.
 *
 * Each chart is an element with data-chart="<id>" where <id> names a <script type="application/json"> block
 * written by Django's json_script filter: {"title", "series", "categories": [...], "values": [...]}.
 * The same numbers are always in a table next to the chart; when the page has no table, one is built here
 * so the figures never exist only as a picture.
 */
(function () {
  "use strict";

  function readData(id) {
    var node = document.getElementById(id);
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

  function buildTable(container, data) {
    var table = document.createElement("table");
    var caption = table.createCaption();
    caption.textContent = data.title;
    var head = table.createTHead().insertRow();
    [data.category || data.title, data.series].forEach(function (text) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.appendChild(th);
    });
    var body = table.createTBody();
    data.categories.forEach(function (category, index) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = category;
      row.appendChild(th);
      var cell = row.insertCell();
      cell.className = "numeric";
      cell.textContent = String(data.values[index]);
    });
    var wrap = document.createElement("div");
    wrap.className = "table-wrap chart-block__table";
    wrap.appendChild(table);
    container.insertAdjacentElement("afterend", wrap);
  }

  function draw(container) {
    var data = readData(container.getAttribute("data-chart"));
    if (!data) return;
    var block = container.closest(".chart-block") || container.parentElement;
    if (!block.querySelector("table")) buildTable(container, data);
    if (typeof window.echarts === "undefined") return;

    container.classList.add("chart--drawn"); // shown only now, so it has a width to measure
    var elder = document.documentElement.classList.contains("elder");
    var style = getComputedStyle(document.documentElement);
    var accent = style.getPropertyValue("--chart-bar").trim() || "#0b4a8b";
    var text = style.getPropertyValue("--text").trim() || "#1a1a1a";
    var fontSize = elder ? 18 : 13;
    var longest = data.categories.reduce(function (n, c) { return Math.max(n, String(c).length); }, 0);
    // Room per bar in characters; turn the labels when they would run into each other.
    var room = container.clientWidth / Math.max(data.categories.length, 1) / fontSize;
    var rotate = longest <= room * 0.9 ? 0 : (longest <= room * 1.8 ? 30 : 60);

    var chart = window.echarts.init(container, null, { renderer: "svg" });
    chart.setOption({
      animation: !quietMotion(),
      aria: { enabled: true },
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily, fontSize: fontSize, color: text },
      grid: { left: 8, right: 24, top: 24, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, textStyle: { fontSize: fontSize } },
      xAxis: {
        type: "category",
        data: data.categories,
        axisLabel: { color: text, fontSize: fontSize, interval: 0, rotate: rotate },
        axisLine: { lineStyle: { color: text } }
      },
      yAxis: {
        type: "value",
        minInterval: 1,
        axisLabel: { color: text, fontSize: fontSize },
        splitLine: { lineStyle: { color: "#d0d0d0" } }
      },
      series: [{
        name: data.series,
        type: "bar",
        data: data.values,
        barMaxWidth: 48,
        itemStyle: { color: accent },
        label: { show: true, position: "top", color: text, fontSize: fontSize }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function start() {
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) draw(charts[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
