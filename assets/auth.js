// The screens around the profile: log in, register, forgot password, and the two mailed links.

import { publicRequest, tokens } from "./api.js";
import {
  $,
  acceptDrops,
  busy,
  clearFieldErrors,
  EXPIRED_LINK,
  holdBack,
  MAIL_INTERVAL,
  onSubmit,
  pickedPicture,
  renderAvatar,
  say,
  showError,
  text,
} from "./ui.js";

// Good enough to tell an address from a username; the server has the real rule.
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `go(route, notice)` navigates; a notice is `{ text, kind, username? }` for the next screen (the
 * check-inbox screen's is `{ email, kind }`, the profile's may be `{ focus: "email" }`). */
export function authViews(go) {
  return {
    login: loginView(go),
    register: registerView(go),
    forgot: forgotView(go),
    "check-inbox": inboxView(go),
    "reset-password": resetView(go),
    "verify-email": mailedLinkView(go, "verify-email", {
      title: "Verify email",
      path: "/api/verify-email/confirm",
      done: () => "Your email address is verified. Thank you!",
      wayOut: (signedIn) =>
        signedIn ? "Send a new one from your profile." : "Enter your address to get a new one.",
    }),
    "confirm-email": mailedLinkView(go, "confirm-email", {
      title: "Confirm your new email",
      path: "/api/user/email/confirm",
      done: (answer) => `Your email address is now ${answer.email}, and verified.`,
      wayOut: (signedIn) =>
        signedIn ? "Ask for the change again in your email settings." : "Log in to ask for the change again.",
    }),
    "revert-email": mailedLinkView(go, "revert-email", {
      title: "Undo the email change",
      path: "/api/user/email/revert",
      done: () => {
        // Every session ended, this browser's included.
        tokens.clear();
        return "Your old address is back and every device is logged out. Log in and choose a new password.";
      },
      wayOut: (signedIn) =>
        signedIn ? "Check your address in your email settings." : "Log in to check your account's address.",
    }),
  };
}

/** A screen a mailed link opens: opening it uses the link's token at once; without one (a typed
 * address, another device) the code is asked for. An expired or used link is a dead end with a
 * way out (`wayOut(signedIn)`): a form asking for a new link where the section has one, for
 * someone logged out; a button to the email settings where it has one, for someone logged in. */
function mailedLinkView(go, name, { title, path, done, wayOut }) {
  const section = $(`[data-view="${name}"]`);
  const form = $("form", section);
  const codeField = $("[data-code-field]", form);
  const submit = $("[data-submit]", form);
  const next = $("[data-continue]", section);
  const resend = $("[data-resend]", section);
  if (resend) mailRequestForm(resend, "verification", go);
  const settings = $("[data-settings]", section);
  settings?.addEventListener("click", () => go("profile", { focus: "email" }));
  let typed = false; // the code was typed (a typo can be fixed), not brought by the link

  const asking = (ask) => {
    codeField.hidden = !ask;
    submit.hidden = !ask;
  };

  async function use() {
    let expired = false;
    const answer = await busy(form, async () => {
      try {
        return await publicRequest("POST", path, { token: form.token.value.trim() });
      } catch (error) {
        expired = error.code === "invalid_token";
        throw error;
      }
    });
    const signedIn = Boolean(tokens.refresh);
    asking(!answer && (typed || !expired));
    if (answer) say(form, done(answer), "success");
    if (expired) {
      say(form, `${EXPIRED_LINK} ${wayOut(signedIn)}`, "info");
      if (resend && !signedIn) {
        resend.hidden = false;
        resend.email.focus();
      }
      if (settings && signedIn) {
        settings.hidden = false;
        settings.focus();
      }
    }
    next.textContent = signedIn ? "Go to your profile" : "Log in";
    next.href = signedIn ? "#/profile" : "#/login";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    use();
  });

  return {
    title,
    enter(params) {
      form.reset();
      say(form, "");
      form.token.value = params.get("token") ?? "";
      typed = !form.token.value;
      asking(typed);
      if (resend) {
        resend.reset();
        resend.hidden = true;
        say(resend, "");
      }
      if (settings) settings.hidden = true;
      if (!typed) use();
    },
    focus: () => (codeField.hidden ? null : form.token),
  };
}

function loginView(go) {
  const form = $("#login-form");
  const codeForm = $("#login-code-form");
  let mfaToken = null; // the password step's token, while the code is asked for

  // One of the two steps is shown: the password, or the code of an account with two-factor login.
  const step = (asking, notice = "", kind = "error") => {
    mfaToken = asking;
    form.hidden = Boolean(asking);
    codeForm.hidden = !asking;
    codeForm.reset();
    say(asking ? codeForm : form, notice, kind);
    (asking ? codeForm.code : form.password).focus();
  };

  onSubmit(form, async (data) => {
    const answer = await publicRequest("POST", "/api/login", {
      username: text(data, "username"),
      password: data.get("password"),
    });
    form.password.value = "";
    if (answer.mfa_required) return step(answer.mfa_token);
    tokens.save(answer);
    form.reset();
    go("profile");
  });

  onSubmit(codeForm, async (data) => {
    try {
      tokens.save(await publicRequest("POST", "/api/login/2fa", { mfa_token: mfaToken, code: text(data, "code") }));
    } catch (error) {
      // Five minutes passed, or the token was used: the password step starts over.
      if (error.code === "invalid_mfa_token") return step(null, "That took too long. Please log in again.", "info");
      throw error; // marked on the code field, selected for the next try
    }
    step(null);
    form.reset();
    go("profile");
  });
  $("#login-code-back").addEventListener("click", () => step(null));

  return {
    title: "Log in",
    guestOnly: true,
    enter(_params, notice) {
      mfaToken = null;
      form.hidden = false;
      codeForm.hidden = true;
      form.password.value = "";
      if (notice?.username) form.username.value = notice.username;
      say(form, notice?.text ?? "", notice?.kind);
    },
    focus: () => (form.username.value ? form.password : form.username),
  };
}

function registerView(go) {
  const form = $("#register-form");
  const preview = $("#register-preview");
  let image = null; // the picked picture as a data: URL, sent inline with the registration

  const clearImage = () => {
    image = null;
    preview.replaceChildren();
    preview.classList.remove("has-image");
  };

  form.image.addEventListener("change", async () => {
    clearImage();
    clearFieldErrors(form);
    const file = form.image.files[0];
    if (!file) return;
    try {
      // The centre square, as the profile's picture card crops it.
      const { src } = await pickedPicture(file);
      if (form.image.files[0] !== file) return; // another file was chosen meanwhile
      image = src;
      renderAvatar(preview, null, { src });
      say(form, "");
    } catch (error) {
      form.image.value = "";
      showError(form, error);
    }
  });
  acceptDrops($(".picker", form), form.image);

  onSubmit(form, async (data) => {
    const username = text(data, "username");
    // The answer carries the login's tokens: signing up signs in.
    const answer = await publicRequest("POST", "/api/register", {
      username,
      email: text(data, "email"),
      password: data.get("password"),
      name: text(data, "name"),
      description: text(data, "description"),
      ...(image && { image }),
    });
    tokens.save(answer);
    form.reset();
    clearImage();
    go("profile", { text: `Welcome, ${username}! Your account is ready.`, kind: "success" });
  });

  return {
    title: "Create an account",
    guestOnly: true,
    focus: () => form.username,
  };
}

/** The mails a visitor can ask for without logging in: where, and what to say once asked. The
 * server answers the same whether or not the address has an account, so the page never says it
 * has. How long a link works is the server's setting, which the page cannot read: the mail says. */
const MAILS = {
  reset: {
    path: "/api/password-reset/request",
    sent: (email) => `We sent a link to ${email} if it has an account here. The mail says how long it works.`,
  },
  verification: {
    path: "/api/verify-email/request",
    sent: (email) =>
      `We sent a link to ${email} if it belongs to an account not verified yet. The mail says how long it works.`,
  },
};

const askForMail = (kind, email) => publicRequest("POST", MAILS[kind].path, { email });

/** A form with an email field that asks for a mail of `kind` (MAILS), then says where it went. */
function mailRequestForm(form, kind, go) {
  onSubmit(form, async (data) => {
    const email = text(data, "email");
    await askForMail(kind, email);
    go("check-inbox", { email, kind });
  });
}

/** "Check your inbox": where the mail went, how long its link works, and another one once the
 * mail limit allows. The address lives in this module only (never in the address bar or
 * storage), so after a reload the screen gives way to the forgot form. */
function inboxView(go) {
  const form = $("#inbox-form");
  const button = $('button[type="submit"]', form);
  let sent = null; // { email, kind } of the last mail asked for
  onSubmit(form, async () => {
    await askForMail(sent.kind, sent.email);
    say(form, "Sent again. Only the newest link works.", "success");
    holdBack(button, MAIL_INTERVAL);
  });
  return {
    title: "Check your inbox",
    enter(_params, notice) {
      if (notice?.email) {
        sent = notice;
        say(form, "");
        holdBack(button, MAIL_INTERVAL); // one mail per address per minute
      }
      if (!sent) return go("forgot", null, { replace: true });
      $("#inbox-sent").textContent = MAILS[sent.kind].sent(sent.email);
    },
  };
}

function forgotView(go) {
  const form = $("#forgot-form");
  mailRequestForm(form, "reset", go);
  return {
    title: "Forgot password",
    enter(_params, notice) {
      say(form, notice?.text ?? "", notice?.kind);
      // The address typed on the login form, if it was one, saves typing it again.
      const typed = $("#login-username").value.trim();
      if (!form.email.value && EMAIL_SHAPE.test(typed)) form.email.value = typed;
    },
    focus: () => form.email,
  };
}

function resetView(go) {
  const form = $("#reset-form");
  const codeField = $("#reset-code-field");
  // An expired or used link leads to the form that sends a new one, before a password is typed.
  const deadEnd = () =>
    go("forgot", { text: `${EXPIRED_LINK} Enter your address to get a new one.`, kind: "info" }, { replace: true });
  onSubmit(form, async (data) => {
    try {
      await publicRequest("POST", "/api/password-reset/confirm", {
        token: text(data, "token"),
        password: data.get("password"),
      });
    } catch (error) {
      // A typed code may just be mistyped (it gets marked); a link's token is gone for good.
      if (error.code === "invalid_token" && codeField.hidden) return deadEnd();
      throw error;
    }
    // The reset ended every session, this browser's included.
    tokens.clear();
    form.reset();
    go("login", { text: "Your password has been changed. Log in with the new one.", kind: "success" });
  });
  return {
    title: "Choose a new password",
    async enter(params) {
      // The mailed link carries the code; without it (typed address, other device) it is asked for.
      form.reset();
      say(form, "");
      const token = params.get("token") ?? "";
      form.token.value = token;
      codeField.hidden = Boolean(token);
      if (!token) return;
      try {
        await publicRequest("POST", "/api/mailed-token/check", { token, purpose: "password_reset" });
      } catch (error) {
        if (error.code !== "invalid_token") throw error;
        deadEnd();
      }
    },
    focus: () => (codeField.hidden ? form.password : form.token),
  };
}
