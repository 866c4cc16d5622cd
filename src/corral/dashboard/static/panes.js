// The workspace page's lower panes: live log tail, file browser, private links.
import { api, textStream, ws as wsPath } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { icon } from "./icons.js";
import { bytes } from "./format.js";

export function logTail(workspace) {
  const pre = h("pre", { class: "logs terminal", "data-logs": "" });
  const controller = new AbortController();
  let received = false;
  (async () => {
    let tail = 500;
    while (!controller.signal.aborted) {
      try {
        for await (const text of textStream("GET", wsPath(workspace.id, "logs"), {
          params: { follow: "true", tail }, signal: controller.signal })) {
          const stick = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 30;
          pre.append(text);
          received = received || text.length > 0;
          if (stick) pre.scrollTop = pre.scrollHeight;
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err.status === 404) return;
      }
      tail = 0; // reconnected: only what is new
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  setTimeout(() => {
    if (!received && !pre.textContent) pre.append(h("span", { class: "muted" }, workspace.command ? "No output yet." : "This workspace has no main command, so no log. Use the console to run commands."));
  }, 1200);
  return { el: pre, destroy: () => controller.abort() };
}

function fileIcon(entry) {
  return icon(entry.type === "dir" ? "folder" : entry.type === "symlink" ? "link" : "file", { class: ["file-icon", entry.type === "dir" && "dir"].filter(Boolean).join(" ") });
}

async function download(workspace, entry) {
  try {
    const response = await api.raw("GET", wsPath(workspace.id, "files"), { params: { path: entry.path }, raw: true });
    const blob = await response.blob();
    const link = h("a", { href: URL.createObjectURL(blob), download: entry.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (err) {
    toast(`Could not download ${entry.path}: ${err.message}`, { error: true, hint: err.hint });
  }
}

export function fileBrowser(workspace, start = "/") {
  const bar = h("div", { class: "files-bar" });
  const body = h("tbody");
  const note = h("div", { class: "empty hidden" });
  const el = h("div", { "data-files": "" }, bar,
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, ["Name", "Size", "Modified", ""].map((t) => h("th", {}, t)))), body), note);

  async function open(path) {
    const parts = path.split("/").filter(Boolean);
    replace(bar, h("button", { onclick: () => open("/") }, "/"),
      parts.map((part, i) => [h("button", { onclick: () => open(`/${parts.slice(0, i + 1).join("/")}`) }, part), i < parts.length - 1 ? "/" : ""]),
      h("span", { class: "grow" }),
      h("button", { class: "icon-btn", title: "Refresh", onclick: () => open(path) }, icon("refresh")));
    try {
      const { entries } = await api.get(wsPath(workspace.id, "files", "list"), { params: { path } });
      entries.sort((a, b) => (a.type === "dir") === (b.type === "dir") ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1);
      note.classList.toggle("hidden", entries.length > 0);
      replace(note, "This directory is empty.");
      replace(body,
        parts.length ? h("tr", { onclick: () => open(`/${parts.slice(0, -1).join("/")}`) },
          h("td", {}, h("div", { class: "row" }, icon("up", { class: "file-icon" }), "..")), h("td"), h("td"), h("td")) : null,
        entries.map((e) => h("tr", { "data-path": e.path, onclick: () => (e.type === "dir" ? open(e.path) : download(workspace, e)) },
          h("td", {}, h("div", { class: "row" }, fileIcon(e), h("span", { class: e.type === "dir" ? "" : "dim" }, e.name))),
          h("td", { class: "dim nowrap" }, e.type === "dir" ? "–" : bytes(e.size)),
          h("td", { class: "dim nowrap" }, new Date(e.mtime).toLocaleString()),
          h("td", { class: "right" }, e.type === "file" ? h("button", { class: "icon-btn", title: `Download ${e.name}`,
            onclick: (ev) => { ev.stopPropagation(); download(workspace, e); } }, icon("download")) : null))));
    } catch (err) {
      replace(body);
      note.classList.remove("hidden");
      replace(note, h("b", {}, "Cannot list this directory"), err.message);
    }
  }
  open(start);
  return { el, destroy() {} };
}

// Private links are another part of corral; a daemon without them answers 404.
export async function loadLinks() {
  try {
    const data = await api.get("/v1/links");
    return Array.isArray(data) ? data : data.links || [];
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    throw err;
  }
}

export const linkEnds = (link) => ({
  from: link.from ?? link.source, to: link.to ?? link.target,
  fromName: link.from_name, toName: link.to_name,
  port: link.port, protocol: link.protocol || "tcp",
});

export function linksPane(workspace, names) {
  const el = h("div", { class: "panel-body", "data-links": "" }, h("div", { class: "muted" }, "Loading links…"));
  loadLinks().then((links) => {
    if (links === null) {
      replace(el, h("div", { class: "empty" }, h("b", {}, "Private links are not available on this daemon"), "This daemon does not serve /v1/links."));
      return;
    }
    const mine = links.map(linkEnds).filter((l) => [workspace.id, workspace.name].includes(l.from) || [workspace.id, workspace.name].includes(l.to));
    if (!mine.length) {
      replace(el, h("div", { class: "empty" }, h("b", {}, "No private links"), `${workspace.name} reaches no other workspace, and none reaches it.`));
      return;
    }

    replace(el, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Direction", "Workspace", "Port"].map((t) => h("th", {}, t)))),
      h("tbody", {}, mine.map((l) => {
        const outgoing = [workspace.id, workspace.name].includes(l.from);
        return h("tr", {}, h("td", {}, outgoing ? "→ reaches" : "← reached by"),
          h("td", {}, h("a", { href: `#/w/${outgoing ? l.to : l.from}` },
            (outgoing ? l.toName : l.fromName) || names.get(outgoing ? l.to : l.from) || (outgoing ? l.to : l.from))),
          h("td", { class: "mono" }, `${l.port}/${l.protocol}`));
      }))));
  }).catch((err) => replace(el, h("div", { class: "error-text" }, err.message)));
  return { el, destroy() {} };
}
