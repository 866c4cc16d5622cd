// An exec console: each line runs as a command in the workspace, output streamed as it comes.
import { sse, ws as wsPath } from "./api.js";
import { h } from "./dom.js";

const TIMEOUT_S = 300;

export function execConsole(workspace) {
  const out = h("div", { class: "out", "data-console-output": "" },
    h("div", { class: "exit" }, `Commands run with /bin/sh -c in ${workspace.name}. ↑/↓ history · Ctrl+L clear · Ctrl+C stop waiting.`));
  const input = h("input", { "aria-label": "command", placeholder: "type a command and press Enter", autocomplete: "off", spellcheck: "false", "data-console-input": "" });
  const el = h("div", { class: "terminal" }, out, h("div", { class: "prompt" }, h("span", {}, "$"), input));
  const history = [];
  let cursor = 0;
  let running = null;

  const atBottom = () => out.scrollHeight - out.scrollTop - out.clientHeight < 30;
  function write(node) {
    const stick = atBottom();
    out.append(node);
    if (stick) out.scrollTop = out.scrollHeight;
  }

  async function run(command) {
    const controller = (running = new AbortController());
    input.disabled = true;
    write(h("div", { class: "cmd" }, command));
    let current = null;
    try {
      for await (const message of sse("POST", wsPath(workspace.id, "exec", "stream"), {
        body: { command, timeout: TIMEOUT_S }, signal: controller.signal })) {
        if (message.event === "stdout" || message.event === "stderr") {
          if (!current || current.dataset.stream !== message.event) {
            current = h("span", { class: message.event, "data-stream": message.event });
            write(current);
          }
          const stick = atBottom();
          current.append(message.data.data);
          if (stick) out.scrollTop = out.scrollHeight;
        } else if (message.event === "exit") {
          const { exit_code: code, timed_out: timedOut, duration_ms: ms } = message.data;
          write(h("div", { class: ["exit", (code !== 0 || timedOut) && "bad"], "data-exit-code": code },
            timedOut ? `timed out after ${TIMEOUT_S}s` : `exit ${code} · ${ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`}`));
        }
      }
    } catch (err) {
      if (controller.signal.aborted) write(h("div", { class: "exit bad" }, "stopped waiting (the command may still run)"));
      else write(h("div", { class: "exit bad" }, `error: ${err.message}${err.hint ? ` (${err.hint})` : ""}`));
    } finally {
      running = null;
      input.disabled = false;
      input.focus();
    }
  }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && input.value.trim() && !running) {
      const command = input.value;
      history.push(command);
      cursor = history.length;
      input.value = "";
      run(command);
    } else if (e.key === "ArrowUp" && cursor > 0) {
      input.value = history[--cursor];
      e.preventDefault();
    } else if (e.key === "ArrowDown") {
      cursor = Math.min(history.length, cursor + 1);
      input.value = history[cursor] || "";
      e.preventDefault();
    } else if (e.key === "l" && e.ctrlKey) {
      out.replaceChildren();
      e.preventDefault();
    } else if (e.key === "c" && e.ctrlKey && running) {
      running.abort();
      e.preventDefault();
    }
  });
  el.addEventListener("click", () => { if (!getSelection().toString()) input.focus(); });
  return { el, focus: () => input.focus(), destroy: () => running?.abort() };
}
