// The corral HTTP API, as the dashboard uses it: the same public API as the SDK and CLI,
// authenticated with the API key the user signed in with.
//
// EventSource cannot send an Authorization header, so streams (events, exec output, log
// tails) are read with fetch() and a stream reader instead.

const STORE_KEY = "corral.apiKey";

export const auth = {
  get key() {
    return sessionStorage.getItem(STORE_KEY) || localStorage.getItem(STORE_KEY);
  },
  save(key, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(STORE_KEY, key);
  },
  clear() {
    sessionStorage.removeItem(STORE_KEY);
    localStorage.removeItem(STORE_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || "http_error";
    this.hint = body?.hint || null;
  }
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, item);
  }
  return u;
}

async function send(method, path, { params, body, raw, signal, key = auth.key } = {}) {
  const headers = { Authorization: `Bearer ${key}` };
  let payload;
  if (body instanceof Blob || typeof body === "string") payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(url(path, params), { method, headers, body: payload, signal });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { /* not JSON */ }
    const error = new ApiError(response.status, data);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("corral:unauthorized"));
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, opts) => send("GET", path, opts),
  post: (path, body, opts) => send("POST", path, { ...opts, body }),
  put: (path, body, opts) => send("PUT", path, { ...opts, body }),
  del: (path, opts) => send("DELETE", path, opts),
  raw: send,
};

// Decoded chunks of a streamed response body, as text.
export async function* textStream(method, path, opts = {}) {
  const response = await send(method, path, { ...opts, raw: true });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) yield text;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// Server-sent events of a streamed response: {event, data, id}, data parsed as JSON.
export async function* sse(method, path, opts = {}) {
  let buffer = "";
  let event = { event: "message", data: [], id: null };
  for await (const chunk of textStream(method, path, opts)) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data.length) {
          const text = event.data.join("\n");
          let data = text;
          try { data = JSON.parse(text); } catch { /* plain text */ }
          yield { event: event.event, data, id: event.id };
        }
        event = { event: "message", data: [], id: null };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = value;
        else if (field === "data") event.data.push(value);
        else if (field === "id") event.id = value;
      }
    }
  }
}

export const ws = (ref, ...rest) => ["/v1/workspaces", encodeURIComponent(ref), ...rest].join("/");
