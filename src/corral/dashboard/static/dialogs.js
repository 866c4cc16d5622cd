// Modal dialogs: confirming a destructive action, creating a workspace.
import { api, ApiError } from "./api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";

function modal(content) {
  const dialog = h("dialog", {}, content);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  return dialog;
}

export function confirmAction({ title, message, action = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const form = h("form", { method: "dialog" },
      h("h2", {}, title),
      h("p", { class: "dim", style: { margin: 0 } }, message),
      h("div", { class: "dialog-actions" },
        h("button", { class: "btn ghost", value: "cancel", type: "submit" }, "Cancel"),
        h("button", { class: ["btn", danger ? "danger" : "primary"], value: "ok", type: "submit", "data-confirm": "" }, action)));
    const dialog = modal(form);
    form.addEventListener("submit", (e) => { answer = e.submitter?.value === "ok"; });
    dialog.addEventListener("close", () => resolve(answer));
  });
}

function field(label, input, hint = null, wide = false) {
  return h("label", { class: ["field", wide && "wide"] }, h("span", {}, label, hint && h("span", { class: "hint" }, ` · ${hint}`)), input);
}

const numberOrNull = (value) => (value === "" ? null : Number(value));

// The "new workspace" form; resolves with the created workspace, or null if cancelled.
export function createWorkspace() {
  return new Promise((resolve) => {
    let created = null;
    const name = h("input", { class: "input", name: "name", required: true, autocomplete: "off", placeholder: "my-agent",
      pattern: "[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?", title: "lowercase letters, digits and dashes" });
    const image = h("input", { class: "input", name: "image", value: "host" });
    const command = h("input", { class: "input mono", name: "command", placeholder: "python3 -m http.server 8000", autocomplete: "off" });
    const cpu = h("input", { class: "input", name: "cpu", type: "number", min: "0.05", step: "0.05", placeholder: "no limit" });
    const memory = h("input", { class: "input", name: "memory_mib", type: "number", min: "16", step: "16", placeholder: "no limit" });
    const disk = h("input", { class: "input", name: "disk_mib", type: "number", min: "16", step: "16", placeholder: "none" });
    const ttl = h("input", { class: "input", name: "ttl_seconds", type: "number", min: "1", placeholder: "never expires" });
    const rootfs = h("input", { class: "input", name: "rootfs_mib", type: "number", min: "16", step: "16", placeholder: "uncapped" });
    const internet = h("select", { class: "input", name: "internet" },
      [["false", "off (air-gapped)"], ["true", "on"]].map(([v, text]) => h("option", { value: v }, text)));
    const restart = h("select", { class: "input", name: "restart" },
      ["never", "on-failure", "always"].map((p) => h("option", { value: p }, p)));
    const error = h("div", { class: "error-text" });
    const submit = h("button", { class: "btn primary", type: "submit", value: "create" }, icon("plus"), "Create workspace");
    const form = h("form", { method: "dialog", novalidate: false },
      h("h2", {}, "New workspace"),
      h("p", { class: "dim", style: { margin: "-6px 0 4px" } }, "An isolated Linux environment with its own processes, filesystem and network namespace."),
      h("div", { class: "form-grid" },
        field("Name", name, "unique, a DNS label", true),
        field("Image", image),
        field("Restart policy", restart),
        field("Command", command, "main process; empty: idle", true),
        field("CPU", cpu, "cores"),
        field("Memory", memory, "MiB"),
        field("Persistent disk", disk, "MiB, encrypted"),
        field("TTL", ttl, "seconds"),
        field("Writable layer", rootfs, "MiB cap"),
        field("Internet", internet)),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { class: "btn ghost", type: "button", onclick: () => dialog.close() }, "Cancel"),
        submit));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      const body = { name: name.value.trim(), image: image.value.trim() || "host", restart: restart.value };
      if (command.value.trim()) body.command = command.value.trim();
      if (internet.value === "true") body.internet = true;
      for (const [key, input] of [["cpu", cpu], ["memory_mib", memory], ["disk_mib", disk], ["ttl_seconds", ttl], ["rootfs_mib", rootfs]]) {
        const value = numberOrNull(input.value);
        if (value !== null) body[key] = value;
      }
      submit.disabled = true;
      error.textContent = "";
      try {
        created = await api.post("/v1/workspaces", body);
        dialog.close();
      } catch (err) {
        error.textContent = err instanceof ApiError ? `${err.message}${err.hint ? ` — ${err.hint}` : ""}` : String(err);
        submit.disabled = false;
      }
    });
    const dialog = modal(form);
    dialog.addEventListener("close", () => resolve(created));
    name.focus();
  });
}
