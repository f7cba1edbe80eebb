// The Fleet page: devices (last seen, backlog, drops, models), a live feed of events over server-sent events
// (filtered by device, stream and text, resumed from its cursor after a drop), sightings across streams, and a
// device's data erased behind a typed confirmation, offered only to a token the server lets delete (it enforces
// fleet.admin anyway, and a refusal is shown with its reason).

import { ApiError, call, url, watch } from "./api.js";

const $ = (id) => document.getElementById(id);
const FEED_ROWS = 200;
let feed = null; // {controller, cursor, seen:Set}
// Whether this token may delete: asked with a delete the server must refuse whoever asks (an id over its 128
// characters), so nothing is touched: INVALID_ARGUMENT comes from a caller with fleet.admin, PERMISSION_DENIED
// (or UNAUTHENTICATED) from one without. The REST API has no call that lists a token's scopes.
const SCOPE_PROBE = "console-scope-probe-".padEnd(129, "x");
let admin = { known: false, refusal: "" };
let refreshTimer = null;
let lastDelete = ""; // the outcome of the last delete, kept on the status line

const num = (v) => Number(v || 0);
const shortType = (t) => (t || "").replace(/^EVENT_TYPE_/, "");
const shortReason = (r) => (r || "").replace(/^DROP_REASON_/, "").toLowerCase();

/** A timestamp as local time, with the date only when it is not today. */
export function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  const time = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString("sv")} ${time}`;
}

function ago(ts) {
  if (!ts) return "";
  const s = Math.max(0, Math.round((Date.now() - new Date(ts)) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function models(provenance) {
  if (!provenance || !provenance.bundleId) return "—";
  const rank = (stage) => ["det", "cls", "rec"].indexOf(stage) >>> 0; // pipeline order, unknown stages last
  const precision = Object.entries(provenance.stagePrecision || {})
    .sort(([a], [b]) => rank(a) - rank(b)).map(([k, v]) => `${k} ${v}`).join(", ");
  return `${provenance.bundleId} (${provenance.backend || "?"}${precision ? `; ${precision}` : ""})`;
}

function row(table, cells, first = false) {
  const tr = document.createElement("tr");
  for (const value of cells) {
    const td = document.createElement("td");
    if (value instanceof Node) td.appendChild(value);
    else td.textContent = value;
    tr.appendChild(td);
  }
  const body = table.tBodies[0];
  if (first) body.insertBefore(tr, body.firstChild);
  else body.appendChild(tr);
  return tr;
}

function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

const describe = (err) => (err instanceof ApiError ? err.describe() : err.message);

// --- devices -------------------------------------------------------------------------------------------------

/** Lists the devices; the outcome of the last delete leads the status line. */
export async function loadDevices() {
  let answer;
  try {
    answer = await call("GET", url("/v1/devices", { page_size: 1000 }));
  } catch (err) {
    say("devices-status", `Devices: ${describe(err)}`, true);
    return;
  }
  const devices = answer.devices || [];
  $("devices").tBodies[0].replaceChildren();
  for (const d of devices) {
    const s = d.status || {};
    const drops = (s.drops || []).filter((x) => num(x.events)).map((x) => `${shortReason(x.reason)} ${x.events}`);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.textContent = "Delete data…";
    remove.hidden = !admin.known || Boolean(admin.refusal);
    remove.addEventListener("click", () => confirmDelete(d.deviceId));
    const tr = row($("devices"), [
      d.deviceId,
      `${when(d.lastSeen)} (${ago(d.lastSeen)})`,
      `${num(s.backlogEvents)} events, ${num(s.backlogBytes)} B`,
      drops.join(", ") || "none",
      models(s.provenance),
      (d.streams || []).map((x) => `${x.streamId} (${num(x.events)})`).join(", ") || "—",
      String(num(d.events)),
      remove,
    ]);
    tr.dataset.device = d.deviceId;
  }
  say("devices-status", `${lastDelete ? `${lastDelete} ` : ""}${devices.length} device(s), `
    + `${new Date().toLocaleTimeString([], { hour12: false })}`
    + (admin.refusal ? `. Delete is not offered to this token: ${admin.refusal}` : ""));
}

// --- delete ------------------------------------------------------------------------------------------------

function confirmDelete(deviceId) {
  const dialog = $("confirm-delete");
  $("delete-device").textContent = deviceId;
  $("delete-typed").value = "";
  $("delete-confirm").disabled = true;
  dialog.dataset.device = deviceId;
  dialog.returnValue = "";
  dialog.showModal();
}

async function deleteDevice(deviceId) {
  try {
    const done = await call("DELETE", `/v1/devices/${encodeURIComponent(deviceId)}/data`);
    lastDelete = done.deviceExisted
      ? `Erased ${deviceId}: ${num(done.deletedEvents)} events, ${num(done.deletedStreams)} streams.`
      : `${deviceId} was not known; nothing erased.`;
  } catch (err) {
    lastDelete = "";
    const denied = err instanceof ApiError && [401, 403].includes(err.httpStatus);
    if (denied) admin = { known: true, refusal: err.describe() };
    say("devices-status", `Delete ${deviceId} refused: ${describe(err)}`, true);
    offerDelete();
    return;
  }
  await loadDevices();
}

// --- live feed -----------------------------------------------------------------------------------------------

function filterParams(form) {
  const f = new FormData(form);
  const text = f.get("text").trim();
  return {
    "filter.device_id": f.get("device").trim(),
    "filter.stream_id": f.get("stream").trim(),
    "filter.text": text,
    "filter.text_match": text ? "TEXT_MATCH_CONTAINS" : "",
  };
}

function addEvent(stored, first) {
  if (!stored || !stored.event || feed.seen.has(stored.cursor)) return;
  feed.seen.add(stored.cursor);
  const e = stored.event;
  const conf = num(e.confidence).toFixed(2);
  const tr = row($("feed"), [when(e.captureTime), stored.deviceId, e.streamId, shortType(e.type), e.text, conf,
    models(e.provenance)], first);
  tr.dataset.device = stored.deviceId;
  tr.dataset.stream = e.streamId;
  tr.dataset.cursor = stored.cursor;
  tr.className = `ev-${shortType(e.type).toLowerCase()}`;
  const body = $("feed").tBodies[0];
  while (body.rows.length > FEED_ROWS) body.deleteRow(body.rows.length - 1);
  if (feed.seen.size > 10 * FEED_ROWS) feed.seen = new Set([...body.rows].map((r) => r.dataset.cursor)); // bounded
}

async function tail(state, params) {
  while (!state.controller.signal.aborted) {
    try {
      say("feed-status", "connecting…");
      const open = () => say("feed-status", "live");
      await watch(url("/v1/events:watch", { ...params, cursor: state.cursor }), open, (answer) => {
        if (state !== feed) return;
        if (answer.event && answer.event.cursor) state.cursor = answer.event.cursor;
        addEvent(answer.event, true);
      }, state.controller.signal);
      if (state.controller.signal.aborted) return;
      say("feed-status", "the stream ended; reconnecting…");
    } catch (err) {
      if (state.controller.signal.aborted) return;
      const final = err instanceof ApiError && [400, 401, 403, 404, 501].includes(err.httpStatus);
      say("feed-status", `feed: ${describe(err)}${final ? "" : "; retrying…"}`, true);
      if (final) return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** (Re)starts the feed with the form's filter: the newest stored events first, then the live tail. */
export async function startFeed() {
  stopFeed();
  const params = filterParams($("feed-filter"));
  const state = (feed = { controller: new AbortController(), cursor: "", seen: new Set() });
  $("feed").tBodies[0].replaceChildren();
  tail(state, params);
  try {
    const recent = await call("GET", url("/v1/events", { ...params, page_size: 50, newest_first: true }));
    if (state === feed) for (const stored of (recent.events || []).reverse()) addEvent(stored, true);
  } catch (err) {
    say("feed-status", `recent events: ${describe(err)}`, true);
  }
}

export function stopFeed() {
  if (feed) feed.controller.abort();
  feed = null;
}

// --- sightings -----------------------------------------------------------------------------------------------

async function loadSightings() {
  const f = new FormData($("sightings-filter"));
  const text = f.get("text").trim();
  let answer;
  try {
    answer = await call("GET", url("/v1/sightings", {
      window: `${Math.max(1, num(f.get("window"))) * 60}s`, min_streams: Math.max(1, num(f.get("min"))),
      page_size: 100, "filter.text": text, "filter.text_match": text ? "TEXT_MATCH_CONTAINS" : "",
    }));
  } catch (err) {
    say("sightings-status", describe(err), true);
    return;
  }
  const sightings = answer.sightings || [];
  $("sightings").tBodies[0].replaceChildren();
  for (const s of sightings) {
    const places = (s.places || []).map((p) => `${p.deviceId}/${p.streamId} ×${p.events} "${p.text}"`).join("; ");
    row($("sightings"), [s.normalizedText, when(s.firstSeen), when(s.lastSeen), places]);
  }
  say("sightings-status", `${sightings.length} sighting(s)`);
}

// --- page ------------------------------------------------------------------------------------------------------

/** Whether this server has FleetService: 404 (no route) or 501 (not served) means no; a refusal means yes. */
export async function probeFleet() {
  try {
    await call("GET", url("/v1/devices", { page_size: 1 }));
    return { ok: true };
  } catch (err) {
    const absent = err instanceof ApiError && [404, 501].includes(err.httpStatus);
    return { ok: !absent, error: err };
  }
}

/** Called when the tab is shown or hidden, and when the token changes. */
export function showFleet(visible) {
  clearInterval(refreshTimer);
  if (!visible) {
    stopFeed();
    return;
  }
  probeAdmin();
  loadSightings();
  startFeed();
  refreshTimer = setInterval(() => loadDevices(), 5000);
}

function offerDelete() {
  const hidden = !admin.known || Boolean(admin.refusal);
  document.querySelectorAll("#devices button.delete").forEach((b) => { b.hidden = hidden; });
}

/** Asks whether this token may delete (see SCOPE_PROBE), then shows or hides the delete buttons. */
async function probeAdmin() {
  admin = { known: false, refusal: "" };
  offerDelete();
  try {
    await call("DELETE", `/v1/devices/${SCOPE_PROBE}/data`);
    admin = { known: true, refusal: "" };
  } catch (err) {
    const denied = err instanceof ApiError && [401, 403].includes(err.httpStatus);
    admin = { known: true, refusal: denied ? err.describe() : "" };
  }
  offerDelete();
  await loadDevices();
}

export function initFleet() {
  $("devices-refresh").addEventListener("click", () => loadDevices());
  $("feed-filter").addEventListener("submit", (e) => { e.preventDefault(); startFeed(); });
  $("sightings-filter").addEventListener("submit", (e) => { e.preventDefault(); loadSightings(); });
  const dialog = $("confirm-delete");
  $("delete-typed").addEventListener("input", (e) => {
    $("delete-confirm").disabled = e.target.value !== dialog.dataset.device;
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "delete" && $("delete-typed").value === dialog.dataset.device) {
      deleteDevice(dialog.dataset.device);
    }
  });
}
