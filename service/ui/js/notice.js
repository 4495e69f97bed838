// The one status line at the top of the page (an ARIA live region).
import { $ } from "./format.js";

export function notify(message, kind = "info") {
  const box = $("#notice");
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.hidden = !message;
  clearTimeout(notify.timer);
  if (message && kind !== "error") notify.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

// Errors from any view: a missing or wrong key gets a pointer to the key field.
export function report(error) {
  if (error && (error.status === 401 || error.status === 403)) {
    notify(`${error.message}. Enter an API key at the top right.`, "error");
    $("#api-key").focus();
  } else {
    notify(error && error.message ? error.message : String(error), "error");
  }
}
