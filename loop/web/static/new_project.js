/* New project: name, labels (colour, key), LF module, text field, k, guidelines. */
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  /* as the server's (loop/service/projects.py: PALETTE, DEFAULT_KEYS) */
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
    "#db2777", "#4b5563", "#65a30d", "#60a5fa", "#f87171", "#4ade80", "#c084fc", "#fb923c",
    "#22d3ee", "#facc15", "#f472b6", "#9ca3af", "#a3e635"];
  const KEYS = "1234567890abcdefijklnopqrtvwxyz";

  function addLabel(name) {
    const box = $("label-rows");
    const i = box.children.length;
    const row = Loop.el("div", { class: "label-row" },
      Loop.el("input", { type: "text", class: "l-name", "aria-label": "Label " + (i + 1) + " name", value: name || "", placeholder: "label name" }),
      Loop.el("input", { type: "color", class: "l-color", "aria-label": "Label " + (i + 1) + " colour", value: PALETTE[i % PALETTE.length] }),
      Loop.el("input", { type: "text", class: "l-key mono", maxlength: "1", "aria-label": "Label " + (i + 1) + " key", placeholder: i < KEYS.length ? KEYS[i] : "key" }),
      Loop.el("button", { type: "button", class: "l-remove", "aria-label": "Remove label " + (i + 1), text: "×",
        onclick: function () {
          /* the focus to the row now in its place (else the one before, else "Add a
             label"): it went to the page's body (accessibility trial) */
          const next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          renumber();
          (next ? next.querySelector(".l-remove") : $("add-label")).focus();
        } }));
    box.appendChild(row);
    return row;
  }

  /* Each row named by its place, its key's placeholder the key that place gets by
     default: renumbered when a row goes (accessibility trial: after "Remove label 1"
     the first row was read as "Label 2", its key shown as 2 where it gets 1, and a
     label added next was a second "Label 3"). */
  function renumber() {
    Array.from($("label-rows").children).forEach(function (row, i) {
      const n = "Label " + (i + 1);
      row.querySelector(".l-name").setAttribute("aria-label", n + " name");
      row.querySelector(".l-color").setAttribute("aria-label", n + " colour");
      row.querySelector(".l-key").setAttribute("aria-label", n + " key");
      row.querySelector(".l-key").placeholder = i < KEYS.length ? KEYS[i] : "key";
      row.querySelector(".l-remove").setAttribute("aria-label", "Remove label " + (i + 1));
    });
  }

  function status(msg, isError) {
    $("form-status").textContent = msg;
    $("form-status").classList.toggle("error", !!isError);
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    if (!await Loop.adminOnly("Creating a project", null)) return;
    addLabel(""); addLabel("");
    $("add-label").addEventListener("click", function () { addLabel("").querySelector("input").focus(); });
    $("p-guidelines").addEventListener("input", function () {
      const box = $("g-preview");
      Loop.clear(box);
      box.appendChild(Loop.markdown($("p-guidelines").value));
    });
    /* an error is about what was sent: once the form changes it no longer applies */
    $("project-form").addEventListener("input", function () {
      if ($("form-status").classList.contains("error") && !$("create").disabled) status("");
    });
    $("project-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const labels = Array.from(document.querySelectorAll(".label-row")).map(function (r) {
        const key = r.querySelector(".l-key").value.trim();
        return { name: r.querySelector(".l-name").value.trim(), color: r.querySelector(".l-color").value,
          key: key || null };
      }).filter(function (l) { return l.name; });
      if (labels.length < 2) {  /* the API's "a list of at least two labels (names, or objects ...)" */
        status("Name at least two labels: a row with no name is left out.", true);
        return;
      }
      const body = { name: $("p-name").value.trim(), labels: labels, lf_module: $("p-lf").value.trim(),
        text_field: $("p-text").value.trim() || "text", answers_per_item: Number($("p-k").value) || 1,
        guidelines: $("p-guidelines").value, blind: $("p-blind").checked };
      $("create").disabled = true;
      status(body.lf_module ? "Checking the LF module and creating the project …" : "Creating the project …");
      try {
        const p = await Loop.api("POST", "/api/projects", body);
        location.href = "/p/" + encodeURIComponent(p.id) + "/data";
      } catch (e) {
        status(e.message, true);
      } finally {
        $("create").disabled = false;
      }
    });
  });
})();
