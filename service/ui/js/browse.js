// Browse view: the file list (newest first) with filters and paging; download, metadata, delete.
// Statuses update live from the event stream (live.js); while it is down, the page polls instead.
import { download, filePath, getJSON, request } from "./api.js";
import { $, el, size, when } from "./format.js";
import { isLive, listen } from "./live.js";
import { notify, report } from "./notice.js";

const STATUS_OF = {
  "io.depot.file.processing": "processing", "io.depot.file.processed": "done", "io.depot.file.failed": "failed",
};
const POLL_MS = 3000;
let offset = 0;
let total = 0;
let pendingDelete = null;
let unlisten = null;
let pollTimer = null;
let reloadTimer = null;

const limit = () => Number($("#filter-limit").value);

function filters() {
  return {
    purpose: $("#filter-purpose").value, category: $("#filter-category").value,
    status: $("#filter-status").value,
  };
}

function actions(file) {
  const name = file.original_filename || file.filename;
  return el("td", { class: "acts" },
    el("button", {
      type: "button", class: "btn link", text: "Download", "aria-label": `Download ${name}`,
      on: { click: () => download(file.path, name).catch(report) },
    }),
    el("button", {
      type: "button", class: "btn link", text: "Metadata", "aria-label": `Metadata of ${name}`,
      on: { click: () => showMetadata(file.path) },
    }),
    el("button", {
      type: "button", class: "btn link danger", text: "Delete", "aria-label": `Delete ${name}`,
      on: { click: () => confirmDelete(file) },
    }));
}

function fileRow(file) {
  const status = file.status || "stored";
  return el("tr", { "data-path": file.path },
    el("td", { class: "file" },
      el("span", { class: "orig", text: file.original_filename || file.filename }),
      el("span", { class: "path", title: file.path, text: file.path })),
    el("td", { "data-label": "Purpose" }, el("span", { class: `badge ${file.purpose}`, text: file.purpose })),
    el("td", { "data-label": "Category", text: file.category }),
    el("td", { "data-label": "Status" }, el("span", { class: `badge ${status}`, text: status })),
    el("td", { "data-label": "Size", class: "num", text: size(file.size) }),
    el("td", { "data-label": "SHA-256" }, el("span", { class: "hash", title: file.hash, text: `${file.hash.slice(0, 12)}…` })),
    el("td", { "data-label": "Uploaded at", class: "when" },
      el("time", { datetime: file.uploaded_at, text: when(file.uploaded_at) })),
    actions(file));
}

export async function load() {
  try {
    const page = await getJSON("/api/v1/data/files", { ...filters(), limit: limit(), offset });
    total = page.total;
    if (offset > 0 && page.files.length === 0 && total > 0) {
      offset = Math.max(0, Math.floor((total - 1) / limit()) * limit());
      return load();
    }
    // A server without processing status ignores ``status=``: its files are simply "stored".
    const wanted = filters().status;
    const files = wanted ? page.files.filter((f) => (f.status || "stored") === wanted) : page.files;
    $("#files-body").replaceChildren(...files.map(fileRow));
    $("#files-empty").hidden = files.length > 0;
    const first = page.files.length ? offset + 1 : 0;
    $("#page-info").textContent = `${first}–${offset + page.files.length} of ${total}`;
    $("#page-prev").disabled = offset === 0;
    $("#page-next").disabled = offset + page.files.length >= total;
  } catch (error) {
    report(error);
  }
}

async function showMetadata(path) {
  try {
    const { metadata } = await getJSON(filePath(path), { metadata: "true" });
    const list = $("#meta-list");
    list.replaceChildren();
    for (const [key, value] of Object.entries(metadata)) {
      let shown = value;
      if (key === "size") shown = `${size(value)} (${value} bytes)`;
      const dd = value && typeof value === "object"
        ? el("dd", {}, el("pre", { text: JSON.stringify(value, null, 2) }))
        : el("dd", { class: key === "hash" ? "mono" : null, text: shown ?? "–" });
      list.append(el("dt", { text: key }), dd);
    }
    $("#meta-title").textContent = metadata.filename || path;
    $("#meta-dialog").showModal();
  } catch (error) {
    report(error);
  }
}

function confirmDelete(file) {
  pendingDelete = file;
  $("#confirm-text").textContent = `${file.original_filename || file.filename} (${file.path}) will be removed for good.`;
  $("#confirm-dialog").showModal();
}

async function onConfirmClose() {
  const file = pendingDelete;
  pendingDelete = null;
  if (!file || $("#confirm-dialog").returnValue !== "delete") return;
  try {
    await request(filePath(file.path), { method: "DELETE" });
    notify(`Deleted ${file.original_filename || file.filename}.`);
    await load();
  } catch (error) {
    report(error);
  }
}

export function init() {
  $("#browse-filters").addEventListener("change", () => { offset = 0; load(); });
  $("#browse-filters").addEventListener("submit", (event) => event.preventDefault());
  $("#browse-refresh").addEventListener("click", load);
  $("#page-prev").addEventListener("click", () => { offset = Math.max(0, offset - limit()); load(); });
  $("#page-next").addEventListener("click", () => { offset += limit(); load(); });
  $("#confirm-dialog").addEventListener("close", onConfirmClose);
}

// A file event: its row's status changes in place; new or deleted files reload the page (debounced).
function onEvent(event) {
  const status = STATUS_OF[event.type];
  const row = status && document.querySelector(`#files-body tr[data-path="${CSS.escape(event.subject)}"]`);
  if (row && !filters().status) {
    const badge = row.querySelector('td[data-label="Status"] .badge');
    badge.className = `badge ${status}`;
    badge.textContent = status;
  } else if (event.type.startsWith("io.depot.file.")) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 250);
  }
}

// The fallback: while the stream is down, reload as long as a listed file is still on its way.
function poll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if (isLive() || !unlisten) return;
    const busy = [...document.querySelectorAll("#files-body .badge")]
      .some((badge) => ["pending", "processing"].includes(badge.textContent));
    if (busy) await load();
    poll();
  }, POLL_MS);
}

function onState(state) {
  if (state === "live") {
    clearTimeout(pollTimer);
    load();  // catch up on what happened while the stream was down
  } else {
    poll();
  }
}

export function enter() {
  if (!unlisten) unlisten = listen({ event: onEvent, state: onState });
  load();
  if (!isLive()) poll();
}

export function leave() {
  if (unlisten) unlisten();
  unlisten = null;
  clearTimeout(pollTimer);
  clearTimeout(reloadTimer);
}
