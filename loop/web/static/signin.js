"use strict";
(function () {
  function safeNext(raw) {
    /* Only same-origin absolute paths: no "//host" or "javascript:". */
    if (raw && raw.charAt(0) === "/" && raw.charAt(1) !== "/" && raw.charAt(1) !== "\\") return raw;
    return null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("signin-form");
    const input = document.getElementById("token");
    const project = document.getElementById("project");
    const status = document.getElementById("signin-status");
    const params = new URLSearchParams(location.search);
    const next = safeNext(params.get("next"));
    if (params.get("project")) project.value = params.get("project");
    if (next) {
      const m = /^\/p\/([^/]+)\//.exec(next);
      if (m && !project.value) project.value = decodeURIComponent(m[1]);
    }
    /* A one-click link may carry the token in the fragment (never sent to the server). */
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
      Loop.setToken(token);
      const pid = project.value.trim();
      if (pid) {
        try {
          await Loop.api("GET", "/p/" + encodeURIComponent(pid) + "/label/session");
        } catch (e) {
          status.textContent = e.status === 401 || e.status === 403
            ? "That token was not accepted for project " + pid + " (" + e.message + ")."
            : "Could not reach project " + pid + ": " + e.message;
          status.classList.add("error");
          Loop.clearToken();
          return;
        }
      }
      status.textContent = "Signed in.";
      location.href = next || (pid ? "/p/" + encodeURIComponent(pid) + "/label" : "/signin");
    });
    if (hash.get("token") && (next || project.value)) form.requestSubmit();
  });
})();
