// One workspace: live metrics and charts, then console, logs, files, links and events.
import { api, ws as wsPath } from "./api.js";
import { h, replace, setText } from "./dom.js";
import { icon } from "./icons.js";
import { bytes, percent, rate, age, count } from "./format.js";
import { LineChart } from "./charts.js";
import { eventFeed, hub } from "./events.js";
import { act, verbs } from "./actions.js";
import { execConsole } from "./console.js";
import { logTail, fileBrowser, linksPane } from "./panes.js";
import { ttlCell } from "./ttl.js";

const RANGES = { "5m": 300, "1h": 3600, "24h": 86400 };

function tile(label) {
  const value = h("div", { class: "value" }, "–");
  const sub = h("div", { class: "sub" }, "\u00a0");
  return { el: h("div", { class: "tile" }, h("div", { class: "label" }, label), value, sub), value, sub };
}

function chartPanel(title, chart, legend = null) {
  const now = h("span", { class: "now" });
  const el = h("div", { class: "panel chart", "data-chart": title.toLowerCase() },
    h("div", { class: "chart-head" }, h("h3", {}, title), legend, now), chart.el);
  return { el, now };
}

export function workspacePage({ id, navigate }) {
  const state = { ws: null, metrics: null, range: "5m", tab: "console" };
  const title = h("h1");
  const meta = h("div", { class: "meta" });
  const actions = h("div", { class: "actions" });
  const banner = h("div", { class: "banner hidden", "data-anomalies": "" });
  const ttl = ttlCell();
  const tiles = { cpu: tile("CPU"), memory: tile("Memory"), pids: tile("Processes"), net: tile("Network"),
    disk: tile("Disk"), life: tile("TTL · restarts") };
  const charts = {
    cpu: new LineChart({ series: [{ key: "cpu", label: "CPU", color: "#8ea8ff" }], format: (v) => percent(v, 0), minTop: 12 }),
    memory: new LineChart({ series: [{ key: "memory", label: "Memory", color: "#5ee6b5" }], format: (v) => bytes(v), minTop: 1.5 * 2 ** 20, binary: true }),
    net: new LineChart({ series: [{ key: "rx", label: "Received", color: "#5cc8e8" }, { key: "tx", label: "Sent", color: "#b591ff" }],
      format: (v) => rate(v), minTop: 1536, binary: true }),
  };
  const legend = h("div", { class: "legend" }, h("span", {}, h("i", { style: { background: "#5cc8e8" } }), "in"), h("span", {}, h("i", { style: { background: "#b591ff" } }), "out"));
  const panels = { cpu: chartPanel("CPU", charts.cpu), memory: chartPanel("Memory", charts.memory), net: chartPanel("Network", charts.net, legend) };
  const range = h("div", { class: "range" });
  const tabBar = h("div", { class: "tabs" });
  const tabBody = h("div");
  let pane = null;

  const el = h("div", { class: "workspace-page", "data-workspace": id },
    h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Workspaces"), " / ", h("span", { class: "mono" }, id)),
    h("div", { class: "ws-head" }, h("div", {}, title, meta), actions),
    banner,
    h("div", { class: "tiles" }, Object.values(tiles).map((t) => t.el)),
    h("div", { class: "row", style: { marginBottom: "10px" } }, h("h2", { style: { margin: 0, fontSize: "14px" } }, "Metrics"),
      h("span", { class: "muted", "data-interval": "" }), h("span", { class: "grow" }), range),
    h("div", { class: "charts" }, Object.values(panels).map((p) => p.el)),
    h("section", { class: "panel" }, tabBar, tabBody));

  function renderRange() {
    replace(range, Object.keys(RANGES).map((r) => h("button", { class: state.range === r ? "on" : "",
      onclick: () => { state.range = r; renderRange(); refresh(); } }, r)));
  }

  const TABS = [["console", "Console", "terminal"], ["logs", "Logs", "logs"], ["files", "Files", "folder"], ["links", "Links", "link"], ["events", "Events", "bolt"]];
  function renderTabs() {
    replace(tabBar, TABS.map(([key, label, ic]) => h("button", { class: state.tab === key ? "on" : "", "data-tab": key,
      onclick: () => { state.tab = key; renderTabs(); openTab(); pane.focus?.(); } }, icon(ic), label)));
  }

  function openTab() {
    pane?.destroy();
    const ws = state.ws;
    const names = new Map([[ws.id, ws.name]]);
    pane = { console: () => execConsole(ws), logs: () => logTail(ws), files: () => fileBrowser(ws),
      links: () => linksPane(ws, names), events: () => eventFeed({ workspaceId: ws.id, tall: false }) }[state.tab]();
    replace(tabBody, pane.el);
  }

  function renderHead() {
    const ws = state.ws;
    const flags = state.metrics?.anomalies || [];
    replace(title, ws.name, h("span", { class: `state ${ws.state}`, "data-state": ws.state }, ws.state),
      flags.map((a) => h("span", { class: "flag" }, icon("alert", { width: 11, height: 11 }), a.kind)));
    replace(meta,
      h("span", {}, h("b", {}, "id"), h("span", { class: "mono" }, ws.id)),
      h("span", {}, h("b", {}, "image"), ws.image),
      h("span", {}, h("b", {}, "runtime"), ws.runtime || "–"),
      h("span", {}, h("b", {}, "age"), age(ws.created_at)),
      h("span", {}, h("b", {}, "restart"), ws.restart),
      ws.command && h("span", { class: "mono" }, h("b", {}, "cmd"), ws.command.join(" ")));
    const v = verbs(ws.state);
    const button = (name, label, ic, cls = "") => h("button", { class: `btn ${cls}`, "data-action": name, onclick: async () => {
      const result = await act(ws, name);
      if (result && name === "destroy") navigate("#/");
      else refresh();
    } }, icon(ic), label);
    replace(actions, v.pause && button("pause", "Pause", "pause"), v.resume && button("resume", "Resume", "play"),
      v.start && button("start", "Start", "play"), v.stop && button("stop", "Stop", "stop"),
      v.destroy && button("destroy", "Destroy", "trash", "danger"));
    banner.classList.toggle("hidden", !flags.length);
    replace(banner, icon("alert"), h("div", {}, flags.map((a) => h("div", {}, h("b", {}, ({ cpu: "CPU anomaly: ", memory: "Memory anomaly: ", disk: "Disk anomaly: " })[a.kind] || "Anomaly: "),
      a.message, h("span", { class: "muted" }, ` · since ${new Date(a.since).toLocaleTimeString()}`)))));
  }

  function renderTiles() {
    const ws = state.ws, m = state.metrics, now = m?.current;
    setText(tiles.cpu.value, now ? percent(now.cpu_percent) : "–");
    setText(tiles.cpu.sub, ws.cpu ? `limit ${ws.cpu} cores` : "of one core · no limit");
    setText(tiles.memory.value, now ? bytes(now.memory_bytes) : "–");
    setText(tiles.memory.sub, now?.memory_limit_bytes ? `${percent(now.memory_percent)} of ${bytes(now.memory_limit_bytes, 0)} · peak ${bytes(now.memory_peak_bytes)}` : "no limit");
    setText(tiles.pids.value, now ? count(now.pids) : "–");
    setText(tiles.pids.sub, now?.pids_limit ? `limit ${now.pids_limit}` : `OOM kills: ${now?.oom_kills ?? "–"}`);
    setText(tiles.net.value, now ? `↓ ${rate(now.net_rx_bytes_per_s)}` : "–");
    setText(tiles.net.sub, now ? `↑ ${rate(now.net_tx_bytes_per_s)} · total ${bytes(now.net_rx_bytes)} / ${bytes(now.net_tx_bytes)}` : "\u00a0");
    setText(tiles.disk.value, now ? bytes((now.rootfs_used_bytes || 0) + (now.disk_used_bytes || 0)) : "–");
    const layer = ws.rootfs_mib ? `writable layer, cap ${bytes(ws.rootfs_mib * 1048576, 0)}` : "writable layer";
    setText(tiles.disk.sub, now?.disk_size_bytes ? `disk ${bytes(now.disk_used_bytes)} of ${bytes(now.disk_size_bytes, 0)}` : layer);
    replace(tiles.life.value, ttl.el);
    ttl.set(ws.expires_at, ws.ttl_seconds);
    setText(tiles.life.sub, `${ws.restart_count} restarts${ws.last_exit_code !== null ? ` · last exit ${ws.last_exit_code}` : ""}`);
  }

  function renderCharts() {
    const m = state.metrics;
    const history = m?.history || [];
    // A workspace younger than the range fills the chart from its first sample on.
    const t1 = Date.now();
    const t0 = Math.max(t1 - RANGES[state.range] * 1000, Math.min(Date.parse(state.ws.created_at), t1 - 30e3));
    const points = history.map((p) => ({ t: Date.parse(p.time), cpu: p.cpu_percent, memory: p.memory_bytes, rx: p.net_rx_bytes_per_s, tx: p.net_tx_bytes_per_s }));
    charts.cpu.update(points, [t0, t1]);
    charts.memory.update(points, [t0, t1]);
    charts.net.update(points, [t0, t1]);
    const now = m?.current;
    setText(panels.cpu.now, now ? percent(now.cpu_percent) : "");
    setText(panels.memory.now, now ? bytes(now.memory_bytes) : "");
    setText(panels.net.now, now ? rate((now.net_rx_bytes_per_s || 0) + (now.net_tx_bytes_per_s || 0)) : "");
    setText(el.querySelector("[data-interval]"), m ? `sampled every ${m.interval_seconds}s` : "");
  }

  let first = true;
  async function refresh() {
    try {
      const [ws, metrics] = await Promise.all([api.get(wsPath(id)),
        api.get(wsPath(id, "metrics"), { params: { since: `${RANGES[state.range]}s` } })]);
      state.ws = ws;
      state.metrics = metrics;
      renderHead();
      renderTiles();
      renderCharts();
      if (first) { first = false; renderRange(); renderTabs(); openTab(); }
    } catch (err) {
      if (err.status === 404) replace(el, h("div", { class: "empty" }, h("b", {}, "No such workspace"), h("a", { href: "#/" }, "Back to workspaces")));
    }
  }

  let timer = null, soon = null;
  const unsubscribe = hub.subscribe((e) => {
    if (e.workspace_id === id) { clearTimeout(soon); soon = setTimeout(refresh, 150); }
  });
  const schedule = async () => {
    await refresh();
    const every = Math.max(state.metrics?.interval_seconds || 5, state.range === "24h" ? 10 : 1) * 1000;
    timer = setTimeout(schedule, every);
  };
  schedule();

  return {
    el,
    get title() { return state.ws?.name || id; },
    destroy() {
      clearTimeout(timer);
      clearTimeout(soon);
      unsubscribe();
      pane?.destroy();
      ttl.destroy();
      Object.values(charts).forEach((c) => c.destroy());
    },
  };
}
