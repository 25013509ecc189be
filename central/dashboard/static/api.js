// The published Exteros API, called exactly as any client calls it: the key in the
// Authorization header, errors answered as {"error": {"status", "message"}}.

const KEY_STORE = "exteros.dashboard.key";

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** One plain sentence for a person: what happened and what to do. */
  explain() {
    const msg = this.message.replace(/\.$/, "");
    switch (this.status) {
      case 0:
        return `Cannot reach the API server: ${msg}. Check the connection and try again.`;
      case 400:
        return `The API refused the request (HTTP 400): ${msg}.`;
      case 401:
        return `The API did not accept the key (HTTP 401): ${msg}. Sign in with a valid key.`;
      case 404:
        return `Not found (HTTP 404): ${msg}.`;
      case 429: {
        const wait = this.retryAfter ? ` Wait ${this.retryAfter} s and try again.` : "";
        return `Too many requests (HTTP 429): ${msg}.${wait}`;
      }
      case 503:
        return `The store is unavailable (HTTP 503): ${msg}.`;
      default:
        return `The API answered HTTP ${this.status}: ${msg}.`;
    }
  }
}

export function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORE);
  } catch {
    return null;
  }
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

/** GET /v1/{segments...}?{query} with ``key``; the parsed JSON, or throws ApiError. */
export async function apiGet(key, segments, query = {}) {
  const path = segments.map((s) => encodeURIComponent(String(s))).join("/");
  // Relative to the page, so the dashboard also works behind a proxy's path prefix.
  const url = new URL(`v1/${path}`, document.baseURI);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
  }
  let resp;
  try {
    resp = await fetch(url, {
      headers: { Authorization: key, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, err && err.message ? err.message : "network error");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const message =
      body && body.error && body.error.message
        ? String(body.error.message)
        : resp.statusText || "no message";
    throw new ApiError(resp.status, message, resp.headers.get("Retry-After"));
  }
  return body;
}
