// A TTL countdown that ticks every second on its own, between data refreshes.
import { h, setText } from "./dom.js";
import { duration } from "./format.js";

const live = new Set();
setInterval(() => { for (const cell of live) cell.tick(); }, 1000);

export function ttlCell() {
  const el = h("span", { class: "ttl" }, "–");
  let expires = null, total = null;
  const cell = {
    el,
    set(expiresAt, ttlSeconds) {
      expires = expiresAt ? Date.parse(expiresAt) : null;
      total = ttlSeconds;
      cell.tick();
    },
    tick() {
      if (expires === null) {
        setText(el, "–");
        el.className = "ttl dim";
        el.title = "never expires";
        return;
      }
      const left = Math.max(0, (expires - Date.now()) / 1000);
      setText(el, left > 0 ? duration(left) : "expiring");
      el.className = ["ttl", left < 10 ? "urgent" : left < Math.min(60, (total || 0) * 0.25 + 1) ? "soon" : ""].join(" ");
      el.title = `expires ${new Date(expires).toLocaleString()}`;
    },
    destroy() { live.delete(cell); },
  };
  live.add(cell);
  return cell;
}
