/* One-click sign-in links (/signin?next=...#token=...) and the plain sign-in form. */
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("signin-form");
    const input = document.getElementById("token");
    const status = document.getElementById("signin-status");
    const next = Loop.safeNext(new URLSearchParams(location.search).get("next")) || "/";
    Loop.readLinksOpenedHere();
    /* A one-click link carries the token in the fragment (never sent to the server). */
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("token")) {
      input.value = hash.get("token");
      history.replaceState(null, "", location.pathname + location.search);
    }
    input.focus();

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) { Loop.signInSays("Paste a token first.", true); input.focus(); return; }
      /* stored only once accepted: a refused token leaves the sign-in there was */
      let who;
      try { who = await Loop.tryToken(token); } catch (e) {
        Loop.signInSays((e.status === 401
          ? Loop.refusedWhy(e, "That token was not accepted: it was mistyped, revoked or replaced since, or its project was deleted. Ask the project's admin for a new one.")
          : "Could not sign in: " + e.message) + await Loop.stillSignedIn(), true);
        return;
      }
      const m = /^\/p\/([^/]+)\//.exec(next);
      if (who.role !== "admin" && m && who.projects.every(function (p) { return p.id !== decodeURIComponent(m[1]); })) {
        Loop.signInSays("This token belongs to another project." + await Loop.stillSignedIn(), true);
        return;
      }
      Loop.setToken(token);
      Loop.signInSays("Signed in.", false);
      location.replace(next);  /* Back then leaves the site, not to this form again (new-user trial) */
    });
    if (!hash.get("token")) return;
    Loop.signedInOther(hash.get("token")).then(async function (now) {
      if (!now) { form.requestSubmit(); return; }
      /* signed in as someone else: a working link switches only when asked to (a
         refused one is said so, as ever) */
      let as;
      try { as = await Loop.tryToken(hash.get("token")); } catch (e) { form.requestSubmit(); return; }
      status.textContent = "You are signed in as " + Loop.whoName(now) + ". This link signs you in as " +
        Loop.whoName(as) + " instead: press Sign in to switch, or go back to stay as you are.";
    });
  });
})();
