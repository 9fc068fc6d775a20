// Requests to ledgerd with the bearer credential from sessionStorage. JSON errors
// `{"error":{"code","message"}}` become ApiError with a readable message; a 401 on any
// request but the sign-in itself drops the credential and returns to the sign-in view.

import { token } from "./store.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What a 404 means to a reader: the server hides other sites' data behind it. */
export const NOT_FOUND_TEXT = "not found or not in your sites";

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  if (res.status === 404) message = `${NOT_FOUND_TEXT} (${message})`;
  return new ApiError(res.status, code, message);
}

/**
 * Fetches `path` from the same origin. `as` is "json", "text" or "bytes"; `auth: false`
 * sends no credential; `signInOn401: false` leaves a 401 to the caller.
 */
export async function request(path, { as = "json", auth = true, signInOn401 = true, tokenOverride } = {}) {
  const headers = {};
  const t = tokenOverride ?? token.get();
  if (auth && t) headers.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, "network", `cannot reach the server: ${e.message}`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && signInOn401) {
      token.clear();
      window.dispatchEvent(new Event("ledger:signed-out"));
      location.hash = "#/sign-in";
    }
    throw err;
  }
  if (as === "text") return res.text();
  if (as === "bytes") return new Uint8Array(await res.arrayBuffer());
  return res.json();
}

export const getJson = (path, opts) => request(path, { ...opts, as: "json" });
export const getText = (path, opts) => request(path, { ...opts, as: "text" });
export const getBytes = (path, opts) => request(path, { ...opts, as: "bytes" });

/** `path?k=v…` from an object, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** One path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);
