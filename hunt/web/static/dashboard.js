/* hunt dashboard: polls the worker's JSON views and redraws in place.
 * No framework and no CDN, so the page works offline and loads instantly. */
(function () {
  "use strict";
  var REFRESH_MS = 3000; // fresh enough for a shop floor, light on the workers.
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token") || sessionStorage.getItem("hunt.token") || "";
  if (params.get("token")) { sessionStorage.setItem("hunt.token", token); }
  var METRIC_LABEL = { units: "Units", revenue: "Revenue", cart_adds: "Cart adds",
    views: "Views", purchases: "Orders" };
  var KIND_LABEL = { stockout: "stockout", low_stock: "low stock",
    back_in_stock: "back in stock", demand_spike: "demand spike" };
  var lastOk = 0;

  function $(id) { return document.getElementById(id); }

  function get(path) {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers: headers, cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(path.split("?")[0] + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function fmtNum(v, digits) {
    if (v === null || v === undefined) { return "–"; }
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function fmtMinutes(m) {
    if (m === null || m === undefined) { return "–"; }
    if (m < 60) { return fmtNum(m, 1) + " min"; }
    if (m < 2880) { return fmtNum(m / 60, 1) + " h"; }
    return fmtNum(m / 1440, 1) + " d";
  }

  function stockoutCell(m) {
    var td = el("td", fmtMinutes(m), "num");
    if (m !== null && m !== undefined) { td.className += m < 15 ? " urgent" : (m < 60 ? " soon" : ""); }
    return td;
  }

  function availableCell(v) { return el("td", fmtNum(v, 0), v <= 0 ? "num neg" : "num"); }

  function fmtTime(ts) {
    if (!ts) { return "–"; }
    return new Date(ts).toISOString().replace("T", " ").slice(0, 19);
  }

  function sparkline(series) {
    var ns = "http://www.w3.org/2000/svg";
    var w = 120, h = 24, svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    if (!series || !series.length) { return svg; }
    var max = Math.max.apply(null, series.concat([1]));
    var step = series.length > 1 ? w / (series.length - 1) : w;
    var pts = series.map(function (v, i) {
      return (i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1);
    });
    var area = document.createElementNS(ns, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", "0," + h + " " + pts.join(" ") + " " + w + "," + h);
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    var title = document.createElementNS(ns, "title");
    title.textContent = "per minute: " + series.join(", ");
    svg.appendChild(area); svg.appendChild(line); svg.appendChild(title);
    return svg;
  }

  function sparkCell(series) { var td = el("td"); td.appendChild(sparkline(series)); return td; }

  function fill(tableId, rows, cols, emptyText) {
    var tbody = $(tableId).tBodies[0];
    var fresh = document.createElement("tbody");
    if (!rows.length) {
      var tr = el("tr"), td = el("td", emptyText, "empty");
      td.colSpan = cols; tr.appendChild(td); fresh.appendChild(tr);
    }
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (c) { tr.appendChild(c); });
      fresh.appendChild(tr);
    });
    tbody.parentNode.replaceChild(fresh, tbody);
  }

  function renderTop(data) {
    var metric = data.metric;
    $("metric-col").textContent = METRIC_LABEL[metric] || metric;
    fill("movers", data.products.map(function (p, i) {
      return [el("td", i + 1), el("td", p.product_id, "pid"),
        el("td", fmtNum(p.value, metric === "revenue" ? 2 : 0), "num"), sparkCell(p.series),
        availableCell(p.available), el("td", fmtNum(p.demand_per_min), "num"),
        stockoutCell(p.minutes_to_stockout)];
    }), 7, "no sales in this period yet");
    return data.stream_time;
  }

  function renderStock(data) {
    $("low-hint").textContent = "(stockout within " + fmtNum(data.low_stock_minutes, 0) + " min)";
    fill("low", data.low.map(function (p) {
      return [el("td", p.product_id, "pid"), availableCell(p.available),
        el("td", fmtNum(p.demand_per_min), "num"), stockoutCell(p.minutes_to_stockout),
        sparkCell(p.series)];
    }), 5, "nothing is running low");
    fill("out", data.out.map(function (p) {
      return [el("td", p.product_id, "pid"), availableCell(p.available),
        el("td", fmtNum(p.demand_per_min), "num"), sparkCell(p.series)];
    }), 4, "nothing is sold out");
  }

  function renderAlerts(alerts) {
    fill("alerts", alerts.map(function (a) {
      var kind = el("td"); kind.appendChild(el("span", KIND_LABEL[a.kind] || a.kind, "badge k-" + a.kind));
      return [el("td", fmtTime(a.ts)), kind, el("td", a.product_id, "pid"), availableCell(a.available),
        el("td", fmtNum(a.demand_per_min), "num"), stockoutCell(a.minutes_to_stockout)];
    }), 6, "no alerts yet");
  }

  function setStatus(text, stale) {
    var s = $("status"); s.textContent = text; s.className = stale ? "status stale" : "status";
  }

  function refresh() {
    var metric = $("metric").value, minutes = $("minutes").value, kind = $("alert-kind").value;
    var streamTime = null, errors = [];
    var jobs = [
      get("top?metric=" + metric + "&minutes=" + minutes + "&n=10")
        .then(function (d) { streamTime = renderTop(d); }),
      get("stock?n=15").then(renderStock),
      get("alerts?limit=25" + (kind ? "&kind=" + kind : "")).then(renderAlerts)
    ].map(function (p) { return p.catch(function (e) { errors.push(e.message); }); });
    return Promise.all(jobs).then(function () {
      var now = new Date().toLocaleTimeString();
      if (!errors.length) {
        lastOk = Date.now();
        setStatus("stream time " + fmtTime(streamTime) + " UTC · updated " + now, false);
      } else {
        var age = lastOk ? Math.round((Date.now() - lastOk) / 1000) + " s old" : "no data yet";
        setStatus("retrying (" + errors[0] + ") · data " + age, true);
      }
    });
  }

  function loop() { refresh().then(function () { setTimeout(loop, REFRESH_MS); }); }
  ["metric", "minutes", "alert-kind"].forEach(function (id) { $(id).addEventListener("change", refresh); });
  loop();
})();
