// The page's entry point: hash routing between the views, and logging out.

import { request, tokens, whenSessionEnds } from "./api.js";
import { authViews } from "./auth.js";
import { profileView } from "./profile.js";
import { $, say } from "./ui.js";

const views = { ...authViews(go), profile: profileView(go) };
const loading = $("#loading");
const topbarUser = $("#topbar-user");

let notice = null; // shown by the next screen, e.g. "Your account is ready"
let shown = 0; // counts navigations, so a slow screen does not appear over a newer one
let wasSignedIn = false;

const signedIn = () => Boolean(tokens.access || tokens.refresh);

/** Navigates to `#/<route>`; `replace` keeps a redirect out of the history. */
function go(route, next = null, { replace = false } = {}) {
  notice = next;
  const hash = `#/${route}`;
  if (location.hash === hash) render();
  else if (replace) location.replace(hash);
  else location.hash = hash;
}

function parseHash() {
  const route = location.hash.replace(/^#\/?/, "");
  const split = route.indexOf("?");
  return split < 0
    ? { name: route, params: new URLSearchParams() }
    : { name: route.slice(0, split), params: new URLSearchParams(route.slice(split + 1)) };
}

async function render() {
  const { name, params } = parseHash();
  const view = views[name];
  const home = signedIn() ? "profile" : "login";
  if (!view || (view.guestOnly && signedIn()) || (view.needsLogin && !signedIn())) {
    return go(home, notice, { replace: true });
  }

  const ticket = ++shown;
  wasSignedIn = signedIn();
  const message = notice;
  notice = null;
  document.title = `${view.title} · profilebox`;
  for (const section of document.querySelectorAll("[data-view]")) section.hidden = true;
  topbarUser.hidden = !view.needsLogin;
  say(loading, "");
  // Only a slow screen says it is loading; a quick one would just flicker.
  const slow = setTimeout(() => say(loading, "Loading…", "info"), 200);
  try {
    await view.enter?.(params, message);
  } catch (error) {
    if (ticket === shown) say(loading, error.message);
    return;
  } finally {
    clearTimeout(slow);
  }
  if (ticket !== shown) return;
  say(loading, "");
  const section = $(`[data-view="${name}"]`);
  section.hidden = false;
  // Forms focus their first field; other screens their heading, where a screen reader starts.
  (view.focus?.() ?? $("h1", section)).focus();
}

whenSessionEnds((text) => go("login", { text, kind: "info" }));

const logoutButton = $("#logout-button");
logoutButton.addEventListener("click", async () => {
  logoutButton.disabled = true;
  try {
    await request("POST", "/api/logout");
  } catch {
    // Logging out of this browser must work even when the server cannot be told.
  } finally {
    tokens.clear();
    logoutButton.disabled = false;
    go("login", { text: "You are logged out.", kind: "success" });
  }
});

// Another tab logged in or out: follow it (its token refreshes change nothing here).
window.addEventListener("storage", () => {
  if (signedIn() !== wasSignedIn) render();
});
window.addEventListener("hashchange", render);
render();
