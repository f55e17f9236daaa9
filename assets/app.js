// The page's entry point: hash routing between the views, and logging out.

import { request, tokens, whenSessionEnds } from "./api.js";
import { authViews } from "./auth.js";
import { profileView } from "./profile.js";
import { $, clearFieldErrors, enhanceForms, say } from "./ui.js";

enhanceForms();

const views = { ...authViews(go), profile: profileView(go) };
const loading = $("#loading");
const failed = $("#load-failed");
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
  for (const section of document.querySelectorAll("[data-view], .skeleton")) section.hidden = true;
  topbarUser.hidden = !view.needsLogin;
  say(loading, "");
  failed.hidden = true;
  const section = $(`[data-view="${name}"]`);
  // A new visit starts without the marks of the last one.
  for (const form of section.querySelectorAll("form")) clearFieldErrors(form);
  // Only a slow screen says it is loading (or shows its skeleton); a quick one would just flicker.
  const placeholder = view.skeleton;
  const slow = setTimeout(() => (placeholder ? (placeholder.hidden = false) : say(loading, "Loading…", "info")), 200);
  try {
    await view.enter?.(params, message);
  } catch (error) {
    if (ticket !== shown) return;
    say(failed, error.message);
    failed.hidden = false;
    $("button", failed).focus();
    return;
  } finally {
    clearTimeout(slow);
    if (placeholder && ticket === shown) placeholder.hidden = true;
  }
  // A newer screen, or this one sent elsewhere (an expired link), is shown instead.
  if (ticket !== shown || parseHash().name !== name) return;
  say(loading, "");
  section.hidden = false;
  // Screens that do not show a notice themselves have a line for it (the profile's welcome).
  const line = $("[data-notice]", section);
  if (line && message?.text) say(line, message.text, message.kind);
  // Forms focus their first field; other screens their heading, where a screen reader starts.
  (view.focus?.() ?? $("h1", section)).focus();
}

// The skip link moves the focus without touching the address: "#main" would be read as a route
// (a history entry and a redirect).
$(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  $("#main").focus();
});

$("#load-retry").addEventListener("click", render);

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
