/**
 * The web panel's script (served at `/panel.js`): plain browser JavaScript, no library, no build
 * step. It follows the live feed (`/events`), keeps one table row per point and, per message,
 * changes only the cells whose text changed, in one animation frame; it sends the actions as
 * JSON to `/api/...`. User-provided text (locations, user names) is only ever set as text.
 *
 * Kept free of backquotes and dollar-brace so that it stays a plain string here; the browser
 * tests run it in Chromium, and a unit test parses it.
 *
 * @module
 */

/** The JavaScript of the page. */
export const PAGE_SCRIPT = String.raw`"use strict";
(function () {
  var LABELS = {
    available: "Available",
    charging: "Charging",
    out_of_service: "Out of service",
    fault: "Fault",
    offline: "Offline"
  };
  var ACTION_NAMES = {
    plug_in: "Plug in",
    unplug: "Unplug",
    fault: "Fault",
    recover: "Recover",
    stop_service: "Stop service",
    resume_service: "Resume service",
    start_session: "Start session"
  };
  var CELLS = [
    ["check", ""], ["id", "Point"], ["status", "Status"], ["health", "Health"],
    ["kafka", "Kafka"], ["probe", "Monitor probe"], ["user", "User"], ["energy", "Energy kWh"],
    ["cost", "Cost EUR"], ["power", "Power kW"], ["load", "Load"]
  ];
  var statuses = Object.keys(LABELS);
  var rows = new Map();
  var order = [];
  var shown = new Set(statuses);
  var search = "";
  var selected = new Set();
  var detailId = null;
  var kafka = { connected: false, backlog: 0 };
  var clockOffset = 0;
  var pending = new Map();
  var kafkaChanged = false;
  var frameRequested = false;
  var meta = {};
  var filterButtons = {};

  function byId(id) { return document.getElementById(id); }
  var tbody = byId("rows");

  function text(node, value) {
    if (node.textContent !== value) node.textContent = value;
  }

  function fixed(value, digits) { return Number(value).toFixed(digits); }

  function age(lastProbeAt) {
    if (lastProbeAt === null) return "never";
    var seconds = Math.max(0, Math.round((Date.now() - clockOffset - lastProbeAt) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    return Math.floor(seconds / 3600) + " h ago";
  }

  function duration(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function probeText(point) {
    var when = age(point.lastProbeAt);
    if (point.monitor === "lost") return "lost, " + when;
    if (point.monitor === "watching") return when;
    if (point.monitor === "probed") return when + " (no Monitor)";
    return "never";
  }

  function kafkaText() {
    if (!kafka.connected) return "down" + (kafka.backlog > 0 ? ", " + kafka.backlog + " queued" : "");
    return kafka.backlog > 0 ? "linked, " + kafka.backlog + " queued" : "linked";
  }

  function load(point) {
    if (point.user === null || point.maxPowerKw <= 0) return 0;
    return Math.max(0, Math.min(1, point.powerKw / point.maxPowerKw));
  }

  function matches(record) {
    var point = record.point;
    if (!shown.has(point.status)) return false;
    if (search === "") return true;
    return (point.id + " " + point.location + " " + (point.user || "")).toLowerCase()
      .indexOf(search) !== -1;
  }

  function createRow(point) {
    var tr = document.createElement("tr");
    tr.dataset.id = point.id;
    var cells = {};
    for (var i = 0; i < CELLS.length; i++) {
      var td = document.createElement("td");
      td.className = "c-" + CELLS[i][0];
      td.dataset.label = CELLS[i][1];
      cells[CELLS[i][0]] = td;
      tr.appendChild(td);
    }
    var box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute("aria-label", "Select " + point.id);
    cells.check.appendChild(box);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "point-id";
    button.textContent = point.id;
    button.setAttribute("aria-label", "Open " + point.id);
    cells.id.appendChild(button);
    var location = document.createElement("span");
    location.className = "location";
    cells.id.appendChild(location);
    var pill = document.createElement("span");
    pill.className = "pill";
    cells.status.appendChild(pill);
    cells.energy.className += " num";
    cells.cost.className += " num";
    cells.power.className += " num";
    var bar = document.createElement("div");
    bar.className = "bar";
    bar.setAttribute("aria-hidden", "true");
    var fill = document.createElement("span");
    bar.appendChild(fill);
    cells.load.appendChild(bar);
    var record = {
      tr: tr, cells: cells, box: box, location: location, pill: pill, bar: bar, fill: fill,
      point: point, status: null, width: null
    };
    paintRow(record, point);
    return record;
  }

  function paintRow(record, point) {
    var cells = record.cells;
    var before = record.point;
    record.point = point;
    text(record.location, point.location);
    if (record.status !== point.status) {
      record.pill.className = "pill st-" + point.status;
      record.status = point.status;
    }
    text(record.pill, LABELS[point.status] || point.status);
    text(cells.health, point.health);
    cells.health.className = "c-health " + (point.health === "KO" ? "ko" : "ok");
    text(cells.kafka, kafkaText());
    text(cells.probe, probeText(point));
    cells.probe.classList.toggle("lost", point.monitor === "lost");
    text(cells.user, point.user === null ? "" : point.user);
    text(cells.energy, point.user === null ? "" : fixed(point.energyKwh, 3));
    text(cells.cost, point.user === null ? "" : fixed(point.costEur, 2));
    text(cells.power, point.user === null ? "" : fixed(point.powerKw, 2));
    var waiting = point.user !== null && !point.supplying;
    record.bar.classList.toggle("waiting", waiting);
    var width = waiting ? "" : Math.round(load(point) * 100) + "%";
    if (record.width !== width) {
      record.fill.style.width = width;
      record.width = width;
    }
    if (before === point || before.status !== point.status || before.user !== point.user ||
      before.location !== point.location) {
      record.tr.hidden = !matches(record);
    }
  }

  function buildFilters() {
    var box = byId("filters");
    box.textContent = "";
    var all = ["all"].concat(statuses);
    for (var i = 0; i < all.length; i++) {
      var key = all[i];
      var button = document.createElement("button");
      button.type = "button";
      button.dataset.filter = key;
      button.setAttribute("aria-pressed", key === "all" ? "true" : "false");
      var label = document.createElement("span");
      label.textContent = key === "all" ? "All" : LABELS[key];
      var count = document.createElement("span");
      count.className = "count";
      button.appendChild(label);
      button.appendChild(document.createTextNode(" "));
      button.appendChild(count);
      if (key !== "all") button.classList.add("st-" + key);
      filterButtons[key] = { button: button, count: count };
      box.appendChild(button);
    }
  }

  function applyFilters() {
    var visible = 0;
    rows.forEach(function (record) {
      record.tr.hidden = !matches(record);
      if (!record.tr.hidden) visible++;
    });
    byId("empty").hidden = visible > 0;
  }

  function updateCounts() {
    var counts = { all: 0 };
    for (var i = 0; i < statuses.length; i++) counts[statuses[i]] = 0;
    rows.forEach(function (record) {
      counts.all++;
      counts[record.point.status] = (counts[record.point.status] || 0) + 1;
    });
    for (var key in filterButtons) text(filterButtons[key].count, String(counts[key] || 0));
    var all = shown.size === statuses.length;
    filterButtons.all.button.setAttribute("aria-pressed", all ? "true" : "false");
    for (var j = 0; j < statuses.length; j++) {
      filterButtons[statuses[j]].button.setAttribute(
        "aria-pressed", !all && shown.has(statuses[j]) ? "true" : "false");
    }
  }

  function updateSelection() {
    var count = selected.size;
    text(byId("selected-count"), count + " selected");
    var buttons = document.querySelectorAll("[data-bulk]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = count === 0;
  }

  function select(id, on) {
    var record = rows.get(id);
    if (!record) return;
    if (on) selected.add(id); else selected.delete(id);
    record.box.checked = on;
    record.tr.classList.toggle("selected", on);
  }

  function renderSnapshot(message) {
    meta = message.meta || {};
    kafka = message.kafka;
    clockOffset = Date.now() - message.now;
    rows.clear();
    order = [];
    var fragment = document.createDocumentFragment();
    for (var i = 0; i < message.points.length; i++) {
      var record = createRow(message.points[i]);
      rows.set(message.points[i].id, record);
      order.push(message.points[i].id);
      fragment.appendChild(record.tr);
    }
    tbody.textContent = "";
    tbody.appendChild(fragment);
    var single = order.length === 1;
    document.body.classList.toggle("single", single);
    var title = single ? "Charging point " + order[0] : "Fleet of " + order.length + " charging points";
    text(byId("title"), title);
    document.title = title + " - EV charging";
    text(byId("version"), meta.version ? "ev-cp-engine " + meta.version : "");
    if (meta.localUser && byId("session-user").value === "") byId("session-user").value = meta.localUser;
    var kept = [];
    selected.forEach(function (id) { if (rows.has(id)) kept.push(id); });
    selected.clear();
    for (var k = 0; k < kept.length; k++) select(kept[k], true);
    updateSelection();
    paintKafka();
    updateCounts();
    applyFilters();
    if (single && detailId === null) openDetail(order[0], false);
    else if (detailId !== null) {
      if (rows.has(detailId)) paintDetail(); else closeDetail();
    }
  }

  function paintKafka() {
    var badge = byId("kafka");
    text(badge, "Kafka: " + kafkaText());
    badge.className = "badge " + (kafka.connected ? "badge-ok" : "badge-bad");
  }

  function queueUpdate(message) {
    clockOffset = Date.now() - message.now;
    if (message.kafka.connected !== kafka.connected || message.kafka.backlog !== kafka.backlog) {
      kafka = message.kafka;
      kafkaChanged = true;
    }
    for (var i = 0; i < message.points.length; i++) {
      pending.set(message.points[i].id, message.points[i]);
    }
    if (!frameRequested) {
      frameRequested = true;
      requestAnimationFrame(flush);
    }
  }

  function flush() {
    frameRequested = false;
    var statusesMoved = false;
    pending.forEach(function (point, id) {
      var record = rows.get(id);
      if (!record) return;
      if (record.point.status !== point.status) statusesMoved = true;
      paintRow(record, point);
    });
    var detailChanged = detailId !== null && pending.has(detailId);
    pending.clear();
    if (kafkaChanged) {
      kafkaChanged = false;
      paintKafka();
      rows.forEach(function (record) { text(record.cells.kafka, kafkaText()); });
    }
    if (statusesMoved) {
      updateCounts();
      var visible = false;
      rows.forEach(function (record) { if (!record.tr.hidden) visible = true; });
      byId("empty").hidden = visible;
    }
    if (detailChanged) paintDetail();
  }

  function refreshAges() {
    rows.forEach(function (record) {
      if (record.point.lastProbeAt !== null) text(record.cells.probe, probeText(record.point));
    });
    if (detailId !== null) paintDetail();
  }

  function figure(list, name, value) {
    var dt = document.createElement("dt");
    dt.textContent = name;
    var dd = document.createElement("dd");
    dd.textContent = value;
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function paintDetail() {
    var record = rows.get(detailId);
    if (!record) return;
    var point = record.point;
    text(byId("detail-title"), point.id);
    var status = byId("detail-status");
    status.className = "pill st-" + point.status;
    text(status, LABELS[point.status] || point.status);
    var list = byId("detail-figures");
    var fresh = document.createElement("dl");
    figure(fresh, "Location", point.location);
    figure(fresh, "Health", point.health);
    figure(fresh, "Kafka", kafkaText());
    figure(fresh, "Monitor probe", probeText(point));
    figure(fresh, "Central", point.centralAwaySince === null ? "present" :
      "away since " + new Date(point.centralAwaySince).toLocaleTimeString());
    figure(fresh, "Vehicle", point.pluggedIn ? "plugged in" : "not plugged in");
    figure(fresh, "Max power", fixed(point.maxPowerKw, 1) + " kW");
    if (point.user !== null) {
      figure(fresh, "User", point.user);
      figure(fresh, "Energy", fixed(point.energyKwh, 3) + " kWh");
      figure(fresh, "Cost", fixed(point.costEur, 2) + " EUR");
      figure(fresh, "Power", fixed(point.powerKw, 2) + " kW");
      figure(fresh, "Session time", duration(point.elapsedSeconds) +
        (point.supplying ? "" : " (waiting for the vehicle)"));
    } else {
      figure(fresh, "Session", "none");
    }
    if (list.innerHTML !== fresh.innerHTML) list.innerHTML = fresh.innerHTML;
  }

  function openDetail(id, focus) {
    detailId = id;
    byId("detail").hidden = false;
    paintDetail();
    if (focus) byId("detail-title").focus();
  }

  function closeDetail() {
    var id = detailId;
    detailId = null;
    byId("detail").hidden = true;
    var record = id === null ? null : rows.get(id);
    if (record) record.cells.id.querySelector("button").focus();
  }

  function notice(message, error) {
    var node = byId("notice");
    node.textContent = message;
    node.classList.toggle("error", Boolean(error));
  }

  function summary(action, results) {
    if (results.length === 1) {
      var result = results[0];
      var what = ACTION_NAMES[action] + " on " + result.point + ": ";
      if (result.outcome === "changed") return what + "done, now " + (LABELS[result.status] || result.status);
      return what + result.message;
    }
    var counts = { changed: 0, unchanged: 0, refused: 0 };
    for (var i = 0; i < results.length; i++) counts[results[i].outcome]++;
    return ACTION_NAMES[action] + " on " + results.length + " points: " + counts.changed +
      " changed, " + counts.unchanged + " unchanged, " + counts.refused + " refused";
  }

  function send(url, body) {
    notice(ACTION_NAMES[body.action] + "...", false);
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.error || ("HTTP " + response.status));
        notice(summary(body.action, answer.results), false);
      });
    }).catch(function (error) {
      notice(ACTION_NAMES[body.action] + " failed: " + error.message, true);
    });
  }

  function actOnPoint(action, user) {
    if (detailId === null) return;
    var body = { action: action };
    if (user !== undefined) body.user = user;
    send("/api/points/" + encodeURIComponent(detailId) + "/actions", body);
  }

  function actOnSelection(action, user) {
    if (selected.size === 0) return;
    var body = { action: action, points: Array.from(selected) };
    if (user !== undefined) body.user = user;
    send("/api/actions", body);
  }

  function connect() {
    var source = new EventSource("/events");
    var feed = byId("feed");
    source.addEventListener("snapshot", function (event) {
      renderSnapshot(JSON.parse(event.data));
      text(feed, "Live");
      feed.className = "badge badge-ok";
    });
    source.addEventListener("update", function (event) { queueUpdate(JSON.parse(event.data)); });
    source.addEventListener("error", function () {
      text(feed, "Reconnecting");
      feed.className = "badge badge-bad";
    });
  }

  buildFilters();
  byId("filters").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-filter]");
    if (!button) return;
    var key = button.dataset.filter;
    if (key === "all") shown = new Set(statuses);
    else if (shown.size === statuses.length) shown = new Set([key]);
    else if (shown.has(key)) {
      shown.delete(key);
      if (shown.size === 0) shown = new Set(statuses);
    } else shown.add(key);
    updateCounts();
    applyFilters();
  });
  byId("search").addEventListener("input", function (event) {
    search = event.target.value.trim().toLowerCase();
    applyFilters();
  });
  function setView(grid) {
    document.body.classList.toggle("grid", grid);
    byId("view-grid").setAttribute("aria-pressed", grid ? "true" : "false");
    byId("view-table").setAttribute("aria-pressed", grid ? "false" : "true");
  }
  byId("view-table").addEventListener("click", function () { setView(false); });
  byId("view-grid").addEventListener("click", function () { setView(true); });
  tbody.addEventListener("click", function (event) {
    var button = event.target.closest("button.point-id");
    if (button) openDetail(button.closest("tr").dataset.id, true);
  });
  tbody.addEventListener("change", function (event) {
    if (event.target.type !== "checkbox") return;
    select(event.target.closest("tr").dataset.id, event.target.checked);
    updateSelection();
  });
  byId("select-all").addEventListener("change", function (event) {
    var on = event.target.checked;
    rows.forEach(function (record, id) { if (!record.tr.hidden) select(id, on); });
    updateSelection();
  });
  byId("select-shown").addEventListener("click", function () {
    rows.forEach(function (record, id) { if (!record.tr.hidden) select(id, true); });
    updateSelection();
  });
  byId("select-none").addEventListener("click", function () {
    Array.from(selected).forEach(function (id) { select(id, false); });
    byId("select-all").checked = false;
    updateSelection();
  });
  document.querySelector(".action-group").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-bulk]");
    if (button) actOnSelection(button.dataset.bulk);
  });
  byId("bulk-session").addEventListener("submit", function (event) {
    event.preventDefault();
    var user = byId("bulk-user").value.trim();
    if (user === "") { notice("Give the user of the sessions first", true); return; }
    actOnSelection("start_session", user);
  });
  document.querySelector(".detail .actions").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-act]");
    if (button) actOnPoint(button.dataset.act);
  });
  byId("session-form").addEventListener("submit", function (event) {
    event.preventDefault();
    actOnPoint("start_session", byId("session-user").value.trim());
  });
  byId("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && detailId !== null && order.length > 1) closeDetail();
  });
  setInterval(refreshAges, 1000);
  connect();
})();
`;
