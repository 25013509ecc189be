// The Exteros dashboard: sign in with an API key, pick a location, read its day, a range
// of days and the company's devices. Everything comes from the public /v1 API.

import { ApiError, apiGet, storeKey, storedKey } from "./api.js";
import * as charts from "./charts.js";
import * as fmt from "./format.js";

const KINDS = [
  { key: "impressions", label: "Impressions" },
  { key: "discoveries", label: "Discoveries", rate: "discovery-rate" },
  { key: "engagements", label: "Engagements", rate: "engagement-rate" },
  { key: "interactions", label: "Interactions", rate: "interaction-rate" },
];
const SERIES = KINDS.map((k) => ({ label: k.label, key: k.key, color: charts.COLORS[k.key] }));
const LOCATION_STORE = "exteros.dashboard.location";
const DEVICES_EVERY_MS = 30_000;

const $ = (id) => document.getElementById(id);

const state = {
  key: null,
  locations: new Map(), // name -> {location-name, parent, children, type, timezone, company}
  location: null,
  dayPicked: false, // the user chose a day: keep it when the location changes
  rangePicked: false,
  gen: { day: 0, range: 0, devices: 0, location: 0 },
  devicesTimer: null,
};

// -- small DOM helpers ----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function numCell(text, attrs = {}) {
  return el("td", { className: "num", ...attrs }, text);
}

function emptyRow(tbody, columns, text) {
  tbody.replaceChildren(el("tr", { className: "empty" }, el("td", { colspan: columns }, text)));
}

function setState(section, value) {
  section.dataset.state = value;
  section.setAttribute("aria-busy", value === "loading" ? "true" : "false");
}

// -- messages -------------------------------------------------------------------------------

let retryAction = null;

function showError(err, retry = null) {
  const text = err instanceof ApiError ? err.explain() : `Something went wrong: ${err}`;
  $("alert-text").textContent = text;
  $("alert").hidden = false;
  $("alert").dataset.status = err instanceof ApiError ? String(err.status) : "";
  retryAction = retry;
  $("alert-retry").hidden = !retry;
  if (!(err instanceof ApiError)) console.error(err);
}

function clearError() {
  $("alert").hidden = true;
  $("alert-text").textContent = "";
  retryAction = null;
}

/** A failed API call: a refused key signs out; anything else is shown with a retry. */
function failed(err, retry) {
  if (err instanceof ApiError && err.status === 401) {
    signOut();
    showError(err);
    return;
  }
  showError(err, retry);
}

// -- sign in and out ------------------------------------------------------------------------

function showSignIn() {
  $("app").hidden = true;
  $("sign-in").hidden = false;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("key").focus();
}

function signOut() {
  storeKey(null);
  state.key = null;
  state.location = null;
  clearInterval(state.devicesTimer);
  state.devicesTimer = null;
  for (const name of Object.keys(state.gen)) state.gen[name] += 1; // drop answers in flight
  charts.clearAll();
  $("key").value = "";
  showSignIn();
}

async function signIn(key) {
  const button = $("sign-in-form").querySelector("button");
  button.disabled = true;
  try {
    const locations = await apiGet(key, ["locations"], { info: "true" });
    storeKey(key);
    state.key = key;
    clearError();
    startApp(locations);
  } catch (err) {
    storeKey(null);
    showSignIn();
    showError(err, err instanceof ApiError && err.status === 401 ? null : () => signIn(key));
  } finally {
    button.disabled = false;
  }
}

function startApp(locations) {
  state.locations = new Map(locations.map((l) => [l["location-name"], l]));
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  const company = locations.length ? locations[0].company : null;
  $("who").textContent = company ? `Signed in: ${company}` : "Signed in";
  $("who").hidden = false;
  fillPicker();
  loadDevices();
  clearInterval(state.devicesTimer);
  state.devicesTimer = setInterval(() => {
    if (!document.hidden && state.key) loadDevices(true);
  }, DEVICES_EVERY_MS);
  if (!locations.length) {
    $("location-info").textContent =
      "This key's company has no locations yet (exteros-central locations add ...).";
    return;
  }
  let first = sessionStorage.getItem(LOCATION_STORE);
  if (!state.locations.has(first)) {
    first = treeOrder()[0].name;
  }
  selectLocation(first);
}

// -- the location tree ----------------------------------------------------------------------

/** Locations depth first (roots by name, children by name): [{name, depth}]. */
function treeOrder() {
  const out = [];
  const seen = new Set();
  const visit = (name, depth) => {
    if (seen.has(name) || !state.locations.has(name)) return;
    seen.add(name);
    out.push({ name, depth });
    const children = [...(state.locations.get(name).children || [])].sort();
    for (const child of children) visit(child, depth + 1);
  };
  const roots = [...state.locations.values()]
    .filter((l) => !l.parent || !state.locations.has(l.parent))
    .map((l) => l["location-name"])
    .sort();
  for (const root of roots) visit(root, 0);
  for (const name of [...state.locations.keys()].sort()) visit(name, 0); // cycles, if any
  return out;
}

function fillPicker() {
  const select = $("location");
  select.replaceChildren(
    ...treeOrder().map(({ name, depth }) => {
      const loc = state.locations.get(name);
      const indent = "\u00a0\u00a0\u00a0".repeat(depth) + (depth ? "\u2514\u00a0" : "");
      return el("option", { value: name }, `${indent}${name} (${loc.type || "location"})`);
    }),
  );
}

function ancestors(name) {
  const chain = [];
  let loc = state.locations.get(name);
  while (loc && loc.parent && state.locations.has(loc.parent) && chain.length < 20) {
    chain.unshift(loc.parent);
    loc = state.locations.get(loc.parent);
  }
  return chain;
}

function treeButton(name) {
  const b = el("button", { type: "button", className: "link", dataset: { location: name } }, name);
  b.addEventListener("click", () => selectLocation(name));
  return b;
}

function showTree(name, lastUpdate) {
  const loc = state.locations.get(name);
  const info = [`${loc.type || "location"}`, `time zone ${loc.timezone}`];
  info.push(
    lastUpdate ? `data up to ${fmt.stamp(lastUpdate, loc.timezone)} (local time)` : "no data yet",
  );
  $("location-info").textContent = `${name}: ${info.join(" \u00b7 ")}`;
  const parts = [];
  const up = ancestors(name);
  if (up.length) {
    parts.push(el("span", { className: "tree-label" }, "Part of: "));
    up.forEach((a, i) => parts.push(i ? " \u203a " : "", treeButton(a)));
  }
  const children = [...(loc.children || [])].filter((c) => state.locations.has(c)).sort();
  if (children.length) {
    if (parts.length) parts.push(el("span", { className: "sep" }, " \u00b7 "));
    parts.push(el("span", { className: "tree-label" }, "Contains: "));
    children.forEach((c, i) => parts.push(i ? ", " : "", treeButton(c)));
  }
  $("location-tree").replaceChildren(...parts);
}

async function selectLocation(name) {
  const gen = ++state.gen.location;
  state.location = name;
  sessionStorage.setItem(LOCATION_STORE, name);
  $("location").value = name;
  const loc = state.locations.get(name);
  let lastUpdate = null;
  try {
    const answer = await apiGet(state.key, ["locations", "last-update", name]);
    lastUpdate = answer.length ? answer[0]["last-update"] : null;
  } catch (err) {
    if (gen !== state.gen.location) return;
    failed(err, () => selectLocation(name));
    return;
  }
  if (gen !== state.gen.location) return;
  showTree(name, lastUpdate);
  if (!state.dayPicked || !$("day").value) {
    // Open on the location's latest day with data, else its today.
    $("day").value = fmt.dayIn(lastUpdate ? new Date(lastUpdate) : new Date(), loc.timezone);
  }
  if (!state.rangePicked || !$("to").value || !$("from").value) {
    $("to").value = $("day").value;
    $("from").value = fmt.addDays($("day").value, -13);
  }
  loadDay();
  loadRange();
}

// -- the day --------------------------------------------------------------------------------

async function loadDay() {
  const name = state.location;
  const day = $("day").value;
  const section = $("day-section");
  if (!name || !day) return;
  const gen = ++state.gen.day;
  setState(section, "loading");
  const tz = state.locations.get(name).timezone;
  $("day-title").textContent = `${fmt.longDay(day)} at ${name}`;
  $("funnel-caption").textContent = `Hourly funnel, ${name}, ${day} (hours in local time, ${tz})`;
  try {
    const [hours, totals, dwellHours, dwellDay] = await Promise.all([
      apiGet(state.key, ["traffic", "funnel", name, day], { interval: "hour", hour: "all" }),
      apiGet(state.key, ["traffic", "funnel", name, day], { interval: "day" }),
      apiGet(state.key, ["traffic", "dwell", name, day], { interval: "hour" }),
      apiGet(state.key, ["traffic", "dwell", name, day], { interval: "day" }),
    ]);
    if (gen !== state.gen.day) return;
    renderDay(hours, totals[0] || null, dwellHours, dwellDay[0] || null);
    section.dataset.location = name;
    section.dataset.day = day;
    setState(section, "loaded");
  } catch (err) {
    if (gen !== state.gen.day) return;
    setState(section, "error");
    failed(err, loadDay);
  }
}

function card(label, value, detail = null, className = "") {
  return el(
    "div",
    { className: `card ${className}` },
    el("dt", {}, label),
    el(
      "dd",
      {},
      el("span", { className: "value" }, value),
      detail ? el("span", { className: "detail" }, detail) : null,
    ),
  );
}

function renderDay(hours, total, dwellHours, dwellDay) {
  const cards = KINDS.map((k) =>
    card(
      k.label,
      fmt.count(total ? total[k.key] : 0),
      k.rate ? `${fmt.rate(total ? total[k.rate] : null)} of impressions` : "visits seen",
      k.key,
    ),
  );
  cards.push(
    card(
      "Median dwell",
      fmt.duration(dwellDay ? dwellDay["median-dwell-s"] : null),
      `${fmt.count(dwellDay ? dwellDay.visits : 0)} visits`,
      "dwell",
    ),
    card(
      "p90 dwell",
      fmt.duration(dwellDay ? dwellDay["p90-dwell-s"] : null),
      "9 in 10 visits were shorter",
      "dwell",
    ),
  );
  $("day-cards").replaceChildren(...cards);

  const dwellByHour = new Map(dwellHours.map((d) => [`${d.hr}:${d.min || 0}`, d]));
  const tbody = $("funnel-table").tBodies[0];
  const tfoot = $("funnel-table").tFoot;
  if (!hours.length) {
    emptyRow(tbody, 10, "No traffic recorded on this day.");
    tfoot.replaceChildren();
  } else {
    tbody.replaceChildren(
      ...hours.map((row) => {
        const dwell = dwellByHour.get(`${row.hr}:${row.min || 0}`);
        return el(
          "tr",
          { dataset: { hr: row.hr } },
          el("th", { scope: "row" }, fmt.hourLabel(row.hr, row.min || 0)),
          ...KINDS.map((k) => numCell(fmt.count(row[k.key]), { dataset: { col: k.key } })),
          ...KINDS.filter((k) => k.rate).map((k) =>
            numCell(fmt.rate(row[k.rate]), { dataset: { col: k.rate } }),
          ),
          numCell(fmt.duration(dwell ? dwell["median-dwell-s"] : null), {
            dataset: { col: "median-dwell-s" },
          }),
          numCell(fmt.duration(dwell ? dwell["p90-dwell-s"] : null), {
            dataset: { col: "p90-dwell-s" },
          }),
        );
      }),
    );
    tfoot.replaceChildren(
      el(
        "tr",
        {},
        el("th", { scope: "row" }, "Day"),
        ...KINDS.map((k) =>
          numCell(fmt.count(total ? total[k.key] : 0), { dataset: { col: k.key } }),
        ),
        ...KINDS.filter((k) => k.rate).map((k) =>
          numCell(fmt.rate(total ? total[k.rate] : null), { dataset: { col: k.rate } }),
        ),
        numCell(fmt.duration(dwellDay ? dwellDay["median-dwell-s"] : null)),
        numCell(fmt.duration(dwellDay ? dwellDay["p90-dwell-s"] : null)),
      ),
    );
  }
  charts.bars(
    "funnel-chart",
    hours.map((r) => fmt.hourLabel(r.hr, r.min || 0)),
    SERIES,
    hours,
    "visits",
  );
}

// -- the range ------------------------------------------------------------------------------

async function loadRange() {
  const name = state.location;
  const from = $("from").value;
  const to = $("to").value;
  const section = $("range-section");
  if (!name || !from || !to) return;
  if (from > to) {
    showError(new ApiError(400, `the range starts (${from}) after it ends (${to})`));
    return;
  }
  const gen = ++state.gen.range;
  setState(section, "loading");
  $("range-title").textContent = `${fmt.longDay(from)} to ${fmt.longDay(to)} at ${name}`;
  const weekFrom = fmt.addDays(to, -13);
  try {
    const [daily, dwell, weeks] = await Promise.all([
      apiGet(state.key, ["traffic", "funnel", name, from], { to, interval: "day" }),
      apiGet(state.key, ["traffic", "dwell", name, from], { to, interval: "day" }),
      apiGet(state.key, ["traffic", "funnel", name, weekFrom], { to, interval: "day" }),
    ]);
    if (gen !== state.gen.range) return;
    renderRange(from, to, daily, dwell, weeks);
    section.dataset.location = name;
    section.dataset.from = from;
    section.dataset.to = to;
    setState(section, "loaded");
  } catch (err) {
    if (gen !== state.gen.range) return;
    setState(section, "error");
    failed(err, loadRange);
  }
}

/** Every day of from..to, with the API's row for it or zero counts (a day without traffic). */
function byDay(from, to, rows) {
  const found = new Map(rows.map((r) => [r.date, r]));
  return fmt.daysBetween(from, to).map((date) => {
    const row = found.get(date);
    const zero = Object.fromEntries(KINDS.map((k) => [k.key, 0]));
    return { date, ...zero, ...(row || {}) };
  });
}

function renderRange(from, to, daily, dwell, weeks) {
  const days = byDay(from, to, daily);
  const dwellBy = new Map(dwell.map((d) => [d.date, d]));
  const labels = days.map((d) => fmt.shortDay(d.date));
  charts.lines("daily-chart", labels, SERIES, days, "visits");
  const dwellRows = days.map((d) => {
    const w = dwellBy.get(d.date);
    return {
      median: w && w["median-dwell-s"] !== null ? w["median-dwell-s"] : null,
      p90: w && w["p90-dwell-s"] !== null ? w["p90-dwell-s"] : null,
    };
  });
  charts.lines(
    "dwell-chart",
    labels,
    [
      { label: "Median dwell (s)", key: "median", color: charts.COLORS.median },
      { label: "p90 dwell (s)", key: "p90", color: charts.COLORS.p90 },
    ],
    dwellRows,
    "seconds",
    false,
  );

  const tbody = $("daily-table").tBodies[0];
  tbody.replaceChildren(
    ...days.map((d) => {
      const w = dwellBy.get(d.date);
      return el(
        "tr",
        { dataset: { date: d.date } },
        el("th", { scope: "row" }, `${fmt.weekday(d.date)} ${d.date}`),
        ...KINDS.map((k) => numCell(fmt.count(d[k.key]), { dataset: { col: k.key } })),
        numCell(fmt.count(w ? w.visits : 0), { dataset: { col: "visits" } }),
        numCell(fmt.duration(w ? w["median-dwell-s"] : null), {
          dataset: { col: "median-dwell-s" },
        }),
        numCell(fmt.duration(w ? w["p90-dwell-s"] : null), { dataset: { col: "p90-dwell-s" } }),
      );
    }),
  );
  renderWeeks(to, weeks);
}

function renderWeeks(to, rows) {
  const thisFrom = fmt.addDays(to, -6);
  const lastTo = fmt.addDays(to, -7);
  const lastFrom = fmt.addDays(to, -13);
  const sum = (days) =>
    Object.fromEntries(KINDS.map((k) => [k.key, days.reduce((a, d) => a + (d[k.key] || 0), 0)]));
  const now = sum(byDay(thisFrom, to, rows));
  const before = sum(byDay(lastFrom, lastTo, rows));
  const thisLabel = `${fmt.shortDay(thisFrom)} \u2013 ${fmt.shortDay(to)}`;
  const lastLabel = `${fmt.shortDay(lastFrom)} \u2013 ${fmt.shortDay(lastTo)}`;
  $("week-this").textContent = `This week (${thisLabel})`;
  $("week-last").textContent = `Last week (${lastLabel})`;
  $("week-caption").textContent = `The 7 days to ${fmt.shortDay(to)} against the 7 days before.`;
  $("week-table").tBodies[0].replaceChildren(
    ...KINDS.map((k) => {
      const delta = fmt.change(now[k.key], before[k.key]);
      const trend =
        now[k.key] > before[k.key] ? "up" : now[k.key] < before[k.key] ? "down" : "same";
      return el(
        "tr",
        { dataset: { kind: k.key } },
        el("th", { scope: "row" }, k.label),
        numCell(fmt.count(now[k.key]), { dataset: { col: "this" } }),
        numCell(fmt.count(before[k.key]), { dataset: { col: "last" } }),
        numCell(delta, { className: `num trend-${trend}`, dataset: { col: "change" } }),
      );
    }),
  );
  charts.bars(
    "week-chart",
    KINDS.map((k) => k.label),
    [
      { label: `This week (${thisLabel})`, key: "now", color: charts.COLORS.thisWeek },
      { label: `Last week (${lastLabel})`, key: "before", color: charts.COLORS.lastWeek },
    ],
    KINDS.map((k) => ({ now: now[k.key], before: before[k.key] })),
    "visits",
  );
}

// -- devices --------------------------------------------------------------------------------

async function loadDevices(quiet = false) {
  const section = $("devices-section");
  const gen = ++state.gen.devices;
  if (!quiet) setState(section, "loading");
  try {
    const devices = await apiGet(state.key, ["devices"]);
    if (gen !== state.gen.devices) return;
    renderDevices(devices);
    setState(section, "loaded");
  } catch (err) {
    if (gen !== state.gen.devices) return;
    setState(section, "error");
    if (!quiet || (err instanceof ApiError && err.status === 401)) failed(err, () => loadDevices());
  }
}

function timeCell(iso) {
  if (!iso) return el("td", {}, "never");
  return el(
    "td",
    {},
    el("time", { datetime: iso, title: fmt.stamp(iso) }, fmt.ago(iso)),
    el("span", { className: "detail" }, fmt.stamp(iso)),
  );
}

function badge(kind, text) {
  return el("span", { className: `badge ${kind}` }, text);
}

function renderDevices(devices) {
  const tbody = $("devices-table").tBodies[0];
  const list = [...devices].sort((a, b) => String(a["device-id"]).localeCompare(b["device-id"]));
  const online = list.filter((d) => d.online).length;
  const stalled = [];
  for (const d of list) {
    for (const c of d.cameras || [])
      if (c.stalled) stalled.push(`${d["device-id"]} / ${c["camera-id"]}`);
  }
  const summary = $("devices-summary");
  const offline = list.length - online;
  const plural = list.length === 1 ? "" : "s";
  const parts = [`${list.length} device${plural}: ${online} online, ${offline} offline.`];
  if (stalled.length) {
    parts.push(
      `${stalled.length} stalled camera${stalled.length === 1 ? "" : "s"}: ${stalled.join(", ")}.`,
    );
  }
  summary.textContent = parts.join(" ");
  summary.classList.toggle("warn", stalled.length > 0 || online < list.length);
  if (!list.length) {
    emptyRow(tbody, 9, "No devices registered (exteros-central devices add ...).");
    return;
  }
  const rows = [];
  for (const d of list) {
    const cams = [...(d.cameras || [])].sort((a, b) =>
      String(a["camera-id"]).localeCompare(b["camera-id"]),
    );
    const span = Math.max(1, cams.length);
    const deviceCells = [
      el("th", { scope: "rowgroup", rowspan: span }, d["device-id"]),
      el(
        "td",
        { rowspan: span },
        d.online ? badge("online", "Online") : badge("offline", "Offline"),
      ),
      Object.assign(timeCell(d["last-heartbeat"]), { rowSpan: span }),
      el("td", { rowspan: span }, d.version || fmt.DASH),
      numCell(fmt.count(d["outbox-depth"]), { rowspan: span }),
    ];
    if (!cams.length) {
      rows.push(
        el(
          "tr",
          { className: d.online ? "" : "offline", dataset: { device: d["device-id"] } },
          ...deviceCells,
          el("td", { colspan: 4, className: "muted" }, "no camera reported"),
        ),
      );
      continue;
    }
    cams.forEach((c, i) => {
      const camState = c.stalled
        ? badge("stalled", "\u26a0 Stalled")
        : c.connected
          ? badge("ok", "Receiving frames")
          : badge("offline", "Disconnected");
      const classes = [
        c.stalled ? "stalled" : "",
        d.online ? "" : "offline",
        i ? "" : "group-start",
      ];
      rows.push(
        el(
          "tr",
          {
            className: classes.filter(Boolean).join(" "),
            dataset: {
              device: d["device-id"],
              camera: c["camera-id"],
              stalled: c.stalled ? "true" : "false",
            },
          },
          ...(i ? [] : deviceCells),
          el("td", { className: "camera" }, c["camera-id"]),
          numCell(fmt.fps(c.fps)),
          el("td", {}, camState),
          timeCell(c["last-frame"]),
        ),
      );
    });
  }
  tbody.replaceChildren(...rows);
}

// -- wiring ---------------------------------------------------------------------------------

function init() {
  if (!charts.available()) {
    $("charts-note").hidden = false;
    document.body.classList.add("no-charts");
  }
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("key").value.trim();
    if (!key) {
      showError(new ApiError(401, "no key entered"));
      return;
    }
    clearError();
    signIn(key);
  });
  $("sign-out").addEventListener("click", () => {
    clearError();
    signOut();
  });
  $("alert-close").addEventListener("click", clearError);
  $("alert-retry").addEventListener("click", () => {
    const again = retryAction;
    clearError();
    if (again) again();
  });
  $("location").addEventListener("change", (ev) => selectLocation(ev.target.value));
  $("day").addEventListener("change", () => {
    if (!$("day").value) return;
    state.dayPicked = true;
    loadDay();
    if (!state.rangePicked) {
      // Until a range is chosen, it is the two weeks to the day.
      $("to").value = $("day").value;
      $("from").value = fmt.addDays($("day").value, -13);
      loadRange();
    }
  });
  for (const id of ["from", "to"]) {
    $(id).addEventListener("change", () => {
      if (!$("from").value || !$("to").value) return;
      state.rangePicked = true;
      loadRange();
    });
  }
  $("devices-refresh").addEventListener("click", () => loadDevices());
  const key = storedKey();
  if (key) signIn(key);
  else showSignIn();
  document.body.dataset.ready = "1";
}

init();
