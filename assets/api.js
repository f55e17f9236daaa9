// Talking to the profilebox API: tokens, JSON requests, the upload with progress, and the
// transparent token refresh every authenticated call shares.

const ACCESS_KEY = "jwtToken"; // the key the original frontend used
const REFRESH_KEY = "refreshToken";

export const tokens = {
  get access() {
    return localStorage.getItem(ACCESS_KEY);
  },
  get refresh() {
    return localStorage.getItem(REFRESH_KEY);
  },
  save(body) {
    localStorage.setItem(ACCESS_KEY, body.access_token);
    localStorage.setItem(REFRESH_KEY, body.refresh_token);
  },
  clear() {
    localStorage.removeItem(ACCESS_KEY);
    localStorage.removeItem(REFRESH_KEY);
  },
};

const OFFLINE = "Cannot reach the server. Check your connection and try again.";
const SESSION_ENDED = "Your session has ended. Please log in again.";
// The server's word for a token whose session was ended on purpose (logged out elsewhere).
const SIGNED_OUT = "You were signed out on this device.";

let onSessionEnd = () => {};

/** `handler(message)` runs when the tokens stop working (logged out elsewhere, expired, revoked). */
export function whenSessionEnds(handler) {
  onSessionEnd = handler;
}

/** Forgets the tokens, sends the page to the login screen with `message`, and throws it. */
function endSession(message) {
  // Concurrent requests may all fail; the first one to get here tells the page.
  const signedIn = tokens.access || tokens.refresh;
  tokens.clear();
  if (signedIn) onSessionEnd(message);
  throw new Error(message);
}

function reply(status, text, retryAfter = null) {
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, for instance: fall through to the generic message.
  }
  return { status, data, retryAfter: Number(retryAfter) || undefined };
}

function unwrap({ status, data, retryAfter }) {
  if (status >= 200 && status < 300) return data ?? {};
  const error = new Error(data?.error || `The server answered ${status}.`);
  error.code = data?.code; // the API's error code, for the screens that answer one in particular
  error.retryAfter = retryAfter; // seconds, from Retry-After (429, 503)
  throw error;
}

async function sendJson(method, path, body, accessToken) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new Error(OFFLINE);
  }
  return reply(response.status, await response.text(), response.headers.get("Retry-After"));
}

// Refresh tokens rotate and a reused one ends the session, so every caller that meets a 401 at
// the same time must wait for the same refresh instead of starting its own.
let refreshing = null;

function refreshTokens() {
  refreshing ??= acrossTabs(async (seen) => {
    // Another tab holding the lock first has already rotated the token we saw.
    if (tokens.refresh !== seen) return Boolean(tokens.refresh);
    if (!seen) return false;
    const answer = await sendJson("POST", "/api/token/refresh", { refresh_token: seen });
    if (answer.status === 401) return false;
    tokens.save(unwrap(answer)); // any other failure is passed on, the session may still be fine
    return true;
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// Tabs share localStorage, hence the refresh token: one refresh at a time across all of them.
// (Web Locks exist only in secure contexts; plain http on a LAN address goes without.)
function acrossTabs(task) {
  const seen = tokens.refresh;
  return navigator.locks
    ? navigator.locks.request("profilebox-token-refresh", () => task(seen))
    : task(seen);
}

/** Sends with the access token; on a 401, refreshes once (shared) and retries. */
async function authorized(send) {
  const used = tokens.access;
  let answer = await send(used);
  if (answer.status === 401) {
    // A session ended on purpose cannot be refreshed back to life: no refresh is tried.
    if (answer.data?.code === "session_ended") endSession(SIGNED_OUT);
    // Someone else may have refreshed while this request was under way.
    const renewed = tokens.access !== used || (await refreshTokens());
    if (renewed) answer = await send(tokens.access);
    if (answer.status === 401) endSession(SESSION_ENDED);
  }
  return unwrap(answer);
}

/** A JSON request without credentials (login, register, mail links). */
export async function publicRequest(method, path, body) {
  return unwrap(await sendJson(method, path, body));
}

/** A JSON request as the logged-in user. */
export function request(method, path, body) {
  return authorized((token) => sendJson(method, path, body, token));
}

/** Uploads a profile image; `onProgress` gets the fraction sent (0…1). XMLHttpRequest, because
 * fetch cannot report upload progress. */
export function uploadImage(file, onProgress) {
  const send = (token) =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/upload_profile_image");
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => resolve(reply(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
      xhr.onerror = () => reject(new Error(OFFLINE));
      const body = new FormData();
      body.append("file", file, file.name);
      xhr.send(body);
    });
  return authorized(send);
}
