// Small DOM helpers shared by the views. User-provided text only ever goes in via textContent.

export const $ = (selector, root = document) => root.querySelector(selector);

function messageOf(target) {
  return target.classList.contains("message") ? target : target.querySelector(".message");
}

/** Shows `text` in the message line of a form (or of any box holding one). */
export function say(target, text, kind = "error") {
  const line = messageOf(target);
  line.textContent = text;
  line.dataset.kind = kind;
  line.hidden = !text;
}

/**
 * Runs `task` while the buttons of `box` wait, so nothing is sent twice; a failure is shown next
 * to the box that caused it (see showError). Resolves to the task's result, undefined if it failed.
 * The buttons get aria-disabled, not disabled: a disabled button drops the keyboard focus to
 * <body>, and the clicks they get meanwhile are dropped by the guard below.
 */
export async function busy(box, task, messageBox = box) {
  const buttons = [...box.querySelectorAll("button:not([aria-disabled])")];
  buttons.forEach((button) => button.setAttribute("aria-disabled", "true"));
  box.setAttribute("aria-busy", "true");
  say(messageBox, "");
  if (box.tagName === "FORM") clearFieldErrors(box);
  let result;
  let failure = null;
  try {
    result = await task();
  } catch (error) {
    failure = error;
  }
  // A button the task held back (holdBack) stays held.
  buttons.forEach((button) => button.dataset.wait || button.removeAttribute("aria-disabled"));
  box.removeAttribute("aria-busy");
  if (failure) showError(box, failure, messageBox);
  return result;
}

// A waiting button keeps its focus but does nothing (a canceled click submits no form, and
// Enter in a field submits through a click on the form's button).
document.addEventListener(
  "click",
  (event) => {
    if (!event.target.closest?.('[aria-disabled="true"]')) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  },
  true,
);

/** Handles a form's submit with `busy`, once the browser's own checks pass. The data holds the
 * pressed button's `name=value`, for forms with more than one. */
export function onSubmit(form, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, () => handler(new FormData(form, event.submitter)));
  });
}

// --- Errors that belong to a field -------------------------------------------------------------

export const EXPIRED_LINK = "This link has expired or was already used.";

/** "42 seconds", "15 minutes". */
function inTime(seconds) {
  return seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
}

/**
 * What an API error means to a person, and the names of the fields it can be about (the first
 * one a form has is marked): `{ fields, text }`.
 */
function explain(error) {
  const message = error.message ?? "";
  const passwords = ["new_password", "password"];
  switch (error.code) {
    case "weak_password": {
      if (/common/.test(message)) {
        return { fields: passwords, text: "This password is on the list of the most used passwords — pick another." };
      }
      if (/username or email/.test(message)) {
        return { fields: passwords, text: "A password must not be your username or email address — pick another." };
      }
      const rule = /at (least|most) \d+ \w+/.exec(message)?.[0];
      return { fields: passwords, text: rule ? `The password must be ${rule}.` : message };
    }
    case "invalid_username":
      return { fields: ["username"], text: "A username is 3–32 letters, digits, “_”, “.” or “-”." };
    case "invalid_email":
      return { fields: ["email", "new_email"], text: "That does not look like an email address (name@example.org)." };
    case "user_exists":
      return /email/i.test(message)
        ? { fields: ["email", "new_email"], text: "An account already uses this address. Log in, or reset its password." }
        : { fields: ["username"], text: "This username is taken — pick another." };
    case "wrong_password":
      return { fields: ["old_password", "password"], text: "That is not your current password." };
    case "invalid_credentials":
      return { fields: ["password"], text: "Invalid username or password. Check both and try again." };
    case "invalid_code":
      return { fields: ["code"], text: "That code is wrong or was already used. Type the app's current code, or a recovery code." };
    case "invalid_image":
    case "image_too_large":
      return { fields: ["image"], text: message };
    case "invalid_token":
      return { fields: ["token"], text: EXPIRED_LINK };
    case "rate_limited":
      return { fields: [], text: `Too many attempts. Try again in ${inTime(error.retryAfter ?? 60)}.` };
    case "missing_field":
    case "invalid_field": // "<field> must be …": the message starts with the field's name
      return { fields: [message.split(" ")[0]], text: `${message[0].toUpperCase()}${message.slice(1)}.` };
    default:
      return { fields: [], text: message };
  }
}

function describedBy(input, id, add) {
  const ids = (input.getAttribute("aria-describedby") ?? "").split(" ").filter((each) => each && each !== id);
  if (add) ids.unshift(id);
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Marks the field `name` of `form` as wrong: red border, `text` under it (read out with it).
 * Returns the input, or null when the form has no such field. */
function fieldError(form, name, text) {
  const input = form.elements.namedItem(name);
  if (!(input instanceof HTMLElement) || !input.id) return null;
  const id = `${input.id}-error`;
  let line = document.getElementById(id);
  if (!line) {
    line = document.createElement("p");
    line.className = "field-error";
    line.id = id;
    (input.closest(".reveal-box") ?? input).after(line);
  }
  line.textContent = text;
  describedBy(input, id, true);
  input.setAttribute("aria-invalid", "true");
  return input;
}

function clearFieldError(input) {
  input.removeAttribute("aria-invalid");
  document.getElementById(`${input.id}-error`)?.remove();
  describedBy(input, `${input.id}-error`, false);
  // A fixed field leaves the summary; the last one takes the summary away.
  const summary = input.form?.querySelector(".error-summary");
  summary?.querySelector(`button[value="${input.id}"]`)?.remove();
  if (summary && !summary.querySelector("button")) summary.hidden = true;
}

export function clearFieldErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) clearFieldError(input);
}

/** Shows a failure under the field of the form it is about, which gets the focus and is named in
 * the summary at the top of the form; a failure about no field shown goes to the message line of
 * `messageBox`. Both are announced (role=alert). A 429 also holds the form's button back until
 * it may be used again. */
export function showError(box, error, messageBox = box) {
  const { fields, text } = explain(error);
  const form = box.tagName === "FORM" ? box : null;
  const input = form && fields.reduce((found, name) => found ?? fieldError(form, name, text), null);
  if (input?.checkVisibility()) {
    summarize(form);
    input.focus();
    input.select?.();
  } else {
    say(messageBox, text);
  }
  if (!form) return;
  const button = box.querySelector('button[type="submit"]');
  if (error.retryAfter && button) holdBack(button, error.retryAfter, "You can try again");
}

/** One mail per address per minute (the server's limit): how long a resend button waits. */
export const MAIL_INTERVAL = 60;

// How to end a running hold early: a new hold of the same button replaces it, never counts twice.
const holds = new WeakMap();

/** Holds `button` back for `seconds` (a mail limit, a 429) with a countdown under it. It keeps
 * its focus; the countdown is not announced every second, the button's state is. */
export function holdBack(button, seconds, what = "You can send another") {
  holds.get(button)?.();
  const line = document.createElement("p");
  line.className = "hint countdown";
  button.after(line);
  button.setAttribute("aria-disabled", "true");
  button.dataset.wait = "true";
  let left = seconds;
  const release = () => {
    clearInterval(timer);
    line.remove();
    button.removeAttribute("aria-disabled");
    delete button.dataset.wait;
    holds.delete(button);
  };
  const tick = () => {
    if (left <= 0) return release();
    line.textContent = `${what} in ${inTime(left)}.`;
    left -= 1;
  };
  const timer = setInterval(tick, 1000);
  holds.set(button, release);
  tick();
}

// --- The summary at the top of a form ----------------------------------------------------------

const CONTROLS = "input, select, textarea";

/** An empty summary line above the first field of `form` (made once, by enhanceForms). */
function addSummary(form) {
  const line = document.createElement("p");
  line.className = "error-summary";
  line.setAttribute("role", "alert");
  line.hidden = true;
  const first = [...form.children].find((child) => child.matches(CONTROLS) || child.querySelector(CONTROLS));
  form.insertBefore(line, first ?? form.firstChild);
}

/** Names the marked fields shown in the summary at the top of `form` ("Please fix: Password"),
 * each a button that takes the focus to its field; the explanations stay under the fields. */
function summarize(form) {
  const line = form.querySelector(".error-summary");
  const wrong = [...form.querySelectorAll("[aria-invalid]")].filter((input) => input.checkVisibility());
  const buttons = wrong.map((input) => {
    const button = document.createElement("button");
    button.type = "button";
    button.value = input.id; // found by it when the field is fixed (clearFieldError)
    // The label's own words, without its "optional" tag.
    button.textContent = input.labels[0]?.firstChild.textContent.trim() || input.name;
    button.addEventListener("click", () => input.focus());
    return button;
  });
  line.replaceChildren("Please fix: ", ...buttons);
  line.hidden = buttons.length === 0;
}

// --- Checks as people type, password fields ------------------------------------------------------

/** What is wrong with a field by the rules the page knows (the markup's), or "". */
function problemOf(input) {
  const state = input.validity;
  if (state.valid) return "";
  if (state.customError) return input.validationMessage;
  if (state.valueMissing) return "Please fill this in.";
  if (state.typeMismatch) return explain({ code: "invalid_email" }).text;
  if (state.tooShort) return `Use at least ${input.minLength} characters (now ${input.value.length}).`;
  if (state.patternMismatch && input.name === "username") return explain({ code: "invalid_username" }).text;
  return input.validationMessage;
}

function recheck(form, input) {
  const problem = problemOf(input);
  if (problem) fieldError(form, input.name, problem);
  else clearFieldError(input);
}

/** Checks as people type: a field is checked when left, and once marked, at every key (so the
 * mark goes as soon as it is fixed). A failed submit marks every wrong field, names them in the
 * summary and focuses the first, instead of the browser's bubble. `data-match` names the field a repetition repeats. */
function checkAsTyped(form) {
  const repeats = [...form.querySelectorAll("[data-match]")];
  const sameCheck = () => {
    for (const repeat of repeats) {
      const original = form.elements.namedItem(repeat.dataset.match);
      const differs = repeat.value && repeat.value !== original.value;
      repeat.setCustomValidity(differs ? "The two passwords are not the same." : "");
      if (repeat.hasAttribute("aria-invalid")) recheck(form, repeat);
    }
  };
  form.addEventListener("input", (event) => {
    sameCheck();
    if (event.target.hasAttribute("aria-invalid")) recheck(form, event.target);
  });
  form.addEventListener("change", (event) => {
    if (event.target.validity && event.target.type !== "file") recheck(form, event.target);
  });
  let first = null; // the first wrong field of one submit
  form.addEventListener(
    "invalid",
    (event) => {
      event.preventDefault();
      recheck(form, event.target);
      if (first) return;
      first = event.target;
      first.focus();
      // Once every wrong field has had its event: the summary names them all, and the message
      // line keeps no word of an earlier submit.
      setTimeout(() => {
        first = null;
        say(form, "");
        summarize(form);
      });
    },
    true,
  );
  form.addEventListener("reset", () => {
    clearFieldErrors(form);
    for (const repeat of repeats) repeat.setCustomValidity("");
  });
}

/** A "Show" button in a password field: a real toggle (aria-pressed), never submitting. */
function revealToggle(input) {
  const box = document.createElement("div");
  box.className = "reveal-box";
  input.replaceWith(box);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "reveal";
  button.textContent = "Show";
  button.setAttribute("aria-label", "Show password");
  button.setAttribute("aria-controls", input.id);
  const set = (shown) => {
    input.type = shown ? "text" : "password";
    button.setAttribute("aria-pressed", String(shown));
  };
  button.addEventListener("click", () => set(input.type === "password"));
  input.form?.addEventListener("reset", () => set(false));
  set(false);
  box.append(input, button);
}

// Honest and length-only (no composition rules): length is what makes a password hard to guess.
const STRENGTH = [
  [16, "strong", "Strong."],
  [12, "good", "Good. 16+ characters, or a few words, make it strong."],
  [8, "ok", "OK. 12+ characters is good, 16+ or a passphrase strong."],
  [1, "short", "Too short: at least 8 characters."],
];

/** A strength line under a new-password field, announced politely when its level changes. */
function strengthHint(input) {
  const line = document.createElement("p");
  line.className = "hint strength";
  line.id = `${input.id}-strength`;
  line.setAttribute("aria-live", "polite");
  input.closest(".field").append(line);
  describedBy(input, line.id, true);
  const update = () => {
    const length = [...input.value].length;
    const [, level = "", words = ""] = STRENGTH.find(([least]) => length >= least) ?? [];
    if (line.dataset.level === level) return; // a change of level is news, a key press is not
    line.dataset.level = level;
    line.textContent = words;
  };
  input.addEventListener("input", update);
  input.form?.addEventListener("reset", () => setTimeout(update)); // after the values are reset
}

/** Once, at start: an error summary and checks as typed on every form, a show toggle in every password field, and a
 * strength line under every new password (not under its repetition). */
export function enhanceForms() {
  for (const form of document.forms) {
    addSummary(form);
    checkAsTyped(form);
  }
  for (const input of document.querySelectorAll('input[type="password"]')) revealToggle(input);
  for (const input of document.querySelectorAll('input[autocomplete="new-password"]:not([data-match])')) {
    strengthHint(input);
  }
}

/** The trimmed text of a form field, or null when empty (the API reads "" as null anyway). */
export function text(data, name) {
  const value = (data.get(name) ?? "").trim();
  return value === "" ? null : value;
}

// The page may only load images from itself (CSP `img-src 'self' data:`). Our own pictures are
// addressed by `public_url`, which can name another host than the one in the address bar
// (localhost vs 127.0.0.1, a proxy), so they are loaded by path; external URLs are not shown.
const OWN_IMAGE = /^\/profile_images\/[\w.-]+$/;

function imageSource(user) {
  const address = user?.image_url || user?.profile_image;
  if (!address) return null;
  try {
    const url = new URL(address, location.href);
    if (url.origin === location.origin || OWN_IMAGE.test(url.pathname)) return url.pathname;
  } catch {
    // Not a URL at all: nothing to show.
  }
  return null;
}

function initialsOf(user) {
  const source = user?.name || user?.username || user?.email || "";
  const words = source.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length === 0) return "?";
  return words
    .slice(0, 2)
    .map((word) => [...word][0])
    .join("")
    .toUpperCase();
}

function hueOf(user) {
  const key = user?.username || user?.email || "";
  let hash = 0;
  for (const char of key) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return String(hash % 6);
}

/** Fills an avatar box with the picture, or the initials when there is none or it fails. */
export function renderAvatar(box, user, { src = imageSource(user), alt = "" } = {}) {
  const initials = () => {
    box.replaceChildren(document.createTextNode(initialsOf(user)));
    box.classList.remove("has-image");
  };
  box.dataset.hue = hueOf(user);
  if (!src) return initials();
  const img = document.createElement("img");
  img.alt = alt;
  img.addEventListener("error", initials, { once: true });
  img.src = src;
  box.replaceChildren(img);
  box.classList.add("has-image");
}

const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

/** A picked file as a `data:` URL: the CSP allows those for previews, not `blob:`. */
function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("That file could not be read."));
    reader.readAsDataURL(file);
  });
}

/** Refuses what the server would refuse anyway, before sending megabytes. */
function checkImage(file) {
  if (!/^image\/(jpeg|png|webp|gif)$/.test(file.type)) {
    throw pictureError("Choose a JPEG, PNG, WebP or GIF image.");
  }
  if (file.size > MAX_IMAGE_BYTES) throw pictureError("That image is larger than 10 MB.");
}

const UNREADABLE = "This file is not a picture we can read.";

/** A picture the page refuses, told as the server's refusal is, so it lands at the field. */
function pictureError(text) {
  return Object.assign(new Error(text), { code: "invalid_image" });
}
const LARGEST_SIDE = 1024; // px; the server makes 512-px squares, this leaves it room

/** The centre square of an image file, decoded by the browser (so a file that only claims to be
 * a picture is refused here, before anything is sent), at most LARGEST_SIDE a side. A JPEG stays
 * a JPEG; the other kinds become PNG, which keeps transparency. */
async function squarePicture(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw pictureError(UNREADABLE);
  }
  const side = Math.min(bitmap.width, bitmap.height);
  const size = Math.min(side, LARGEST_SIDE);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const [left, top] = [(bitmap.width - side) / 2, (bitmap.height - side) / 2];
  canvas.getContext("2d").drawImage(bitmap, left, top, side, side, 0, 0, size, size);
  bitmap.close();
  const type = file.type === "image/jpeg" ? "image/jpeg" : "image/png";
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.9));
  if (!blob) throw pictureError(UNREADABLE); // e.g. an image of zero pixels
  const name = `${file.name.replace(/\.[^.]*$/, "")}.${type === "image/jpeg" ? "jpg" : "png"}`;
  return new File([blob], name, { type });
}

/** A chosen picture made ready to send: checked, cropped to its centre square, with the data:
 * URL of that square for its preview. Throws a sentence for a file that is no picture. */
export async function pickedPicture(file) {
  checkImage(file);
  const square = await squarePicture(file);
  return { square, src: await readDataUrl(square) };
}

/** Lets a file dropped on `zone` be chosen as if with `input`, which stays the keyboard's way. */
export function acceptDrops(zone, input) {
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dropping");
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change"));
  });
}

export function formatDate(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [
  ["year", 31536000],
  ["month", 2592000],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function timeAgo(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/** "Chrome on Linux" from a user agent string; good enough to tell devices apart. */
export function describeAgent(agent) {
  if (!agent) return "Unknown device";
  const browser =
    [
      ["Edge", /Edg\//],
      ["Opera", /OPR\//],
      ["Firefox", /Firefox\//],
      ["Chrome", /Chrom(e|ium)\//],
      ["Safari", /Safari\//],
      ["curl", /^curl\//],
    ].find(([, pattern]) => pattern.test(agent))?.[0] ?? "Browser";
  const system =
    [
      ["Android", /Android/],
      ["iOS", /iPhone|iPad/],
      ["Windows", /Windows/],
      ["macOS", /Mac OS X/],
      ["Linux", /Linux/],
    ].find(([, pattern]) => pattern.test(agent))?.[0];
  return system ? `${browser} on ${system}` : browser;
}

/** The kind of device a user agent names, for its icon. */
export function deviceKind(agent) {
  const ua = agent ?? "";
  if (/iPad|Tablet|Android(?!.*Mobile)/.test(ua)) return "tablet";
  if (/Mobi|iPhone|Android/.test(ua)) return "phone";
  if (/Windows|Macintosh|X11|Linux|CrOS/.test(ua)) return "desktop";
  return "unknown";
}
