// Icons as inline SVG (stroke icons on a 24 grid), so the page loads nothing else.
import { s } from "./dom.js";

const PATHS = {
  plus: ["M12 5v14", "M5 12h14"],
  pause: ["M9 5v14", "M15 5v14"],
  play: ["M7 4.5v15l12-7.5z"],
  stop: ["M6.5 6.5h11v11h-11z"],
  trash: ["M4 7h16", "M10 11v6", "M14 11v6", "M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12", "M9 7V4h6v3"],
  terminal: ["M4 17l6-5-6-5", "M12 19h8"],
  logs: ["M4 6h16", "M4 12h16", "M4 18h10"],
  folder: ["M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"],
  file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  bolt: ["M13 3L5 14h6l-1 7 8-11h-6z"],
  download: ["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"],
  alert: ["M12 3l9.5 17h-19z", "M12 10v4", "M12 17.5v.5"],
  up: ["M12 19V5", "M6 11l6-6 6 6"],
  refresh: ["M20 11a8 8 0 1 0-2.3 5.7", "M20 4v7h-7"],
  logout: ["M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3", "M10 17l-5-5 5-5", "M5 12h11"],
  key: ["M14.5 9.5a4 4 0 1 1-1.2-2.8", "M13.5 10.5L21 18v3h-3v-2h-2v-2h-2l-1.5-1.5"],
};

export function icon(name, attrs = {}) {
  return s("svg", { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 2,
    "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true", ...attrs },
  (PATHS[name] || []).map((d) => s("path", { d })));
}

export function logo() {
  return s("svg", { viewBox: "0 0 32 32", "aria-hidden": "true" },
    s("rect", { width: 32, height: 32, rx: 8, fill: "#141925", stroke: "#2c364b" }),
    s("g", { fill: "none", "stroke-width": 2.4, "stroke-linecap": "round" },
      s("path", { d: "M9 8v16M16 8v16M23 8v16", stroke: "#8ea8ff" }),
      s("path", { d: "M6 12.5h20M6 19.5h20", stroke: "#5ee6b5" })));
}
