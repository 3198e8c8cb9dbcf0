// Every call the console makes goes through here, to the same API curl uses: the admin token, when
// one was given, as "Authorization: Bearer"; never in a URL, and kept only for this browser session.

const tokenKey = "certwright.admin-token";

export const adminToken = {
  get: () => sessionStorage.getItem(tokenKey),
  set: (token) => sessionStorage.setItem(tokenKey, token),
  clear: () => sessionStorage.removeItem(tokenKey),
};

/** A refusal in cfssl's envelope: the HTTP status, the error code and its message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /**
   * No token was sent where one is needed (401), or the one sent was refused (403): asking for it
   * again, with the service's message, can help. A 403 without a token (auth_keys but no admin
   * token configured) cannot be helped here and is shown as it is.
   */
  get needsToken() {
    return this.status === 401 || (this.status === 403 && adminToken.get() !== null);
  }
}

function headers(extra = {}) {
  const token = adminToken.get();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** Calls a JSON endpoint; resolves to the envelope, rejects with ApiError. */
export async function call(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    cache: "no-store",
    headers: headers(body === undefined ? {} : { "content-type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const envelope = await response.json().catch(() => null);
  if (!response.ok || !envelope?.success) {
    const error = envelope?.errors?.[0];
    throw new ApiError(response.status, error?.code, error?.message ?? `${response.status} ${response.statusText}`);
  }
  return envelope;
}

/** Fetches a binary answer (a CRL, an OCSP response). */
export async function bytes(path, init = {}) {
  const response = await fetch(path, { cache: "no-store", ...init });
  if (!response.ok) throw new ApiError(response.status, undefined, `${path}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export function query(params) {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  return search.size > 0 ? `?${search}` : "";
}
