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
 * Runs `task` while the buttons of `box` are disabled, so nothing is sent twice; a failure is
 * shown next to the box that caused it. Resolves to the task's result, undefined if it failed.
 */
export async function busy(box, task, messageBox = box) {
  const buttons = [...box.querySelectorAll("button")];
  const before = buttons.map((button) => button.disabled);
  buttons.forEach((button) => (button.disabled = true));
  box.setAttribute("aria-busy", "true");
  say(messageBox, "");
  try {
    return await task();
  } catch (error) {
    say(messageBox, error.message);
  } finally {
    buttons.forEach((button, i) => (button.disabled = before[i]));
    box.removeAttribute("aria-busy");
  }
}

/** Handles a form's submit with `busy`, once the browser's own checks pass. The data holds the
 * pressed button's `name=value`, for forms with more than one. */
export function onSubmit(form, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // Read before `busy` disables the buttons: a disabled submitter is left out of the data.
    const data = new FormData(form, event.submitter);
    busy(form, () => handler(data));
  });
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

export function imageSource(user) {
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

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

/** A picked file as a `data:` URL: the CSP allows those for previews, not `blob:`. */
export function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("That file could not be read."));
    reader.readAsDataURL(file);
  });
}

/** Refuses what the server would refuse anyway, before sending megabytes. */
export function checkImage(file) {
  if (!/^image\/(jpeg|png|webp|gif)$/.test(file.type)) {
    throw new Error("Choose a JPEG, PNG, WebP or GIF image.");
  }
  if (file.size > MAX_IMAGE_BYTES) throw new Error("That image is larger than 10 MB.");
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
