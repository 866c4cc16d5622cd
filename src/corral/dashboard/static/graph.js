// The network: workspaces as nodes, private links as arrows (source -> target:port).
import { api } from "./api.js";
import { h, s, replace } from "./dom.js";
import { loadLinks, linkEnds } from "./panes.js";
import { hub } from "./events.js";

const COLORS = { running: "#4fd69c", paused: "#f2c14e", stopped: "#6f7a90", failed: "#ff6b7a", creating: "#5cc8e8", destroying: "#5cc8e8" };

// Fruchterman-Reingold: nodes repel, links pull, a weak gravity keeps the whole centred;
// the step size cools down so the layout settles. Known nodes start where they were.
function layout(nodes, edges, width, height, positions) {
  const cx = width / 2, cy = height / 2;
  const k = 0.45 * Math.sqrt((width * height) / Math.max(nodes.length, 1));
  nodes.forEach((n, i) => {
    const known = positions.get(n.id);
    const angle = (i / Math.max(nodes.length, 1)) * Math.PI * 2 + 0.4;
    n.x = known?.x ?? cx + Math.cos(angle) * k;
    n.y = known?.y ?? cy + Math.sin(angle) * k;
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const steps = 250;
  for (let step = 0; step < steps; step++) {
    const temperature = (Math.min(width, height) / 10) * (1 - step / steps) + 0.5;
    for (const n of nodes) { n.dx = 0; n.dy = 0; }
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i], b = nodes[j];
        const dx = a.x - b.x, dy = a.y - b.y, d = Math.max(Math.hypot(dx, dy), 1);
        const f = (k * k) / d / d;
        a.dx += dx * f; a.dy += dy * f; b.dx -= dx * f; b.dy -= dy * f;
      }
    }
    for (const e of edges) {
      const a = byId.get(e.from), b = byId.get(e.to);
      if (!a || !b || a === b) continue;
      const dx = a.x - b.x, dy = a.y - b.y, d = Math.max(Math.hypot(dx, dy), 1);
      const f = d / k;
      a.dx -= dx * f; a.dy -= dy * f; b.dx += dx * f; b.dy += dy * f;
    }
    for (const n of nodes) {
      // Gravity: the pull of a node at the centre, squashed vertically to suit a wide view.
      const gx = cx - n.x, gy = (cy - n.y) * (width / height), g = Math.hypot(gx, gy) / k;
      n.dx += gx * g; n.dy += gy * g;
      const d = Math.max(Math.hypot(n.dx, n.dy), 0.01), move = Math.min(d, temperature);
      n.x += (n.dx / d) * move;
      n.y += (n.dy / d) * move;
    }
  }
  // Centre the drawing; shrink it if it does not fit.
  const xs = nodes.map((n) => n.x), ys = nodes.map((n) => n.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min(1, (width - 160) / Math.max(x1 - x0, 1), (height - 140) / Math.max(y1 - y0, 1));
  for (const n of nodes) {
    n.x = cx + (n.x - (x0 + x1) / 2) * scale;
    n.y = cy - 10 + (n.y - (y0 + y1) / 2) * scale;
  }
  for (const n of nodes) positions.set(n.id, { x: n.x, y: n.y });
}

export function graphPage({ navigate }) {
  const positions = new Map();
  const svg = s("svg", { class: "graph", "data-graph": "" });
  const note = h("span", { class: "muted" });
  const wrap = h("div", { class: "graph-wrap" }, svg);
  const el = h("section", { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, "Workspaces and private links"), note, h("span", { class: "grow" }),
      h("div", { class: "legend-row" }, Object.entries(COLORS).slice(0, 4).map(([k, c]) => h("span", {}, h("i", { style: { background: c } }), k)))),
    wrap);
  let signature = "";

  async function refresh() {
    const [{ workspaces }, links, summary] = await Promise.all([api.get("/v1/workspaces"), loadLinks().catch(() => null),
      api.get("/v1/metrics/summary", { params: { points: 0 } }).catch(() => null)]);
    const cpu = new Map((summary?.workspaces || []).map((m) => [m.id, m.current?.cpu_percent]));
    const nodes = workspaces.map((w) => ({ id: w.id, name: w.name, state: w.state, image: w.image }));
    const ids = new Map(workspaces.flatMap((w) => [[w.id, w.id], [w.name, w.id]]));
    const edges = (links || []).map(linkEnds).map((l) => ({ ...l, from: ids.get(l.from), to: ids.get(l.to) })).filter((l) => l.from && l.to);
    const width = wrap.clientWidth || 900, height = wrap.clientHeight || 560;
    const sig = JSON.stringify([nodes, edges, width, height]);
    if (sig !== signature) {
      signature = sig;
      layout(nodes, edges, width, height, positions);
    } else {
      for (const n of nodes) Object.assign(n, positions.get(n.id));
    }
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const R = 24;
    replace(svg,
      s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M0,0L10,5L0,10z", fill: "#6d7fa8" }))),
      edges.map((e) => {
        const a = byId.get(e.from), b = byId.get(e.to);
        const dx = b.x - a.x, dy = b.y - a.y, d = Math.hypot(dx, dy) || 1;
        const x1 = a.x + (dx / d) * (R + 4), y1 = a.y + (dy / d) * (R + 4);
        const x2 = b.x - (dx / d) * (R + 6), y2 = b.y - (dy / d) * (R + 6);
        const mx = (x1 + x2) / 2 - dy * 0.08, my = (y1 + y2) / 2 + dx * 0.08;
        return s("g", {}, s("path", { class: "edge", d: `M${x1},${y1}Q${mx},${my} ${x2},${y2}`, "marker-end": "url(#arrow)" }),
          s("text", { class: "edge-label", x: mx, y: my - 6, "text-anchor": "middle" }, `:${e.port}`));
      }),
      nodes.map((n) => s("g", { class: "node", transform: `translate(${n.x},${n.y})`, "data-node": n.id, onclick: () => navigate(`#/w/${n.id}`) },
        s("circle", { r: R + 7, fill: COLORS[n.state] || "#6f7a90", opacity: 0.12 }),
        s("circle", { class: "ring", r: R, stroke: COLORS[n.state] || "#6f7a90" }),
        s("text", { y: 4, style: { fontSize: "11px" }, fill: COLORS[n.state] || "#aab3c5" },
          cpu.get(n.id) == null ? "–" : `${Math.round(cpu.get(n.id))}%`),
        s("text", { y: R + 20 }, n.name.length > 24 ? `${n.name.slice(0, 23)}…` : n.name),
        s("text", { class: "sub", y: R + 34 }, `${n.image} · ${n.state}`),
        s("title", {}, `${n.name} (${n.state})`))));
    replace(note, links === null
      ? "· private links are not available on this daemon: workspaces only"
      : `· ${nodes.length} workspaces, ${edges.length} private links; all other traffic between workspaces is denied`);
    if (!nodes.length) replace(note, "· no workspaces yet");
  }

  refresh();
  const timer = setInterval(refresh, 5000);
  const unsubscribe = hub.subscribe((e) => { if (e.type === "state" || e.type.startsWith("link")) refresh(); });
  const resize = new ResizeObserver(() => refresh());
  resize.observe(wrap);
  return { el, title: "Network", destroy() { clearInterval(timer); unsubscribe(); resize.disconnect(); } };
}
