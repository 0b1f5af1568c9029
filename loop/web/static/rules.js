/* Dashboard: rules (declarative LFs) with a live preview, and rule suggestions.
 * Item text and rule contents are untrusted: built with Loop.el/textContent only. */
"use strict";
(function () {
  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  const $ = function (id) { return document.getElementById(id); };
  let labels = [];
  let projectName = "";    // names a saved file of rules, as an export is named
  let editing = null;      // name of the rule being edited, or null for a new one
  let editingAt = null;    // ... its updated_at when it was opened (a later change: 409)
  let editingRule = null;  // ... the rule (JSON) as it was opened
  let previewTimer = null;
  let previewSeq = 0;
  let nExamples = 8;       // matched items the preview shows ("Show more" adds to it)
  let saving = false;      // a save is on its way (the name it saves)
  let invalid = null;      // why the rule as it is cannot be saved (the preview's 400), or null
  let doubt = null;        // {key, why}: the last preview's rule (JSON) and why Save asks
                           // once more (it matches nothing or everything, or copies an LF)
  let confirmed = null;    // ... the key once Save was pressed for it and said so
  let shownRules = null;   // the rules (JSON) the table shows
  let previewed = null;    // the rule (JSON) the last preview that came back was for

  let saidAt = 0;
  /* what a keyword or regex rule can read besides the text (GET /rules/readable):
     the uploaded fields, and whether the items name a pair of entities */
  let readable = { fields: [], between: false };
  function status(msg, isError) {
    const s = $("rule-status");
    s.textContent = msg || "";
    s.classList.toggle("error", !!isError);
    saidAt = Date.now();
  }
  /* The preview refused the rule as it is (a bad pattern, an unknown field): Save
     waits until it is fixed, and the reason is said once, under the form. */
  function markInvalid(msg) {
    invalid = msg || null;
    const btn = $("rule-save");
    btn.disabled = !!invalid;  /* not while saving: Enter then would do nothing at all */
    btn.title = invalid ? "Fix the rule first: " + invalid : "";
  }
  function refreshDashboard() { document.dispatchEvent(new Event("loop:refresh")); }

  /* A rule as the tables read it: its own condition, then each more one
     (“words “free” · and not words “free of charge””). */
  function describe(rule) {
    return describeOne(rule) + (rule.conditions || []).map(function (c) {
      return " · " + (c.not ? "and not " : "and ") + describeOne(c);
    }).join("");
  }
  function describeOne(rule) {
    if (rule.kind === "keywords") {
      return (rule.whole_word ? "words " : "text ") + rule.keywords.map(function (k) { return "“" + k + "”"; }).join(", ") +
        (rule.ignore_accents ? " (any accents)" : "") + readsWhere(rule.reads);
    }
    if (rule.kind === "regex") return "/" + rule.pattern + "/" + readsWhere(rule.reads);
    if (rule.op === "in") return rule.field + " one of " + rule.value.map(function (v) { return JSON.stringify(v); }).join(", ");
    return rule.field + " " + rule.op + " " + JSON.stringify(rule.value);
  }

  /* Where a keyword or regex rule looks, as the tables say it ("" for the text). */
  function readsWhere(reads) {
    if (!reads || reads === "text") return "";
    return reads === "between" ? " between the entities" : " in " + reads;
  }

  /* The choices of what a rule or condition reads: the text, between the entities
     (when the items name a pair), each uploaded field; ``value`` is kept among them
     (a rule saved before the fields were known). */
  function fillReads(select, value) {
    const want = value || select.value || "text";
    Loop.clear(select);
    const choices = [["text", "the text"]];
    if (readable.between || want === "between") choices.push(["between", "between the entities"]);
    readable.fields.concat(want !== "text" && want !== "between" && readable.fields.indexOf(want) < 0 ? [want] : [])
      .forEach(function (f) { choices.push([f, "the field " + f]); });
    choices.forEach(function (c) {
      select.appendChild(Loop.el("option", { value: c[0], text: c[1], selected: c[0] === want }));
    });
    select.value = want;
    return choices.length;
  }

  /* The "Reads" choice shows for keywords and regular expressions, when there is a
     choice (a project of texts alone: none). */
  function showReads(label, select, kind) {
    label.hidden = kind === "field" || select.options.length < 2;
  }

  /* -- the form ------------------------------------------------------------------------ */
  function kindChanged() {
    const kind = $("rule-kind").value;
    document.querySelectorAll(".rule-kind").forEach(function (d) { d.hidden = d.dataset.kind !== kind; });
    $("rule-form").querySelector(".rule-case").hidden = kind === "field";
    showReads($("rule-form").querySelector(".rule-reads"), $("rule-reads"), kind);
  }

  /* Keywords as typed: comma separated, a keyword that holds a comma or a quote in
     double quotes ("1,000", "say ""hi""") as a CSV cell. Split on every comma, a
     rule made through the API with the keyword "1,000" became "1" and "000" when it
     was saved again from this form, unsaid. */
  function splitKeywords(text) {
    const out = [];
    let word = "", quoted = false, wasQuoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { word += '"'; i++; }
        else if (c === '"') quoted = false;
        else word += c;
      } else if (c === '"' && !word.trim()) {
        quoted = true; wasQuoted = true; word = "";
      } else if (c === ",") {
        out.push(wasQuoted ? word : word.trim()); word = ""; wasQuoted = false;
      } else if (!(wasQuoted && /\s/.test(c))) {
        word += c;
      }
    }
    out.push(wasQuoted ? word : word.trim());
    return out.filter(function (w) { return w.trim(); });
  }
  function joinKeywords(words) {
    return words.map(function (w) {
      return /[,"]/.test(w) || w !== w.trim() ? '"' + w.replace(/"/g, '""') + '"' : w;
    }).join(", ");
  }

  function formRule() {
    const kind = $("rule-kind").value;
    const chosen = $("rule-label").value;
    const rule = { name: $("rule-name").value.trim(), label: chosen === "" ? null : Number(chosen), kind: kind,
                   case_sensitive: $("rule-case").checked };
    if (kind === "keywords") {
      rule.keywords = splitKeywords($("rule-keywords").value);
      rule.whole_word = $("rule-whole").checked;
      rule.ignore_accents = $("rule-accents").checked;
    } else if (kind === "regex") {
      rule.pattern = $("rule-pattern").value;
    } else {
      rule.field = $("rule-field").value.trim();
      rule.op = $("rule-op").value;
      rule.value = fieldValue(rule.op, $("rule-value").value);
    }
    if (kind !== "field") rule.reads = $("rule-reads").value || "text";
    rule.conditions = conditionRows().map(rowCondition).filter(function (c) { return !isEmpty(c); });
    return rule;
  }

  /* A field condition's value as typed. "one of": the values, comma-separated, a value
     that holds a comma in double quotes, as keywords (the form sent the text and the
     server split it on every comma: an author "Smith, J." saved again from the form
     became two) */
  function fieldValue(op, v) {
    return op === "in" ? splitKeywords(v)
      : v.trim() !== "" && !Number.isNaN(Number(v)) && ["==", "!="].indexOf(op) === -1 ? Number(v) : v;
  }

  /* Nothing typed yet for a rule's (or a condition's) kind: nothing to preview. */
  function isEmpty(rule) {
    return (rule.kind === "keywords" && !rule.keywords.length) || (rule.kind === "regex" && !rule.pattern)
      || (rule.kind === "field" && (!rule.field || rule.value === ""
        || (Array.isArray(rule.value) && !rule.value.length)));
  }

  /* -- more conditions ("and", "and not") ----------------------------------------------- */
  const MAX_CONDITIONS = 5;
  function conditionRows() { return Array.from($("rule-conditions").children); }

  /* A row of the form for one more condition: joined by "and" or "and not", its kind,
     and that kind's fields as the rule's own has them, each labelled; Remove. */
  function addCondition(cond, focus) {
    const list = $("rule-conditions");
    if (list.children.length >= MAX_CONDITIONS) return null;
    const c = cond || { kind: "keywords", not: false };
    const opt = function (value, text, on) { return Loop.el("option", { value: value, text: text, selected: on }); };
    const join = Loop.el("select", { class: "cond-join" }, opt("and", "and", !c.not), opt("not", "and not", !!c.not));
    const kind = Loop.el("select", { class: "cond-kind" }, opt("keywords", "keywords", c.kind === "keywords"),
      opt("regex", "regular expression", c.kind === "regex"), opt("field", "field condition", c.kind === "field"));
    const text = function (cls, value, extra) {
      const input = Loop.el("input", Object.assign({ type: "text", class: cls }, extra || {}));
      input.value = value || "";
      return input;
    };
    const box = function (cls, on) {
      const input = Loop.el("input", { type: "checkbox", class: cls });
      input.checked = !!on;
      return input;
    };
    const ops = Loop.el("select", { class: "cond-op" });
    ["==", "!=", ">", ">=", "<", "<="].forEach(function (o) { ops.appendChild(opt(o, o, c.op === o)); });
    ops.appendChild(opt("in", "one of", c.op === "in"));
    const value = c.value === null || c.value === undefined ? ""
      : Array.isArray(c.value) ? joinKeywords(c.value.map(String)) : String(c.value);
    const reads = Loop.el("select", { class: "cond-reads" });
    fillReads(reads, c.reads);
    const title = Loop.el("span", { class: "cond-title" });
    const remove = Loop.el("button", { type: "button", class: "small cond-remove", text: "Remove" });
    const li = Loop.el("li", { class: "rule-condition", role: "group" },
      Loop.el("label", null, title, join),
      Loop.el("label", null, "Kind", kind),
      Loop.el("div", { class: "cond-part", "data-kind": "keywords" },
        Loop.el("label", null, "Words or phrases, comma separated",
          text("cond-keywords", c.keywords ? joinKeywords(c.keywords) : "", { placeholder: "e.g. free of charge" })),
        Loop.el("label", { class: "inline" }, box("cond-whole", c.whole_word !== false), " whole words"),
        Loop.el("label", { class: "inline" }, box("cond-accents", c.ignore_accents), " ignore accents")),
      Loop.el("div", { class: "cond-part", "data-kind": "regex" },
        Loop.el("label", null, "Pattern (RE2 syntax)", text("cond-pattern mono", c.pattern))),
      Loop.el("div", { class: "cond-part", "data-kind": "field" },
        Loop.el("label", null, "Field", text("cond-field", c.field, { placeholder: "a column of your file" })),
        Loop.el("label", null, "Op", ops),
        Loop.el("label", null, "Value", text("cond-value", value))),
      Loop.el("label", { class: "inline cond-case-label" }, box("cond-case", c.case_sensitive), " case sensitive"),
      Loop.el("label", { class: "cond-reads-label" }, "Reads", reads),
      remove);
    kind.addEventListener("change", function () { condKindChanged(li); });
    remove.addEventListener("click", function () {
      const rows = conditionRows();
      const at = rows.indexOf(li);
      li.remove();
      renumber();
      /* the focus to the next row's Remove (else the one before, else "+ and"): the
         button pressed is gone */
      const left = conditionRows();
      const next = left[Math.min(at, left.length - 1)];
      (next ? next.querySelector(".cond-remove") : $("rule-add-and")).focus();
      edited();
    });
    list.appendChild(li);
    condKindChanged(li);
    renumber();
    if (focus) li.querySelector(".cond-part:not([hidden]) input").focus();
    return li;
  }

  function condKindChanged(li) {
    const kind = li.querySelector(".cond-kind").value;
    li.querySelectorAll(".cond-part").forEach(function (d) { d.hidden = d.dataset.kind !== kind; });
    li.querySelector(".cond-case-label").hidden = kind === "field";
    showReads(li.querySelector(".cond-reads-label"), li.querySelector(".cond-reads"), kind);
  }

  /* Each row's number, in its title and in the names a screen reader hears. */
  function renumber() {
    const rows = conditionRows();
    rows.forEach(function (li, i) {
      const n = "Condition " + (i + 1);
      li.setAttribute("aria-label", n);
      li.querySelector(".cond-title").textContent = n;
      li.querySelector(".cond-remove").setAttribute("aria-label", "Remove condition " + (i + 1));
    });
    $("rule-add-and").disabled = $("rule-add-not").disabled = rows.length >= MAX_CONDITIONS;
  }

  /* One row as the API takes a condition. */
  function rowCondition(li) {
    const q = function (cls) { return li.querySelector("." + cls); };
    const c = { kind: q("cond-kind").value, not: q("cond-join").value === "not" };
    if (c.kind === "keywords") {
      c.keywords = splitKeywords(q("cond-keywords").value);
      c.whole_word = q("cond-whole").checked;
      c.ignore_accents = q("cond-accents").checked;
      c.case_sensitive = q("cond-case").checked;
    } else if (c.kind === "regex") {
      c.pattern = q("cond-pattern").value;
      c.case_sensitive = q("cond-case").checked;
    }
    if (c.kind !== "field") {
      c.reads = q("cond-reads").value || "text";
    } else {
      c.field = q("cond-field").value.trim();
      c.op = q("cond-op").value;
      c.value = fieldValue(c.op, q("cond-value").value);
    }
    return c;
  }

  function fillForm(name, rule, updatedAt, history) {
    editing = name;
    nExamples = 8;
    editingAt = name ? updatedAt : null;
    editingRule = name ? JSON.stringify(rule) : null;
    $("rule-form-title").textContent = name ? "Edit rule " + name : "New rule";
    $("rule-cancel").hidden = !name;
    showVersions(name, name ? history : null);
    setFields(rule);
  }

  /* The form's fields from ``rule`` (a fresh form without one). */
  function setFields(rule) {
    $("rule-name").value = rule ? rule.name : "";
    /* no label until one is chosen (new-user trials: a rule saved with the first
       label, the default, voted ham on gift-card spam, unsaid) */
    $("rule-label").value = rule ? String(rule.label) : "";
    $("rule-kind").value = rule ? rule.kind : "keywords";
    $("rule-keywords").value = rule && rule.keywords ? joinKeywords(rule.keywords) : "";
    $("rule-whole").checked = rule ? rule.whole_word !== false : true;
    $("rule-case").checked = rule ? !!rule.case_sensitive : false;
    $("rule-accents").checked = rule ? !!rule.ignore_accents : false;
    $("rule-pattern").value = rule && rule.pattern ? rule.pattern : "";
    fillReads($("rule-reads"), rule && rule.reads ? rule.reads : "text");
    $("rule-field").value = rule && rule.field ? rule.field : "";
    $("rule-op").value = rule && rule.op ? rule.op : "==";
    $("rule-value").value = rule && rule.value !== null && rule.value !== undefined
      ? (Array.isArray(rule.value) ? joinKeywords(rule.value.map(String)) : String(rule.value)) : "";
    Loop.clear($("rule-conditions"));
    ((rule && rule.conditions) || []).forEach(function (c) { addCondition(c, false); });
    renumber();
    kindChanged();
    schedulePreview();
  }

  /* The rule being edited's earlier versions, newest first, each loadable into the form
     (rule author's trial: "(v3)" said they were kept, and the only way back to one was
     to remember it and type it again). Loaded, a version is previewed like any edit,
     and Save makes it the current one (the one it replaces goes to the history). */
  function showVersions(name, history) {
    const box = $("rule-versions");
    const list = box.querySelector("ol");
    Loop.clear(list);
    box.hidden = !(history && history.length);
    if (box.hidden) return;
    box.open = false;
    box.querySelector("summary").textContent = "Earlier versions (" + history.length + ")";
    list.setAttribute("reversed", "");
    history.slice().reverse().forEach(function (h, i) {
      const v = history.length - i;
      const until = new Date(h.until * 1000).toLocaleString();
      list.appendChild(Loop.el("li", null,
        Loop.el("span", { class: "mono", text: describe(h.rule) }), " → " + (labels[h.rule.label] || h.rule.label) +
        (h.rule.name !== name ? " (named " + h.rule.name + ")" : "") + " ",
        Loop.el("span", { class: "muted", text: "until " + until + " " }),
        Loop.el("button", { type: "button", class: "small", text: "Load", "aria-label": "Load version " + v + " of " + name,
          onclick: function () {
            setFields(Object.assign({}, h.rule, { name: $("rule-name").value || name }));
            edited();
            status("Version " + v + " is in the form: Save rule makes it the rule's current version " +
              "(the one it replaces is kept among the earlier ones).");
            $("rule-name").focus();
          } })));
    });
  }

  /* The form changed: a save's error is about the rule as it was, so it goes (the
     preview says what is wrong with the rule as it is now, once). */
  function edited() {
    /* an error is fixed by typing; "Saved A: applying it" is about the last rule,
       and under the next one being typed it read as if that one were saved
       (a done message stays a few seconds, to be read) */
    if ($("rule-status").classList.contains("error") || Date.now() - saidAt > 4000) status("");
    markInvalid(null);  /* the preview says again if it still is */
    confirmed = null;
    $("rule-save").textContent = "Save rule";
    nExamples = 8;
    schedulePreview();
  }

  /* -- live preview -------------------------------------------------------------------- */
  function schedulePreview() {
    if (previewTimer) clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  }

  async function preview() {
    const box = $("rule-preview");
    const rule = formRule();
    const empty = isEmpty(rule);
    if (empty) { Loop.clear(box); say(""); markInvalid(null); return; }
    if (rule.label === null) {
      Loop.clear(box);
      box.appendChild(Loop.el("p", { class: "muted preview-label", text: "Choose the label it votes " +
        "(“Votes”) to see what it matches and how often it is right." }));
      say(""); markInvalid(null);
      return;
    }
    /* the name is checked at its field (its pattern): the preview shows the matches */
    if (!rule.name || !$("rule-name").checkValidity()) rule.name = "preview";
    if (editing) rule.replacing = editing;
    if (nExamples !== 8) rule.examples = nExamples;
    const seq = ++previewSeq;
    let p;
    try {
      p = await Loop.api("POST", base + "/rules/preview", rule);
    } catch (e) {
      if (seq !== previewSeq) return;
      Loop.clear(box);
      box.appendChild(Loop.el("p", { class: "status error", text: e.message }));
      say(e.message);
      /* "Saved <the last rule>: applying it" above this rule's error read as if this
         one were saved (trial): that news is old now */
      if (!$("rule-status").classList.contains("error")) status("");
      /* previews of this web process all busy (a slow pattern, another admin): the
         same preview again in a moment, unless typing schedules a newer one */
      if (e.status === 429) previewTimer = setTimeout(preview, 1500);
      if (e.status === 400) {
        markInvalid(e.message);
        /* a save sent before this preview said the same: once is enough */
        if ($("rule-status").textContent === e.message) status("");
      }
      return;
    }
    if (seq !== previewSeq) return;  // a newer preview is on its way
    markInvalid(null);
    previewed = ruleKey(rule);
    const same = p.same_as || [];
    doubt = !p.matched ? { key: previewed, why: "It matches no item" }
      : same.length ? { key: previewed, why: "It votes as “" + same[0] + "” does, on the same items" }
      : p.coverage >= 0.9 ? { key: previewed, why: "It matches " + (p.matched === p.n_items ? "every item"
        : Loop.pct(p.coverage, 1) + " of all items") } : null;
    Loop.clear(box);
    const g = p.gold;
    const gold = g.matched
      ? "precision " + Loop.pct(g.precision) + " on " + g.matched + " of " + g.n_gold + " known labels not held out" +
        (g.recall === null ? "" : ", recall " + Loop.pct(g.recall)) + (g.matched < 10 ? " (few: a rough guide)" : "")
      : "no known label among its matches (" + g.n_gold + " known, not held out, in all)";
    box.appendChild(Loop.el("p", { class: "preview-stats" },
      Loop.el("strong", { text: p.matched + " of " + p.n_items + " items (" + Loop.pct(p.coverage, 1) + ")" }),
      " vote " + p.label_name + "; " + p.new_coverage + " covered by no LF yet; overlaps " + p.overlaps +
      ", conflicts " + p.conflicts + " (with " + p.n_lfs_compared + (p.n_lfs_compared === 1 ? " LF); " : " LFs); ") + gold + ". ",
      Loop.el("span", { class: "muted preview-ms", "aria-hidden": "true", text: p.ms + " ms" })));
    const blanks = conditionRows().map(function (li, i) { return isEmpty(rowCondition(li)) ? i + 1 : 0; })
      .filter(Boolean);
    if (blanks.length) {
      /* review: an empty row was left out of the preview without a word (Save says so) */
      box.appendChild(Loop.el("p", { class: "muted preview-blank", text: "Condition " + blanks.join(", ") +
        (blanks.length === 1 ? " is" : " are") + " empty and left out of this preview." }));
    }
    const steps = p.steps || [];
    if (steps.length > 1 && p.rule && p.rule.conditions) {
      /* what each condition takes away (review: a count of the whole rule did not say
         which condition left no item, or which one did the work) */
      box.appendChild(Loop.el("p", { class: "muted preview-steps", text: describeOne(p.rule) + ": " +
        steps[0] + p.rule.conditions.map(function (c, i) {
          return " → " + (c.not ? "and not " : "and ") + describeOne(c) + ": " + steps[i + 1];
        }).join("") + " items" }));
    }
    const ex = (p.exclusions || []).filter(function () { return conditionRows().length < MAX_CONDITIONS; });
    if (ex.length) {
      /* words most of the answered items it gets wrong hold, and few it gets right:
         one click adds the "and not" (the expert reads the items it leaves out in the
         preview that follows) */
      const tip = Loop.el("p", { class: "preview-exclusions" },
        "Sharper with " + (ex.length === 1 ? "this" : "one of these") + " (from the answers): ");
      ex.forEach(function (e, i) {
        const what = "and not “" + e.keyword + "”";
        const why = e.wrong + " answered " + (e.wrong === 1 ? "item" : "items") + " it gets wrong and " +
          e.right + " it gets right left out: precision on the answers " + Loop.pct(e.before) + " to " + Loop.pct(e.precision);
        if (i) tip.appendChild(document.createTextNode(" "));
        tip.appendChild(Loop.el("button", { type: "button", class: "small exclusion", title: why,
          "aria-label": "Add " + what + " (" + why + ")", text: what, onclick: function () {
            if (addCondition(e.condition, true)) { status("Added " + what + "."); edited(); }
          } }));
        tip.appendChild(Loop.el("span", { class: "muted", text: " (" + e.wrong + " wrong, " + e.right + " right)" }));
      });
      box.appendChild(tip);
    }
    if (!p.matched) {
      /* saved, it would vote on nothing: almost always a typo or the wrong field */
      const check = rule.kind === "keywords" ? "the spelling of its words"
        : rule.kind === "regex" ? "the pattern" : "the field's name and the value as the data holds it";
      /* its conditions may be what leaves nothing (review: only the rule's own
         words were pointed at, "check out · and subscribe" matched none) */
      const n = (rule.conditions || []).length;
      box.appendChild(Loop.el("p", { class: "warn-text preview-none",
        text: "It matches no item, so saving it would change no label: check " + check +
          (rule.case_sensitive && rule.kind !== "field" ? " and its case" : "") +
          (n ? (n === 1 ? ", and its condition" : ", and its " + n + " conditions") +
            " (an item must meet each “and” and none of the “and not”; remove one to see what it keeps)" : "") + "." +
          (p.case_differs || []).map(function (d) {
            /* new-user trial: "source == Forwarded" matched none of "forwarded", unsaid */
            return " The items' " + d.field + " holds " + d.as_stored.map(function (v) { return "“" + v + "”"; }).join(", ") +
              ": a field's value is compared as written, capitals and all.";
          }).join("") }));
    }
    const un = p.uncomparable;
    if (un && un.n) {
      /* new-user trial: "views > 1000" passed over every "1,234", and "posted >=
         2015-05-21" every "05/20/2015": such values never match, unsaid */
      /* the comparison: the rule's own, or one of its conditions' (un.fields) */
      const fields = un.fields || [rule.field];
      const cmp = [rule].concat(rule.conditions || []).find(function (c) {
        return c.kind === "field" && fields.indexOf(c.field) >= 0 && ["<", "<=", ">", ">="].indexOf(c.op) >= 0;
      }) || rule;
      const date = typeof cmp.value === "string" && Number.isNaN(Number(cmp.value));
      box.appendChild(Loop.el("p", { class: "warn-text preview-uncomparable",
        text: un.n + (un.n === 1 ? " item's value" : " items' values") + " of " + fields.join(", ") + " " +
          (un.n === 1 ? "is" : "are") + " no " + (date ? "date" : "number") + " it can compare (" +
          un.examples.map(function (v) { return "“" + v + "”"; }).join(", ") + (un.n > un.examples.length ? ", ..." : "") +
          "), so " + (un.negated ? "the comparison never holds on them (an “and not” of it lets them through): "
            : "it never fires on them: ") + (date ? "dates are read as ISO 8601 (2015-05-20, 2015-05-20T17:15)"
            : "numbers are read as written in code (1234.5: no thousands separators, units or %)") +
          ". Stored items do not change: to compare them all, write them so in your file and import it into a new project." }));
    }
    if (p.ascii_words) {
      /* re-trial: a \b after .* or before \s* cannot be read for words of any script
         in RE2; said, not left to a count that is silently short */
      box.appendChild(Loop.el("p", { class: "warn-text preview-ascii",
        text: "In this pattern \\b, \\B and \\w know ASCII letters only (a \\b next to .*, \\s* or a " +
          "class is read so): a word in another script may be missed. Written only at the pattern's ends " +
          "(\\bword\\b) they know every script; keywords always do." }));
    }
    if (p.folds_capitals) {
      box.appendChild(Loop.el("p", { class: "warn-text preview-case",
        text: "Case is ignored (case sensitive is not ticked), so the capitals this pattern names " +
          "([A-Z], [[:upper:]], \\p{Lu}) match small letters too: tick case sensitive to match capitals only." }));
    }
    if (same.length) {
      /* rule author's trial: a copy of a rule was saved unsaid and doubled its evidence */
      box.appendChild(Loop.el("p", { class: "warn-text preview-same",
        text: "It votes " + p.label_name + " on exactly the items " + same.map(function (x) { return "“" + x + "”"; }).join(", ") +
          (same.length === 1 ? " votes it on" : " vote it on") + ": saved, the models would count the same evidence twice." }));
    } else if (p.matched && p.coverage >= Math.min(0.5, 2 / Math.max(labels.length, 2))) {
      /* a pattern that matches the empty string (x*) matched all 1,927 items; with more
         classes, less is already broad (new-user trial: the word "a" voted one class of
         five on 45% of the items, unsaid) */
      const many = labels.length > 4 && p.coverage < 0.5;
      box.appendChild(Loop.el("p", { class: "warn-text preview-broad",
        text: "It votes " + p.label_name + " on " + Loop.pct(p.coverage, 0) + " of all items: " +
          (many ? "with " + labels.length + " classes, few make up that many items, so it will often be wrong"
            : "a rule that broad says little beyond the class balance") +
          (rule.kind === "regex" ? " (does the pattern match an empty string?)" : "") + "." }));
    }
    const mr = p.models;
    /* the answers among its items say its label more often than not: that is the
       label meant, whatever the models read (trial: "precision 100% on 5 known
       labels" of "ur" → spam, and below it "is spam the label you mean to vote?") */
    const goldSays = g.matched >= 3 && g.precision >= 0.5;
    if (mr && mr.n >= 5 && mr.most !== p.label_name && mr.most_share >= 0.6 &&
        mr.most_p >= 0.6 && mr.label_taught && !goldSays) {
      /* new-user trial: a gift-card rule voted ham (the first label, the default) on
         items the end model read as spam at 71-88%, and nothing said so. Only when the
         models are sure and something taught them the rule's class: a second trial's
         correct Politics rule was doubted when one Health rule was all they knew */
      box.appendChild(Loop.el("p", { class: "warn-text preview-against",
        text: "The " + (mr.model === "label_model" ? "label model" : "end model") + " reads " +
          Loop.pct(mr.most_share, 0) + " of its " + mr.n + " items as " + mr.most + " (at " +
          Loop.pct(mr.most_p, 0) + " on average), not " + p.label_name + ": is " +
          p.label_name + " the label you mean to vote?" }));
    }
    /* the numbers and warnings, for a screen reader; the items are there to read. Not
       the query's time: it differs at every preview, and each keystroke's preview was
       read again for it alone (accessibility trial) */
    say(Array.from(box.children).map(function (c) {
      const quiet = c.cloneNode(true);
      quiet.querySelectorAll("[aria-hidden=true]").forEach(function (x) { x.remove(); });
      return quiet.textContent;
    }).join(" ").trim());
    if (p.examples.length) {
      const ul = Loop.el("ul", { class: "examples" });
      for (const ex of p.examples) {
        const who = ex.gold ? "gold: " + ex.gold : (ex.guess ? (ex.guess.model === "label_model" ? "label model: " : "end model: ") +
          ex.guess.label + " " + Loop.pct(ex.guess.p) : "");
        ul.appendChild(Loop.el("li", null, Loop.el("span", { class: "muted", text: who + " · " }),
          Loop.el("bdi", null, ...marked(ex.text, ex.marks)), Loop.entityLine(ex.entities)));
      }
      box.appendChild(ul);
      if (p.matched > p.examples.length && nExamples < 100) {
        /* rule author's trial: 8 examples of 300 matches were all one could read */
        box.appendChild(Loop.el("button", { type: "button", class: "preview-more", onclick: function () {
          nExamples = Math.min(100, nExamples + 24);
          preview();
        } }, "Show more (" + p.examples.length + " of " + p.matched + " shown)"));
      }
    }
  }

  /* What a screen reader hears of the preview (#rule-preview is not a live region: it
     read every matched item out at each pause in typing). Said only when it changed. */
  function say(text) {
    const live = $("rule-preview-said");
    if (live.textContent !== text) live.textContent = text;
  }

  /* An example's text (as the rule reads it) with what the rule matched in <mark>:
     text nodes only, nothing parsed. The server's offsets count code points. A
     direction override or control character is shown as its code (Loop.visible), as
     on every other page: obeyed, "\u202Eexe.doc" read "cod.exe" here (trial). */
  function marked(text, marks) {
    const chars = Array.from(text);
    const piece = function (a, b) { return Loop.visible(chars.slice(a, b).join("")); };
    const out = [];
    let at = 0;
    for (const [a, b] of marks || []) {
      if (a < at || b <= a) continue;
      if (a > at) out.push(piece(at, a));
      out.push(Loop.el("mark", { text: piece(a, b) }));
      at = b;
    }
    if (at < chars.length) out.push(piece(at, chars.length));
    return out;
  }

  /* -- rules table --------------------------------------------------------------------- */
  let rulesSeq = 0, rulesShownSeq = 0;
  async function loadRules(onlyIfChanged) {
    const seq = ++rulesSeq;
    const data = await Loop.api("GET", base + "/rules");
    if (seq < rulesShownSeq) return;  /* an older read came back late: never draw it over a newer */
    rulesShownSeq = seq;
    const key = JSON.stringify(data.rules);
    /* the poll redraws only a change (another tab's, the API's): a half-confirmed
       Delete stays as it is */
    if (onlyIfChanged && key === shownRules) return;
    shownRules = key;
    const body = $("rule-rows");
    /* a rule's box or Delete used with the keyboard keeps the focus in its row (or the
       row now in its place, else the line saying what was done): the redraw left it on
       the page's body (accessibility trial) */
    Loop.keepFocus(body, function () { drawRules(body, data); }, null, $("rule-status"));
  }
  function drawRules(body, data) {
    Loop.clear(body);
    if (!data.rules.length) {
      body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "5", class: "muted", text: "No rules yet: write one below or accept a suggestion." })));
    }
    for (const r of data.rules) {
      const toggle = Loop.el("input", { type: "checkbox", "aria-label": "enable " + r.name });
      toggle.checked = !!r.enabled;
      toggle.addEventListener("change", function () { change(r.name, "PUT", { enabled: toggle.checked }); });
      /* Edit and Delete name their rule for a screen reader, as the checkbox does */
      const del = Loop.confirmButton({ class: "small danger", text: "Delete", "aria-label": "Delete " + r.name },
        /* the armed question names the rule too (a screen reader heard only "Really
           delete? Click again", not which rule: new-user trial) */
        "Delete " + r.name + "?", function () { change(r.name, "DELETE"); });
      body.appendChild(Loop.el("tr", { "data-rule": r.name, "data-key": r.name },
        Loop.el("th", { scope: "row", class: "mono" }, r.name,
          r.source === "suggestion" ? Loop.el("span", { class: "tag", text: "suggested" }) : null,
          r.history.length ? Loop.el("span", { class: "muted", title: "earlier versions kept", text: " (v" + (r.history.length + 1) + ")" }) : null),
        Loop.el("td", { class: "mono rule-desc", text: describe(r.rule) }),
        Loop.el("td", { class: "wrap", text: r.label_name }),
        Loop.el("td", null, toggle),
        Loop.el("td", { class: "rule-btns" },
          Loop.el("button", { type: "button", class: "small", text: "Edit", "aria-label": "Edit " + r.name, onclick: function () { fillForm(r.name, r.rule, r.updated_at, r.history); $("rule-name").focus(); } }),
          " ", del)));
    }
  }

  async function change(name, method, body) {
    try {
      const res = await Loop.api(method, base + "/rules/" + encodeURIComponent(name), body);
      const did = method === "DELETE" ? "Deleted " : body && body.enabled === false ? "Disabled "
        : body && body.enabled === true ? "Enabled " : "Saved ";
      status(did + name + applying(res, method === "DELETE" || (body && body.enabled === false)));
      /* switched off or on here while this tab edits it: the rule is the one opened, so
         the edit stays this tab's to save (its updated_at moved: saving it answered
         "changed in another tab, or by someone else", and what was typed had to be
         typed again) */
      if (method === "PUT" && res && res.rule && editing === name &&
          JSON.stringify(res.rule.rule) === editingRule) editingAt = res.rule.updated_at;
      await Promise.all([loadRules(), loadSuggestions()]);
      refreshDashboard();
    } catch (e) {
      status(e.message, true);
      await loadRules().catch(function () { /* keep the message above */ });  // undo the box / button
    }
  }

  /* Rules as data: the rules as GET /rules lists them, to a file; a file of them
     (saved here or in another project) added at once, all or none: each votes for
     the label of its name here. */
  function fileStatus(text, isError) {
    const s = $("rules-file-status");
    s.textContent = text;
    s.classList.toggle("error", !!isError);
  }
  /* indented, a key a line (as GET /rules lists them): a file one can read and edit by
     hand, and keep under version control (new-user trial: it was one line of JSON) */
  async function saveFile() {
    try {
      const data = await Loop.api("GET", base + "/rules");
      if (!data.rules.length) {  /* a file of no rules adds nothing anywhere */
        fileStatus("This project has no rules yet: write one below, then save them.", true);
        return;
      }
      /* named as an export is, by the project's name and id: several projects' files
         in one folder are told apart (as werkzeug's secure_filename writes the name) */
      const name = projectName.normalize("NFKD").replace(/[^\x20-\x7e]/g, "")
        .trim().replace(/\s+/g, "_").replace(/[^A-Za-z0-9_.-]/g, "").replace(/^[._]+|[._]+$/g, "")
        .slice(0, 60);
      const filename = (name ? name + "-" : "") + Loop.pid() + "-rules.json";
      Loop.saveBlob(new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" }),
                    filename);
      const n = data.rules.length;
      fileStatus("Saved " + n + (n === 1 ? " rule" : " rules") + " to " + filename + ".");
    } catch (e) { fileStatus("Saving failed: " + e.message, true); }
  }
  /* What is wrong with a file before it is sent: empty, not JSON (where: a file edited
     by hand), or JSON without a list of rules (new-user trial: each was "no file of
     rules ... save one", which told a hand-edited file's author nothing to fix). */
  function notRules(name, text) {
    if (!text.trim()) return name + " is empty: save a project's rules with “Save rules to a file” and add that file.";
    let data;
    try { data = JSON.parse(text); } catch (e) {
      const start = text.trim();
      if (start[0] !== "{" && start[0] !== "[") {  /* a CSV, notes: nothing to fix there */
        return name + " is no JSON (it starts “" + start.slice(0, 20).replace(/\s+/g, " ") + "…”): a file of rules is the JSON “Save rules to a file” writes.";
      }
      return name + " is not valid JSON (" + e.message + "): fix it there, or save the rules again with “Save rules to a file”.";
    }
    const rules = Array.isArray(data) ? data : data && data.rules;
    if (!Array.isArray(rules)) return name + " holds no list of rules: a file of rules is {\"rules\": [...]}, as “Save rules to a file” writes it.";
    return rules;
  }
  async function addFromFile() {
    const input = $("rules-file"), file = input.files[0];
    if (!file) return;
    const rules = notRules(file.name, await file.text());
    if (typeof rules === "string") {
      fileStatus(rules, true);
      input.value = "";
      return;
    }
    try {
      const res = await Loop.api("POST", base + "/rules", { rules: rules });
      const n = res.rules.length;
      fileStatus("Added " + n + (n === 1 ? " rule" : " rules") + " from " + file.name +
        (res.job_id ? ": applying " + (n === 1 ? "it" : "them") + " and recalibrating (job " + res.job_id.slice(0, 8) + ")." : "."));
      await Promise.all([loadRules(), loadSuggestions()]);
      refreshDashboard();
    } catch (e) {
      fileStatus("Nothing added from " + file.name + ": " + e.message, true);
    }
    input.value = "";  /* the same file chosen again is a change again */
  }

  /* ``removed``: the rule was deleted or disabled: the LFs left are re-applied. */
  function applying(res, removed) {
    if (res && res.changed === false) return ": nothing changed, so nothing is re-applied.";
    if (!(res && res.job_id)) return ".";
    return (removed ? ": re-applying the other LFs and recalibrating (job "
      : ": applying it and recalibrating (job ") + res.job_id.slice(0, 8) + ").";
  }

  function ruleKey(rule) {
    const r = Object.assign({}, rule);
    delete r.name;  /* the preview may have named it "preview" */
    delete r.replacing;
    delete r.examples;
    return JSON.stringify(r);
  }

  async function save(ev) {
    ev.preventDefault();
    if (saving) {
      /* rule author's trial: Enter pressed while the last save was on its way did
         nothing, unsaid, and the rule typed was never saved. (Saved after it, the
         next rule was read when that save ended: half typed, it mixed two rules.) */
      status("Still saving “" + saving + "”: press Enter again in a moment to save “" +
        (formRule().name || "this rule") + "” (it is not saved yet).", true);
      return;
    }
    const rule = formRule();
    if (invalid) return;  /* (Enter in a field) the preview says what to fix */
    /* a condition row left empty is not part of the preview: said, never saved unsaid */
    const blank = conditionRows().findIndex(function (li) { return isEmpty(rowCondition(li)); });
    if (blank >= 0) {
      status("Condition " + (blank + 1) + " is empty: fill it in or remove it.", true);
      conditionRows()[blank].querySelector(".cond-part:not([hidden]) input").focus();
      return;
    }
    if (previewed !== ruleKey(rule)) {
      /* saved (Enter) before the preview of what was typed came back (re-trial: a
         typo saved at once): preview it now, then decide */
      if (previewTimer) { clearTimeout(previewTimer); previewTimer = null; }
      await preview();
      if (invalid) return;
    }
    /* new-user trial: a rule the preview said matches nothing was saved at once and
       started an apply run and a recalibration; Save now asks once more */
    if (doubt !== null && doubt.key === ruleKey(rule) && confirmed !== doubt.key) {
      confirmed = doubt.key;
      $("rule-save").textContent = "Save anyway";
      status(doubt.why + ": press Save anyway to save it all the same.", true);
      return;
    }
    confirmed = null;
    $("rule-save").textContent = "Save rule";
    saving = rule.name || "the rule";
    markInvalid(invalid);
    try {
      const res = editing
        ? await Loop.api("PUT", base + "/rules/" + encodeURIComponent(editing),
          Object.assign({ if_unchanged_since: editingAt }, rule))
        : await Loop.api("POST", base + "/rules", rule);
      saving = false;  /* stored: the next rule may go (the tables reload meanwhile) */
      markInvalid(invalid);
      status("Saved " + res.rule.name + applying(res));
      if (JSON.stringify(formRule()) === JSON.stringify(rule)) {
        fillForm(null, null);
        Loop.clear($("rule-preview"));
        say("");
      } else {
        /* typed into while the save was on its way (the next rule, say): keep it */
        if (editing) {
          editing = res.rule.name;
          editingAt = res.rule.updated_at;
          $("rule-form-title").textContent = "Edit rule " + editing;
        }
        status("Saved " + res.rule.name + applying(res) + " What you typed since is still in the form.");
      }
      await Promise.all([loadRules(), loadSuggestions()]);
      refreshDashboard();
    } catch (e) {
      /* the preview shows a refused rule's reason already */
      const shown = Array.from($("rule-preview").querySelectorAll(".status.error"))
        .some(function (el) { return el.textContent === e.message; });
      if (e.status === 404 && editing) {
        /* deleted or renamed (another tab, someone else) since it was opened: a PUT to
           its old name can never land, and Cancel wiped what was typed. The form keeps
           it as a new rule, saved only when asked */
        const gone = editing;
        fillForm(null, rule);
        status("Rule “" + gone + "” was deleted or renamed (in another tab, or by someone else) " +
          "after you opened it, so your edit is not saved. What you typed is in the form as a new " +
          "rule: press Save rule to add it, or change it first.", true);
      } else if (!shown) status(e.message, true);
      if (e.status === 400) markInvalid(e.message);
      /* changed or gone meanwhile (another tab): show the rules as they are now */
      if (e.status === 404 || e.status === 409) await loadRules().catch(function () { /* keep the message */ });
    } finally {
      saving = false;
      markInvalid(invalid);
    }
  }

  /* -- suggestions --------------------------------------------------------------------- */
  /* What Accept and Reject did, said in the suggestions card, beside the buttons: on a
     phone the rule form's status line is a screen or two above them (trial: a refused
     Reject said so out of sight). */
  function sugStatus(msg, isError) {
    const s = $("sug-status");
    s.textContent = msg || "";
    s.classList.toggle("error", !!isError);
  }

  function evidence(title, items) {
    if (!items.length) return null;
    const ul = Loop.el("ul");
    for (const it of items) {
      ul.appendChild(Loop.el("li", null, Loop.el("span", { class: "muted", text: it.gold + " · " }),
        Loop.el("bdi", { text: Loop.plainText(it.text) })));
    }
    return Loop.el("div", null, Loop.el("strong", { text: title }), ul);
  }

  /* Where the keyboard focus goes once a suggestion is accepted or rejected (its item
     gone, the list redrawn): the same button of the suggestion now in its place, else
     the line saying what was done; it went to the page's body (accessibility trial).
     Only when the focus was in that item: a mouse user's is left alone. */
  function sugFocus(li, cls) {
    if (!li.contains(document.activeElement)) return function () { /* not the keyboard's */ };
    const at = Array.from($("sug-list").querySelectorAll("li[data-key]")).indexOf(li);
    return function () {
      const act = document.activeElement;
      if (act && act !== document.body && !li.contains(act)) return;  // moved on meanwhile
      const items = Array.from($("sug-list").querySelectorAll("li[data-key]"));
      const now = items[Math.min(at, items.length - 1)];
      (now && now.querySelector("button." + cls) || $("sug-status")).focus();
    };
  }

  async function loadSuggestions() {
    const list = $("sug-list");
    let data;
    try {
      data = await Loop.api("GET", base + "/rules/suggestions?k=8");
    } catch (e) {
      Loop.clear(list);
      list.appendChild(Loop.el("li", { class: "status error note", text: e.message }));
      return;
    }
    Loop.clear(list);
    if (!data.suggestions.length) {
      const same = (data.redundant || []).map(function (r) { return describe(r.rule) + " → " + r.label_name; });
      list.appendChild(Loop.el("li", { class: "muted note", text: !data.n_gold
        ? "No gold labels yet: suggestions come from the experts' answers."
        : data.waiting_for_models
          ? "Suggestions come once the models are fitted (the first recalibration): each is " +
            "checked against them on all the items it covers, not only the answered ones."
        : same.length
          ? "No new rule from " + data.n_gold + " gold labels: the candidates (" + same.join("; ") +
            ") would mostly repeat votes your LFs already cast on their items."
        : (data.doubtful || []).length
          /* rule author's trial: "a word needs 3+ gold items that agree" when three did */
          ? "No rule to suggest from " + data.n_gold + " gold labels: the candidates (" +
            data.doubtful.map(function (r) {
              return describe(r.rule) + " → " + r.label_name + ", right on " + r.n_right + " of " + r.n_gold +
                " answers" + (r.model_precision == null ? "" : " but about " + Loop.pct(r.model_precision) + " on all its items as the models read them");
            }).join("; ") + ") are below " + Loop.pct(data.min_model_precision) + " as the models read their items."
          : "No candidate yet from " + data.n_gold + " gold labels: a word is one once the answers on its items " +
            "agree clearly more often than its label's share of all answers would by chance (3 of 3 will do " +
            "for a rare label, a common one needs more)." }));
      return;
    }
    for (const s of data.suggestions) {
      const li = Loop.el("li", { "data-key": s.key });
      /* each names its rule for a screen reader, which heard "Accept" eight times */
      const what = describe(s.rule) + " → " + s.label_name;
      const accept = Loop.el("button", { type: "button", class: "small primary accept", text: "Accept",
        "aria-label": "Accept " + what });
      const reject = Loop.el("button", { type: "button", class: "small reject", text: "Reject",
        "aria-label": "Reject " + what });
      accept.addEventListener("click", async function () {
        const back = sugFocus(li, "accept");
        Loop.busy([accept, reject], true);
        try {
          const res = await Loop.api("POST", base + "/rules/suggestions/accept", { key: s.key });
          sugStatus("Accepted " + res.rule.name + applying(res));
          await Promise.all([loadRules(), loadSuggestions()]);
          back();
          refreshDashboard();
        } catch (e) {
          /* gone meanwhile (rejected in another tab, a rule already: 409
             suggestion_is_rule): the list is redrawn */
          const gone = e.status === 404 || (e.body && e.body.code === "suggestion_is_rule");
          sugStatus(gone ? "That suggestion is gone (rejected or saved as a rule " +
            "meanwhile): the list is up to date now." : e.message, true);
          if (gone) { await loadSuggestions(); back(); }
          else Loop.busy([accept, reject], false);
        }
      });
      reject.addEventListener("click", async function () {
        const back = sugFocus(li, "reject");
        Loop.busy([accept, reject], true);
        try {
          await Loop.api("POST", base + "/rules/suggestions/reject", { key: s.key });
          li.remove();
          // the last one gone: what is left to say (the next candidates, or why none)
          if (!list.querySelector("li[data-key]")) await loadSuggestions();
          back();
        } catch (e) {
          /* accepted meanwhile (another tab, another admin): a rule now, which Reject
             cannot take back. Said in words, without the API's key ("keywords:x:1"), and
             the lists redrawn: it stayed offered, its Accept a "gone" (trial) */
          if (e.status === 409) {
            await Promise.all([loadRules().catch(function () { /* the message below */ }),
              loadSuggestions()]);
            const rule = e.body && e.body.rule;
            sugStatus("Not rejected: " + describe(s.rule) + " → " + s.label_name + " was accepted " +
              "meanwhile and is the rule " + (rule ? rule + " " : "") + "now. To stop its votes, " +
              "switch it off or delete it in the rules table.", true);
            back();
            return;
          }
          sugStatus(e.message, true);
          Loop.busy([accept, reject], false);
        }
      });
      const wrong = s.n_gold - s.n_right;
      const details = Loop.el("details", { class: "evidence" }, Loop.el("summary", { text: "Evidence: " +
        s.n_right + " agreeing, " + wrong + " contradicting gold items" +
        (s.support.length + s.contradict.length < s.n_gold ? " (examples below)" : "") }),
        evidence("Agreeing", s.support), evidence("Contradicting", s.contradict));
      li.appendChild(Loop.el("div", null,
        Loop.el("span", { class: "mono", text: describe(s.rule) }), " → ", Loop.el("strong", { text: s.label_name }),
        Loop.el("span", { class: "muted", text: " · right on " + s.n_right + " of " + s.n_gold +
          " gold items (answers and uploaded labels; estimated precision " + Loop.pct(s.precision) +
          ": a few gold items are a rough guide)" +
          (s.model_precision == null ? "" : ", about " + Loop.pct(s.model_precision) +
          " on all its items as the models read them") + " · covers " + s.coverage + " unlabeled (" + s.new_coverage + " covered by no LF, " + s.fresh +
          " where no LF votes " + s.label_name + ") " }),
        s.against ? Loop.el("span", { class: "warn-text", text: "· on " + s.against +
          " of them an LF votes another label " }) : null));
      li.appendChild(Loop.el("div", { class: "row" }, accept, reject));
      li.appendChild(details);
      list.appendChild(li);
    }
  }

  /* What rules can read besides the text; the form's choices are filled again
     (what each one reads kept). */
  async function loadReadable() {
    try {
      readable = await Loop.api("GET", base + "/rules/readable");
    } catch (e) { return; }  /* the text alone, as before */
    fillReads($("rule-reads"));
    kindChanged();
    conditionRows().forEach(function (li) {
      fillReads(li.querySelector(".cond-reads"));
      condKindChanged(li);
    });
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.getToken()) return;  // dashboard.js sends the visitor to sign in
    try {
      const who = await Loop.whoami();
      if (who && who.role !== "admin") return;  // dashboard.js points annotators to labeling
    } catch (e) { return; }
    let project;
    try { project = await Loop.api("GET", base); } catch (e) { return; }  // dashboard.js reports it
    labels = Loop.labelNames(project);
    projectName = String(project.name || "");
    const sel = $("rule-label");
    sel.appendChild(Loop.el("option", { value: "", disabled: true, text: "choose…" }));
    labels.forEach(function (l, i) { sel.appendChild(Loop.el("option", { value: String(i), text: l })); });
    sel.required = true;  /* Save asks for it (the browser says so at the list) */
    sel.value = "";
    $("rule-kind").addEventListener("change", function () { kindChanged(); edited(); });
    $("rule-add-and").addEventListener("click", function () { if (addCondition({ kind: "keywords", not: false }, true)) edited(); });
    $("rule-add-not").addEventListener("click", function () { if (addCondition({ kind: "keywords", not: true }, true)) edited(); });
    $("rule-form").addEventListener("input", edited);
    $("rule-form").addEventListener("submit", save);
    $("rule-cancel").addEventListener("click", function () {
      /* the focus back to the rule's Edit button (else the form's first field): the
         button pressed is hidden, and it went to the page's body (accessibility trial) */
      const was = editing;
      fillForm(null, null);
      const row = Array.from($("rule-rows").rows).find(function (r) { return r.dataset.key === was; });
      const edit = row && row.querySelector(".rule-btns button");
      (edit || $("rule-name")).focus();
    });
    /* Escape leaves an edit as Cancel edit does (what was changed is not saved); a
       new rule's typing stays, and an armed button's Escape only disarms it */
    $("rule-form").addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || $("rule-cancel").hidden || e.defaultPrevented) return;
      if (e.target.dataset && e.target.dataset.armed === "1") return;
      e.preventDefault();
      $("rule-cancel").click();
    });
    $("rules-save-file").addEventListener("click", saveFile);
    $("rules-file").addEventListener("change", addFromFile);
    $("sug-refresh").addEventListener("click", function () { sugStatus(""); loadSuggestions(); });
    document.addEventListener("loop:polled", function () { loadRules(true).catch(function () { /* the dashboard says */ }); });
    fillReads($("rule-reads"), "text");
    kindChanged();
    await Promise.all([loadRules().catch(function (e) { status(e.message, true); }), loadSuggestions(),
      loadReadable()]);
  });
})();
