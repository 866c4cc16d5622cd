// Lifecycle actions on a workspace, with the confirmation and error reporting they need.
import { api, ws as wsPath } from "./api.js";
import { toast } from "./dom.js";
import { confirmAction } from "./dialogs.js";

export async function act(workspace, action) {
  try {
    if (action === "destroy") {
      const ok = await confirmAction({
        title: `Destroy ${workspace.name}?`,
        message: "Its processes stop and its files and disk are erased. This cannot be undone.",
        action: "Destroy", danger: true,
      });
      if (!ok) return null;
      const result = await api.del(wsPath(workspace.id));
      toast(`${workspace.name} destroyed`);
      return result;
    }
    return await api.post(wsPath(workspace.id, action));
  } catch (err) {
    toast(`Could not ${action} ${workspace.name}: ${err.message}`, { hint: err.hint, error: true });
    return null;
  }
}

// Which lifecycle verbs make sense in a state.
export function verbs(state) {
  return {
    pause: state === "running",
    resume: state === "paused",
    stop: state === "running" || state === "paused",
    start: state === "stopped" || state === "failed",
    destroy: state !== "destroyed" && state !== "destroying",
  };
}
