// The live event stream: one connection for the whole page, shared by every view.
import { api, sse } from "./api.js";
import { h, clear } from "./dom.js";
import { clock } from "./format.js";

const KEEP = 400;

class EventHub {
  constructor() {
    this.recent = [];
    this.listeners = new Set();
    this.connected = false;
    this.controller = null;
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  publish(event) {
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.splice(0, this.recent.length - KEEP);
    for (const fn of this.listeners) fn(event);
  }

  setConnected(on) {
    this.connected = on;
    window.dispatchEvent(new CustomEvent("corral:stream", { detail: on }));
  }

  async start() {
    this.stop();
    const controller = (this.controller = new AbortController());
    const since = new Date(Date.now() - 6 * 3600e3).toISOString();
    try {
      const { events } = await api.get("/v1/events", { params: { since, limit: 10000 }, signal: controller.signal });
      this.recent = events.slice(-KEEP);
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    this.markReady();
    let backoff = 500;
    while (!controller.signal.aborted) {
      const after = this.recent.length ? this.recent[this.recent.length - 1].id : 0;
      try {
        this.setConnected(true);
        for await (const message of sse("GET", "/v1/events/stream", { params: { after }, signal: controller.signal })) {
          backoff = 500;
          if (message.data && typeof message.data === "object") this.publish(message.data);
        }
      } catch (err) {
        if (controller.signal.aborted || err.status === 401) break;
      }
      this.setConnected(false);
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.setConnected(false);
  }
}

export const hub = new EventHub();

function row(event) {
  const t = new Date(event.created_at);
  return h("div", { class: "event", title: t.toLocaleString() },
    h("time", {}, clock(t)),
    h("div", { class: "msg" }, h("span", { class: "etype", "data-type": event.type }, event.type.replace(/_/g, " ")),
      event.message.replace(/ -> /g, " → ")));
}

// A feed of events, newest first: all of them, or one workspace's.
export function eventFeed({ workspaceId = null, tall = false, limit = 150 } = {}) {
  const list = h("div", { class: ["feed", tall && "tall"] });
  const wanted = (e) => !workspaceId || e.workspace_id === workspaceId;
  // The hub's history arrives once; everything after it comes through subscribe().
  hub.ready.then(() => {
    const initial = hub.recent.filter(wanted).slice(-limit).reverse();
    if (initial.length) initial.forEach((e) => list.append(row(e)));
    else list.append(h("div", { class: "empty" }, "No events yet."));
  });
  const unsubscribe = hub.subscribe((e) => {
    if (!wanted(e)) return;
    list.querySelector(".empty")?.remove();
    const el = row(e);
    el.classList.add("new");
    list.prepend(el);
    while (list.children.length > limit) list.lastChild.remove();
  });
  return { el: list, destroy: unsubscribe, clear: () => clear(list) };
}
