// Numbers people read at a glance.

export function bytes(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  const text = i === 0 || n >= 100 ? Math.round(n).toString() : n.toFixed(digits).replace(/\.0$/, "");
  return `${text} ${units[i]}`;
}

export function rate(n) {
  return n === null || n === undefined ? "–" : `${bytes(n)}/s`;
}

export function percent(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return `${n >= 100 ? Math.round(n) : n.toFixed(digits)}%`;
}

export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

export function age(iso, now = Date.now()) {
  return duration((now - Date.parse(iso)) / 1000);
}

export function clock(t) {
  const d = t instanceof Date ? t : new Date(t);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function shortClock(t) {
  const d = t instanceof Date ? t : new Date(t);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function count(n) {
  return n === null || n === undefined ? "–" : n.toLocaleString();
}
