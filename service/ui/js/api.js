// The HTTP API as the page uses it: the API key from session storage on every call,
// server errors as readable messages, XHR for uploads so each file reports progress.
const KEY = "depot.apiKey";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function authHeaders(extra = {}) {
  const key = apiKey.get();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function withQuery(path, query) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

export function messageFrom(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof (body.error || body.detail) === "string") return body.error || body.detail;
  } catch (_) { /* not JSON */ }
  if (status === 401 || status === 403) return "not allowed: check the API key";
  return text && text.length < 200 ? text : `request failed (${status})`;
}

export async function request(path, { method = "GET", query, json, body } = {}) {
  const headers = authHeaders(json !== undefined ? { "Content-Type": "application/json" } : {});
  let response;
  try {
    response = await fetch(withQuery(path, query), {
      method, headers, body: json !== undefined ? JSON.stringify(json) : body,
    });
  } catch (_) {
    throw new ApiError(0, "cannot reach the server");
  }
  if (!response.ok) throw new ApiError(response.status, messageFrom(response.status, await response.text()));
  return response;
}

export const getJSON = async (path, query) => (await request(path, { query })).json();

export const filePath = (path) => `/api/v1/data/files/${path.split("/").map(encodeURIComponent).join("/")}`;

// POST a FormData with upload progress; resolves { status, body, location } or rejects with ApiError.
export function send(path, form, { onProgress, query } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", withQuery(path, query));
    const key = apiKey.get();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress && onProgress(event.loaded, event.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        let body = null;
        try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (_) { body = null; }
        resolve({ status: xhr.status, body, location: xhr.getResponseHeader("Location") });
      } else {
        reject(new ApiError(xhr.status, messageFrom(xhr.status, xhr.responseText)));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "connection failed"));
    xhr.onabort = () => reject(new ApiError(0, "cancelled"));
    xhr.send(form);
  });
}

// Download a stored file. Without a key a plain link streams it to disk; with a key the bytes
// must come through fetch (a link cannot carry the Authorization header).
export async function download(path, filename) {
  const link = document.createElement("a");
  link.download = filename;
  let objectUrl = null;
  if (apiKey.get()) {
    const blob = await (await request(filePath(path))).blob();
    objectUrl = URL.createObjectURL(blob);
    link.href = objectUrl;
  } else {
    link.href = filePath(path);
  }
  document.body.append(link);
  link.click();
  link.remove();
  if (objectUrl) setTimeout(() => URL.revokeObjectURL(objectUrl), 30000);
}
