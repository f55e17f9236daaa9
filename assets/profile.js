// The signed-in screen: profile summary, edit form, picture, password, devices, deletion.

import { request, tokens, uploadImage } from "./api.js";
import {
  $,
  acceptDrops,
  busy,
  clearFieldErrors,
  describeAgent,
  deviceKind,
  formatDate,
  holdBack,
  MAIL_INTERVAL,
  onSubmit,
  pickedPicture,
  renderAvatar,
  say,
  showError,
  text,
  timeAgo,
} from "./ui.js";

const EDITABLE = ["name", "username", "description"];

export function profileView(go) {
  let user = null;

  function show(next) {
    user = next;
    renderAvatar($("#profile-avatar"), user, { alt: "Your profile picture" });
    renderAvatar($("#topbar-avatar"), user);
    if (!picture.picked) renderAvatar($("#picture-preview"), user);
    const displayName = user.name || user.username || user.email;
    $("#topbar-name").textContent = displayName;
    $("#profile-name").textContent = displayName;
    $("#profile-username").textContent = user.username ? `@${user.username}` : "";
    $("#profile-email").textContent = user.email ?? "No email address";
    const badge = $("#profile-email-badge");
    badge.hidden = !user.email;
    badge.textContent = user.email_verified ? "Verified" : "Not verified";
    badge.dataset.kind = user.email_verified ? "success" : "warning";
    const description = $("#profile-description");
    description.textContent = user.description ?? "No description yet.";
    description.classList.toggle("empty", !user.description);
    $("#profile-since").textContent = `Member since ${formatDate(user.created_at)}`;
    $("#verify-request").hidden = !user.email || user.email_verified;
    $("#picture-remove").hidden = !user.profile_image;
  }

  const edit = editForm(() => user, show);
  const picture = pictureForm(() => user, show);
  const sessions = sessionsCard();
  passwordForm(sessions.load);
  const twoFactor = twoFactorCard();
  const email = emailCard(() => user);
  deleteDialog(go);
  const showGroup = sectionNav();

  const verifyBox = $("#verify-request");
  $("#verify-request-button").addEventListener("click", () =>
    busy(verifyBox, async () => {
      // Through `request`, so an expired access token is refreshed (the server answers it 401);
      // the address goes along too, as the API's body names it.
      await request("POST", "/api/verify-email/request", { email: user.email });
      say(verifyBox, `We sent a link to ${user.email}. The mail says how long it works.`, "success");
      holdBack($("#verify-request-button"), MAIL_INTERVAL);
    }),
  );

  let asked = null; // the field a notice asked to focus, else the heading has it
  return {
    title: "Your profile",
    needsLogin: true,
    focus: () => asked,
    skeleton: $("#profile-skeleton"),
    async enter(_params, notice) {
      // `{ focus: "email" }`: sent here to change the address (an expired email-change link).
      asked = notice?.focus === "email" ? $("#email-new") : null;
      show(await request("GET", "/api/user/profile"));
      // A fresh visit starts clean: no word left from the previous one.
      for (const line of document.querySelectorAll('[data-view="profile"] .message')) say(line, "");
      $("#password-form").reset();
      showGroup("profile");
      edit.fill(user);
      picture.reset();
      sessions.load();
      twoFactor.load();
      email.load();
    },
  };
}

function editForm(current, show) {
  const form = $("#edit-form");
  const fill = (user) => {
    for (const field of EDITABLE) form.elements[field].value = user[field] ?? "";
  };
  onSubmit(form, async (data) => {
    // Only what changed, so untouched fields never overwrite an edit made on another device.
    const changes = {};
    for (const field of EDITABLE) {
      const value = text(data, field);
      if (value !== (current()[field] ?? null)) changes[field] = value;
    }
    if (Object.keys(changes).length === 0) return say(form, "Nothing to save.", "info");
    const { user } = await request("PUT", "/api/user/profile", changes);
    show(user);
    fill(user);
    say(form, "Profile saved.", "success");
  });
  return { fill };
}

function pictureForm(current, show) {
  const form = $("#picture-form");
  const preview = $("#picture-preview");
  const progress = $("#picture-progress");
  const bar = $("progress", progress);
  const label = $("#picture-progress-label");
  const state = {
    picked: null,
    reset() {
      state.picked = null;
      form.reset();
      progress.hidden = true;
      renderAvatar(preview, current());
      say(form, "");
    },
  };

  form.image.addEventListener("change", async () => {
    const file = form.image.files[0];
    state.picked = null;
    renderAvatar(preview, current());
    say(form, "");
    clearFieldErrors(form);
    if (!file) return;
    try {
      // The preview shows exactly what is uploaded: the centre square.
      const { square, src } = await pickedPicture(file);
      if (form.image.files[0] !== file) return; // another file was chosen meanwhile
      renderAvatar(preview, current(), { src });
      state.picked = square;
      say(form, "Looks good? Upload it to replace your picture.", "info");
    } catch (error) {
      form.image.value = "";
      showError(form, error);
    }
  });

  acceptDrops($(".picker", form), form.image);

  onSubmit(form, async () => {
    if (!state.picked) throw new Error("Choose an image first.");
    bar.value = 0;
    label.textContent = "Uploading… 0%";
    progress.hidden = false;
    try {
      const answer = await uploadImage(state.picked, (fraction) => {
        bar.value = Math.round(fraction * 100);
        label.textContent = fraction < 1 ? `Uploading… ${bar.value}%` : "Processing…";
      });
      state.reset();
      show({ ...current(), profile_image: answer.profile_image, image_url: answer.image_url });
      say(form, "Picture updated.", "success");
    } finally {
      progress.hidden = true;
    }
  });

  $("#picture-remove").addEventListener("click", () =>
    busy(form, async () => {
      const { user } = await request("PUT", "/api/user/profile", { profile_image: null });
      state.reset();
      show(user);
      say(form, "Picture removed.", "success");
    }),
  );
  return state;
}

function passwordForm(afterChange) {
  const form = $("#password-form");
  onSubmit(form, async (data) => {
    // The repetition is checked as typed (data-match, ui.js): a different one is not sent.
    await request("PUT", "/api/user/password", {
      old_password: data.get("old_password"),
      new_password: data.get("new_password"),
    });
    form.reset();
    say(form, "Password changed. Your other devices are logged out.", "success");
    afterChange();
  });
}

/** The address, a change waiting for its link, and the form that asks for one (the change is
 * made only when the link mailed to the new address is used). */
function emailCard(current) {
  const form = $("#email-form");
  const status = $("#email-status");
  const pending = $("#email-pending");

  function show({ email, email_verified: verified, pending: change }) {
    status.textContent = email
      ? `${email} · ${verified ? "verified" : "not verified yet"}`
      : "Your account has no email address.";
    const until = change ? new Date(change.expires_at).toLocaleTimeString([], { timeStyle: "short" }) : "";
    say(pending, change ? `Waiting for you to confirm ${change.email}: open the link we sent there (it works until ${until}).` : "", "info");
  }

  async function load() {
    show(await request("GET", "/api/user/email"));
  }

  onSubmit(form, async (data) => {
    const answer = await request("POST", "/api/user/email", {
      new_email: text(data, "new_email"),
      password: data.get("password"),
    });
    form.reset();
    await load();
    say(form, `We sent a link to ${answer.email_change_pending}. Your address changes when you open it.`, "success");
  });

  return {
    load: () =>
      load().catch((error) => {
        status.textContent = current()?.email ?? "";
        say(pending, `The pending change could not be loaded: ${error.message}`);
      }),
  };
}

/** Two-factor login: off (set up), enrolling (QR code and first code), the recovery codes shown
 * once, on (turn off, new recovery codes). One of the four is shown at a time. */
function twoFactorCard() {
  const card = $("#twofa-card");
  const status = $("#twofa-status");
  const setup = $("#twofa-setup-form");
  const enable = $("#twofa-enable-form");
  const codes = $("#twofa-codes");
  const manage = $("#twofa-manage-form");
  let download = null; // the object URL of the codes' text file, revoked when they go

  function showing(part) {
    for (const each of [setup, enable, codes, manage]) {
      each.hidden = each !== part;
      if (each.tagName === "FORM") each.reset();
      say(each, "");
    }
  }

  async function load() {
    const { totp_enabled: on, recovery_codes_left: left } = await request("GET", "/api/user/2fa");
    status.textContent = on
      ? `On: every login asks for a code from your app. ${left} of 10 recovery codes left.`
      : "Off: your password alone logs you in.";
    showing(on ? manage : setup);
  }

  function showCodes(list, message) {
    const items = list.map((code) => {
      const li = document.createElement("li");
      li.textContent = code;
      return li;
    });
    $("#twofa-code-list").replaceChildren(...items);
    if (download) URL.revokeObjectURL(download);
    const file = `profilebox recovery codes (each works once)\n\n${list.join("\n")}\n`;
    download = URL.createObjectURL(new Blob([file], { type: "text/plain" }));
    $("#twofa-download").href = download;
    showing(codes);
    status.textContent = message;
    $("#twofa-done").focus();
  }

  onSubmit(setup, async (data) => {
    const answer = await request("POST", "/api/user/2fa/totp/setup", { password: data.get("password") });
    showing(enable);
    // An SVG document from the server, shown as an image: never inserted as markup.
    $("#twofa-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(answer.qr_svg)}`;
    // Groups of four are easier to type into an app by hand.
    $("#twofa-secret").textContent = answer.secret.replace(/(.{4})(?=.)/g, "$1 ");
    enable.code.focus();
  });

  onSubmit(enable, async (data) => {
    const answer = await request("POST", "/api/user/2fa/totp/enable", { code: text(data, "code") });
    showCodes(answer.recovery_codes, "On: every login now asks for a code from your app.");
  });
  $("#twofa-enable-cancel").addEventListener("click", () => busy(card, load, setup));

  onSubmit(manage, async (data) => {
    const body = { password: data.get("password"), code: text(data, "code") };
    if (data.get("action") === "disable") {
      await request("POST", "/api/user/2fa/totp/disable", body);
      await load();
      say(setup, "Two-factor authentication is off.", "success");
    } else {
      const answer = await request("POST", "/api/user/2fa/recovery-codes", body);
      showCodes(answer.recovery_codes, "New recovery codes: the old ones no longer work.");
    }
  });

  $("#twofa-copy").addEventListener("click", async () => {
    const list = [...document.querySelectorAll("#twofa-code-list li")].map((li) => li.textContent);
    try {
      await navigator.clipboard.writeText(list.join("\n"));
      say(codes, "Copied.", "success");
    } catch {
      say(codes, "Copying is not allowed here: select the codes, or download them.");
    }
  });
  $("#twofa-done").addEventListener("click", () => busy(card, load, codes));

  return {
    load: () =>
      load().catch((error) => {
        status.textContent = `Two-factor settings could not be loaded: ${error.message}`;
      }),
  };
}

function sessionsCard() {
  const card = $("#sessions-list").closest(".card");
  const list = $("#sessions-list");
  const message = $("#sessions-message");
  const others = $("#sessions-others");
  let sessions = [];

  const end = (id) => request("DELETE", `/api/user/sessions/${id}`);
  // The pressed button goes with the list it was in: the focus moves to the result, not <body>.
  const done = (text) => {
    say(message, text, "success");
    message.tabIndex = -1;
    message.focus();
  };

  function item(session) {
    const li = document.createElement("li");
    li.className = "session";
    const kind = deviceKind(session.user_agent);
    const icon = document.createElement("span");
    icon.className = "device-icon";
    icon.dataset.kind = kind;
    icon.setAttribute("role", "img");
    icon.setAttribute("aria-label", kind === "unknown" ? "Other device" : kind[0].toUpperCase() + kind.slice(1));
    const info = document.createElement("div");
    info.className = "session-info";
    const device = document.createElement("p");
    device.className = "session-device";
    device.textContent = describeAgent(session.user_agent);
    if (session.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.kind = "success";
      badge.textContent = "This device";
      device.append(" ", badge);
    }
    const meta = document.createElement("p");
    meta.className = "session-meta";
    meta.textContent = [
      `Signed in ${formatDate(session.created_at)}`,
      `last active ${timeAgo(session.last_used_at)}`,
      session.ip ?? "unknown address",
    ].join(" · ");
    meta.title = session.user_agent ?? "";
    info.append(device, meta);
    li.append(icon, info);
    if (!session.current) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-secondary btn-small";
      button.textContent = "Log out";
      button.setAttribute("aria-label", `Log out ${device.textContent}, ${meta.textContent}`);
      button.addEventListener("click", () =>
        busy(card, async () => {
          await end(session.id);
          await load();
          done("That device is logged out.");
        }, message),
      );
      li.append(button);
    }
    return li;
  }

  async function load() {
    ({ sessions } = await request("GET", "/api/user/sessions"));
    // This device first; the others keep the server's order, most recently used first.
    list.replaceChildren(...[...sessions].sort((a, b) => b.current - a.current).map(item));
    others.parentElement.hidden = !sessions.some((session) => !session.current);
  }

  others.addEventListener("click", () =>
    busy(card, async () => {
      await Promise.all(sessions.filter((session) => !session.current).map((session) => end(session.id)));
      await load();
      done("Every other device is logged out.");
    }, message),
  );

  return { load: () => busy(card, load, message) };
}

/** On a phone, one group of cards at a time: the others get `.elsewhere`, which style.css hides
 * on narrow screens only (wide ones show every card). Returns the function that switches. */
function sectionNav() {
  const buttons = [...document.querySelectorAll(".section-nav button")];
  function showGroup(name) {
    for (const button of buttons) {
      if (button.dataset.show === name) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    for (const card of document.querySelectorAll("[data-group]")) {
      card.classList.toggle("elsewhere", card.dataset.group !== name);
    }
  }
  const view = $('[data-view="profile"]');
  for (const button of buttons) {
    button.addEventListener("click", () => {
      showGroup(button.dataset.show);
      // A group starts at its top, not where the previous one was scrolled to.
      if (view.getBoundingClientRect().top < 0) view.scrollIntoView();
    });
  }
  return showGroup;
}

function deleteDialog(go) {
  const dialog = $("#delete-dialog");
  const form = $("#delete-form");
  $("#delete-open").addEventListener("click", () => {
    form.reset();
    say(form, "");
    dialog.showModal();
  });
  $("#delete-cancel").addEventListener("click", () => dialog.close());
  onSubmit(form, async (data) => {
    await request("DELETE", "/api/user/profile", { password: data.get("password") });
    dialog.close();
    tokens.clear();
    go("login", { text: "Your account has been deleted. Goodbye!", kind: "success" });
  });
}
