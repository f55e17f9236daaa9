// The screens around the profile: log in, register, forgot password, and the two mailed links.

import { publicRequest, tokens } from "./api.js";
import { $, busy, checkImage, onSubmit, readDataUrl, renderAvatar, say, text } from "./ui.js";

/** `go(route, notice)` navigates; a notice is `{ text, kind, username? }` for the next screen. */
export function authViews(go) {
  return {
    login: loginView(go),
    register: registerView(go),
    forgot: forgotView(),
    "reset-password": resetView(go),
    "verify-email": mailedLinkView("verify-email", {
      title: "Verify email",
      path: "/api/verify-email/confirm",
      done: () => "Your email address is verified. Thank you!",
      hint: "You can ask for a new email on your profile.",
    }),
    "confirm-email": mailedLinkView("confirm-email", {
      title: "Confirm your new email",
      path: "/api/user/email/confirm",
      done: (answer) => `Your email address is now ${answer.email}, and verified.`,
    }),
    "revert-email": mailedLinkView("revert-email", {
      title: "Undo the email change",
      path: "/api/user/email/revert",
      done: () => {
        // Every session ended, this browser's included.
        tokens.clear();
        return "Your old address is back and every device is logged out. Log in and choose a new password.";
      },
    }),
  };
}

/** A screen a mailed link opens: opening it uses the link's token at once; without one (a typed
 * address, another device) the code is asked for. */
function mailedLinkView(name, { title, path, done, hint = "" }) {
  const section = $(`[data-view="${name}"]`);
  const form = $("form", section);
  const codeField = $("[data-code-field]", form);
  const submit = $("[data-submit]", form);
  const next = $("[data-continue]", section);

  const asking = (ask) => {
    codeField.hidden = !ask;
    submit.hidden = !ask;
  };

  async function use() {
    const answer = await busy(form, async () => {
      try {
        return await publicRequest("POST", path, { token: form.token.value.trim() });
      } catch (error) {
        throw new Error(`${error.message} ${hint}`.trim());
      }
    });
    asking(!answer);
    if (answer) say(form, done(answer), "success");
    const signedIn = Boolean(tokens.refresh);
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
      asking(!form.token.value);
      if (form.token.value) use();
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
      codeForm.code.select();
      throw error;
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
    const file = form.image.files[0];
    if (!file) return;
    try {
      checkImage(file);
      image = await readDataUrl(file);
      renderAvatar(preview, null, { src: image });
      say(form, "");
    } catch (error) {
      form.image.value = "";
      say(form, error.message);
    }
  });

  onSubmit(form, async (data) => {
    const username = text(data, "username");
    await publicRequest("POST", "/api/register", {
      username,
      email: text(data, "email"),
      password: data.get("password"),
      name: text(data, "name"),
      description: text(data, "description"),
      ...(image && { image }),
    });
    form.reset();
    clearImage();
    go("login", { text: "Your account is ready. Log in to continue.", kind: "success", username });
  });

  return {
    title: "Create an account",
    guestOnly: true,
    focus: () => form.username,
  };
}

function forgotView() {
  const form = $("#forgot-form");
  onSubmit(form, async (data) => {
    await publicRequest("POST", "/api/password-reset/request", { email: text(data, "email") });
    // The server answers the same whether or not the address has an account, and so do we.
    say(form, "If an account uses this address, a reset link is on its way. It works for one hour.", "success");
  });
  return {
    title: "Forgot password",
    enter() {
      say(form, "");
    },
    focus: () => form.email,
  };
}

function resetView(go) {
  const form = $("#reset-form");
  const codeField = $("#reset-code-field");
  onSubmit(form, async (data) => {
    if (data.get("password") !== data.get("confirm")) throw new Error("The two passwords are not the same.");
    await publicRequest("POST", "/api/password-reset/confirm", {
      token: text(data, "token"),
      password: data.get("password"),
    });
    // The reset ended every session, this browser's included.
    tokens.clear();
    form.reset();
    go("login", { text: "Your password has been changed. Log in with the new one.", kind: "success" });
  });
  return {
    title: "Choose a new password",
    enter(params) {
      // The mailed link carries the code; without it (typed address, other device) it is asked for.
      form.reset();
      say(form, "");
      form.token.value = params.get("token") ?? "";
      codeField.hidden = Boolean(form.token.value);
    },
    focus: () => (codeField.hidden ? form.password : form.token),
  };
}
