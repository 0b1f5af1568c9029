/* One-click sign-in links (/signin?next=...#token=...) and the plain sign-in form. */
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("signin-form");
    const input = document.getElementById("token");
    const status = document.getElementById("signin-status");
    const next = Loop.safeNext(new URLSearchParams(location.search).get("next")) || "/";
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
      if (!token) { status.textContent = "Paste a token first."; input.focus(); return; }
      /* stored only once accepted: a refused token leaves the sign-in there was */
      let who;
      try { who = await Loop.tryToken(token); } catch (e) {
        status.textContent = (e.status === 401 ? "That token was not accepted (revoked or mistyped)."
          : "Could not sign in: " + e.message) + await Loop.stillSignedIn();
        status.classList.add("error");
        return;
      }
      const m = /^\/p\/([^/]+)\//.exec(next);
      if (who.role !== "admin" && m && who.projects.every(function (p) { return p.id !== decodeURIComponent(m[1]); })) {
        status.textContent = "This token belongs to another project." + await Loop.stillSignedIn();
        status.classList.add("error");
        return;
      }
      Loop.setToken(token);
      status.textContent = "Signed in.";
      location.href = next;
    });
    if (hash.get("token")) form.requestSubmit();
  });
})();
