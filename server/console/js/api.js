// The REST API of the server, the only thing the console talks to: the bearer token (held in this module's memory,
// never stored), JSON in and out, errors as {status, reason, message}, JSON lines and server-sent events read as
// they arrive.

let token = "";

/** Sets the bearer token sent with every call; an empty one sends none. */
export function setToken(value) {
  token = value.trim();
}

/** A failed call: the HTTP status, the gRPC status name and the server's stable reason. */
export class ApiError extends Error {
  constructor(httpStatus, status, reason, message) {
    super(message || status || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = status;
    this.reason = reason;
  }

  /** One line for people: "PERMISSION_DENIED SCOPE_MISSING: the token lacks fleet.admin". */
  describe() {
    const head = [this.status || `HTTP ${this.httpStatus}`, this.reason].filter(Boolean).join(" ");
    return this.message && this.message !== this.status ? `${head}: ${this.message}` : head;
  }
}

function headers(extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function failure(response) {
  let status = "", reason = response.headers.get("ocr-error-reason") || "", message = "";
  try {
    const body = await response.json();
    const error = body.error || body;
    status = error.status || "";
    message = error.message || "";
    reason = error.reason || (error.details || []).map((d) => d.reason).find(Boolean) || reason;
  } catch {
    message = response.statusText;
  }
  return new ApiError(response.status, status, reason, message);
}

const camel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/** The proto3 JSON mapping allows proto field names or lowerCamelCase; the console reads lowerCamelCase. */
export function camelize(value) {
  if (Array.isArray(value)) return value.map(camelize);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelize(v)]));
}

/** A URL with query parameters; empty values are left out. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of [].concat(value)) if (v !== "" && v !== undefined && v !== null) query.append(key, String(v));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** One JSON call; answers {raw: the body as the server sent it, data: the same camelized}, or throws ApiError. */
export async function request(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  const raw = text ? JSON.parse(text) : {};
  return { raw, data: camelize(raw) };
}

/** One JSON call; answers the camelized body or throws ApiError. */
export async function call(method, path, body) {
  return (await request(method, path, body)).data;
}

async function* lines(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        yield buffer.slice(0, cut).replace(/\r$/, "");
        buffer = buffer.slice(cut + 1);
      }
    }
    if (buffer) yield buffer;
  } finally {
    if (signal && signal.aborted) reader.cancel().catch(() => {});
  }
}

/** POSTs a body and yields each JSON line of the answer as it arrives, as {raw, data} like request() (a streamed
 * array's brackets and commas are skipped, so either form the server chose is read). */
export async function* postLines(path, body, contentType) {
  const init = { method: "POST", headers: headers(contentType ? { "Content-Type": contentType } : {}), body };
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  for await (const line of lines(response)) {
    const item = line.trim().replace(/^\[/, "").replace(/[,\]]$/, "").trim();
    if (!item) continue;
    const raw = JSON.parse(item);
    yield { raw, data: camelize(raw) };
  }
}

/** Reads a server-sent event stream (fetch, so the token goes in a header, which EventSource cannot send): calls
 * onOpen once the server accepted it, then onData with each event's parsed JSON until `signal` aborts it; throws
 * ApiError when refused. */
export async function watch(path, onOpen, onData, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!response.ok) throw await failure(response);
  onOpen();
  let data = [];
  let event = "message";
  try {
    for await (const line of lines(response, signal)) {
      if (line === "") {
        if (data.length) {
          const parsed = camelize(JSON.parse(data.join("\n")));
          const e = parsed.error || {};
          if (event === "error") throw new ApiError(500, e.status, e.reason, e.message);
          onData(parsed);
        }
        data = [];
        event = "message";
      } else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      else if (line.startsWith("event:")) event = line.slice(6).trim();
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
}

/** Base64 of a file's bytes, as the JSON mapping writes `bytes`. */
export async function base64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
