// Models view: start imports (Hugging Face, GitHub, ZIP), follow their tasks live, list models.
// The API has no "list tasks" call, so this tab remembers the tasks it started (session storage).
// A task's end arrives live (model.imported / model.failed on the event stream, live.js); while
// the stream is down, running tasks are polled instead (dataset imports always: no event ends them).
import { getJSON, send, request } from "./api.js";
import { $, el, size, when } from "./format.js";
import { isLive, listen } from "./live.js";
import { notify, report } from "./notice.js";

const TASKS = "depot.tasks";
const FINAL = new Set(["DONE", "FAILED"]);
let timer = null;
let active = false;
let firstLook = true;
let unlisten = null;
let unannounced = false;  // a running task whose end arrives on no event (a dataset import)
const finished = new Set();
const TASK_EVENTS = new Set(["io.depot.model.imported", "io.depot.model.failed"]);

const remembered = () => JSON.parse(sessionStorage.getItem(TASKS) || "[]");
const remember = (tasks) => sessionStorage.setItem(TASKS, JSON.stringify(tasks.slice(-50)));

function source() {
  return document.querySelector('input[name="source"]:checked').value;
}

function switchSource() {
  for (const group of document.querySelectorAll("#import-form [data-source]")) {
    group.hidden = group.dataset.source !== source();
  }
}

async function startImport(event) {
  event.preventDefault();
  const button = $("#import-start");
  const message = $("#import-message");
  message.textContent = "";
  let location;
  let label;
  button.disabled = true;
  try {
    if (source() === "huggingface") {
      const tag = $("#hf-tag").value.trim();
      const revision = $("#hf-revision").value.trim() || "main";
      if (!tag) throw new Error("Enter a model id.");
      label = `${tag}@${revision}`;
      location = (await request("/v1/upload/huggingface", { method: "POST", json: { model_tag: tag, revision } }))
        .headers.get("Location");
    } else if (source() === "dataset") {
      const repoId = $("#ds-repo").value.trim();
      const revision = $("#ds-revision").value.trim() || "main";
      if (!repoId) throw new Error("Enter a dataset id.");
      const allow = $("#ds-allow").value.split(",").map((p) => p.trim()).filter(Boolean);
      const body = { repo_id: repoId, revision, purpose: $("#ds-purpose").value };
      if ($("#ds-category").value) body.category = $("#ds-category").value;
      if (allow.length) body.allow_patterns = allow;
      label = `datasets/${repoId}@${revision}`;
      location = (await request("/api/v1/data/import/huggingface", { method: "POST", json: body }))
        .headers.get("Location");
    } else if (source() === "github") {
      const [owner, repoName, extra] = $("#gh-repo").value.trim().split("/");
      const revision = $("#gh-revision").value.trim() || "main";
      if (!owner || !repoName || extra !== undefined) throw new Error("Enter the repository as owner/name.");
      label = `${owner}/${repoName}@${revision}`;
      location = (await request("/v1/upload/github", { method: "POST", json: { owner, repo_name: repoName, revision } }))
        .headers.get("Location");
    } else {
      const file = $("#zip-file").files[0];
      if (!file) throw new Error("Choose a ZIP file.");
      const name = $("#zip-name").value.trim();
      const form = new FormData();
      form.append("file", file, file.name);
      const bar = $("#import-progress");
      bar.hidden = false;
      bar.value = 0;
      const answer = await send("/v1/upload/local", form, {
        query: { model_name: name }, onProgress: (loaded, total) => { bar.value = total ? loaded / total : 1; },
      });
      bar.hidden = true;
      label = name || file.name;
      location = answer.location;
    }
    if (!location) throw new Error("The server accepted the import but sent no task location.");
    remember([...remembered(), { location, label, source: source() }]);
    message.textContent = `Import of ${label} started.`;
    await refreshTasks();
    schedule();
  } catch (error) {
    $("#import-progress").hidden = true;
    if (error.status) report(error);
    else message.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function detail(task) {
  if (task.error_msg) return task.error_msg;
  const r = task.report;
  if (r) return `stored ${r.files_stored}, skipped ${r.files_skipped}, failed ${r.files_failed}`;
  return (task.model_ids || []).join(", ");
}

function taskRow(entry, task) {
  const status = task ? task.task_status : "UNKNOWN";
  return el("tr", { "data-task": task ? task.id : entry.location },
    el("td", { class: "file", text: task ? task.model_tag : entry.label }),
    el("td", { "data-label": "Source", text: task ? task.source : entry.source }),
    el("td", { "data-label": "Status" }, el("span", { class: `badge ${status}`, text: status })),
    el("td", { "data-label": "Updated", class: "when", text: task ? when(task.updated_at) : "–" }),
    el("td", { "data-label": "Detail", class: "detail",
      text: task ? detail(task) : "not found" }));
}

async function refreshTasks() {
  const entries = remembered().slice().reverse();
  $("#tasks-empty").hidden = entries.length > 0;
  const results = await Promise.all(entries.map((entry) =>
    getJSON(entry.location).then((task) => ({ entry, task }), (error) => ({ entry, error }))));
  const denied = results.find((r) => r.error && r.error.status !== 404);
  if (denied) report(denied.error);
  $("#tasks-body").replaceChildren(...results.map(({ entry, task }) => taskRow(entry, task)));
  const running = results.some(({ task }) => task && !FINAL.has(task.task_status));
  // A dataset import's end is no event of its own (its files announce themselves): poll it even when live.
  unannounced = results.some(({ task }) => task && !FINAL.has(task.task_status) && task.kind === "dataset");
  const ended = results.filter(({ task }) => task && FINAL.has(task.task_status) && !finished.has(task.id));
  for (const { task } of ended) finished.add(task.id);
  if (ended.length && !firstLook) {
    notify(ended.map(({ task }) => `${task.model_tag}: ${task.task_status}`).join(" · "));
    loadModels();
  }
  firstLook = false;
  return running;
}

function schedule() {
  clearTimeout(timer);
  if (!active || (isLive() && !unannounced)) return;
  timer = setTimeout(async () => {
    if (await refreshTasks().catch(() => true)) schedule();
  }, 1500);
}

async function modelFiles(details, id) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "true";
  try {
    const model = await getJSON(`/v1/models/${id.split("/").map(encodeURIComponent).join("/")}`);
    const rows = model.files.map((file) => el("tr", {},
      el("td", { class: "mono", text: file.path }), el("td", { class: "num", text: size(file.size) }),
      el("td", {}, el("span", { class: "hash", title: file.sha256, text: `${file.sha256.slice(0, 12)}…` }))));
    details.append(el("div", { class: "table-wrap" }, el("table", { class: "data" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "File" }),
        el("th", { scope: "col", class: "num", text: "Size" }), el("th", { scope: "col", text: "SHA-256" }))),
      el("tbody", {}, rows))));
  } catch (error) {
    details.dataset.loaded = "";
    report(error);
  }
}

/** The scan verdict of a model: "scanned" (safe), "unsafe" (published under the warn policy) or none. */
function scanBadge(model) {
  if (!model.scan_verdict) return el("span", { class: "badge", text: "not scanned" });
  const unsafe = model.scan_verdict === "unsafe";
  return el("span", { class: `badge scan-${model.scan_verdict}`, text: unsafe ? "unsafe" : "scanned",
                      title: unsafe ? "the scan found unsafe content (published under DEPOT_MODEL_SCAN=warn)" : "weights scanned: safe" });
}

export async function loadModels() {
  try {
    const listing = await getJSON("/v1/models", { limit: 100 });
    $("#models-empty").hidden = listing.models.length > 0;
    $("#models-list").replaceChildren(...listing.models.map((model) => {
      const details = el("details", { "data-model": model.id },
        el("summary", {},
          el("span", { class: "title", text: model.name || model.id }),
          el("span", { class: "badge", text: model.source }),
          scanBadge(model),
          model.signed_by ? el("span", { class: "badge signed", text: "signed", title: model.signed_by }) : null,
          el("span", { class: "meta", text: `@${model.revision} · ${model.file_count} files · ${size(model.size)} · ${when(model.imported_at)}` }),
          model.resolved_commit ? el("span", { class: "hash", text: model.resolved_commit.slice(0, 10) }) : null));
      details.addEventListener("toggle", () => details.open && modelFiles(details, model.id));
      return details;
    }));
  } catch (error) {
    report(error);
  }
}

export function init() {
  for (const radio of document.querySelectorAll('input[name="source"]')) radio.addEventListener("change", switchSource);
  $("#import-form").addEventListener("submit", startImport);
  $("#models-refresh").addEventListener("click", loadModels);
  switchSource();
}

function onEvent(event) {
  const id = event.data && event.data.task_id;
  if (TASK_EVENTS.has(event.type) && remembered().some((entry) => entry.location.endsWith(`/${id}`))) {
    refreshTasks().catch(report);
  }
}

async function onState(state) {
  if (state === "live" && !unannounced) clearTimeout(timer);
  if (await refreshTasks().catch(() => true)) schedule();  // catch up; poll if the stream is down
}

export async function enter() {
  active = true;
  if (!unlisten) unlisten = listen({ event: onEvent, state: onState });
  loadModels();
  if (await refreshTasks().catch(() => false)) schedule();
}

export function leave() {
  active = false;
  clearTimeout(timer);
  if (unlisten) unlisten();
  unlisten = null;
}
