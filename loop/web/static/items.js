/* Items: search and filter a project's items, a page at a time (GET .../items).
 * Item text, ids and LF names are untrusted: built with Loop.el / textContent only. */
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  const PAGE = 50;
  let offset = 0;
  let total = 0;  /* the last reply's: Previous from past the end goes to the last page */
  let seq = 0;  /* the newest request: an older reply arriving late is dropped */

  function status(msg, isError) {
    $("f-status").textContent = msg || "";
    $("f-status").classList.toggle("error", !!isError);
  }

  /* The filters as query parameters, and in the page's address (a link or a reload
     shows the same items). */
  function params() {
    const p = new URLSearchParams();
    const q = $("f-q").value.trim();
    if (q) p.set("q", q);
    if ($("f-label").value) p.set("label", $("f-label").value);
    if ($("f-known").value) p.set("known", $("f-known").value);
    if ($("f-covered").value) p.set("covered", $("f-covered").value);
    if ($("f-lf").value) p.set("lf", $("f-lf").value);
    if ($("f-sort").value) p.set("sort", $("f-sort").value);
    if ($("f-disagree").checked) p.set("disagree", "1");
    return p;
  }

  function fromAddress() {
    const p = new URLSearchParams(location.search);
    $("f-q").value = p.get("q") || "";
    $("f-known").value = p.get("known") || "";
    $("f-covered").value = p.get("covered") || "";
    $("f-sort").value = p.get("sort") || "";
    $("f-disagree").checked = p.get("disagree") === "1";
    offset = Math.max(0, Number(p.get("offset")) || 0);
    return p;
  }

  function options(select, values, keep) {
    const first = select.options[0];
    Loop.clear(select);
    select.appendChild(first);
    for (const v of values) select.appendChild(Loop.el("option", { value: v, text: v }));
    if (keep && values.indexOf(keep) !== -1) select.value = keep;
  }

  /* A label's name, broken only where Loop.labelWords allows: "Member-" /
     "Collection" read as two labels, and on one line chemprot's "CPR:2 Regulator
     (direct or indirect)" ran the table 300 px off a 1280 px screen (trial) */
  function nameEl(name, cls) {
    const out = Loop.el("span", { class: cls || "name" });
    Loop.labelWords(name).forEach(function (parts, i) {
      if (i) out.appendChild(document.createTextNode(" "));
      parts.forEach(function (part, j) {
        if (j) out.appendChild(document.createElement("wbr"));
        out.appendChild(Loop.el("span", { class: "word", text: part }));
      });
    });
    return out;
  }

  function labelCell(it) {
    if (it.label === null) return Loop.el("td", { class: "muted", text: "–" });
    const how = it.source === "gold" ? "answered" : it.source === "uploaded" ? "uploaded"
      : it.source === "copy" ? "same text as an answered item"
      : (it.source === "end_model" ? "end model" : "label model") +
        (it.confidence === null ? "" : ", " + Loop.pct(it.confidence));
    return Loop.el("td", { class: "label" }, nameEl(it.label),
      Loop.el("span", { class: "muted small", text: " (" + how + ")" }));
  }

  function draw(data) {
    const body = $("i-rows");
    Loop.clear(body);
    if (!data.items.length) {
      body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "6", class: "muted",
        text: data.total ? "No items on this page." : "No items match." })));
    }
    for (const it of data.items) {
      const contradicted = it.known !== null && it.model_label !== null && it.model_label !== it.known;
      const votes = it.votes.length ? it.votes.map(function (v) { return v.lf + ": " + v.label; }).join(", ")
        : "none";
      body.appendChild(Loop.el("tr", { "data-item": it.id, class: contradicted ? "contradicted" : null },
        /* an id is no HTML: shown as it is (re-trial: "<b>x</b>" showed as "x", which
           a search for the id then did not find), its invisible characters made visible */
        Loop.el("th", { scope: "row", class: "name", text: Loop.visible(it.id) }),
        /* dir=auto: a Hebrew or Arabic text reads right to left, its punctuation where
           it belongs ("?שלום" was "שלום?" read from the right, new-user trial) */
        Loop.el("td", { class: "text", dir: "auto" }, Loop.plainText(it.text) + (it.text_truncated ? " …" : ""),
          Loop.entityLine(it.entities)),
        labelCell(it),
        it.known === null ? Loop.el("td", { text: "–" })
          : Loop.el("td", { class: "label" }, nameEl(it.known),
            it.held_out ? Loop.el("span", { class: "muted small", text: " (held out)" }) : null),
        Loop.el("td", { class: "model", title: contradicted ? "The models say " + it.model_label +
          ", the known label " + it.known : null }, it.model_label === null ? "–" : nameEl(it.model_label)),
        Loop.el("td", { class: it.votes.length ? "votes" : "votes muted", text: votes })));
    }
    total = data.total;
    const last = Math.min(data.offset + data.items.length, data.total);
    status(data.total ? (data.items.length ? "Items " + Loop.num(data.offset + 1, 0) + "–" +
      Loop.num(last, 0) + " of " : "") + Loop.num(data.total, 0) +
      (data.total === 1 ? " item matches." : " items match.") : "No items match.");
    $("prev").disabled = data.offset <= 0;
    $("next").disabled = last >= data.total;
  }

  /* A page turned with the buttons under the table: its first rows on screen, not its
     last (new-user trial: "Next" left the window where it was, at rows 41-50 of the
     new page, 3,000 px under its first), and the keyboard focus on them: it stayed on
     the button, 3,000 px under the rows on screen, and went to the page's body when
     the button was greyed out on the first or last page (accessibility trial: the
     next Tab started from the top of the page). Tab from the table reaches the
     buttons again. */
  function toTop() {
    const top = $("f-status");
    if (top.getBoundingClientRect().top < 0) top.scrollIntoView({ block: "start" });
    $("i-table").focus({ preventScroll: true });
  }

  /* The items the filters ask for; the label and LF lists come with the reply, and
     keep the choice made in them. */
  async function load() {
    const keepLabel = $("f-label").value;
    const keepLf = $("f-lf").value;
    const p = params();
    if (offset) p.set("offset", String(offset));
    p.set("limit", String(PAGE));
    const mine = ++seq;
    status("Looking…");
    try {
      const data = await Loop.api("GET", base + "/items?" + p.toString());
      if (mine !== seq) return;
      options($("f-label"), data.labels, keepLabel);
      options($("f-lf"), data.lfs, keepLf);
      p.delete("limit");
      history.replaceState(null, "", location.pathname + (p.toString() ? "?" + p.toString() : ""));
      draw(data);
    } catch (e) {
      if (mine !== seq) return;
      if (e.status === 404) { Loop.noProject(pid); return; }
      status(e.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    if (!await Loop.adminOnly("The Items page", pid)) return;
    const start = fromAddress();
    try {
      Loop.setText("project-name", "· " + (await Loop.api("GET", base)).name);
    } catch (e) {
      if (e.status === 404) { Loop.noProject(pid); return; }
      status(e.message, true);
      return;
    }
    /* the label and LF lists come with the first reply: their choice in the address is
       kept until then */
    const label = start.get("label") || "";
    const lf = start.get("lf") || "";
    if (label) $("f-label").appendChild(Loop.el("option", { value: label, text: label }));
    if (lf) $("f-lf").appendChild(Loop.el("option", { value: lf, text: lf }));
    $("f-label").value = label;
    $("f-lf").value = lf;
    await load();
    $("find").addEventListener("submit", function (ev) {
      ev.preventDefault();
      offset = 0;
      load();
    });
    for (const id of ["f-label", "f-known", "f-covered", "f-lf", "f-sort", "f-disagree"]) {
      $(id).addEventListener("change", function () { offset = 0; load(); });
    }
    $("prev").addEventListener("click", function () {
      /* past the end (an old link or reload, fewer items match now): the last page,
         not 50 fewer (re-trial: ?offset=5000 of 1,956 took 60 clicks of empty pages) */
      offset = total && offset >= total ? Math.floor((total - 1) / PAGE) * PAGE
        : Math.max(0, offset - PAGE);
      load().then(toTop);
    });
    $("next").addEventListener("click", function () {
      offset += PAGE;
      load().then(toTop);
    });
  });
})();
