// Upload view: pick or drop files, shared form fields, one XHR per file (three at a time)
// with its own progress bar and its own error.
import { send } from "./api.js";
import { $, el, size } from "./format.js";

const PARALLEL = 3;
let queue = [];
let running = false;

function parseMetadata() {
  const box = $("#upload-metadata");
  const text = box.value.trim();
  $("#metadata-error").textContent = "";
  box.removeAttribute("aria-invalid");
  if (!text) return "";
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return JSON.stringify(value);
    throw new Error("not an object");
  } catch (_) {
    box.setAttribute("aria-invalid", "true");
    $("#metadata-error").textContent = "Metadata must be a JSON object, like {\"source\": \"lab\"}.";
    box.focus();
    return null;
  }
}

function row(item) {
  item.bar = el("progress", { max: 1, value: 0, "aria-label": `Progress of ${item.file.name}` });
  item.state = el("span", { class: "state", text: "ready" });
  item.remove = el("button", {
    type: "button", class: "btn link small", text: "Remove", "aria-label": `Remove ${item.file.name}`,
    on: { click: () => { queue = queue.filter((x) => x !== item); item.node.remove(); refresh(); } },
  });
  item.node = el("li", { "data-name": item.file.name },
    el("span", { class: "name", title: item.file.name, text: item.file.name }),
    el("span", { class: "size", text: size(item.file.size) }),
    item.bar, item.state, item.remove);
  return item.node;
}

function add(files) {
  for (const file of files) {
    const item = { file, status: "ready" };
    queue.push(item);
    $("#upload-queue").append(row(item));
  }
  refresh();
}

function refresh() {
  const ready = queue.filter((i) => i.status === "ready").length;
  $("#upload-start").disabled = running || ready === 0;
  $("#upload-clear").disabled = running || queue.length === 0;
  const done = queue.filter((i) => i.status === "done").length;
  const failed = queue.filter((i) => i.status === "failed").length;
  const total = queue.reduce((sum, i) => sum + i.file.size, 0);
  $("#upload-summary").textContent = queue.length
    ? `${queue.length} file${queue.length === 1 ? "" : "s"}, ${size(total)}` +
      (done || failed ? ` · ${done} uploaded${failed ? `, ${failed} failed` : ""}` : "")
    : "";
}

async function uploadOne(item, fields) {
  item.status = "sending";
  item.remove.hidden = true;
  item.node.className = "sending";
  item.state.className = "state";
  item.state.textContent = "uploading…";
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) if (value) form.append(name, value);
  form.append("file", item.file, item.file.name); // fields first: the server streams the file part
  try {
    const { body } = await send("/api/v1/data/upload", form, {
      onProgress: (loaded, total) => { item.bar.value = total ? loaded / total : 1; },
    });
    item.status = "done";
    item.bar.value = 1;
    item.node.className = "done";
    item.state.className = "state ok";
    item.state.textContent = `stored as ${body.file.path}`;
  } catch (error) {
    item.status = "failed";
    item.node.className = "failed";
    item.state.className = "state bad";
    item.state.textContent = error.message;
  }
  refresh();
}

async function start(event) {
  event.preventDefault();
  const metadata = parseMetadata();
  if (metadata === null) return;
  const fields = {
    purpose: $("#upload-purpose").value, category: $("#upload-category").value,
    description: $("#upload-description").value.trim(), metadata,
  };
  const todo = queue.filter((i) => i.status === "ready");
  running = true;
  refresh();
  const workers = Array.from({ length: Math.min(PARALLEL, todo.length) }, async () => {
    while (todo.length) await uploadOne(todo.shift(), fields);
  });
  await Promise.all(workers);
  running = false;
  refresh();
}

export function init() {
  const input = $("#upload-files");
  const zone = $("#dropzone");
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    add(event.dataTransfer.files);
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  $("#upload-form").addEventListener("submit", start);
  $("#upload-clear").addEventListener("click", () => {
    queue = [];
    $("#upload-queue").replaceChildren();
    refresh();
  });
}

export function enter() {}
