// The home page: fleet totals, every workspace with live sparklines, and the event feed.
import { api } from "./api.js";
import { h, replace, setText } from "./dom.js";
import { icon } from "./icons.js";
import { bytes, percent, rate, age, count } from "./format.js";
import { sparkline, updateSparkline } from "./charts.js";
import { eventFeed, hub } from "./events.js";
import { act, verbs } from "./actions.js";
import { createWorkspace } from "./dialogs.js";
import { ttlCell } from "./ttl.js";

const STATES = ["all", "running", "paused", "stopped", "failed"];

function card(label) {
  const value = h("div", { class: "value" }, "–");
  const sub = h("div", { class: "sub" }, "\u00a0");
  const meter = h("span", { style: { width: "0%" } });
  const el = h("div", { class: "card" }, h("div", { class: "label" }, label), value, sub, h("div", { class: "meter" }, meter));
  return { el, value, sub, meter };
}

export function overview({ navigate }) {
  const state = { filter: "all", search: "", workspaces: [], summary: null };
  const rows = new Map();

  const cards = {
    workspaces: card("Workspaces"), cpu: card("CPU"), memory: card("Memory"),
    network: card("Network"), anomalies: card("Anomalies"),
  };
  const chips = h("div", { class: "chips" });
  const search = h("input", { class: "input search", placeholder: "Filter by name, id or image", type: "search",
    oninput: () => { state.search = search.value.trim().toLowerCase(); render(); } });
  const tbody = h("tbody");
  const empty = h("div", { class: "empty hidden" });
  const newButton = h("button", { class: "btn primary", "data-action": "new-workspace", onclick: async () => {
    const created = await createWorkspace();
    if (created) { await refresh(); navigate(`#/w/${created.id}`); }
  } }, icon("plus"), "New workspace");
  const feed = eventFeed();

  const el = h("div", { class: "overview" },
    h("div", { class: "cards" }, Object.values(cards).map((c) => c.el)),
    h("div", { class: "layout" },
      h("section", { class: "panel" },
        h("div", { class: "toolbar" }, search, chips, h("div", { class: "grow" }), newButton),
        h("table", { class: "grid", "data-table": "workspaces" },
          h("thead", {}, h("tr", {}, ["Workspace", "State", "Image", "CPU", "Memory", "Age", "TTL", ""].map((t) => h("th", {}, t)))),
          tbody),
        empty),
      h("aside", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Events"), h("span", { class: "grow" }), h("a", { href: "#/events", class: "dim" }, "All")),
        feed.el)));

  function renderChips() {
    const counts = { all: state.workspaces.length };
    for (const w of state.workspaces) counts[w.state] = (counts[w.state] || 0) + 1;
    replace(chips, STATES.filter((s) => s === "all" || counts[s]).map((s) =>
      h("button", { class: ["chip", state.filter === s && "on"], onclick: () => { state.filter = s; render(); } },
        s, h("span", { class: "n" }, counts[s] || 0))));
  }

  function makeRow(w) {
    const cpuSpark = sparkline([], { color: "#8ea8ff" });
    const memSpark = sparkline([], { color: "#5ee6b5" });
    const cells = {
      name: h("div", { class: "ws-name" }), id: h("div", { class: "ws-id" }),
      state: h("span", { class: "state" }), flags: h("span"), image: h("span", { class: "dim" }),
      cpu: h("div", { class: "num" }), mem: h("div", { class: "num" }),
      age: h("span", { class: "dim nowrap" }), ttl: ttlCell(),
      actions: h("div", { class: "row", style: { gap: "2px", justifyContent: "flex-end" } }),
    };
    const tr = h("tr", { "data-id": w.id, onclick: () => navigate(`#/w/${w.id}`) },
      h("td", {}, cells.name, cells.id),
      h("td", {}, h("div", { class: "row", style: { gap: "6px" } }, cells.state, cells.flags)),
      h("td", {}, cells.image),
      h("td", {}, h("div", { class: "metric-cell" }, cpuSpark, cells.cpu)),
      h("td", {}, h("div", { class: "metric-cell" }, memSpark, cells.mem)),
      h("td", {}, cells.age),
      h("td", {}, cells.ttl.el),
      h("td", { onclick: (e) => e.stopPropagation() }, cells.actions));
    return { tr, cells, cpuSpark, memSpark, actionsKey: "" };
  }

  function actionButton(w, name, title, iconName, danger = false) {
    return h("button", { class: ["icon-btn", danger && "danger"], title, "aria-label": `${title} ${w.name}`, "data-action": name,
      onclick: async () => { await act(w, name); refresh(); } }, icon(iconName));
  }

  function updateRow(row, w, m) {
    const { cells } = row;
    setText(cells.name, w.name);
    setText(cells.id, w.id);
    cells.state.className = `state ${w.state}`;
    setText(cells.state, w.state);
    const flagged = m?.anomalies?.length;
    row.tr.classList.toggle("flagged", Boolean(flagged));
    replace(cells.flags, (m?.anomalies || []).map((a) => h("span", { class: "flag", title: a.message }, icon("alert", { width: 11, height: 11 }), a.kind)));
    setText(cells.image, w.image);
    const now = m?.current;
    updateSparkline(row.cpuSpark, m?.cpu_history || [], {});
    updateSparkline(row.memSpark, m?.memory_history || [], {});
    replace(cells.cpu, now ? percent(now.cpu_percent) : "–", h("small", {}, w.cpu ? `of ${w.cpu} core${w.cpu === 1 ? "" : "s"}` : "\u00a0"));
    replace(cells.mem, now ? bytes(now.memory_bytes) : "–", h("small", {}, now?.memory_limit_bytes ? `of ${bytes(now.memory_limit_bytes, 0)}` : "no limit"));
    setText(cells.age, age(w.created_at));
    cells.ttl.set(w.expires_at, w.ttl_seconds);
    const v = verbs(w.state);
    const key = Object.entries(v).filter(([, on]) => on).map(([k]) => k).join(",");
    if (key !== row.actionsKey) {
      row.actionsKey = key;
      replace(cells.actions,
        v.pause && actionButton(w, "pause", "Pause", "pause"),
        v.resume && actionButton(w, "resume", "Resume", "play"),
        v.start && actionButton(w, "start", "Start", "play"),
        v.destroy && actionButton(w, "destroy", "Destroy", "trash", true));
    }
  }

  function render() {
    renderChips();
    const metrics = new Map((state.summary?.workspaces || []).map((m) => [m.id, m]));
    const shown = state.workspaces.filter((w) => (state.filter === "all" || w.state === state.filter) &&
      (!state.search || `${w.name} ${w.id} ${w.image}`.toLowerCase().includes(state.search)));
    const keep = new Set(shown.map((w) => w.id));
    for (const [id, row] of rows) if (!keep.has(id)) { row.tr.remove(); row.cells.ttl.destroy(); rows.delete(id); }
    shown.forEach((w, i) => {
      let row = rows.get(w.id);
      if (!row) rows.set(w.id, (row = makeRow(w)));
      updateRow(row, w, metrics.get(w.id));
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    empty.classList.toggle("hidden", shown.length > 0);
    replace(empty, state.workspaces.length
      ? [h("b", {}, "Nothing matches"), "Try another filter."]
      : [h("b", {}, "No workspaces yet"), "Create one here, or with ", h("span", { class: "mono" }, "corral create NAME"), "."]);
    renderCards();
  }

  function renderCards() {
    const s = state.summary;
    if (!s) return;
    const by = s.workspaces_by_state;
    setText(cards.workspaces.value, count(state.workspaces.length));
    setText(cards.workspaces.sub, `${by.running || 0} running · ${by.paused || 0} paused · ${by.stopped || 0} stopped`);
    cards.workspaces.meter.style.width = `${state.workspaces.length ? ((by.running || 0) / state.workspaces.length) * 100 : 0}%`;
    const hostCpu = s.host.cpus * 100;
    replace(cards.cpu.value, percent(s.cpu_percent), h("small", {}, "of a core"));
    setText(cards.cpu.sub, `${percent((s.cpu_percent / hostCpu) * 100)} of ${s.host.cpus} host cores`);
    cards.cpu.meter.style.width = `${Math.min(100, (s.cpu_percent / hostCpu) * 100)}%`;
    setText(cards.memory.value, bytes(s.memory_bytes));
    setText(cards.memory.sub, `of ${bytes(s.host.memory_bytes, 0)} host memory`);
    cards.memory.meter.style.width = `${Math.min(100, (s.memory_bytes / (s.host.memory_bytes || 1)) * 100)}%`;
    cards.memory.meter.style.background = "var(--green)";
    replace(cards.network.value, rate(s.net_rx_bytes_per_s + s.net_tx_bytes_per_s));
    setText(cards.network.sub, `↓ ${rate(s.net_rx_bytes_per_s)} · ↑ ${rate(s.net_tx_bytes_per_s)}`);
    cards.network.meter.parentElement.classList.add("hidden");
    setText(cards.anomalies.value, count(s.anomalies));
    setText(cards.anomalies.sub, s.anomalies ? "flagged workspaces need a look" : "all within their baselines");
    cards.anomalies.el.classList.toggle("alert", s.anomalies > 0);
    cards.anomalies.meter.parentElement.classList.add("hidden");
  }

  async function refresh() {
    try {
      const [list, summary] = await Promise.all([api.get("/v1/workspaces"), api.get("/v1/metrics/summary", { params: { points: 60 } })]);
      state.workspaces = list.workspaces;
      state.summary = summary;
      render();
    } catch (err) {
      if (err.status !== 401) console.warn("refresh failed", err);
    }
  }

  let timer = null;
  let soon = null;
  const unsubscribe = hub.subscribe((e) => {
    if (["state", "create_failed", "expired", "restart", "exit", "anomaly", "anomaly_cleared"].includes(e.type)) {
      clearTimeout(soon);
      soon = setTimeout(refresh, 150);
    }
  });
  const schedule = async () => {
    await refresh();
    const every = Math.max(state.summary?.sampler.interval_seconds || 5, 2) * 1000;
    timer = setTimeout(schedule, every);
  };
  schedule();

  return {
    el,
    title: "Workspaces",
    destroy() {
      clearTimeout(timer);
      clearTimeout(soon);
      unsubscribe();
      feed.destroy();
      for (const row of rows.values()) row.cells.ttl.destroy();
    },
  };
}
