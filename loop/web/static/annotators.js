/* Annotators: create (token shown once, with a one-click link), revoke, progress. */
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  let replacing = null;  // a name whose token the next "Create token" may replace
  let replacingMade = null;  // ... and when the token asked about was made

  /* What the add form did (a-status), or a row's action: revoke, discard (list-status,
     beside the table it changed). */
  function say(id, msg, isError) {
    $(id).textContent = msg || "";
    $(id).classList.toggle("error", !!isError);
  }
  function status(msg, isError) { say("a-status", msg, isError); }
  function listStatus(msg, isError) { say("list-status", msg, isError); }

  function share(v, n) { return v === null || v === undefined ? "–" : Loop.pct(v) + " of " + n; }

  async function refresh() {
    const data = await Loop.api("GET", base + "/annotators");
    drawPairs(data.pairs || [], data.labels || []);
    const body = $("a-rows");
    /* a row's Revoke or Discard pressed with the keyboard: the focus stays in that row
       (or goes to the line saying what was done), not on the page's body */
    Loop.keepFocus(body, function () { draw(body, data); }, null, $("list-status"));
  }

  function draw(body, data) {
    Loop.clear(body);
    if (!data.annotators.length) {
      body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "9", class: "muted", text: "No annotators yet." })));
    }
    for (const a of data.annotators) {
      body.appendChild(Loop.el("tr", { "data-name": a.name, "data-key": a.name, "data-answers": a.answers_total,
        "data-expires-at": a.expires_at, "data-created-at": a.created_at },
        Loop.el("th", { scope: "row", class: "name", text: a.name }),
        Loop.el("td", { class: "num", text: a.answers_today }),
        Loop.el("td", { class: "num", text: a.answers_total }),
        Loop.el("td", { class: "num", text: a.seconds_per_answer === null || a.seconds_per_answer === undefined
          ? "–" : Loop.num(a.seconds_per_answer, a.seconds_per_answer < 10 ? 1 : 0) + " s" }),
        Loop.el("td", { class: "num", text: share(a.agreement_with_others, a.n_compared_with_others) }),
        Loop.el("td", { class: "num", text: share(a.agreement_with_model, a.n_compared_with_model) }),
        /* dates wrap: on one line the two token columns pushed the row's buttons out of
           a laptop's view */
        Loop.el("td", { class: "when", text: a.role === "admin" ? "admin key" : Loop.when(a.created_at) }),
        /* "expired ... (add the name again ...)" is a sentence: it wraps (re-trial: on
           one line it pushed Revoke out of a laptop's view) */
        Loop.el("td", { class: expired(a) ? "token-works wrap" : "token-works when" }, works(a)),
        Loop.el("td", { class: "wrap" }, a.role === "admin" ? null : a.revoked_at
          ? Loop.el("span", { class: "muted", text: "revoked " + Loop.when(a.revoked_at) +
              " (add the name again for a new token)" })
          : Loop.confirmButton({ class: "revoke", text: "Revoke", "aria-label": "Revoke " + a.name },
            "Revoke " + a.name + "?", function () { revoke(a.name, a.created_at); }),
          a.answers_total ? Loop.confirmButton({ class: "discard", text: "Discard answers",
            "aria-label": "Discard " + a.name + "'s answers" },
            "Discard all " + a.answers_total + " of " + a.name + "'s answers?",
            function () { discard(a.name); }) : null)));
    }
  }

  /* Whether an annotator's token (not revoked) is past its time. */
  function expired(a) {
    return !a.revoked_at && a.expires_at !== null && a.expires_at !== undefined &&
      a.expires_at * 1000 <= Date.now();
  }

  /* Whether and until when an annotator's token works. */
  function works(a) {
    if (a.role === "admin" || a.revoked_at) return null;
    if (a.expires_at === null || a.expires_at === undefined) return "until revoked";
    if (expired(a)) {
      return Loop.el("span", { class: "muted", text: "expired " + Loop.when(a.expires_at) +
        " (add the name again for a new token)" });
    }
    return "until " + Loop.when(a.expires_at);
  }

  /* Every answer of one annotator taken back (a careless one, or the wrong person):
     the other answers decide each item; items nobody else answered are asked again. */
  async function discard(name) {
    try {
      const out = await Loop.api("DELETE", base + "/annotators/" + encodeURIComponent(name) +
        "/answers", { confirm: name });
      listStatus("Discarded " + out.discarded + " of " + name + "'s answers; " + out.reopened +
        (out.reopened === 1 ? " finished item needs" : " finished items need") + " answers again." +
        (out.note ? " Their token still works: revoke it to stop them answering." : ""));
      await refresh();
    } catch (e) { listStatus(e.message, true); }
  }

  /* Each pair's agreement, and (opened) the confusion of their labels. */
  function drawPairs(pairs, labels) {
    $("pairs-card").hidden = !pairs.length;
    /* drawn again only where a pair's numbers changed, an opened pair kept open
       (trial: adding, revoking or discarding redrew the table, closing the confusion
       the admin was reading) */
    Loop.syncRows($("pair-rows"), pairs, function (p) { return p.a + "|" + p.b; }, function (p) {
      return [p, labels];
    }, function (p) {
      const table = Loop.el("table", { class: "data confusion" },
        Loop.el("thead", null, Loop.el("tr", null, Loop.el("th", { scope: "col", text: p.a + " ↓ · " + p.b + " →" }),
          ...labels.map(function (l) { return Loop.el("th", { scope: "col", text: l }); }))),
        Loop.el("tbody", null, ...p.confusion.map(function (row, i) {
          return Loop.el("tr", null, Loop.el("th", { scope: "row", text: labels[i] }),
            ...row.map(function (n, j) { return Loop.el("td", { class: i === j ? "num" : n ? "num warn" : "num", text: n }); }));
        })));
      return Loop.el("tr", { "data-pair": p.a + "|" + p.b },
        Loop.el("th", { scope: "row", class: "name" },
          Loop.el("details", null, Loop.el("summary", { text: p.a + " · " + p.b }), table)),
        Loop.el("td", { class: "num", text: p.n_items }),
        Loop.el("td", { class: "num", text: Loop.pct(p.observed) }),
        Loop.el("td", { class: "num", text: p.kappa === null ? "–" : Loop.num(p.kappa) }));
    });
  }

  /* Only the token listed (made at ``madeAt``): one another admin made for the name
     since is not revoked unseen (retry trial: a revoke by name took the newer token). */
  async function revoke(name, madeAt) {
    try {
      await Loop.api("DELETE", base + "/annotators/" + encodeURIComponent(name),
        typeof madeAt === "number" ? { made_at: madeAt } : undefined);
      listStatus("Revoked " + name + "'s token (their answers stay; the items they held go back to the queue).");
      /* the token shown is gone only if it was this annotator's: another one's, shown
         once, stays to be copied (trial: revoking carol hid the token just made for
         dave, never to be shown again) */
      if ($("nt-name").textContent === name) $("new-token").hidden = true;
      await refresh();
    } catch (e) {
      if (e && e.body && e.body.code === "token_exists") {
        listStatus("“" + name + "” got a new token since this list was shown (someone else " +
          "added the name): it is left working. Press Revoke again to revoke that one.", true);
        await refresh();
      } else { listStatus(e.message, true); }
    }
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    if (!await Loop.adminOnly("The Annotators page", pid)) return;
    try {
      Loop.setText("project-name", "· " + (await Loop.api("GET", base)).name);
      await refresh();
    } catch (e) {
      if (e.status === 404) { Loop.noProject(pid); return; }
      status(e.message, true);
    }
    $("add-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const name = $("a-name").value.trim();
      if (!name) { status("Type a name first.", true); return; }
      /* the same name again revokes that annotator's token, and the new token carries
         the name's answers (team lead's trial: a revoked name given to someone else
         let them see and undo the earlier person's answers): ask first (press again) */
      const row = Array.from(document.querySelectorAll("#a-rows tr[data-name]"))
        .find(function (tr) { return tr.dataset.name === name; });
      /* an expired token works no more: nothing to revoke (re-trial: "has a token
         already: a new one revokes it" was asked of a token that had expired) */
      const lapsed = !!row && row.dataset.expiresAt !== undefined &&
        expired({ expires_at: Number(row.dataset.expiresAt) });
      const held = row && !lapsed && row.querySelector("button.revoke");
      const answered = row ? Number(row.dataset.answers) || 0 : 0;
      if ((held || answered) && replacing !== name) {
        replacing = name;
        replacingMade = held && row.dataset.createdAt ? Number(row.dataset.createdAt) : null;
        status("“" + name + "” " + (held ? "has a token already: a new one revokes it. "
          : lapsed ? "has a token that expired. " : "was revoked. ") +
          (answered ? "The name's " + answered + (answered === 1 ? " answer goes" : " answers go") +
            " with the new token (its holder sees them and can undo the last); for another person, use another name. "
            : "") + "Press “Create token” again to go ahead.", true);
        return;
      }
      /* replace only what the admin was asked about: a token another admin made for
         the name meanwhile is a 409, not revoked unseen (concurrency trial: two admins
         adding one name at once each got a token, the first dead on arrival) */
      const confirmed = replacing === name;
      replacing = null;
      try {
        const days = $("a-expires").value;
        const body = { name: name, replace: confirmed };
        /* ... nor one made after the admin was asked (re-trial: a confirmed replace
           revoked the token another admin had made in between) */
        if (confirmed && replacingMade !== null) body.replaces_made_at = replacingMade;
        if (days) body.expires_in_days = Number(days);
        const a = await Loop.api("POST", base + "/annotators", body);
        const link = location.origin + "/signin?next=/p/" + encodeURIComponent(pid) + "/label" +
          "#token=" + encodeURIComponent(a.token);
        Loop.setText("nt-name", a.name);
        Loop.setText("nt-token", a.token);
        Loop.setText("nt-link", link);
        $("new-token").hidden = false;
        $("a-name").value = "";
        status("Created a token for " + a.name + (a.expires_at
          ? ", working until " + Loop.when(a.expires_at) + "." : ", working until revoked."));
        await refresh();
      } catch (e) {
        if (e && e.body && e.body.code === "token_exists") {
          status("“" + name + "” got a token meanwhile (someone else added the name): a new one " +
            "revokes it. Press “Create token” again to go ahead.", true);
          await refresh();
          /* pressed again, it replaces that token: the one now listed */
          const now = Array.from(document.querySelectorAll("#a-rows tr[data-name]"))
            .find(function (tr) { return tr.dataset.name === name; });
          replacing = name;
          replacingMade = now && now.dataset.createdAt ? Number(now.dataset.createdAt) : null;
        } else { status(e.message, true); }
      }
    });
    $("copy-link").addEventListener("click", async function () {
      try { await navigator.clipboard.writeText($("nt-link").textContent); status("Link copied."); }
      catch (e) { status("Select the link and copy it.", true); }
    });
  });
})();
