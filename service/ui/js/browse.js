// Browse view: the file list (newest first) with filters and paging; download, metadata, delete.
import { download, filePath, getJSON, request } from "./api.js";
import { $, el, size, when } from "./format.js";
import { notify, report } from "./notice.js";

let offset = 0;
let total = 0;
let pendingDelete = null;

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

export function enter() {
  load();
}
