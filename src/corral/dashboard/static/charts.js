// Hand-drawn SVG charts: sparklines for tables, line charts with hover for a workspace page.
import { h, s, clear } from "./dom.js";
import { shortClock, clock } from "./format.js";

let gradientIds = 0;

// A round number just above `value` (for bytes: round in KiB, MiB, GiB), split into 3 ticks.
function niceMax(value, binary = false) {
  if (!(value > 0)) return 1;
  if (binary && value >= 1024) {
    const unit = 1024 ** Math.floor(Math.log(value) / Math.log(1024));
    return unit * niceMax(value / unit);
  }
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 3, 6, 9, 12, 15, 30, 45, 60, 90, 120]) {
    if (value <= step * exp) return step * exp;
  }
  return 10 * exp;
}

// Path through the points; a null value breaks the line.
function linePath(points, x, y) {
  let d = "", pen = false;
  for (const [t, v] of points) {
    if (v === null || v === undefined) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

function areaPath(points, x, y, base) {
  const runs = [];
  let run = [];
  for (const p of points) {
    if (p[1] === null || p[1] === undefined) { if (run.length) runs.push(run); run = []; } else run.push(p);
  }
  if (run.length) runs.push(run);
  return runs.map((r) => `M${x(r[0][0]).toFixed(1)},${base}` + r.map(([t, v]) => `L${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("") +
    `L${x(r[r.length - 1][0]).toFixed(1)},${base}Z`).join("");
}

export function sparkline(values, { width = 92, height = 26, color = "#8ea8ff", max = null } = {}) {
  const id = `spark-${++gradientIds}`;
  const svg = s("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}` },
    s("defs", {}, s("linearGradient", { id, x1: 0, y1: 0, x2: 0, y2: 1 },
      s("stop", { offset: "0%", "stop-color": color, "stop-opacity": 0.35 }),
      s("stop", { offset: "100%", "stop-color": color, "stop-opacity": 0 }))),
    s("path", { class: "area", fill: `url(#${id})` }),
    s("path", { class: "line", fill: "none", stroke: color, "stroke-width": 1.6, "stroke-linejoin": "round", "stroke-linecap": "round" }));
  updateSparkline(svg, values, { max });
  return svg;
}

export function updateSparkline(svg, values, { max = null } = {}) {
  const width = Number(svg.getAttribute("width")), height = Number(svg.getAttribute("height"));
  const known = values.filter((v) => v !== null && v !== undefined);
  const top = max ?? niceMax(Math.max(...known, 0) * 1.1);
  const n = Math.max(values.length - 1, 1);
  const points = values.map((v, i) => [i, v]);
  const x = (i) => (i / n) * (width - 2) + 1;
  const y = (v) => height - 2 - (Math.min(v, top) / top) * (height - 4);
  svg.querySelector(".line").setAttribute("d", known.length ? linePath(points, x, y) : `M1,${height - 2}L${width - 1},${height - 2}`);
  svg.querySelector(".area").setAttribute("d", known.length ? areaPath(points, x, y, height - 1) : "");
}

// A time-series chart: one or more series over a shared time axis, hover shows values.
export class LineChart {
  constructor({ series, format, height = 150, minTop = 1, binary = false }) {
    this.series = series; // [{key, label, color}]
    this.format = format;
    this.height = height;
    this.binary = binary;
    this.minTop = minTop; // the y axis shows at least this much, so that noise stays small
    this.points = [];
    this.svg = s("svg", { class: "line-chart", role: "img" });
    this.tip = h("div", { class: "chart-tip hidden" });
    this.el = h("div", { class: "chart-body" }, this.svg);
    this.svg.addEventListener("mousemove", (e) => this.hover(e));
    this.svg.addEventListener("mouseleave", () => this.unhover());
    document.body.append(this.tip);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.el);
  }

  destroy() {
    this.resize.disconnect();
    this.tip.remove();
  }

  update(points, range) {
    this.points = points; // [{t: ms, <key>: value|null}]
    this.range = range; // [t0, t1] in ms
    this.draw();
  }

  draw() {
    const width = this.el.clientWidth || 400, height = this.height;
    const pad = { l: 62, r: 10, t: 10, b: 22 };
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
    clear(this.svg);
    const [t0, t1] = this.range || [Date.now() - 3600e3, Date.now()];
    let maxValue = 0;
    for (const p of this.points) for (const sr of this.series) if (p[sr.key] != null) maxValue = Math.max(maxValue, p[sr.key]);
    const top = niceMax(Math.max(maxValue * 1.1, this.minTop), this.binary);
    const x = (t) => pad.l + ((t - t0) / Math.max(t1 - t0, 1)) * (width - pad.l - pad.r);
    const y = (v) => pad.t + (1 - Math.min(v, top) / top) * (height - pad.t - pad.b);
    this.scale = { x, y, pad, width, height, t0, t1 };
    const defs = s("defs");
    this.svg.append(defs);
    for (let i = 0; i <= 3; i++) {
      const v = (top * i) / 3, yy = y(v);
      this.svg.append(s("line", { class: "grid-line", x1: pad.l, x2: width - pad.r, y1: yy, y2: yy }),
        s("text", { x: pad.l - 8, y: yy + 3.5, "text-anchor": "end" }, this.format(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      const label = t1 - t0 <= 15 * 60e3 ? clock(t) : shortClock(t);
      this.svg.append(s("text", { x: x(t), y: height - 5, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
    }
    for (const sr of this.series) {
      const id = `grad-${++gradientIds}`;
      defs.append(s("linearGradient", { id, x1: 0, y1: 0, x2: 0, y2: 1 },
        s("stop", { offset: "0%", "stop-color": sr.color, "stop-opacity": 0.28 }),
        s("stop", { offset: "100%", "stop-color": sr.color, "stop-opacity": 0 })));
      const pts = this.points.map((p) => [p.t, p[sr.key]]);
      this.svg.append(
        s("path", { class: "area", d: areaPath(pts, x, y, height - pad.b), fill: `url(#${id})` }),
        s("path", { class: "line", "data-series": sr.key, d: linePath(pts, x, y), fill: "none", stroke: sr.color,
          "stroke-width": 1.8, "stroke-linejoin": "round", "stroke-linecap": "round" }));
    }
    this.cursor = s("g", { class: "hidden" });
    this.svg.append(this.cursor);
  }

  hover(e) {
    if (!this.points.length || !this.scale) return;
    const { x, y, pad, height } = this.scale;
    const box = this.svg.getBoundingClientRect();
    const mx = e.clientX - box.left;
    let best = null;
    for (const p of this.points) if (!best || Math.abs(x(p.t) - mx) < Math.abs(x(best.t) - mx)) best = p;
    clear(this.cursor).classList.remove("hidden");
    const cx = x(best.t);
    this.cursor.append(s("line", { class: "cursor", x1: cx, x2: cx, y1: pad.t, y2: height - pad.b }));
    for (const sr of this.series) {
      if (best[sr.key] != null) this.cursor.append(s("circle", { cx, cy: y(best[sr.key]), r: 3.5, fill: sr.color, stroke: "#0b0e14", "stroke-width": 2 }));
    }
    clear(this.tip).classList.remove("hidden");
    this.tip.append(h("div", { class: "muted" }, clock(best.t)),
      ...this.series.map((sr) => h("div", {}, h("span", { style: { color: sr.color } }, "● "), `${sr.label}: `, h("b", {}, best[sr.key] == null ? "–" : this.format(best[sr.key])))));
    this.tip.style.left = `${Math.min(e.clientX + 14, window.innerWidth - 180)}px`;
    this.tip.style.top = `${e.clientY + 14}px`;
  }

  unhover() {
    this.cursor?.classList.add("hidden");
    this.tip.classList.add("hidden");
  }
}
