/* hunt dashboard: polls the worker's JSON views and redraws in place.
 * No framework and no CDN, so the page works offline and loads instantly.
 * Two views behind hash routes: the shop overview (#/) and a product page
 * (#/products/<id>); each polls only the views it shows.
 * Every text from the stream goes in through textContent, never as markup. */
(function () {
  "use strict";
  var OVERVIEW_MS = 3000; // fresh enough for a shop floor, light on the workers.
  var PRODUCT_MS = 5000; // state and windows of one product, answered by its owner alone.
  var PRODUCT_ALERTS_EVERY = 2; // alerts scatter to every worker: fetched every other tick.
  var PRODUCT_ALERTS = 20; // a product's newest alerts; older ones are on hunt.alerts.
  var CHART_MINUTES = 60; // the chart spans the product's last hour of windows.
  var WAREHOUSE_ROWS = 20; // a product may hold 1,000 warehouses; the rest share one row.
  var RATIO_MIN_BASE = 10; // a conversion rate over fewer events than this is noise.
  var MINUTE = 60000;
  var PRODUCT_ROUTE = "#/products/";
  var SVG = "http://www.w3.org/2000/svg";
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token") || sessionStorage.getItem("hunt.token") || "";
  if (params.get("token")) { sessionStorage.setItem("hunt.token", token); }
  var METRIC_LABEL = { units: "Units", revenue: "Revenue", cart_adds: "Cart adds",
    views: "Views", purchases: "Orders", view_to_cart: "View → cart",
    cart_to_purchase: "Cart → order" };
  // ratio -> [numerator, denominator, the denominator's name in a sentence]
  var RATIOS = { view_to_cart: ["cart_adds", "views", "views"],
    cart_to_purchase: ["purchases", "cart_adds", "cart adds"] };
  var KIND_LABEL = { stockout: "stockout", low_stock: "low stock",
    back_in_stock: "back in stock", demand_spike: "demand spike" };
  var STOCK_LABEL = { in_stock: "in stock", out: "out of stock", unknown: "stock unknown" };
  // Characters that print as nothing or reorder text: shown as \uXXXX so an id reads as it is.
  var HIDDEN = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
  var rules = readRules();
  var lastOk = 0;
  var route = { gen: 0, timer: null };

  function $(id) { return document.getElementById(id); }

  function readRules() {
    var meta = document.querySelector('meta[name="hunt-rules"]');
    try { return JSON.parse(meta ? meta.content : "{}") || {}; } catch (e) { return {}; }
  }

  function has(v) { return v !== null && v !== undefined; }

  /* GET a JSON view; a 404 answers null instead of failing. */
  function get(path) {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers: headers, cache: "no-store" }).then(function (r) {
      if (r.status === 404) { return null; }
      if (!r.ok) { throw new Error(path.split("?")[0].split("/")[0] + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (has(text)) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }

  function escapeHidden(c) { return "\\u" + ("000" + c.charCodeAt(0).toString(16)).slice(-4); }

  /* An id as plain text with its invisible characters spelled out. */
  function idText(id) { return String(id).replace(HIDDEN, escapeHidden); }

  /* An id as a node: plain text, with invisible characters marked up as visible escapes. */
  function idNode(id, tag) {
    var node = el(tag || "span", null, "pid"), s = String(id), last = 0;
    s.replace(HIDDEN, function (c, at) {
      if (at > last) { node.appendChild(document.createTextNode(s.slice(last, at))); }
      node.appendChild(el("span", escapeHidden(c), "ctl"));
      last = at + c.length;
      return c;
    });
    if (last < s.length) { node.appendChild(document.createTextNode(s.slice(last))); }
    return node;
  }

  function productHref(id) {
    try { return PRODUCT_ROUTE + encodeURIComponent(id); } catch (e) { return "#/"; }
  }

  function productCell(id) {
    var td = el("td"), a = el("a");
    a.href = productHref(id);
    a.appendChild(idNode(id));
    td.appendChild(a);
    return td;
  }

  function fmtNum(v, digits) {
    if (!has(v)) { return "–"; }
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function fmtMean(v) {
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 2 });
  }

  function fmtPct(ratio) { return has(ratio) ? fmtNum(ratio * 100, 1) + "%" : "–"; }

  function fmtMinutes(m) {
    if (!has(m)) { return "–"; }
    if (m < 60) { return fmtNum(m, 1) + " min"; }
    if (m < 2880) { return fmtNum(m / 60, 1) + " h"; }
    return fmtNum(m / 1440, 1) + " d";
  }

  function fmtTime(ts) {
    if (!ts) { return "–"; }
    return new Date(ts).toISOString().replace("T", " ").slice(0, 19);
  }

  function fmtClock(ts) { return new Date(ts).toISOString().slice(11, 16); }

  function stockoutCell(m) {
    var td = el("td", fmtMinutes(m), "num");
    if (has(m)) { td.className += m < 15 ? " urgent" : (m < 60 ? " soon" : ""); }
    return td;
  }

  function availableCell(v) { return el("td", fmtNum(v, 0), v <= 0 ? "num neg" : "num"); }

  function sparkline(series) {
    var w = 120, h = 24, svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    if (!series || !series.length) { return svg; }
    var known = series.filter(has);
    var max = Math.max.apply(null, known.concat([1e-9]));
    var step = series.length > 1 ? w / (series.length - 1) : w;
    var xs = [], pts = [];
    series.forEach(function (v, i) {
      if (!has(v)) { return; } // a minute without a denominator has no rate: the line skips it.
      xs.push(i * step);
      pts.push((i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1));
    });
    if (!pts.length) { return svg; }
    var area = document.createElementNS(SVG, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", xs[0].toFixed(1) + "," + h + " " + pts.join(" ") + " " +
      xs[xs.length - 1].toFixed(1) + "," + h);
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", pts.join(" "));
    var title = document.createElementNS(SVG, "title");
    title.textContent = "per minute: " + series.map(function (v) {
      return has(v) ? fmtNum(v, 3) : "–"; }).join(", ");
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

  function badge(kind) {
    var td = el("td");
    td.appendChild(el("span", KIND_LABEL[kind] || kind, "badge k-" + kind));
    return td;
  }

  /* Why an alert fired, in the rule's own terms and numbers. */
  function why(a) {
    if (a.kind === "demand_spike") {
      var minute = has(a.window_start) ? " in minute " + fmtClock(a.window_start) : "";
      if (!has(a.value) || !has(a.threshold)) {
        return "cart adds + units reached the spike threshold" + minute;
      }
      var text = "cart adds + units " + fmtNum(a.value) + " ≥ threshold " + fmtNum(a.threshold);
      if (has(a.baseline) && has(rules.spike_factor)) {
        var byMean = rules.spike_factor * a.baseline;
        var mean = fmtNum(rules.spike_factor) + " × mean " + fmtMean(a.baseline);
        text += has(rules.spike_floor) && byMean < rules.spike_floor && a.threshold <= rules.spike_floor
          ? " (the floor, above " + mean + " = " + fmtNum(byMean) + ")" : " (" + mean + ")";
      } else if (has(a.baseline)) {
        text += " (mean " + fmtMean(a.baseline) + ")";
      }
      return text + minute;
    }
    if (a.kind === "low_stock") {
      var m = has(a.value) ? a.value : a.minutes_to_stockout;
      var limit = has(a.threshold) ? a.threshold : rules.low_stock_minutes;
      var low = (has(m) ? fmtNum(m, 1) + " min to stockout" : "stockout near") +
        (has(limit) ? " < " + fmtNum(limit, 1) : "");
      return low + " (" + fmtNum(a.available, 0) + " available at " + fmtNum(a.demand_per_min) + " / min)";
    }
    if (a.kind === "stockout") { return "available " + fmtNum(a.available, 0) + " ≤ 0"; }
    if (a.kind === "back_in_stock") { return "available " + fmtNum(a.available, 0) + " > 0 after a stockout"; }
    return "";
  }

  function setStatus(text, stale) {
    var s = $("status"); s.textContent = text; s.className = stale ? "status stale" : "status";
  }

  function reportRound(errors, okText) {
    var now = new Date().toLocaleTimeString();
    if (!errors.length) {
      lastOk = Date.now();
      setStatus(okText + " · updated " + now, false);
    } else {
      var age = lastOk ? Math.round((Date.now() - lastOk) / 1000) + " s old" : "no data yet";
      setStatus("retrying (" + errors[0] + ") · data " + age, true);
    }
  }

  /* Run the jobs of one polling round; render only if the route has not changed since. */
  function round(gen, jobs) {
    var errors = [];
    return Promise.all(jobs.map(function (job) {
      return job[0].then(function (data) { if (gen === route.gen) { job[1](data); } })
        .catch(function (e) { errors.push(e.message); });
    })).then(function () { return errors; });
  }

  // -- the overview ---------------------------------------------------------------------

  function renderTop(data) {
    var metric = data.metric, ratio = RATIOS[metric];
    $("metric-col").textContent = METRIC_LABEL[metric] || metric;
    $("movers-hint").textContent = ratio ? "(products with at least " + fmtNum(data.min_base, 0) +
      " " + ratio[2] + " in the period)" : "";
    fill("movers", (data.products || []).map(function (p, i) {
      var value = ratio ? fmtPct(p.value) + " (" + fmtNum(p[ratio[0]], 0) + " / " +
        fmtNum(p[ratio[1]], 0) + ")" : fmtNum(p.value, metric === "revenue" ? 2 : 0);
      return [el("td", i + 1), productCell(p.product_id), el("td", value, "num"), sparkCell(p.series),
        availableCell(p.available), el("td", fmtNum(p.demand_per_min), "num"),
        stockoutCell(p.minutes_to_stockout)];
    }), 7, ratio ? "no product has enough " + ratio[2] + " in this period yet" : "no sales in this period yet");
  }

  function renderStock(data) {
    $("low-hint").textContent = "(stockout within " + fmtNum(data.low_stock_minutes, 0) + " min)";
    fill("low", data.low.map(function (p) {
      return [productCell(p.product_id), availableCell(p.available),
        el("td", fmtNum(p.demand_per_min), "num"), stockoutCell(p.minutes_to_stockout),
        sparkCell(p.series)];
    }), 5, "nothing is running low");
    fill("out", data.out.map(function (p) {
      return [productCell(p.product_id), availableCell(p.available),
        el("td", fmtNum(p.demand_per_min), "num"), sparkCell(p.series)];
    }), 4, "nothing is sold out");
  }

  function renderAlerts(alerts) {
    fill("alerts", alerts.map(function (a) {
      return [el("td", fmtTime(a.ts)), badge(a.kind), productCell(a.product_id),
        el("td", why(a), "why"), availableCell(a.available),
        el("td", fmtNum(a.demand_per_min), "num"), stockoutCell(a.minutes_to_stockout)];
    }), 7, "no alerts yet");
  }

  function refreshOverview(gen) {
    var metric = $("metric").value, minutes = $("minutes").value, kind = $("alert-kind").value;
    var streamTime = null;
    var top = "top?metric=" + metric + "&minutes=" + minutes + "&n=10" +
      (RATIOS[metric] ? "&min_base=" + RATIO_MIN_BASE : "");
    return round(gen, [
      [get(top), function (d) { streamTime = d.stream_time; renderTop(d); }],
      [get("stock?n=15"), renderStock],
      [get("alerts?limit=25" + (kind ? "&kind=" + kind : "")), renderAlerts]
    ]).then(function (errors) {
      if (gen === route.gen) { reportRound(errors, "stream time " + fmtTime(streamTime) + " UTC"); }
    });
  }

  // -- the product page -----------------------------------------------------------------

  function apiProduct(id) { return "products/" + encodeURIComponent(id); }

  function setValue(id, text, cls) { var n = $(id); n.textContent = text; n.className = "value " + (cls || ""); }

  function renderState(id, s, missing) {
    var found = s !== null;
    $("p-missing").hidden = found;
    $("p-body").hidden = !found;
    Array.prototype.forEach.call(document.querySelectorAll(".p-part"), function (n) { n.hidden = !found; });
    var state = $("p-state");
    if (!found) {
      state.textContent = ""; state.className = "badge";
      clear($("p-missing")).appendChild(document.createTextNode("No product with id "));
      $("p-missing").appendChild(idNode(id));
      $("p-missing").appendChild(document.createTextNode(missing ||
        " has been seen yet. Ids are matched exactly, case and spaces included."));
      return;
    }
    state.textContent = STOCK_LABEL[s.stock_state] || s.stock_state;
    state.className = "badge s-" + s.stock_state;
    setValue("p-available", fmtNum(s.available, 0), s.available <= 0 ? "neg" : "");
    setValue("p-demand", fmtNum(s.demand_per_min));
    var m = s.minutes_to_stockout;
    setValue("p-stockout", fmtMinutes(m), has(m) ? (m < 15 ? "urgent" : (m < 60 ? "soon" : "")) : "");
    setValue("p-events", fmtNum(s.events_applied, 0));
    setValue("p-last", fmtTime(s.last_event_ts), "small");
    var t = s.totals || {};
    fill("p-totals", [[el("td", fmtNum(t.views, 0), "num"), el("td", fmtNum(t.cart_adds, 0), "num"),
      el("td", fmtNum(t.cart_removes, 0), "num"), el("td", fmtNum(t.purchases, 0), "num"),
      el("td", fmtNum(t.units, 0), "num"), el("td", fmtNum(t.revenue, 2), "num"), el("td")]], 7, "");
    renderWarehouses(s.on_hand || {}, s.available);
    renderFunnel(s);
  }

  function bar(fraction, cls) {
    var outer = el("span", null, "bar " + (cls || "")), inner = el("span");
    inner.style.width = Math.max(0, Math.min(1, fraction)) * 100 + "%";
    outer.appendChild(inner);
    return outer;
  }

  function renderWarehouses(onHand, available) {
    var entries = Object.keys(onHand).map(function (k) { return [k, onHand[k]]; });
    entries.sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0)); });
    var positive = entries.reduce(function (sum, e) { return sum + Math.max(0, e[1]); }, 0);
    var rows = entries.slice(0, WAREHOUSE_ROWS).map(function (e) {
      var share = el("td");
      if (e[1] > 0) {
        share.appendChild(bar(e[1] / positive));
        share.appendChild(el("span", fmtPct(e[1] / positive), "share"));
      }
      var name = el("td"); name.appendChild(idNode(e[0]));
      return [name, availableCell(e[1]), share];
    });
    var rest = entries.slice(WAREHOUSE_ROWS);
    if (rest.length) {
      var sum = rest.reduce(function (acc, e) { return acc + e[1]; }, 0);
      rows.push([el("td", "+ " + fmtNum(rest.length, 0) + " more warehouses", "muted"),
        availableCell(sum), el("td")]);
    }
    $("wh-hint").textContent = entries.length ? "(" + fmtNum(entries.length, 0) + " · " +
      fmtNum(available, 0) + " available)" : "";
    fill("p-warehouses", rows, 3, "no inventory events yet");
  }

  function renderFunnel(s) {
    var hint = $("funnel-hint");
    if (!("recent" in s)) {
      hint.textContent = "";
      fill("p-funnel", [], 4, "this worker does not report the recent funnel");
      return;
    }
    var r = s.recent;
    if (r === null) {
      hint.textContent = "";
      fill("p-funnel", [], 4, "no behaviour events yet");
      return;
    }
    hint.textContent = "(last " + fmtNum(r.minutes, 0) + " min" +
      (r.minutes < 15 ? ", since the product was first seen" : "") + ")";
    var top = Math.max(r.views, r.cart_adds, r.purchases, 1);
    function step(label, count, rate, cls) {
      var b = el("td"); b.appendChild(bar(count / top, cls));
      return [el("td", label), el("td", fmtNum(count, 0), "num"), el("td", rate, "num"), b];
    }
    fill("p-funnel", [
      step("Views", r.views, "", "views"),
      step("Cart adds", r.cart_adds, has(r.view_to_cart) ? fmtPct(r.view_to_cart) + " of views"
        : "– (no views)", "carts"),
      step("Orders", r.purchases, has(r.cart_to_purchase) ? fmtPct(r.cart_to_purchase) +
        " of cart adds" : "– (no cart adds)", "orders"),
      [el("td", "Cart removes"), el("td", fmtNum(r.cart_removes, 0), "num"), el("td"), el("td")],
      [el("td", "Units sold"), el("td", fmtNum(r.units, 0), "num"), el("td"), el("td")],
      [el("td", "Revenue"), el("td", fmtNum(r.revenue, 2), "num"), el("td"), el("td")]
    ], 4, "");
  }

  function niceCeil(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function svgNode(tag, attrs, text) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (has(text)) { n.textContent = text; }
    return n;
  }

  /* Units (bars) and cart adds (line) per minute over the product's last hour of windows. */
  function renderChart(rows) {
    var box = clear($("p-chart")), sum = $("chart-sum");
    if (!rows || !rows.length) {
      box.appendChild(el("p", "no behaviour events yet", "empty"));
      sum.textContent = "";
      return;
    }
    var byStart = {}, last = rows[0].window_start;
    rows.forEach(function (r) { byStart[r.window_start] = r; last = Math.max(last, r.window_start); });
    var first = last - (CHART_MINUTES - 1) * MINUTE, data = [];
    for (var k = 0; k < CHART_MINUTES; k++) {
      var r = byStart[first + k * MINUTE];
      data.push({ start: first + k * MINUTE, units: r ? r.units : 0, carts: r ? r.cart_adds : 0 });
    }
    // Drawn at the box's own width (text keeps its size); it follows a resize at the next poll.
    var W = Math.max(480, Math.round(box.clientWidth || 760)), H = 220, L = 46, R = 10, T = 10, B = 24;
    var slot = (W - L - R) / CHART_MINUTES;
    var max = niceCeil(Math.max(1, Math.max.apply(null, data.map(function (d) { return Math.max(d.units, d.carts); }))));
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    var svg = svgNode("svg", { id: "p-chart-svg", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "units sold and cart adds per minute, " + fmtClock(first) + " to " + fmtClock(last) + " UTC" });
    [0, max / 2, max].forEach(function (v) {
      svg.appendChild(svgNode("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), "class": "grid" }));
      svg.appendChild(svgNode("text", { x: L - 6, y: y(v) + 4, "class": "ylab" }, fmtNum(v, 1)));
    });
    var pts = [];
    data.forEach(function (d, i) {
      var x = L + i * slot;
      if (d.units > 0) {
        svg.appendChild(svgNode("rect", { x: x + slot * 0.15, width: slot * 0.7, y: y(d.units),
          height: y(0) - y(d.units), "class": "units" }));
      }
      pts.push((x + slot / 2).toFixed(1) + "," + y(d.carts).toFixed(1));
      if (i % 10 === 0 || i === CHART_MINUTES - 1) {
        svg.appendChild(svgNode("text", { x: x + slot / 2, y: H - 6, "class": "xlab" }, fmtClock(d.start)));
      }
    });
    svg.appendChild(svgNode("polyline", { points: pts.join(" "), "class": "carts" }));
    data.forEach(function (d, i) { // one hover target per minute, with its numbers
      var hit = svgNode("rect", { x: L + i * slot, width: slot, y: T, height: H - T - B, "class": "hit" });
      hit.appendChild(svgNode("title", {}, fmtClock(d.start) + " UTC: " + fmtNum(d.units, 0) +
        " units, " + fmtNum(d.carts, 0) + " cart adds"));
      svg.appendChild(hit);
    });
    box.appendChild(svg);
    var units = 0, carts = 0, peak = data[0];
    data.forEach(function (d) {
      units += d.units; carts += d.carts;
      if (d.units + d.carts > peak.units + peak.carts) { peak = d; }
    });
    sum.textContent = fmtClock(first) + "–" + fmtClock(last) + " UTC: " + fmtNum(units, 0) + " units, " +
      fmtNum(carts, 0) + " cart adds; busiest minute " + fmtClock(peak.start) + " (" +
      fmtNum(peak.units, 0) + " units, " + fmtNum(peak.carts, 0) + " cart adds)";
  }

  function renderProductAlerts(alerts) {
    fill("p-alerts", alerts.map(function (a) {
      return [el("td", fmtTime(a.ts)), badge(a.kind), el("td", why(a), "why"), availableCell(a.available),
        el("td", fmtNum(a.demand_per_min), "num"), stockoutCell(a.minutes_to_stockout)];
    }), 6, "no recent alerts for this product");
  }

  function refreshProduct(id, gen, tick) {
    if (id === "." || id === "..") { // a browser resolves these as path segments, not as an id
      renderState(id, null, " cannot be looked up from a browser: the URL path treats it as a directory.");
      setStatus("cannot look up this id", true);
      return Promise.resolve();
    }
    var state = null, api = apiProduct(id);
    var jobs = [
      [get(api), function (s) { state = s; renderState(id, s); }],
      [get(api + "/windows?minutes=" + CHART_MINUTES), function (rows) { if (rows) { renderChart(rows); } }]
    ];
    if (tick % PRODUCT_ALERTS_EVERY === 0) {
      jobs.push([get("alerts?limit=" + PRODUCT_ALERTS + "&product_id=" + encodeURIComponent(id)),
        renderProductAlerts]);
    }
    return round(gen, jobs).then(function (errors) {
      if (gen !== route.gen) { return; }
      reportRound(errors, state ? "newest event " + fmtTime(state.last_event_ts) + " UTC" : "no such product");
    });
  }

  // -- routing and polling --------------------------------------------------------------

  function currentProduct() {
    var h = window.location.hash || "";
    if (h.indexOf(PRODUCT_ROUTE) !== 0) { return null; }
    var raw = h.slice(PRODUCT_ROUTE.length);
    try { return decodeURIComponent(raw); } catch (e) { return raw; }
  }

  function showProduct(id) {
    $("overview").hidden = id !== null;
    $("product").hidden = id === null;
    if (id === null) { document.title = "hunt · live demand and stock"; return; }
    document.title = "hunt · " + idText(id);
    clear($("p-id")).appendChild(idNode(id));
    $("find-id").value = id;
    ["p-totals", "p-warehouses", "p-funnel", "p-alerts"].forEach(function (t) {
      fill(t, [], $(t).tHead.rows[0].cells.length, "waiting for data…");
    });
    clear($("p-chart")); $("chart-sum").textContent = "";
  }

  /* (Re)start polling for the current route; a round of an older route renders nothing. */
  function start() {
    var gen = ++route.gen, id = currentProduct(), tick = 0;
    clearTimeout(route.timer);
    showProduct(id);
    function step() {
      if (gen !== route.gen) { return; }
      var job = document.hidden ? Promise.resolve()
        : (id === null ? refreshOverview(gen) : refreshProduct(id, gen, tick++));
      job.then(function () {
        if (gen === route.gen) { route.timer = setTimeout(step, id === null ? OVERVIEW_MS : PRODUCT_MS); }
      });
    }
    step();
  }

  $("find").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = $("find-id").value;
    if (id) { window.location.hash = productHref(id); }
  });
  ["metric", "minutes", "alert-kind"].forEach(function (id) {
    $(id).addEventListener("change", function () { if (currentProduct() === null) { start(); } });
  });
  window.addEventListener("hashchange", start);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { start(); } });
  start();
})();
