/* Home: sign in once, then the projects this token may see, with their progress. */
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };

  /* Held-out accuracy: the label model on the items an LF votes on, the end model on
     all of them (so the two are not a race on the same items). */
  function score(p) {
    const parts = [];
    const lmOn = p.n_eval_covered !== null && p.n_eval_covered !== undefined ? p.n_eval_covered : p.n_eval;
    if (p.label_model !== null && p.label_model !== undefined) {
      parts.push("label model " + Loop.pct(p.label_model, 1) + (lmOn ? " of " + lmOn : ""));
    }
    if (p.end_model !== null && p.end_model !== undefined) {
      parts.push("end model " + Loop.pct(p.end_model, 1) + (p.n_eval ? " of " + p.n_eval : ""));
    }
    if (!parts.length && !p.n_eval) {
      /* no held-out labels: the random picks the models had not seen yet */
      const u = p.unseen || {};
      ["label_model", "end_model"].forEach(function (name) {
        const m = u[name];
        if (m && m.n) {
          parts.push(name.replace("_", " ") + " " + Loop.pct(m.right / m.n, 0) + " on " + m.n +
            (m.n === 1 ? " random pick" : " random picks"));
        }
      });
    }
    if (!parts.length) return p.n_eval ? "not yet" : "no held-out labels";
    // each score on one line when the cell wraps
    return parts.map(function (x) { return x.replace(/ /g, "\u00a0"); }).join(" · ") +
      (p.eval_too_small ? " (too few held-out labels to trust)" : "");
  }

  function links(p, admin, cls) {
    const id = encodeURIComponent(p.id);
    /* named after their project: a screen reader's list of links read "Label,
       Dashboard, Data, Annotators" once per project, none saying which (browser trial) */
    function link(page, text) {
      return Loop.el("a", { href: "/p/" + id + "/" + page, text: text, "aria-label": text + ": " + p.name });
    }
    const box = Loop.el(cls === "links" ? "td" : "div", { class: cls }, link("label", "Label"));
    if (admin) {
      box.appendChild(link("dashboard", "Dashboard"));
      box.appendChild(link("data", "Data"));
      box.appendChild(link("annotators", "Annotators"));
    }
    return box;
  }

  function row(p, admin) {
    if (p.old_schema) {  /* made by a version before the redesign: not readable here */
      return Loop.el("tr", { "data-project": p.id },
        Loop.el("th", { scope: "row" }, Loop.el("span", { class: "pname", text: p.name }),
          Loop.el("span", { class: "muted small mono", text: " " + p.id })),
        Loop.el("td", { colspan: "6", class: "muted small old-schema", text: p.old_schema }));
    }
    /* the links twice: in their column, and under the name where a phone hides it */
    return Loop.el("tr", { "data-project": p.id },
      Loop.el("th", { scope: "row" }, Loop.el("span", { class: "pname", text: p.name }),
        Loop.el("span", { class: "muted small mono", text: " " + p.id }),
        links(p, admin, "row-links")),
      Loop.el("td", { class: "num", text: p.n_items }),
      // several answers per item (team lead's trial: 580 answers showed as 290)
      Loop.el("td", { class: "num", text: p.answers_per_item > 1 ? p.n_answers : p.n_gold,
        title: p.answers_per_item > 1 ? p.n_answers + " answers; " + p.n_gold +
          " items with a gold label (" + p.answers_per_item + " answers wanted per item)" : null }),
      Loop.el("td", { class: "num", text: p.remaining }),
      Loop.el("td", { class: "num", text: score(p) }),
      Loop.el("td", { text: Loop.when(p.last_recalibrated_at) }),
      links(p, admin, "links"));
  }

  async function showProjects() {
    let who;
    try { who = await Loop.whoami(); } catch (e) {
      if (e.status !== 401) {
        // no answer, a 429 or a server error: the token may well be good, so it is
        // kept (re-trial: a dropped connection, or a guesser's 429 from the address
        // every compose client shares, signed the admin out)
        $("projects").hidden = false;
        $("home-status").textContent = "Could not check your sign-in: " + e.message +
          " Reload the page to try again.";
        $("home-status").classList.add("error");
        return;
      }
      const admin = Loop.wasAdminKey();
      Loop.clearToken();
      Loop.signedOutBecause();  /* said below */
      $("signin").hidden = false;
      Loop.signInSays(e.status !== 401 ? e.message : admin
        ? "The admin key this browser signed in with is not accepted any more." + NEW_KEY
        : "That token is not valid (any more).", true);
      return;
    }
    const admin = who.role === "admin";
    Loop.showSignedIn();
    $("projects").hidden = false;
    $("new-project").hidden = !admin;
    const list = admin ? (await Loop.api("GET", "/api/projects")).projects : who.projects;
    const body = $("project-rows");
    Loop.clear(body);
    if (!list.length) {
      body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "7", class: "muted",
        text: admin ? "No projects yet: create one with “New project”." : "No projects." })));
    }
    for (const p of list) body.appendChild(row(p, admin));
    $("home-status").textContent = admin ? "Signed in with the admin key." :
      "Signed in as " + who.name + ".";
    /* the dashboard's delete box leaves its name here (not in the URL: a link could
       then announce any "deletion") */
    const deleted = sessionStorage.getItem("loop:deleted");
    if (deleted) {
      sessionStorage.removeItem("loop:deleted");
      $("home-status").textContent = "Deleted the project “" + deleted + "”.";
    }
  }

  /* new-user trial: after Ctrl-C and a start of loop serve without LOOP_API_KEYS the
     page said only "That token is not valid (any more)" */
  const NEW_KEY = " An admin key loop serve generated is a new one at every start (it prints " +
    "it as it starts): sign in with the one it printed last, or set LOOP_API_KEYS to keep one " +
    "across restarts.";

  document.addEventListener("DOMContentLoaded", async function () {
    const params = new URLSearchParams(location.search);
    const next = Loop.safeNext(params.get("next"));
    const hash = new URLSearchParams(location.hash.slice(1));
    Loop.readLinksOpenedHere();
    let linkRefused = null;
    if (hash.get("token")) {  /* a one-click link: the token never reaches the server */
      history.replaceState(null, "", location.pathname + location.search);
      /* kept only once accepted: a bogus link leaves the sign-in there was */
      try {
        await Loop.tryToken(hash.get("token"));
        if (await Loop.signedInOther(hash.get("token"))) {  /* the sign-in page asks first */
          location.replace("/signin" + (next ? "?next=" + encodeURIComponent(next) : "") +
            "#token=" + encodeURIComponent(hash.get("token")));
          return;
        }
        Loop.setToken(hash.get("token"));
      } catch (e) {
        linkRefused = (e.status === 401
          ? Loop.refusedWhy(e, "The link's token was not accepted: it was mistyped, revoked or replaced since, or its project was deleted. Ask the project's admin for a new one.")
          : "Could not sign in with the link: " + e.message) + await Loop.stillSignedIn();
      }
    }
    $("signin-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const token = $("token").value.trim();
      if (!token) { Loop.signInSays("Paste a token first.", true); $("token").focus(); return; }
      try { await Loop.tryToken(token); } catch (e) {
        Loop.signInSays(e.status === 401
          ? Loop.refusedWhy(e, "That token was not accepted.") : e.message, true);
        return;
      }
      Loop.setToken(token);
      location.href = next || "/";
    });
    if (linkRefused && Loop.getToken()) {  /* said above the projects of the sign-in kept */
      await showProjects();
      $("home-status").textContent = linkRefused;
      $("home-status").classList.add("error");
      return;
    }
    const why = Loop.signedOutBecause();
    const wasAdmin = !Loop.getToken() && Loop.wasAdminKey();
    if (wasAdmin) Loop.clearToken();  /* said once */
    if (!Loop.getToken()) {
      $("signin").hidden = false;
      if (linkRefused) {
        Loop.signInSays(linkRefused, true);
      } else if (why) {
        /* the server's reason may list the causes itself (re-trial: said twice) */
        Loop.signInSays("You were signed out: the server no longer accepts your " +
          "token (" + why + ")." + (wasAdmin ? " It was the admin key." + NEW_KEY
            : /revoked|deleted|expired/.test(why) ? " Sign in with a new one."
            : " It may have been revoked or replaced, or its project deleted: sign in with a new one."),
          true);
      }
      $("token").focus();
      return;
    }
    if (next) {  /* only with a token the server accepts: else back here, and again */
      Loop.whoami().then(function () { location.replace(next); }, function () { showProjects(); });
      return;
    }
    showProjects();
  });
})();
