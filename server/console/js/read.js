// The Read page: a dropped image goes to POST /v1/images:recognize, a PDF or TIFF to POST /v1/documents:recognize
// (its pages drawn as they arrive); each page is drawn with its polygons, its lines listed in reading order with
// their confidences, and the timings and precision that served it are shown beside the JSON to copy.

import { ApiError, base64, call, postLines, request } from "./api.js";
import { confidenceColour, drawPage } from "./overlay.js";

const $ = (id) => document.getElementById(id);
const STAGES = [
  ["decodeMs", "decode"], ["queueMs", "queue"], ["detectionMs", "detection"],
  ["classificationMs", "classification"], ["recognitionMs", "recognition"], ["totalMs", "total"],
];
let answer = null; // what "Copy JSON" copies, as the server sent it: the response, or a document's responses
let stageReasons = {}; // stage -> why that precision, from GetServerInfo

const isDocument = (file) => /\.(pdf|tiff?)$/i.test(file.name) || /^(application\/pdf|image\/tiff)$/.test(file.type);

/** The lines of a document page in reading order: its blocks' paragraphs' lines. */
const pageLines = (page) => (page.blocks || []).flatMap((b) => (b.paragraphs || []).flatMap((p) => p.lines || []));

function cell(row, text, tag = "td") {
  const el = document.createElement(tag);
  el.textContent = text;
  row.appendChild(el);
  return el;
}

function showTimings(columns) {
  const body = $("timings").tBodies[0];
  body.replaceChildren();
  const head = body.insertRow();
  cell(head, "", "th");
  columns.forEach((c) => cell(head, c.label, "th"));
  for (const [key, name] of STAGES) {
    if (!columns.some((c) => c.timings && c.timings[key])) continue;
    const row = body.insertRow();
    row.dataset.stage = name;
    cell(row, name, "th");
    columns.forEach((c) => cell(row, c.timings && c.timings[key] ? Number(c.timings[key]).toFixed(1) : "—"));
  }
}

function showProvenance(provenance) {
  const body = $("precision").tBodies[0];
  body.replaceChildren();
  if (!provenance) return;
  const add = (name, value, title) => {
    const row = body.insertRow();
    cell(row, name, "th");
    const td = cell(row, value || "—");
    if (title) td.title = title;
    return row;
  };
  add("bundle", provenance.bundleId);
  add("backend", `${provenance.backend || "—"} on ${provenance.device || "—"}`);
  const order = ["det", "cls", "rec"];
  const rank = (stage) => (order.includes(stage) ? order.indexOf(stage) : order.length);
  const stages = Object.entries(provenance.stagePrecision || {}).sort(([a], [b]) => rank(a) - rank(b));
  for (const [stage, precision] of stages) {
    add(stage, precision, stageReasons[stage]).dataset.stage = stage;
  }
}

function pageCard(page) {
  const card = document.createElement("article");
  card.className = "page-card";
  card.dataset.page = page.number;
  const title = document.createElement("h3");
  title.textContent = page.error ? `Page ${page.number}: ${page.error}` : page.label;
  card.appendChild(title);
  if (page.error) return card;
  const svg = drawPage(page);
  const figure = document.createElement("div");
  figure.className = "figure";
  figure.appendChild(svg);
  const list = document.createElement("ol");
  list.className = "line-list";
  page.lines.forEach((line, i) => {
    const item = document.createElement("li");
    const conf = document.createElement("span");
    conf.className = "conf";
    conf.style.color = confidenceColour(line.confidence);
    conf.textContent = (line.confidence || 0).toFixed(2);
    const text = document.createElement("span");
    text.className = "line-text";
    text.textContent = line.text;
    item.append(conf, " ", text);
    const box = svg.querySelector(`[data-line="${i}"]`);
    item.addEventListener("mouseenter", () => box && box.classList.add("hot"));
    item.addEventListener("mouseleave", () => box && box.classList.remove("hot"));
    list.appendChild(item);
  });
  const text = document.createElement("div");
  text.className = "reading";
  text.appendChild(page.lines.length ? list : Object.assign(document.createElement("p"), { textContent: "No text." }));
  card.append(figure, text);
  return card;
}

function status(text, error = false) {
  $("read-status").textContent = text;
  $("read-status").classList.toggle("error", error);
}

async function readImage(file) {
  const body = { image: { content: await base64(file) } };
  const { raw, data: response } = await request("POST", "/v1/images:recognize", body);
  answer = raw;
  const page = {
    number: 1,
    label: `${file.name}: ${response.imageWidth} × ${response.imageHeight}, ${(response.lines || []).length} lines`,
    width: response.imageWidth, height: response.imageHeight, lines: response.lines || [],
    imageUrl: URL.createObjectURL(file),
  };
  $("pages").appendChild(pageCard(page));
  showTimings([{ label: "image", timings: response.timings }]);
  showProvenance(response.provenance);
  return 1;
}

async function readDocument(file) {
  const form = new FormData();
  const pages = $("doc-pages").value.trim();
  if (pages) form.append("options", new Blob([JSON.stringify({ pages })], { type: "application/json" }));
  form.append("file", file, file.name);
  answer = [];
  const columns = [];
  let provenance = null;
  for await (const { raw, data: response } of postLines("/v1/documents:recognize", form)) {
    answer.push(raw);
    if (response.provenance && !provenance) showProvenance((provenance = response.provenance));
    const page = response.page;
    if (!page) continue;
    const lines = pageLines(page);
    $("pages").appendChild(pageCard({
      number: page.pageNumber, width: page.width, height: page.height, lines,
      label: `Page ${page.pageNumber}: ${page.width} × ${page.height}`
        + `${page.dpi ? ` at ${Math.round(page.dpi)} dpi` : ""}, ${lines.length} lines, `
        + (page.textSource || "").replace("TEXT_SOURCE_", "").toLowerCase(),
      error: page.error && `${page.error.reason || ""} ${page.error.message || ""}`.trim(),
    }));
    columns.push({ label: `p. ${page.pageNumber}`, timings: page.timings });
    showTimings(columns);
    status(`Reading ${file.name}: ${columns.length} page(s) so far…`);
  }
  return columns.length;
}

async function read(file) {
  $("pages").replaceChildren();
  $("read-result").hidden = false;
  $("copy-status").textContent = "";
  status(`Reading ${file.name}…`);
  const started = performance.now();
  try {
    const pages = await (isDocument(file) ? readDocument(file) : readImage(file));
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    status(`${file.name}: ${pages} page(s) read in ${seconds} s (round trip).`);
  } catch (err) {
    status(err instanceof ApiError ? `Refused: ${err.describe()}` : `Failed: ${err.message}`, true);
  }
  $("json").textContent = JSON.stringify(answer, null, 2);
}

async function copyJson() {
  const text = JSON.stringify(answer, null, 2);
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  $("copy-status").textContent = "JSON copied.";
}

/** Whether this server reads images (its GetServerInfo answers), and the reasons for its precisions. */
export async function probeRead() {
  try {
    const info = await call("GET", "/v1/serverInfo");
    const precisions = info.stagePrecisions || [];
    stageReasons = Object.fromEntries(precisions.map((s) => [s.stage, `${s.precision}: ${s.reason}`]));
    return { ok: true, info };
  } catch (err) {
    return { ok: false, error: err };
  }
}

export function initRead() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => e.target.files[0] && read(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) read(e.dataTransfer.files[0]);
  });
  $("show-lines").addEventListener("change", (e) => $("pages").classList.toggle("hide-lines", !e.target.checked));
  $("show-words").addEventListener("change", (e) => $("pages").classList.toggle("hide-words", !e.target.checked));
  $("copy-json").addEventListener("click", copyJson);
}
