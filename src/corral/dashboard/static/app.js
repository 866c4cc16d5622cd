// The dashboard's entry point: sign in, the top bar, and a hash router over the pages.
import { api, auth, ApiError } from "./api.js";
import { h, replace, setText } from "./dom.js";
import { icon, logo } from "./icons.js";
import { hub, eventFeed } from "./events.js";
import { overview } from "./overview.js";
import { workspacePage } from "./workspace.js";
import { graphPage } from "./graph.js";
import { bytes, percent } from "./format.js";

const root = document.getElementById("app");
let page = null;
let shell = null;

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function eventsPage() {
  const feed = eventFeed({ tall: true, limit: 400 });
  return { el: h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, "Events"),
    h("span", { class: "muted" }, "live: every state change, restart, expiry, anomaly and OOM kill")), feed.el),
  title: "Events", destroy: feed.destroy };
}

function route() {
  if (!shell) return;
  page?.destroy();
  const hash = location.hash || "#/";
  const match = hash.match(/^#\/w\/([^/]+)/);
  if (match) page = workspacePage({ id: decodeURIComponent(match[1]), navigate });
  else if (hash.startsWith("#/graph")) page = graphPage({ navigate });
  else if (hash.startsWith("#/events")) page = eventsPage();
  else page = overview({ navigate });
  for (const a of shell.nav.querySelectorAll("a")) {
    const target = a.getAttribute("href");
    a.classList.toggle("active", target === "#/" ? !/^#\/(graph|events)/.test(hash) : hash.startsWith(target));
  }
  replace(shell.main, page.el);
  document.title = `${page.title} · corral`;
  window.scrollTo(0, 0);
}

function signOut() {
  auth.clear();
  hub.stop();
  page?.destroy();
  page = null;
  shell = null;
  signIn();
}

async function showHost() {
  try {
    const [info, summary] = await Promise.all([api.get("/v1/info"), api.get("/v1/metrics/summary", { params: { points: 0 } })]);
    replace(shell.host,
      h("span", {}, h("b", {}, info.runtime), ` · cgroup ${info.cgroup_mode}`),
      h("span", {}, "host ", h("b", {}, `${summary.host.cpus} CPU`), " · ", h("b", {}, bytes(summary.host.memory_bytes, 0))),
      h("span", { title: `last sampling tick: ${summary.sampler.tick_ms} ms wall, ${summary.sampler.tick_cpu_ms} ms CPU` },
        "sampling ", h("b", {}, `${summary.sampler.interval_seconds}s`)),
      h("span", { class: "row", style: { gap: "6px" } }, shell.dot, "live"));
  } catch { /* shown on the next page load */ }
}

function start() {
  const nav = h("nav", { class: "nav" },
    h("a", { href: "#/" }, "Workspaces"), h("a", { href: "#/graph" }, "Network"), h("a", { href: "#/events" }, "Events"));
  const host = h("div", { class: "host" });
  const dot = h("span", { class: "live-dot off", title: "event stream" });
  const main = h("main");
  shell = { nav, host, main, dot };
  replace(root,
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: "#/" }, logo(), "corral"), nav, host,
      h("button", { class: "btn ghost small", onclick: signOut, title: "Sign out", "data-action": "sign-out" }, icon("logout"), "Sign out")),
    main);
  root.classList.remove("booting");
  window.addEventListener("corral:stream", (e) => dot.classList.toggle("off", !e.detail));
  hub.start();
  showHost();
  route();
}

function signIn(message = "") {
  const key = h("input", { class: "input mono", type: "password", name: "api-key", placeholder: "crl_…", autocomplete: "current-password", required: true, "aria-label": "API key" });
  const remember = h("input", { type: "checkbox", name: "remember" });
  const error = h("div", { class: "error-text", role: "alert" }, message);
  const button = h("button", { class: "btn primary", type: "submit" }, icon("key"), "Sign in");
  const form = h("form", { class: "signin-card", "data-signin": "" },
    h("div", { class: "brand" }, logo(), "corral"),
    h("p", {}, "Sign in with an API key. The admin key is printed by ", h("span", { class: "mono" }, "corral serve"),
      " and kept in ", h("span", { class: "mono" }, "admin.key"), " in its state directory."),
    h("label", { class: "field" }, "API key", key),
    h("label", { class: "check" }, remember, "Remember on this device"),
    error, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    setText(error, "");
    try {
      await api.get("/v1/info", { key: key.value.trim() });
      auth.save(key.value.trim(), remember.checked);
      start();
    } catch (err) {
      setText(error, err instanceof ApiError && err.status === 401 ? "That key is not valid (or was revoked)." : `Cannot reach the daemon: ${err.message}`);
      button.disabled = false;
    }
  });
  replace(root, h("div", { class: "signin" }, form));
  root.classList.remove("booting");
  key.focus();
}

window.addEventListener("hashchange", route);
window.addEventListener("corral:unauthorized", () => { if (shell) signOut(); });
if (auth.key) start();
else signIn();
