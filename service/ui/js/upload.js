// Upload view: pick or drop files, shared form fields, one tus upload per file (three at a time)
// with its own progress bar and its own error. tus-js-client (vendored, loaded before this module
// as window.tus) keeps each upload's URL in localStorage under the file's fingerprint, so after a
// reload or a lost connection choosing the same file again continues from the server's offset.
import { authHeaders, messageFrom, request } from "./api.js";
import { $, el, size } from "./format.js";

const PARALLEL = 3;
const ENDPOINT = "/api/v1/data/tus";
const CHUNK = 8 * 1024 * 1024;
// 49 s in all: longer than the server's PATCH lock (DEPOT_TUS_LOCK_SECONDS, 30 s), so a PATCH cut by a
// dead API process is retried (423) until its lock runs out, then resumes.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 15000, 15000];
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
    markResumable(item).catch(() => {});
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

// Bytes per PATCH: 8 MiB, or less when the page's address asks (?chunk=BYTES, at least 64 KiB),
// so a test gets several PATCHes out of a small file.
function chunkSize() {
  const asked = Number(new URLSearchParams(location.search).get("chunk"));
  return Number.isInteger(asked) && asked >= 65536 ? Math.min(asked, CHUNK) : CHUNK;
}

// A tus error as the page shows it: the server's JSON error when it answered, else the transport's.
function tusMessage(error) {
  const response = error.originalResponse;
  if (response && response.getStatus()) return messageFrom(response.getStatus(), response.getBody() || "");
  return error.originalRequest ? "connection failed" : error.message;
}

function show(item, text, className = "state") {
  item.state.className = className;
  item.state.textContent = text;
}

function progress(item, sent, total) {
  item.bar.value = total ? sent / total : 1;
  const resumed = item.resumedAt ? `resumed at ${size(item.resumedAt)} · ` : "";
  show(item, `${resumed}${size(sent)} of ${size(total)}`);
}

const endpoint = () => new URL(ENDPOINT, location.origin).href;

// Say so at once when a chosen file has an unfinished upload this browser can continue.
async function markResumable(item) {
  const previous = await new window.tus.Upload(item.file, { endpoint: endpoint() }).findPreviousUploads();
  if (previous.length && item.status === "ready") show(item, "ready · resumes an earlier upload");
}

async function forget(upload) {
  const storage = window.tus.defaultOptions.urlStorage;
  for (const previous of await upload.findPreviousUploads()) {
    if (previous.uploadUrl === upload.url) await storage.removeUpload(previous.urlStorageKey);
  }
}

function transfer(item, fields) {
  const metadata = { filename: item.file.name };
  for (const [name, value] of Object.entries(fields)) if (value) metadata[name] = value;
  return new Promise((resolve, reject) => {
    const upload = new window.tus.Upload(item.file, {
      endpoint: endpoint(),
      metadata,
      headers: authHeaders(),
      chunkSize: chunkSize(),
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onAfterResponse: (req, res) => {
        // The HEAD that starts a resumed upload names the offset the server already holds.
        if (req.getMethod() === "HEAD" && res.getStatus() === 200) {
          item.resumedAt = Number(res.getHeader("Upload-Offset")) || 0;
          item.node.dataset.resumedAt = String(item.resumedAt);
        }
      },
      onProgress: (sent, total) => progress(item, sent, total),
      onSuccess: () => resolve(upload.url),
      onError: (error) => {
        // A refusal tus-js-client does not retry (4xx but 409/423) would be refused again (the server
        // has dropped the upload): forget its URL, so choosing the file again starts afresh.
        const message = tusMessage(error);
        const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        const final = status >= 400 && status < 500 && status !== 409 && status !== 423;
        (final ? forget(upload) : Promise.resolve()).catch(() => {}).then(() => reject(new Error(message)));
      },
    });
    upload.findPreviousUploads().then((previous) => {
      const latest = previous.sort((a, b) => new Date(b.creationTime) - new Date(a.creationTime))[0];
      if (latest) upload.resumeFromPreviousUpload(latest);
      upload.start();
    }, reject);
  });
}

async function uploadOne(item, fields) {
  item.status = "sending";
  item.remove.hidden = true;
  item.node.className = "sending";
  show(item, "uploading…");
  try {
    const url = await transfer(item, fields);
    // After the last PATCH the upload's URL answers what POST /upload would have.
    const { file } = await (await request(new URL(url).pathname)).json();
    item.status = "done";
    item.bar.value = 1;
    item.node.className = "done";
    item.node.dataset.sha256 = file.hash;
    show(item, `stored as ${file.path} · SHA-256 ${file.hash.slice(0, 12)}…`, "state ok");
    item.state.title = `SHA-256 ${file.hash}`;
  } catch (error) {
    item.status = "failed";
    item.node.className = "failed";
    show(item, error.message, "state bad");
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
