// Starts the console: the token field, the two tabs, and what this server offers (OcrService answers
// GET /v1/serverInfo; FleetService answers GET /v1/devices), asked again whenever the token changes.

import { setToken } from "./api.js";
import { initFleet, probeFleet, showFleet } from "./fleet.js";
import { initRead, probeRead } from "./read.js";

const $ = (id) => document.getElementById(id);
let current = "read";

function select(tab) {
  current = tab;
  for (const name of ["read", "fleet"]) {
    $(name).hidden = name !== tab;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === tab));
  }
  if (location.hash !== `#${tab}`) history.replaceState(null, "", `#${tab}`);
  showFleet(tab === "fleet" && !$("fleet-body").hidden);
}

function notice(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

async function probe() {
  const [read, fleet] = await Promise.all([probeRead(), probeFleet()]);
  const status = read.error && read.error.httpStatus;
  if (read.ok) {
    const i = read.info;
    $("server").textContent = `server ${i.serverVersion || "?"}, ${i.ready ? "ready" : "loading models"}, `
      + `${(i.provenance && i.provenance.bundleId) || "?"}`;
    notice("read-unavailable", "");
  } else if (status === 404 || status === 501) {
    $("server").textContent = fleet.ok ? "fleet central" : "";
    notice("read-unavailable", "This server does not read images (it runs without OcrService).");
  } else {
    $("server").textContent = "";
    notice("read-unavailable", `Server info: ${read.error.describe ? read.error.describe() : read.error.message}`
      + (status === 401 ? " — enter a token." : ""));
  }
  $("fleet-body").hidden = !fleet.ok;
  const hint = fleet.error && fleet.error.httpStatus === 401 ? " — enter a token." : "";
  const refused = fleet.error && `Fleet: ${fleet.error.describe()}${hint}`;
  notice("fleet-unavailable", fleet.ok
    ? refused || ""
    : "This server has no FleetService (start it with --role central or all).");
  if (!read.ok && (status === 404 || status === 501) && fleet.ok && current === "read") select("fleet");
  else select(current);
}

function init() {
  initRead();
  initFleet();
  $("tab-read").addEventListener("click", () => select("read"));
  $("tab-fleet").addEventListener("click", () => select("fleet"));
  let applied = "";
  const useToken = () => { // "change" fires on Enter and again on leaving the field: act once per new token
    if ($("token").value.trim() === applied) return;
    applied = $("token").value.trim();
    setToken(applied);
    probe();
  };
  $("token").addEventListener("change", useToken);
  $("token-form").addEventListener("submit", (e) => e.preventDefault()); // Enter also fires "change"
  current = location.hash === "#fleet" ? "fleet" : "read";
  select(current);
  probe();
}

init();
