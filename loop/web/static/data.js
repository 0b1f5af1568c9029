/* Data: import a CSV / JSON lines file (preview, pick columns, check, import), then
 * apply the LFs and recalibrate. */
"use strict";
(function () {
  const $ = function (id) { return document.getElementById(id); };
  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  let file = null, project = null;

  function status(id, msg, isError) {
    $(id).textContent = msg || "";
    $(id).classList.toggle("error", !!isError);
  }

  function options(sel, cols, pick, optional) {
    Loop.clear(sel);
    if (optional) sel.appendChild(Loop.el("option", { value: "", text: "(none)" }));
    for (const c of cols) sel.appendChild(Loop.el("option", { value: c, text: c, selected: c === pick }));
  }

  /* Columns that usually hold the answer: picked as the known labels, else left out of
     the fields annotators see (the server's items.GOLD_LIKE). */
  const GOLD_NAMES = ["label", "labels", "class", "gold", "sentiment", "category", "target", "y"];
  /* Columns that usually hold LF votes computed elsewhere (WRENCH, Snorkel's L). */
  const VOTES_NAMES = ["weak_labels", "votes", "lf_votes", "weak_label", "l"];

  /* A column by a usual name; a nested one counts by its last part ("data.text"). */
  function guess(cols, names) {
    return cols.find(function (c) { return names.indexOf(c.toLowerCase()) !== -1; })
      || cols.find(function (c) { return names.indexOf(c.toLowerCase().split(".").pop()) !== -1; });
  }

  /* The id column: a usual name, else one named like "review_id" / "ReviewId". */
  function guessId(cols) {
    return guess(cols, ["id", "comment_id", "item_id", "uid", "key"])
      || cols.find(function (c) { return /(^|[_\W])id$/i.test(c) || /[a-z]Id$/.test(c); });
  }

  /* The text column: the project's, a usual name, else the column whose cells in the
     preview are longest (never the id column: "Check" would pass and the ids would
     be stored as the texts). */
  function guessText(cols, rows, idCol) {
    const named = guess(cols, ["text", "content", "body", "comment", "message", "review",
      "sentence", "tweet", "document", "description", "title"]);
    if (named) return named;
    let best = null, bestLen = -1;
    for (const c of cols) {
      if (c === idCol) continue;
      let len = 0;
      for (const row of rows) {
        if (row[c] !== null && typeof row[c] === "object") continue;  // a list is no text
        const v = row[c] === null || row[c] === undefined ? "" : String(row[c]);
        if (!/^\s*-?[\d.,]*\s*$/.test(v)) len += v.length;  // numbers are no text
      }
      if (len > bestLen) { best = c; bestLen = len; }
    }
    return best || cols[0];
  }

  async function counts() {
    const p = await Loop.api("GET", base);
    project = p;
    Loop.setText("project-name", "· " + p.name);
    $("counts").textContent = p.n_items + " items, " + p.remaining + " still need an answer; labels: " + p.labels.join(", ") + ".";
    lfsReady(p.has_lfs);
  }

  /* A project without an LF module has LFs once a rule is enabled: until then there
   * is nothing to apply (the server would answer 409), so say what to do instead. */
  function lfsReady(ready) {
    $("apply").disabled = !ready;
    if (!ready) {
      status("apply-status", "No LFs yet: write a rule on the dashboard (Rules) first; " +
        "saving it applies it and recalibrates." + (project && project.n_items
          ? " Labeling can start now, on random items." : ""));
    }
  }

  function form() {
    const fd = new FormData();
    fd.append("file", file, file.name);
    return fd;
  }

  async function send(path) {
    const res = await Loop.send(path, { method: "POST", body: form(), cache: "no-store",
      headers: { Authorization: "Bearer " + Loop.getToken() } });
    const body = await res.json().catch(function () { return {}; });
    return { ok: res.ok, status: res.status, body: body };
  }

  function query(dry) {
    const q = new URLSearchParams();
    q.set("text_field", $("col-text").value);
    if ($("col-id").value) q.set("id_field", $("col-id").value);
    if ($("col-gold").value) q.set("gold_field", $("col-gold").value);
    if ($("col-votes").value) q.set("votes_field", $("col-votes").value);
    q.set("eval_fraction", $("eval-fraction").value);
    document.querySelectorAll("#drop-cols input:checked").forEach(function (c) {
      q.append("drop", c.value);
    });
    if (dry) q.set("dry_run", "1");
    if ($("allow-dup").checked) q.set("allow_duplicate", "1");
    if ($("skip-stored").checked && $("col-id").value) q.set("skip_stored", "1");
    if ($("stored-labels").checked && $("col-id").value && $("col-gold").value) q.set("stored_labels", "1");
    return q.toString();
  }

  /* A refused upload: its summary in the status line, its rows in the list below
     (the error message starts with the first row's problem, which the list shows too). */
  function refused(r) {
    const b = r.body || {};
    const msg = b.summary ? b.summary + ":" : pageWords(b.error) || ("error " + r.status);
    status("import-status", msg.charAt(0).toUpperCase() + msg.slice(1), true);
    showErrors(r.body);
    /* the same file again, by mistake most likely: importing it anyway is a choice */
    // "nothing to import": its ids are stored, and importing anyway cannot add them
    if (b.code === "duplicate_upload" && !b.ids_stored) $("dup-box").hidden = false;
    /* ids stored already: a file that grew imports its new rows (stored items never change) */
    if (/skip_stored=1/.test(b.error || "") && !$("skip-stored").checked) $("skip-box").hidden = false;
    /* ... and, with a known-labels column, a file whose labels came later gives them
       to the stored items (they were refused here as "already exist") */
    if (/skip_stored=1/.test(b.error || "") && $("col-gold").value && !$("stored-labels").checked) {
      $("labels-box").hidden = false;
    }
  }

  /* The API's refusals name its query options; this page has boxes for them (re-trial:
     "upload with allow_duplicate=1" told to someone with a checkbox before them). */
  function pageWords(msg) {
    return msg && String(msg)
      .replace("imports its new rows with skip_stored", "imports its new rows: upload with skip_stored")
      .replace(/ (?:upload )?with (?:allow_duplicate|skip_stored|stored_labels)=1 \(on the Data page: ([^)]*)\)/g,
        function (m, box) { return " tick “" + box + "” below, then press “Import”"; })
      .replace("with an id column (id_field)", "with an id column (“Id column” above)");
  }

  /* The item count at the top, after an import that ended in an error: it may have
     been stored all the same (re-trial: "0 items" stood over a refusal that said the
     file was there); a count that cannot be read leaves the line as it was. */
  function recount() { counts().catch(function () { /* the import's message says more */ }); }

  function skippedNote(b) {
    const given = b.stored_labels;  // stored_labels: the stored rows' known labels
    const stored = " " + b.n_skipped + (b.n_skipped === 1 ? " row's id is" : " rows' ids are") +
      " stored already: ";
    if (given && given.n !== undefined) {  // checked, not imported yet
      return stored + given.n + (given.n === 1 ? " item gets its" : " items get their") + " known label.";
    }
    if (given) {
      return stored + given.n_labeled + (given.n_labeled === 1 ? " item was" : " items were") +
        " given its known label" +
        (given.n_held_out ? " (" + given.n_held_out + " held out to score the models)" : "") +
        (given.n_unchanged ? "; " + given.n_unchanged + " had it already" : "") +
        (given.n_answered ? "; " + given.n_answered + " answered already keep their answers" : "") + "." +
        (given.job_id ? " The models are being recalibrated with them (job " + given.job_id.slice(0, 8) + ")." : "");
    }
    return b.n_skipped ? " " + b.n_skipped + (b.n_skipped === 1 ? " row is" : " rows are") +
      " left out: " + (b.n_skipped === 1 ? "its id is" : "their ids are") + " stored already." : "";
  }

  /* "Import them again anyway" goes, unticked: it was for one refused file */
  function noDuplicate() {
    $("allow-dup").checked = false;
    $("dup-box").hidden = true;
    $("skip-stored").checked = false;
    $("skip-box").hidden = true;
    $("stored-labels").checked = false;
    $("labels-box").hidden = true;
  }

  function showErrors(body) {
    const ul = $("row-errors");
    Loop.clear(ul);
    const errs = (body && body.errors) || [];
    for (const e of errs) ul.appendChild(Loop.el("li", { text: e }));
    ul.hidden = !errs.length;
  }

  async function choose(f) {
    file = f;
    showErrors(null);
    noDuplicate();
    $("import").disabled = true;
    status("import-status", "Reading " + f.name + " …");
    const r = await send(base + "/items/preview");
    if (!r.ok) { status("import-status", r.body.error || ("error " + r.status), true); $("mapping").hidden = true; return; }
    const cols = r.body.columns;
    $("file-info").textContent = f.name + ": " + r.body.n_rows + " rows, columns " + cols.join(", ") + ".";
    const idCol = guessId(cols);
    const tf = project && cols.indexOf(project.text_field) !== -1 ? project.text_field
      : guessText(cols, r.body.rows, idCol);
    options($("col-text"), cols, tf, false);
    options($("col-id"), cols, idCol === tf ? undefined : idCol, true);
    /* a label column filled on every row is not picked: every item would have its
       label and none would be left to label (trial: WRENCH's train.json); it is left
       out instead, and can be picked to score the models with */
    /* a column named "gold" first: an export of loop holds the known labels there and
       the models' label in "label", filled on every row (round-trip trial: an export
       imported again on this page lost every known label, "gold" left out) */
    const filledAll = function (c) { return !!(r.body.filled && r.body.filled[c] === r.body.n_rows); };
    const byName = guess(cols, ["gold"]) || guess(cols, GOLD_NAMES);
    /* else a column that holds the project's label names (multi-class trial:
       "known_label" was not offered, and was imported as a field annotators see); so
       too where the column of a usual name is filled on every row, which is not
       picked (trial: a "category" of every row, and a "verdict" of Spam / ham on one
       row in five, shown to annotators while Check said to pick it); never a column
       an export of loop computed (its models' labels) */
    const byValues = (r.body.label_columns || []).find(function (c) {
      return c !== tf && c !== idCol && !filledAll(c) &&
        (r.body.export_columns || []).indexOf(c) === -1;
    });
    let goldCol = byName && !(filledAll(byName) && byValues) ? byName : byValues;
    const full = goldCol && r.body.filled && r.body.n_rows > 0 && r.body.filled[goldCol] === r.body.n_rows
      ? goldCol : null;
    if (full) goldCol = undefined;
    options($("col-gold"), cols, goldCol, true);
    $("eval-box").hidden = !$("col-gold").value;
    fileRows = r.body.rows || [];
    exportCols = r.body.export_columns || [];
    /* LF votes computed elsewhere: a column of lists; the project's own column if it
       has one, else one by a usual name (WRENCH's weak_labels) */
    fileCols = cols;  // what spanColumn reads (set by dropBoxes, below, too late for this)
    const lists = cols.filter(listColumn);
    const had = project && project.votes ? project.votes.field : null;
    options($("col-votes"), lists, had && lists.indexOf(had) !== -1 ? had
      : guess(lists, VOTES_NAMES), true);
    $("votes-box").hidden = !lists.length;
    dropBoxes(cols);
    const head = $("preview-head"), rows = $("preview-rows");
    Loop.clear(head); Loop.clear(rows);
    head.appendChild(Loop.el("tr", null, ...cols.map(function (c) { return Loop.el("th", { scope: "col", text: c }); })));
    for (const row of r.body.rows) {
      rows.appendChild(Loop.el("tr", null, ...cols.map(function (c) {
        // shown as the labeling page will show it (entities decoded, tags dropped);
        // the tooltip has the cell as written in the file
        // a list or an object as JSON (new-user trial: "[object Object],[object Object]")
        const raw = row[c] === null || row[c] === undefined ? ""
          : typeof row[c] === "object" ? JSON.stringify(row[c]) : String(row[c]);
        const v = Loop.plainText(raw);
        return Loop.el("td", { title: raw, text: v.length > 80 ? v.slice(0, 80) + "…" : v });
      })));
    }
    $("mapping").hidden = false;
    if (r.body.warning) status("import-status", r.body.warning, true);
    else status("import-status", "Pick the columns, then “Check”." + (full ? " “" + full +
      "” has a label on every row, so it is not picked as the known labels (every item " +
      "would have one, and none would be left to label) and is left out; to score the " +
      "models with it, pick it under “Known labels” with all of it held out." : ""));
  }

  /* A file chosen or dropped; a preview that got no answer says so (it was an
     unhandled error, and the page stayed on "Reading ..."). */
  function pick(f) {
    choose(f).catch(function (e) {
      $("mapping").hidden = true;
      $("file").value = "";  /* the same file chosen again is a change */
      status("import-status", Loop.isNetworkError(e) ? Loop.NETWORK + ": the file was not read, " +
        "and nothing was stored. Check your connection and choose it again." : e.message, true);
    });
  }

  /* One box per column that would be kept as a field (not the text, id or known
     labels): checked, the column is left out of the stored items (re-trial: a WRENCH
     file's "label" column, not imported as known labels, was shown to annotators). */
  let fileCols = [], fileRows = [];
  /* an export of loop: the columns it computed, which the import leaves out */
  let exportCols = [];
  /* a column of lists in every row shown (WRENCH's weak_labels, a span's offsets):
     no reading for an annotator ("-1,-1,-1,..."), so left out unless unchecked
     (new-user trial) */
  function listColumn(c) {
    if (spanColumn(c)) return false;
    return fileRows.some(function (row) { return asList(row[c]); }) &&
      fileRows.every(function (row) { return asList(row[c]) || row[c] === null || row[c] === undefined || row[c] === ""; });
  }
  /* a relation's span offsets beside its entity (span1 with entity1): kept, the
     labeling page marks the entity there (chemprot trial: left out, 412 of 6,428
     entities were marked at another place of the text, "AR" inside "p14ARF");
     annotators never see them as a field */
  function spanColumn(c) { return Loop.spanColumn(c, fileCols); }
  /* a list, or a CSV cell holding one as JSON ("[1,-1,0]": LF votes written out) */
  function asList(v) {
    if (Array.isArray(v)) return v;
    if (typeof v !== "string" || !/^\s*\[.*\]\s*$/.test(v)) return null;
    try { const x = JSON.parse(v); return Array.isArray(x) ? x : null; } catch (e) { return null; }
  }
  function dropBoxes(cols) {
    if (cols) fileCols = cols;
    const box = $("drop-cols");
    const shown = cols ? [] : Array.from(box.querySelectorAll("input"), function (c) { return c.value; });
    const checked = cols ? [] : Array.from(box.querySelectorAll("input:checked"), function (c) { return c.value; });
    Loop.clear(box);
    const used = [$("col-text").value, $("col-id").value, $("col-gold").value, $("col-votes").value];
    for (const c of fileCols) {
      if (used.indexOf(c) !== -1) continue;
      /* a column that holds the answer, not imported as known labels: left out unless
         unchecked (compose trial: a WRENCH file's label was shown to annotators) */
      const on = shown.indexOf(c) !== -1 ? checked.indexOf(c) !== -1
        : GOLD_NAMES.indexOf(c.toLowerCase()) !== -1 || listColumn(c) || exportCols.indexOf(c) !== -1;
      const input = Loop.el("input", { type: "checkbox", value: c, checked: on });
      input.addEventListener("change", function () { $("import").disabled = true; noDuplicate(); });
      box.appendChild(Loop.el("label", { class: "drop-col" }, input, " " + c));
    }
    $("drop-box").hidden = !box.childElementCount;
  }

  /* Which class the known labels were read as: a number is a class index counted
     from 0 (the labeling page's keys count from 1), so say what each became. */
  function goldNote(b) {
    if (!b.n_gold || !b.gold_counts) return "";
    const names = Loop.inLabelOrder(b.gold_counts, Loop.labelNames(project));
    const counts = names.filter(function (n) { return b.gold_counts[n]; })
      .map(function (n) { return n + " " + b.gold_counts[n]; }).join(", ");
    const index = b.gold_by_index ? " Numbers are class indices from 0: " +
      names.map(function (n, i) { return i + " = " + n; }).join(", ") + "." : "";
    return " Known labels: " + counts + "." + index;
  }

  /* What the votes column became: one LF per position. */
  function votesNote(b) {
    if (!b.votes) return "";
    const names = b.votes.lfs || [];
    return " LF votes (" + b.votes.field + "): " + b.votes.n + " LFs, " + names[0] +
      (names.length > 1 ? " to " + names[names.length - 1] : "") + ", on " +
      b.votes.n_items_with_votes + " of the rows" +
      (b.votes.n_items_voted === undefined || b.votes.n_items_voted === b.votes.n_items_with_votes ? "." :
        " (" + b.votes.n_items_voted + " with at least one vote; on the others every LF abstains).");
  }

  /* While a file is checked or imported, neither button: a Check pressed during a
     slow import said "Checking" over it, and its answer came first (data trial). */
  function busy(on) {
    /* the focus stays on the button pressed (Loop.busy); Import, done, gives it to
       what it said (Import stays disabled: that file is in) */
    if (on) { Loop.busy([$("check"), $("import")], true); return; }
    Loop.busy($("check"), false);
    Loop.giveFocusBack($("import-status"));  // Import pressed, and greyed out still
  }

  async function check() {
    showErrors(null);
    status("import-status", "Checking every row …");
    busy(true);
    let r;
    try { r = await send(base + "/items?" + query(true)); } catch (e) {
      if (!Loop.isNetworkError(e)) throw e;
      status("import-status", Loop.NETWORK + ": the file was not checked, and nothing was stored. " +
        "Check your connection and press “Check” again.", true);
      return;
    } finally { busy(false); }
    if (!r.ok) { refused(r); $("import").disabled = true; return; }
    const b = r.body;
    if (!b.n_items && b.stored_labels && b.stored_labels.n) {  /* labels for stored items only */
      status("import-status", "Nothing new to import." + skippedNote(b) + " Press “Import”.");
      $("import").disabled = false;
      return;
    }
    if (!b.n_items) {  /* every row left out (admin's trial: "All 0 rows are fine ... Press
      “Import”", and Import then imported 0 items) */
      status("import-status", "Nothing to import: every row's id is stored already (" + b.n_skipped +
        (b.n_skipped === 1 ? " row" : " rows") + "), so the project has them all. Choose another file.");
      $("import").disabled = true;
      return;
    }
    status("import-status", (b.n_items === 1 ? "The 1 row is fine: " : "All " + b.n_items + " rows are fine: ") + b.n_gold + " with a known label (" +
      b.n_eval + " held out to score the models, " + b.n_fit_gold + " used for fitting)." +
      skippedNote(b) + goldNote(b) + votesNote(b) + (b.note ? " Note: " + pageNote(b.note) + "." : "") + " Press “Import”.");
    $("import").disabled = false;
  }

  /* An upload's note in this page's words: it names the API's parameters (new-user
     trial: "pass gold_field=reviewed ..., or drop=reviewed" on a page where nothing is
     passed). Column names are the file's (the longest first: one may hold another,
     or a space). */
  function pageNote(note) {
    let out = String(note);
    const cols = (fileCols || []).slice().sort(function (a, b) { return b.length - a.length; });
    const say = [["upload with gold_field=", "pick “%” under “Known labels”"],
                 ["pass gold_field=", "pick “%” under “Known labels”"],
                 ["pass id_field=", "pick “%” as the “Id column”"],
                 ["drop=", "tick “%” under “Leave out”"]];
    for (const [param, words] of say) {
      for (const c of cols) out = out.split(param + c).join(words.split("%").join(c));
    }
    return out;
  }

  async function doImport() {
    busy(true);
    status("import-status", "Importing " + file.name + " … (a big file takes a while; stay on this page)");
    let r;
    try { r = await send(base + "/items?" + query(false)); } catch (e) {
      if (Loop.isNetworkError(e)) $("import").disabled = false;  // press it again
      busy(false);
      if (!Loop.isNetworkError(e)) throw e;
      /* cut off, the file most likely never arrived; if it did, it is not stored
         twice: the same file again is refused as such (its ids, or its texts) */
      status("import-status", Loop.NETWORK + ", so most likely nothing was stored. Check your " +
        "connection and press “Import” again" + ($("allow-dup").checked
          /* asked to import it again anyway: a second copy would be stored */
          ? ", once a reload of this page shows (in the item count at the top) that it was not."
          : ": if the file did arrive, the page says so instead of storing it twice."), true);
      recount();
      return;
    }
    busy(false);
    if (!r.ok) { refused(r); recount(); return; }
    noDuplicate();
    status("import-status", "Imported " + r.body.n_items + " items." + skippedNote(r.body) +
      votesNote(r.body) + (r.body.note ? " Note: " + pageNote(r.body.note) + "." : "") + (r.body.apply_job
      ? " The LFs are being applied to them and the models recalibrated (job " +
        r.body.apply_job.slice(0, 8) + "): nothing else to do." : ""));
    await counts();
    if (r.body.apply_job) {
      status("apply-status", "Applying the LFs to the new items by itself (job " +
        r.body.apply_job.slice(0, 8) + "): no need to press the button.");
      /* followed to its end (new-user trial: "Applying ..." stayed after it was done) */
      const j = await wait(r.body.apply_job);
      if (j.status === "finished") {
        status("apply-status", "Done: the LFs are applied to the new items; the models are " +
          "being recalibrated and the queue filled (the dashboard shows them when ready).");
      } else {
        status("apply-status", "Applying the LFs " + j.status + ": " + (j.error || "") +
          " Fix it and press the button.", true);
      }
      await counts();
    }
  }

  async function wait(id) {
    for (;;) {
      const j = await Loop.api("GET", "/api/jobs/" + encodeURIComponent(id));
      if (["finished", "failed", "stopped", "canceled"].indexOf(j.status) !== -1) return j;
      const pr = j.progress && j.progress.total ? " " + Loop.pct(j.progress.done / j.progress.total) : "";
      status("apply-status", j.type + ": " + j.status + pr);
      await new Promise(function (r) { setTimeout(r, 500); });
    }
  }

  async function apply() {
    Loop.busy($("apply"), true);
    try {
      for (const type of ["apply_lfs", "recalibrate"]) {
        const res = await Loop.api("POST", base + "/jobs", { type: type });
        const j = await wait(res.job_id);
        if (j.status !== "finished") { status("apply-status", type + " " + j.status + ": " + (j.error || ""), true); return; }
      }
      status("apply-status", "Done: LFs applied, models fitted, queue filled.");
      await counts();
    } catch (e) { status("apply-status", e.message, true); } finally { Loop.busy($("apply"), false); }
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    if (!await Loop.adminOnly("The Data page", pid)) return;
    $("to-dashboard").href = "/p/" + encodeURIComponent(pid) + "/dashboard";
    counts().catch(function (e) {
      if (e.status === 404) Loop.noProject(pid);
      else status("import-status", e.message, true);
    });
    $("file").addEventListener("change", function () { if (this.files[0]) pick(this.files[0]); });
    /* a file chosen while the page was still asking who is signed in (a slow server):
       its change came before anyone listened (CI: the mapping never showed) */
    if ($("file").files[0]) pick($("file").files[0]);
    const drop = $("drop");
    drop.addEventListener("dragover", function (ev) { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault(); drop.classList.remove("over");
      if (ev.dataTransfer.files[0]) pick(ev.dataTransfer.files[0]);
    });
    $("allow-dup").addEventListener("change", check);
    $("skip-stored").addEventListener("change", check);
    $("stored-labels").addEventListener("change", check);
    ["col-text", "col-id", "col-gold", "col-votes", "eval-fraction"].forEach(function (id) {
      $(id).addEventListener("input", function () {
        $("import").disabled = true;
        noDuplicate();  /* another mapping: another file, for this check */
        $("eval-out").textContent = Loop.pct(Number($("eval-fraction").value));
        $("eval-box").hidden = !$("col-gold").value;  /* held out of the known labels */
        if (id !== "eval-fraction") dropBoxes();
        /* another mapping: what was said of the last one no longer holds (team lead's
           trial: "not picked as the known labels" stayed after picking them) */
        status("import-status", "Pick the columns, then “Check”.");
      });
    });
    $("check").addEventListener("click", function () { check().catch(function (e) { status("import-status", e.message, true); }); });
    $("import").addEventListener("click", function () { doImport().catch(function (e) { status("import-status", e.message, true); }); });
    $("apply").addEventListener("click", apply);
  });
})();
