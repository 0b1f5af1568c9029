/* Dashboard: LF table, learning curve (own SVG), class balance, queue, jobs, exports. */
"use strict";
(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 3000;
  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  const $ = function (id) { return document.getElementById(id); };
  let labels = [];

  /* A message at the page's top (see said: one under the control that caused it). */
  function status(msg, isError) { said("dash-status", msg, isError); }

  function svg(tag, attrs, text) {
    const n = document.createElementNS(SVGNS, tag);
    for (const k of Object.keys(attrs || {})) n.setAttribute(k, String(attrs[k]));
    if (text !== undefined) n.textContent = String(text);
    return n;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  /* history: [{n_gold, label_model, end_model, at}] -> SVG line chart, drawn at the
   * width it is shown at (a 640-wide drawing scaled to a phone made its text 7 px);
   * redrawn when the window is resized. */
  let lastHistory = [], lastPicks = null, lastMinEval = 0;
  /* 95% Wilson interval of ``right`` of ``n`` (loop.core.metrics.proportion_interval) */
  function wilson(right, n) {
    const z = 1.96, p = right / n, d = 1 + z * z / n;
    const mid = (p + z * z / (2 * n)) / d;
    const half = z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d;
    return [Math.max(0, mid - half), Math.min(1, mid + half)];
  }
  /* the held-out items a point's score of model ``key`` rests on (the label model's:
     those an LF votes on) */
  function heldOutN(h, key) {
    const n = Number(key === "label_model" ? h.n_eval_covered : h.n_eval);
    return Number.isFinite(n) && n > 0 ? n : null;
  }
  /* a score on fewer than minEval held-out items, with its interval (as a random
     pick's group: {n, right, low, high}); null for a score on more */
  function fewHeldOut(h, key, minEval) {
    const n = heldOutN(h, key);
    if (n === null || n >= minEval) return null;
    const right = Math.round(h[key] * n), ci = wilson(right, n);
    return { n: n, right: right, low: ci[0], high: ci[1], heldOut: true };
  }
  function drawCurve(history, picks, minEval) {
    lastHistory = history || [];
    lastPicks = picks || null;
    lastMinEval = minEval || 0;
    const box = $("curve");
    const shown = box.clientWidth || 640;
    Loop.clear(box);
    const series = [
      { key: "label_model", name: "Label model", cls: "s-lm" },
      { key: "end_model", name: "End model", cls: "s-em" },
    ];
    let pts = (history || []).filter(function (h) { return h && Number.isFinite(Number(h.n_gold)); })
      .slice().sort(function (a, b) { return Number(a.n_gold) - Number(b.n_gold); });
    const W = Math.round(Math.max(300, Math.min(640, shown))), H = W < 480 ? 260 : 300;
    const M = { l: 52, r: 16, t: 16, b: 44 };
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", class: "chart",
      "aria-labelledby": "curve-title curve-desc", preserveAspectRatio: "xMidYMid meet" });
    root.appendChild(svg("title", { id: "curve-title" }, "Label-model and end-model score vs number of gold labels"));
    const values = [];
    // a score is a number; null (nothing held out to score on) is no point, not 0
    const score = function (h, key) { return typeof h[key] === "number" && Number.isFinite(h[key]); };
    // a score on fewer than minEval held-out items gets its interval, as the random
    // picks' do (multi-class trial: the label model's line sat at 100% from one item,
    // over the whole chart)
    pts.forEach(function (h) {
      series.forEach(function (s) {
        if (!score(h, s.key)) return;
        values.push(h[s.key]);
        const few = fewHeldOut(h, s.key, lastMinEval);
        if (few) values.push(few.low, few.high);
      });
    });
    // no held-out labels: the models' scores on random picks they had not seen, in
    // groups, each with its 95% interval (new-user trial: the chart stayed empty)
    let fromPicks = false;
    if (!values.length && picks) {
      const extra = [];
      series.forEach(function (s) {
        ((picks[s.key] || {}).curve || []).forEach(function (c) {
          if (!(c.n > 0)) return;
          const h = { n_gold: c.n_gold, pick: c };
          h[s.key] = c.right / c.n;
          extra.push(h);
          values.push(h[s.key], c.low, c.high);
        });
      });
      if (extra.length) {
        fromPicks = true;
        pts = extra.sort(function (a, b) { return Number(a.n_gold) - Number(b.n_gold); });
      }
    }
    root.appendChild(svg("desc", { id: "curve-desc" }, (pts.length
      ? pts.length + " evaluations from " + pts[0].n_gold + " to " + pts[pts.length - 1].n_gold + " gold labels."
      : "No evaluations yet.") + (fromPicks ? " Scores on random picks the models had not seen." : "")));
    // the axis starts near the first count when every point is far from 0 (420
    // uploaded labels, then 30 answers: the answers' effect took 6% of the width)
    // counted from the points drawn: runs before any label was held out have no score
    // (new-user trial: 55 answers, then a test set uploaded: 0-100 for points at 55-77)
    const counts = pts.filter(function (h) { return series.some(function (s) { return score(h, s.key); }); })
      .map(function (h) { return Number(h.n_gold); });
    const gMin = counts.length ? Math.min(...counts) : 0, gMax = counts.length ? Math.max(...counts) : 0;
    const lead = Math.max(1, niceMax(Math.max(5, gMax - gMin) / 5));
    // a step before the first point, which the y axis would hide (and its interval)
    const xMin = gMin > 0.25 * gMax ? Math.ceil(gMin / lead - 1) * lead : 0;
    const xMax = xMin + niceMax(Math.max(5, gMax - xMin));
    const yLo = values.length && Math.min(...values) >= 0.5 ? 0.5 : 0;
    const yHi = values.length && Math.max(...values) > 1 ? niceMax(Math.max(...values)) : 1;
    const x = function (v) { return M.l + (W - M.l - M.r) * ((v - xMin) / (xMax - xMin)); };
    const y = function (v) { return H - M.b - (H - M.t - M.b) * ((v - yLo) / (yHi - yLo)); };

    const axes = svg("g", { class: "axes" });
    for (let i = 0; i <= 5; i++) {
      const yv = yLo + (yHi - yLo) * i / 5;
      axes.appendChild(svg("line", { x1: M.l, x2: W - M.r, y1: y(yv), y2: y(yv), class: "grid" }));
      axes.appendChild(svg("text", { x: M.l - 8, y: y(yv) + 4, "text-anchor": "end" }, yv.toFixed(2)));
    }
    const step = Math.max(1, niceMax((xMax - xMin) / 5));  /* whole numbers of gold labels */
    for (let xv = xMin; xv <= xMax + 1e-9; xv += step) {
      axes.appendChild(svg("line", { x1: x(xv), x2: x(xv), y1: H - M.b, y2: H - M.b + 5, class: "tick" }));
      axes.appendChild(svg("text", { x: x(xv), y: H - M.b + 18, "text-anchor": "middle" }, Math.round(xv)));
    }
    axes.appendChild(svg("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: "axis" }));
    axes.appendChild(svg("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: "axis" }));
    axes.appendChild(svg("text", { x: (M.l + W - M.r) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, "gold labels"));
    axes.appendChild(svg("text", { x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle", class: "axis-label",
      transform: "rotate(-90 14 " + (M.t + H - M.b) / 2 + ")" }, "score"));
    root.appendChild(axes);

    series.forEach(function (s) {
      const sp = pts.filter(function (h) { return score(h, s.key); });
      if (!sp.length) return;
      // the line goes through the latest score at each gold count (several runs at
      // one count drew a vertical stroke); every run stays a point with its tooltip
      const latest = new Map();
      sp.forEach(function (h) {
        const k = Number(h.n_gold), was = latest.get(k);
        if (!was || Number(h.at || 0) >= Number(was.at || 0)) latest.set(k, h);
      });
      const d = Array.from(latest.values()).map(function (h, i) {
        return (i ? "L" : "M") + x(Number(h.n_gold)).toFixed(1) + " " + y(Number(h[s.key])).toFixed(1);
      }).join(" ");
      const g = svg("g", { class: "series " + s.cls });
      g.appendChild(svg("path", { d: d, class: "line" }));
      sp.forEach(function (h) {
        // an earlier run at a count the line has a later one for (rules edited, LFs
        // applied again): faded, and its tooltip says so, with when it ran
        const earlier = latest.get(Number(h.n_gold)) !== h;
        const c = svg("circle", { cx: x(Number(h.n_gold)).toFixed(1), cy: y(Number(h[s.key])).toFixed(1), r: 3.5,
          class: earlier ? "point earlier" : "point" });
        const k = h.pick || fewHeldOut(h, s.key, lastMinEval);
        const n = heldOutN(h, s.key);
        c.appendChild(svg("title", {}, k && k.heldOut
          ? s.name + ": right on " + k.right + " of " + k.n + " held-out items (" + Loop.pct(k.right / k.n) +
            ", 95% interval " + Loop.pct(k.low) + "–" + Loop.pct(k.high) + ") at " + h.n_gold + " gold" +
            (h.at ? ", " + Loop.when(h.at) : "") : k
          ? s.name + ": right on " + k.right + " of " + k.n + " random picks it had not seen (" + Loop.pct(k.right / k.n) +
            ", 95% interval " + Loop.pct(k.low) + "–" + Loop.pct(k.high) + "), predicted by models of " +
            (k.from === k.to ? k.from : k.from + "–" + k.to) + " gold labels"
          : s.name + ": " + Number(h[s.key]).toFixed(3) + (n !== null ? " on " + n + " held-out items" : "") +
            " at " + h.n_gold + " gold" +
            (h.at ? ", " + Loop.when(h.at) : "") +
            (earlier ? " (an earlier run at this count; the line shows the latest)" : "")));
        if (k) {  // its interval: what a group of a dozen picks can say
          g.appendChild(svg("line", { x1: x(Number(h.n_gold)).toFixed(1), x2: x(Number(h.n_gold)).toFixed(1),
            y1: y(Math.max(yLo, Number(k.low))).toFixed(1), y2: y(Math.min(yHi, Number(k.high))).toFixed(1),
            class: "whisker" }));
        }
        g.appendChild(c);
      });
      root.appendChild(g);
    });
    const legend = svg("g", { class: "legend", transform: "translate(" + (W - M.r - 230) + "," + (H - M.b - 28) + ")" });
    series.forEach(function (s, i) {
      const g = svg("g", { class: "series " + s.cls, transform: "translate(" + i * 118 + ",0)" });
      g.appendChild(svg("line", { x1: 0, x2: 22, y1: 0, y2: 0, class: "line" }));
      g.appendChild(svg("circle", { cx: 11, cy: 0, r: 3.5, class: "point" }));
      g.appendChild(svg("text", { x: 28, y: 4 }, s.name));
      legend.appendChild(g);
    });
    root.appendChild(legend);
    if (!values.length) {
      root.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" },
        "No gold-label evaluations yet"));
    }
    box.appendChild(root);
  }

  function drawBalance(balance) {
    const box = $("balance");
    Loop.clear(box);
    let entries = [];
    if (Array.isArray(balance)) entries = balance.map(function (v, i) { return [labels[i] || String(i), Number(v)]; });
    else if (balance && typeof balance === "object") {
      entries = Loop.inLabelOrder(balance, labels).map(function (k) {
        /* a class index only where it is no label's name (trial: labels "-1", "0",
           "+1" read "-1", "-1", "0": "0" taken for class 0, "+1" for class 1) */
        const idx = labels.indexOf(k) === -1 ? Number(k) : NaN;
        return [Number.isInteger(idx) && labels[idx] !== undefined ? labels[idx] : k, Number(balance[k])];
      });
    }
    const total = entries.reduce(function (a, e) { return a + (Number.isFinite(e[1]) ? e[1] : 0); }, 0);
    if (!entries.length || !total) { box.appendChild(Loop.el("p", { class: "muted", text: "No labels yet." })); return; }
    const list = Loop.el("ul", { class: "bars" });
    for (const e of entries) {
      const share = total > 1.0001 ? e[1] / total : e[1];
      const bar = Loop.el("span", { class: "bar" }, Loop.el("span", { class: "fill" }));
      bar.firstChild.style.width = Math.round(100 * share) + "%";
      list.appendChild(Loop.el("li", null, Loop.el("span", { class: "bar-label" }, Loop.labelText(e[0])), bar,
        Loop.el("span", { class: "bar-value", text: Loop.pct(share) + (total > 1.0001 ? " (" + e[1] + ")" : "") })));
    }
    box.appendChild(list);
  }

  function pick(o, keys) {
    for (const k of keys) if (o && o[k] !== undefined && o[k] !== null) return o[k];
    return undefined;
  }

  function fmtShare(v) { return v === undefined ? "–" : Loop.pct(v, 1); }

  let hasLfs = true;  /* the project has an LF module or an enabled rule */
  function lfRows(data) {
    return Array.isArray(data) ? data : (data && (data.lfs || data.summary || data.items)) || [];
  }
  /* Empirical accuracy, flagged where the answers contradict the learned accuracy:
     a one-sided LF's precision is learned from random answers only, so a bad LF can
     keep its learned accuracy while the expert's answers say otherwise. Not flagged
     where the random answers alone agree with the learned accuracy: most answers are
     the queue's picks, items where LFs conflict, and there a fine LF is wrong far
     more often than on its items at large (new-user trial: 31% ⚠ for an LF right on
     73% of its items). */
  function empCell(r) {
    const emp = pick(r, ["emp_acc", "empirical_acc", "empirical_accuracy", "accuracy"]);
    const n = (r.correct || 0) + (r.incorrect || 0);
    const nr = (r.random_correct || 0) + (r.random_incorrect || 0);
    const learned = r.learned_accuracy;
    const randomAgree = nr >= 5 && typeof learned === "number" && learned - r.random_correct / nr <= 0.25;
    const off = typeof emp === "number" && typeof learned === "number" && n >= 10 &&
      learned - emp > 0.25 && !randomAgree;
    const onRandom = r.random_correct === undefined ? "" : nr
      ? " On the " + nr + (nr === 1 ? " random answer" : " random answers") +
        " it votes on (exploration picks, uploaded labels) it is right " +
        r.random_correct + " time" + (r.random_correct === 1 ? "" : "s") + "."
      : " No random answer (exploration pick, uploaded label) has reached it yet.";
    const title = !n ? null : off
      ? r.incorrect + " of the " + n + " known labels where it votes say it is wrong, far more " +
        "than its learned accuracy." + onRandom + " Most answers are the queue's picks, the hard " +
        "cases where LFs conflict, which understate an LF: look at a few of its items, and " +
        (r.source === "rule" ? "switch it off (Rules) if it is wrong."
          : r.source === "votes" ? "its votes came with the items; the label model weighs it by its learned accuracy."
          : "if it is wrong, take it out of the LF module and apply the LFs again.")
      : "Right on " + (r.correct || 0) + " of the " + n + " known labels where it votes." + onRandom;
    /* a share of a handful of labels is shown with them (a new user read "0.0%" of
       1 label beside a learned 76.9% as a verdict) */
    /* ... and with a warning, which says what it counts (new-user trial: "38.5% ⚠"
       alone, its reason only in a tooltip that touch and keyboard users cannot open) */
    const few = n > 0 && (n < 10 || off) ? " (" + (r.correct || 0) + " of " + n + ")" : "";
    return Loop.el("td", { class: off ? "num warn" : "num", text: fmtShare(emp) + few + (off ? " ⚠" : ""),
      title: title });
  }

  /* The LF table sorts by a column (a header's button; again: the other way) and
     shows the first LF_FOLD rows until asked for all: a WRENCH file's 164 uploaded
     LFs put 164 rows above the rules editor. */
  const LF_FOLD = 30;
  let lfSort = null, lfAll = false, lfData = null;
  function lfErrors(r) {
    const errs = pick(r, ["errors", "n_errors", "error_count"]);
    return typeof errs === "object" && errs !== null ? (errs.count !== undefined ? errs.count : 0) : errs;
  }
  const LF_KEYS = {
    name: function (r) { return String(pick(r, ["name", "lf"]) || ""); },
    coverage: function (r) { return pick(r, ["coverage"]); },
    overlaps: function (r) { return pick(r, ["overlaps", "overlap"]); },
    conflicts: function (r) { return pick(r, ["conflicts", "conflict"]); },
    emp: function (r) { return pick(r, ["emp_acc", "empirical_acc", "empirical_accuracy", "accuracy"]); },
    learned: function (r) { return pick(r, ["learned_acc", "learned_accuracy", "weight"]); },
    errors: lfErrors,
  };
  function sortedLfs(rows) {
    if (!lfSort) return rows;
    const key = LF_KEYS[lfSort.key], dir = lfSort.dir;
    return rows.map(function (r, i) { return [key(r), i, r]; }).sort(function (a, b) {
      const va = a[0], vb = b[0];
      const na = va === undefined || va === null, nb = vb === undefined || vb === null;
      if (na || nb) return na === nb ? a[1] - b[1] : (na ? 1 : -1);  // no value: last either way
      const c = typeof va === "string" ? va.localeCompare(vb, undefined, { numeric: true }) : va - vb;
      return c ? dir * c : a[1] - b[1];
    }).map(function (x) { return x[2]; });
  }
  function markSort() {
    document.querySelectorAll("#lf-head th").forEach(function (th) {
      const b = th.querySelector("button.sort");
      if (!b) return;
      if (lfSort && b.dataset.sort === lfSort.key) {
        th.setAttribute("aria-sort", lfSort.dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }
  function initLfTable() {
    document.querySelectorAll("#lf-head button.sort").forEach(function (b) {
      b.addEventListener("click", function () {
        const key = b.dataset.sort;
        // names A-Z first; numbers high to low first (the most covering, the worst errors)
        const first = key === "name" ? 1 : -1;
        lfSort = lfSort && lfSort.key === key ? { key: key, dir: -lfSort.dir } : { key: key, dir: first };
        markSort();
        if (lfData) drawLfs(lfData);
      });
    });
    $("lf-more").addEventListener("click", function () {
      lfAll = !lfAll;
      if (lfData) drawLfs(lfData);
    });
  }

  function drawLfs(data) {
    lfData = data;
    const all = lfRows(data);
    const rows = sortedLfs(all).slice(0, lfAll ? undefined : LF_FOLD);
    $("lf-more-box").hidden = all.length <= LF_FOLD;
    $("lf-more").textContent = lfAll ? "Show the first " + LF_FOLD + " LFs" : "Show all " + all.length + " LFs";
    if (data && data.n_gold !== undefined) {
      $("lf-help").textContent = "Coverage, overlaps and conflicts over every item; empirical accuracy on " +
        data.n_gold + " known labels (answers and uploaded labels not held out; the held-out ones only " +
        "score the models)" + (data.n_gold < 30 ? ", too few to trust" : "") +
        "; learned accuracy from the label model.";
    }
    const body = $("lf-rows");
    drawGaps(all);
    drawGoldUse(data && data.gold_use);
    if (!rows.length) {
      Loop.keepFocus(body, function () {
        Loop.clear(body);
        body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "8", class: "muted", text: hasLfs
          ? "No LF statistics yet: run “Apply LFs”."
          : "No LFs yet: write a rule (Rules, below). Answers given before then count once it is saved." })));
      });
      return;
    }
    /* each poll redraws only the LFs whose numbers changed: a link or switch focused in
       the table keeps the focus (keyboard trial: an LF's link lost it to the page's body
       within 12 s), and a click on a row nothing changed in is never lost to a redraw
       (as the Disagreements table: a trial of six annotators) */
    Loop.syncRows(body, rows, function (r) { return String(pick(r, ["name", "lf"]) || ""); },
                  function (r) { return r; }, lfRow);
  }
  function lfRow(r) {
    const errs = pick(r, ["errors", "n_errors", "error_count"]);
    const nErr = lfErrors(r);
    let errText = typeof errs === "object" && errs !== null && errs.example_error ? String(errs.example_error) : "";
    if (r.error_example && r.error_example.error) {
      errText = "e.g. item " + r.error_example.item_id + ": " + r.error_example.error;
    }
    const errCell = Loop.el("td", { class: nErr ? "warn num" : "num", title: errText || null, text: nErr === undefined ? "–" : String(nErr) });
    return Loop.el("tr", { class: r.enabled === false ? "lf-off" : null,
      "data-key": String(pick(r, ["name", "lf"]) || "") },
      Loop.el("th", { scope: "row", class: "mono" }, lfName(r),
        r.source === "rule" ? Loop.el("span", { class: "tag", text: r.leaving ? "rule, leaving"
          : r.enabled === false ? "rule, off" : "rule",
          title: r.leaving ? "Deleted or switched off: it goes when the LFs are applied again (running now)."
            : r.enabled === false ? "Switched off: switch it on under Rules, below." : null })
          : r.source === "votes" ? Loop.el("span", { class: "tag", text: "uploaded",
          title: "Its votes came with the items (the upload's LF votes column)." }) : null,
        /* (concurrency trial: an edited rule showed the old version's numbers, unflagged) */
        r.changing ? Loop.el("span", { class: "tag", text: "updating", title: "Edited: its numbers " +
          "are the previous version's until the LFs are applied again (running now)." }) : null,
        r.arriving ? Loop.el("span", { class: "tag", text: "arriving", title: "On, not applied yet: " +
          "its column comes when the LFs are applied again (running now)." }) : null,
        r.source !== "rule" && r.enabled === false ? Loop.el("span", { class: "tag", text: r.leaving
          ? "off, leaving" : "off", title: r.leaving ? "Switched off: its column goes when the LFs are " +
          "applied again (running now)." : "Switched off: the models do not read its votes." }) : null,
        r.source !== "rule" && r.enabled !== undefined ? switchButton(r) : null),
      Loop.el("td", { class: "votes wrap", text: (r.polarity || []).join(", ") || "–",
        title: r.polarity && r.polarity.length ? null : "It has voted on no item yet." }),
      Loop.el("td", { class: "num", text: fmtShare(pick(r, ["coverage"])) }),
      Loop.el("td", { class: "num", text: fmtShare(pick(r, ["overlaps", "overlap"])) }),
      Loop.el("td", { class: "num", text: fmtShare(pick(r, ["conflicts", "conflict"])) }),
      empCell(r),
      Loop.el("td", { class: r.learned_assumed ? "num muted" : "num",
        title: r.learned_assumed ? "Assumed, not learned yet: a one-sided LF's precision is learned from " +
          "answers to random picks (exploration) and uploaded labels, and there are none yet." : null,
        text: fmtShare(pick(r, ["learned_acc", "learned_accuracy", "weight"])) + (r.learned_assumed ? " (assumed)" : "") }),
      errCell);
  }

  /* An LF's name, a link to the items it votes on (the Items page) once it has a column:
     not one switched off and applied without it (re-trial: its link led to "no LF ... in
     the LFs last applied"); one leaving still has its column until the run ends. */
  function lfName(r) {
    const name = String(pick(r, ["name", "lf"]) || "?");
    if (r.arriving || (r.enabled === false && !r.leaving) || !pick(r, ["name", "lf"])) return name;
    return Loop.el("a", { href: "/p/" + encodeURIComponent(pid) + "/items?lf=" + encodeURIComponent(name),
      title: "The items " + name + " votes on", text: name });
  }

  /* An LF of the module or of the uploaded votes is switched off or on here (rules on
     the rules page): a bad one can leave the models without editing the module or
     uploading the items again. */
  function switchSaid(msg, isError) {
    const p = $("lf-switch-status");
    p.textContent = msg;
    p.hidden = !msg;
    p.classList.toggle("error", !!isError);
  }
  function switchButton(r) {
    const on = r.enabled !== false;
    /* its LF in its name: a screen reader heard "Switch off" eleven times (trial) */
    const b = Loop.el("button", { type: "button", class: "small lf-switch", text: on ? "Switch off" : "Switch on",
      "aria-label": (on ? "Switch off " : "Switch on ") + r.name,
      title: on ? "Leave its votes out: the LFs are applied again without it and the models recalibrated."
        : "Read its votes again: the LFs are applied again with it and the models recalibrated." });
    b.addEventListener("click", async function () {
      Loop.busy(b, true);  /* the redrawn row's switch gets the focus back (keepFocus) */
      try {
        const out = await Loop.api("PUT", base + "/lfs/" + encodeURIComponent(r.name), { enabled: !on });
        switchSaid((on ? "Switched off " : "Switched on ") + r.name +
          (out.job_id ? ": applying the LFs again and recalibrating (job " + out.job_id.slice(0, 8) + ")." : "."));
        await refresh();
        /* its row is drawn again once its numbers say the switch; until then this one */
        if (b.isConnected) Loop.busy(b, false);
      } catch (e) {
        switchSaid(e.message || String(e), true);
        Loop.busy(b, false);
      }
    });
    return Loop.el("span", null, " ", b);
  }

  /* How the label model lets in the labels of items drawn at random (answers to
     random picks, uploaded labels), and what its check on them found: gold that
     would make it predict worse is not used, and the user can see so. */
  function drawGoldUse(g) {
    const out = $("lf-gold");
    out.hidden = !g || !g.fitted;
    if (out.hidden) return;
    const c = g.check;
    const source = " of items drawn at random (answers to random picks, uploaded labels)";
    if (!g.n_random_gold) {
      out.textContent = "The label model has no labels" + source + " yet, so a one-sided LF's learned " +
        "accuracy is the " + Loop.pct(g.assumed_accuracy) + " it assumes (marked “assumed”).";
      return;
    }
    const learnt = "At its last fit the label model learned each LF's accuracy from the " + g.n_random_gold +
      (g.n_random_gold === 1 ? " label" : " labels") + source;
    const recheck = "checked again when they have grown by a " +
      (g.recheck_growth === 1.25 ? "quarter" : Loop.pct(g.recheck_growth - 1));
    if (!c) {
      out.textContent = learnt + "; an LF none of them reached has no accuracy of its own yet: the " +
        Loop.pct(g.assumed_accuracy) + " it assumes (marked “assumed”), or that moved by the class balance " +
        "they taught. From " + g.check_from +
        " of them on, it checks on them that learning from them predicts better than not.";
      return;
    }
    const learned = c.correct.anchored !== undefined ? c.correct.anchored : c.correct.gold;
    const checked = "checked on " + c.n + " of them (each third held out in turn; " + recheck + "): ";
    let text = c.learns_precisions
      ? learnt + "; " + checked + "learning from them it predicted " + c.correct[c.use] + " of " + c.n +
        " right, ignoring them " + c.correct.none + "."
      : "At its last fit the label model did not learn accuracies from the " + g.n_random_gold + " labels" +
        source + ": " + checked + "ignoring them it predicted " + c.correct[c.use] + " of " + c.n +
        " right, learning from them " + learned + ". They still label their own items.";
    if (c.gold_layer) {
      text += " It also corrects its output with a layer fitted on them (for LFs that vote together), " +
        (c.gold_layer_weight < 1 ? "blended in at " + Loop.pct(c.gold_layer_weight) +
          " (the share that made them likeliest)." : "which predicted them better still.");
    }
    if (c.abstentions && c.reading === "rates") {
      text += " It also weighs each LF's vote by how often the LF fires on items of each label, and reads its " +
        "silence as a hint against the label it votes, which predicted them better" + blend(c.weights) + ".";
    } else if (c.abstentions) {
      text += " It also reads an LF's silence as a hint against the label it votes, which predicted them better" +
        blend(c.weights) + ".";
    }
    out.textContent = text;
  }

  /* How the label model blends its readings of the votes, when it does: ", blended
     with ... (the weights the held-out labels gave)". */
  function blend(w) {
    if (!w) return "";
    const parts = [["votes", "the plain votes"], ["silence", "silences as hints"], ["rates", "firing rates"]]
      .filter(function (p) { return w[p[0]] > 0; })
      .map(function (p) { return p[1] + " " + Loop.pct(w[p[0]]); });
    return parts.length > 1 ? " (a blend the held-out labels weighed: " + parts.join(", ") + ")" : "";
  }

  /* Labels no LF votes for: the models learn them from answers alone (a new user's
     project with rules for 3 of 7 labels exported 656 of 800 items as one label). */
  function drawGaps(rows) {
    const voted = new Set();
    for (const r of rows) for (const v of (r.polarity || [])) voted.add(v);
    const missing = rows.length ? labels.filter(function (x) { return !voted.has(x); }) : [];
    const gaps = $("lf-gaps");
    /* an LF that raises abstains there: said here, not only in its Errors cell (new-user
       trial: an LF reading a misspelt field raised on all 405 items, shown as a red
       "405" whose error only a tooltip told) */
    const broken = rows.filter(function (r) { return lfErrors(r) > 0; });
    const raised = broken.slice(0, 3).map(function (r) {
      const e = r.error_example;
      return "“" + String(pick(r, ["name", "lf"])) + "” raised an error on " + lfErrors(r) +
        (lfErrors(r) === 1 ? " item" : " items") + (e && e.error ? " (e.g. item " + e.item_id + ": " + e.error + ")" : "");
    });
    gaps.hidden = !missing.length;
    gaps.textContent = missing.length
      ? "No LF votes for " + missing.map(function (x) { return "“" + x + "”"; }).join(", ") +
        ": the models learn " + (missing.length === 1 ? "that label" : "those labels") +
        " from answers alone, so until enough come in they give " + (missing.length === 1 ? "its" : "their") +
        " items other labels. " +
        "Write a rule for " + (missing.length === 1 ? "it" : "each") + ", or check the end model's labels there before you export."
      : "";
    /* and where the labels are taken (new-user trial: the README's one spam LF
       exported every item as spam, and only the LF section said why) */
    const atExport = $("export-gaps");
    atExport.hidden = !missing.length;
    atExport.textContent = missing.length
      ? "No LF votes for " + missing.map(function (x) { return "“" + x + "”"; }).join(", ") +
        ": the exported labels of items nobody answered may seldom or never be " +
        (missing.length === 1 ? "that label" : "those labels") + " until enough answers come in."
      : "";
    const said = $("lf-raised");  // above the table: what went wrong comes first
    said.hidden = !raised.length;
    said.textContent = raised.length ? raised.join("; ") +
      (broken.length > 3 ? "; and " + (broken.length - 3) + " more LFs" : "") +
      ". An LF abstains where it raises: fix it in its module and apply the LFs again." : "";
  }

  const HINTS = [
    [/canceled/i, "Canceled: start it again when you are ready."],
    [/LFModuleNotOnWorker|LFModulesDiffer/, "When every machine that runs workers has the module, the same version, apply the LFs again."],
    [/have the same name/, "Rename the rule (Edit, under Rules) or the LF: saving the rule applies the LFs again."],
    [/lf_module .* raised \w+ on import/, "Fix the LF module, then apply the LFs again (new items or rule edits waiting for it are applied by themselves once its file is saved)."],
    [/apply the LFs|LFs applied to every item/i, "Run “Apply LFs” after every upload: it recalibrates when it ends."],
    [/upload items/i, "Import items on the Data page first."],
    [/fit the label model/i, "Run “Recalibrate” first."],
    [/time limit|LOOP_LF_CHUNK_TIMEOUT/i, "An LF ran too long on one item: fix it in the LF module and apply again."],
    [/AbandonedJob|Work-horse terminated|worker process running this job died/i, "The worker running it died; it is retried automatically while it has retries left."],
  ];

  function hint(error) {
    const h = HINTS.find(function (x) { return x[0].test(error || ""); });
    return h ? h[1] : "See the details; fix the cause and start the job again.";
  }

  /* tenths under a minute, then the pages' one rule (a job of 90 s "took 2 min" in
     its row while its stall line said "no progress for 90 s": new-user trial) */
  function seconds(s) { return s < 60 ? s.toFixed(1) + " s" : Loop.duration(1000 * s); }
  function took(j) {
    const live = ["queued", "started", "deferred", "scheduled", "running"].indexOf(j.status) !== -1;
    if (!j.started_at || (!j.ended_at && !live)) return "–";
    const a = new Date(j.started_at).getTime();
    const b = j.ended_at ? new Date(j.ended_at).getTime() : Date.now();
    return (j.ended_at ? "" : "running ") + seconds(Math.max(0, (b - a) / 1000));
  }
  /* A running job's time counts up between polls (new-user trial: "running 0.3 s"
     stood still for the 3 s until the next one). */
  function tookCell(j) {
    const text = took(j);
    const td = Loop.el("td", { class: "num", text: text });
    if (!j.ended_at && text !== "–") {
      td.setAttribute("data-started", String(new Date(j.started_at).getTime()));
    }
    return td;
  }
  setInterval(function () {
    document.querySelectorAll("#job-rows td[data-started]").forEach(function (td) {
      td.textContent = "running " + seconds(Math.max(0, (Date.now() - Number(td.dataset.started)) / 1000));
    });
  }, 1000);

  /* Each poll redraws only the rows of the jobs table whose content changed
     (Loop.syncRows): a Cancel, Download or Traceback focused in it keeps the focus
     (else the line saying what was done), and a traceback opened stays open
     (accessibility trial: both were lost at the next poll, 3 to 12 s later); a click
     on a row nothing changed in is no longer lost to a redraw (it was in the
     Disagreements table: a trial of six annotators). */
  function drawJobs(data) {
    const jobs = Array.isArray(data) ? data : (data && data.jobs) || [];
    const body = $("job-rows");
    if (!jobs.length) {
      Loop.clear(body);
      body.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "7", class: "muted", text: "No jobs yet." })));
      return false;
    }
    // the last 10 jobs someone asked for and the last 5 automatic ones (a busy
    // queue recalibrates every few answers), newest first
    const asked = jobs.filter(function (j) { return !j.auto; }).slice(0, 10);
    const auto = jobs.filter(function (j) { return j.auto; }).slice(0, 5);
    const shown = jobs.filter(function (j) { return asked.indexOf(j) !== -1 || auto.indexOf(j) !== -1; });
    const rows = [];  /* each job's row, and under it what holds it up or why it failed */
    for (const j of shown) {
      const st = String(j.status || "unknown");
      const live = ["queued", "started", "deferred", "scheduled", "running"].indexOf(st) !== -1;
      rows.push({ part: "job", j: j, st: st, live: live });
      if (live && j.stalled) rows.push({ part: "stall", j: j, st: st });
      if (j.error && (st === "failed" || st === "stopped" || st === "canceled")) rows.push({ part: "error", j: j, st: st });
    }
    Loop.syncRows(body, rows, function (r) { return r.part === "job" ? r.j.id : r.j.id + ":" + r.part; },
                  jobRowShows, jobRow, null, $("jobs-status"));
    return rows.some(function (r) { return r.live; });
  }
  /* What a row of the jobs table shows (a running job's time counts up by itself). */
  function jobRowShows(r) {
    const j = r.j;
    if (r.part === "stall") return [r.st, j.waiting_for_worker, quietFor(j)];
    if (r.part === "error") return [j.error, j.traceback];
    return [r.st, j.type, j.auto, j.result, j.attempts, j.lf_module_misses, j.progress,
            j.scheduled_for, j.first_started_at, j.started_at, j.enqueued_at, j.ended_at];
  }
  function quietFor(j) { return Loop.duration(1000 * (Number(j.quiet_seconds) || 0)); }
  function jobRow(r) {
    if (r.part === "stall") return stallRow(r.j, r.st);
    if (r.part === "error") return errorRow(r.j);
    const j = r.j, st = r.st;
    const prog = j.progress && j.progress.total ? j.progress.done / j.progress.total : null;
    const progCell = Loop.el("td", { class: "num" });
    if (prog !== null) {
      progCell.appendChild(Loop.el("progress", { max: "1", value: String(prog), "aria-label": "progress" }));
      progCell.appendChild(document.createTextNode(" " + Loop.pct(prog)));
    } else progCell.textContent = "–";
    const act = Loop.el("td");
    /* named after their job: a screen reader going through the buttons heard "Cancel,
       Cancel, Cancel" and "Download" with nothing to tell them apart (trial) */
    const which = String(j.type || "job") + (j.auto ? " (auto)" : "") + " " + String(j.id || "").slice(0, 8);
    if (r.live) {
      act.appendChild(Loop.el("button", { type: "button", class: "cancel", text: "Cancel",
        "aria-label": "Cancel " + which, onclick: function () {
          /* a Cancel redraws the table: a fast second click landed on the Cancel of
             another job that moved under the pointer and stopped it (browser trial:
             an automatic recalibration nobody chose to cancel) */
          if (Date.now() - lastCancel.at < CANCEL_PAUSE_MS && lastCancel.id !== j.id) return;
          cancel(j.id);
        } }));
    } else if (st === "finished" && j.result && j.result.download) {
      // an export job (started through the API): its file, kept a day
      const fmt = String(j.result.format || "jsonl");
      act.appendChild(Loop.el("button", { type: "button", class: "small", text: "Download",
        "aria-label": "Download the export of " + which, onclick: async function () {
          try {
            await Loop.download(j.result.download, pid + "." + fmt);
            said("jobs-status", "Downloaded the export of job " + j.id + ".");
          } catch (e) { said("jobs-status", "Download failed: " + e.message, true); }
        } }));
    }
    const typeCell = Loop.el("td", { text: String(j.type || "–") + (j.auto ? " (auto)" : "") + (j.result && j.result.skipped ? " (skipped)" : "") +
        (j.result && j.result.superseded ? " (superseded)" : "") +
        (j.attempts > 1 ? " (run " + j.attempts + " times)" : ""),
        title: j.result && j.result.superseded ? "A newer run of the LFs took its place: it wrote nothing, " +
          "the newer run applies every LF." : (j.result && j.result.reason) || null });
    if (j.result && j.result.skipped && j.result.reason) {
      // why it did nothing, on the page (it was in the tooltip only)
      typeCell.appendChild(Loop.el("div", { class: "job-note", text: String(j.result.reason) }));
    }
    const misses = Array.from(new Set(j.lf_module_misses || []));
    if (misses.length) {
      /* operator's trial: a worker on a machine without the LF module took the run;
         the job then showed only "run 2 times" */
      typeCell.appendChild(Loop.el("div", { class: "job-note", text: "Left to another worker by " +
        misses.join(", ") + ": the project's LF module is not on " +
        (misses.length > 1 ? "their machines" : "its machine") + " (or is another version)." }));
    }
    return Loop.el("tr", { "data-job": j.id },
      typeCell,
      /* an apply run whose units or merge run is "deferred" to RQ, which read as
         "postponed" (re-trial): shown as under way */
      Loop.el("td", null, Loop.el("span", { class: "pill st-" + st.replace(/[^a-z_]/g, ""),
        text: st === "deferred" ? "under way" : st,
        title: st === "deferred" ? "Its units of work or their merge are queued or running (status deferred)." : null })),
      progCell,
      Loop.el("td", { text: st === "scheduled" && j.scheduled_for ? "due " + Loop.when(j.scheduled_for) :
        Loop.when(j.first_started_at || j.started_at || j.enqueued_at) }),
      tookCell(j),
      Loop.el("td", { class: "mono", title: j.id, text: String(j.id || "").slice(0, 8) }),
      act);
  }
  /* under a job that has made no progress for a while: says so, rather than a bar
     that silently stands still */
  function stallRow(j, st) {
    const quiet = quietFor(j);
    const cell = Loop.el("td", { colspan: "7", class: "job-stall" });
    if (st === "queued" || j.waiting_for_worker) {  // (an apply run's merge: deferred)
      cell.append(Loop.el("strong", { text: "Waiting for a worker for " + quiet + "." }), " ",
        "No worker has taken it: every worker is busy, frozen or stopped (see Jobs and the " +
        "workers' log). Start one (", Loop.el("code", { text: "loop worker" }), ", or with compose ",
        Loop.el("code", { text: "docker compose up -d --scale worker=3" }), ") and it runs.");
    } else if (st === "scheduled") {
      cell.append(Loop.el("strong", { text: "Due " + quiet + " ago, still not queued." }), " ",
        "No scheduler has moved it to the queue: the scheduler runs inside a worker " +
        "(one at a time), so no worker is running or they cannot reach Redis (see the " +
        "workers' log). Start one (", Loop.el("code", { text: "loop worker" }), ") and it runs.");
    } else {
      cell.append(Loop.el("strong", { text: "No progress for " + quiet + "." }), " ",
        Loop.el("span", { text: "Its worker may be frozen or overloaded: see the workers' log. " +
          "The job's time limit (LOOP_LF_CHUNK_TIMEOUT for an apply-LFs unit) decides when it " +
          "is given up and run again; Cancel stops it now." }));
    }
    return Loop.el("tr", { class: "stall-row" }, cell);
  }
  function errorRow(j) {
    const cell = Loop.el("td", { colspan: "7", class: "job-error" },
      Loop.el("strong", { text: j.error }), " ", Loop.el("span", { text: hint(j.error) }));
    if (j.traceback) {
      cell.appendChild(Loop.el("details", null,
        Loop.el("summary", { text: "Traceback" }),
        Loop.el("pre", { text: j.traceback })));
    }
    return Loop.el("tr", { class: "error-row" }, cell);
  }

  /* the last Cancel clicked, and for how long another job's Cancel ignores clicks */
  const lastCancel = { at: 0, id: null };
  const CANCEL_PAUSE_MS = 1000;

  async function cancel(id) {
    lastCancel.at = Date.now();
    lastCancel.id = id;
    try {
      const res = await Loop.api("POST", "/api/jobs/" + encodeURIComponent(id) + "/cancel");
      // said under the jobs table, beside the button (phone trial: messages written at
      // the page's top were off-screen from the controls that caused them)
      said("jobs-status", res && res.stopping && res.stopping.length
        ? "Asked job " + id + " to stop; if it was about to finish, it may still finish (see its status)."
        : "Canceled job " + id + ".");
      schedule(200);
    } catch (e) { said("jobs-status", "Could not cancel: " + e.message, true); }
  }

  /* The loop has stopped closing (no worker, or none free): say so, with what to do. */
  function drawLoopWarning(lp, since, lastError, applyError) {
    const w = $("loop-warning");
    Loop.clear(w);
    w.hidden = !lp.overdue;
    if (!lp.overdue) return;
    const mins = Math.max(1, Math.round((Date.now() / 1000 - lp.waiting_since) / 60));
    const waits = "A recalibration has been waiting " + mins + (mins === 1 ? " minute" : " minutes") +
      (since ? " (" + since + (since === 1 ? " answer" : " answers") + " not yet in the models)" : "") + ": ";
    if (lastError && lastError.at >= lp.waiting_since) {
      w.append(waits + "its last run failed: " + lastError.message + " " + hint(lastError.message));
    } else if (applyError && applyError.at >= lp.waiting_since) {
      /* operator's trial: a failed apply run read as "busy with other jobs, or frozen" */
      w.append(waits + "the apply run it follows failed: " + applyError.message + " " +
        hint(applyError.message));
    } else if (!lp.workers) {
      /* by heartbeat: a frozen worker counts as none too (operator's trial) */
      w.append(waits + "no worker is running (none has checked in for 12 s: stopped, killed or " +
        "frozen). Answers are saved; start one (",
        Loop.el("code", { text: "loop worker" }), ", or with compose ",
        Loop.el("code", { text: "docker compose start worker" }), ") and the queue catches up.");
    } else {
      /* the service cannot see what the workers do: say what is known */
      w.append(waits + lp.workers + (lp.workers === 1 ? " worker is" : " workers are") +
        " running but none has started it: busy with other jobs, or frozen (see Jobs below " +
        "and the workers' log). Answers are saved meanwhile.");
    }
  }

  /* A retrain that failed leaves the end model (the export's labels, the queue's
     ranking) behind the answers; it showed only as a failed row of the jobs table,
     which newer jobs push down. Said until a retrain ends well; its text is set only
     when it changes, so a screen reader does not hear it at every poll. */
  function drawEndModelWarning(em, nGold) {
    const w = $("em-warning");
    const err = em.last_error;
    let text = "";
    if (err && !em.running) {
      const trained = typeof em.n_gold === "number" ? em.n_gold : 0;
      const later = err.retry_at && err.retry_at * 1000 > Date.now() && trained < nGold;
      text = "The end model's last retrain failed" +
        (err.n_failures > 1 ? " (" + err.n_failures + " tries in a row)" : "") + ": " + err.message + " " +
        hint(err.message) + " Until one ends well, the export's labels and the queue's ranking come from the end model " +
        "trained on " + trained + (trained === 1 ? " gold label" : " gold labels") + " (" + nGold + " now): press " +
        "Train end model once the cause is fixed" +
        (later ? ", or the service tries again by itself from " + new Date(err.retry_at * 1000).toLocaleTimeString() : "") + ".";
    }
    w.hidden = !text;
    if (w.textContent !== text) w.textContent = text;
  }

  /* What the job buttons can do now: nothing to apply without an LF (a rules-only
     project before its first rule), no model to fit before the LFs were applied.
     (They said so only after a click, with an API request to send instead.) */
  function jobButtons(applied) {
    const blocked = {};  // reason -> names of the buttons it greys out
    document.querySelectorAll(".job-btn").forEach(function (b) {
      const why = b.dataset.job === "apply_lfs"
        ? (hasLfs ? "" : "write a rule first (Rules, below)")
        : (!hasLfs ? "write a rule first (Rules, below)" : applied ? "" : "apply the LFs first");
      if (why) {
        if (!b.dataset.blocked) b.dataset.title = b.title;
        b.disabled = true; b.title = why; b.dataset.blocked = "1";
        (blocked[why] = blocked[why] || []).push(b.textContent.trim());
      } else if (b.dataset.blocked) {
        b.disabled = false; b.title = b.dataset.title || ""; delete b.dataset.blocked;
      }
    });
    /* the reason as text too: a touch screen never shows a tooltip (phone trial) */
    const reasons = Object.keys(blocked).map(function (why) {
      return blocked[why].join(", ") + ": " + why + ".";
    });
    $("jobs-why").textContent = reasons.length ? "Greyed out until then. " + reasons.join(" ") : "";
    $("jobs-why").hidden = !reasons.length;
  }

  /* A message under the control that caused it (the page's top is off-screen from
     the Actions and Export buttons, on a phone especially: phone trial). */
  function said(id, msg, isError) {
    const p = $(id);
    p.textContent = msg || "";
    p.classList.toggle("error", !!isError);
    /* the line beside the button pressed is read where it is: content drawn above it
       meanwhile (the poll's tables, charts) could push it out of view (CI: an export
       waiting its turn said so below the window's edge) */
    if (msg && id !== "dash-status") {
      /* by whole pixels and a little more (scrollIntoView "nearest" left a two-line
         message 0.44 px below the edge: scrolling snaps to whole pixels) */
      const r = p.getBoundingClientRect();
      if (r.height > 0 && r.bottom > window.innerHeight) window.scrollBy(0, Math.ceil(r.bottom - window.innerHeight) + 8);
      else if (r.height > 0 && r.top < 0) window.scrollBy(0, Math.floor(r.top) - 8);
    }
  }

  /* Ties of answers (answers_per_item > 1) and the admin's resolutions. */
  function answersText(answers) {
    return answers.map(function (a) { return a.annotator + ": " + a.label; }).join(" · ");
  }
  /* the item's id shown (team lead's trial: the status lines and exports name ids,
     which only the tooltip had) */
  /* The text as the labeling page and the Items page show it (trial: "invoice
     \u202Eexe.doc" read "invoice cod.exe" here and "invoice [U+202E]exe.doc" to the
     annotators, and "&lt;3<br />" stayed markup): Loop.plainText, cut at a whole
     character, in its own direction */
  function itemCell(d) {
    const t = Array.from(Loop.plainText(d.text));
    const shown = t.length > 140 ? t.slice(0, 140).join("") + "…" : t.join("");
    return Loop.el("td", { class: "text", title: "item " + d.item_id + ": " + t.join("") },
      Loop.el("span", { class: "mono muted item-id", text: "#" + d.item_id }), " ",
      Loop.el("bdi", { text: shown }));
  }
  let settling = null;  /* {key, nth}: the row whose Settle (or Take back) was pressed, till the redraw */
  async function settle(itemId, label, btn, answers) {
    const tr = btn && btn.closest("tr");
    if (tr && tr.contains(document.activeElement)) settling = { key: tr.dataset.key, nth: 0 };
    if (btn) btn.disabled = true;
    const body = { item_id: itemId, label: label };
    /* the answers the row shows: a tie broken while the admin chose (team lead's
       trial) is not settled over a majority they never saw */
    if (answers) {
      body.if_answers = {};
      answers.forEach(function (a) { body.if_answers[a.annotator] = a.label; });
    }
    try {
      await Loop.api("POST", base + "/resolve", body);
      said("disputes-status", label === null ? "Took the resolution of item " + itemId + " back."
        : "Settled item " + itemId + " as “" + label + "”; the models will learn it.");
      await refresh();  // the gold card's counts too, not at the next poll
    } catch (e) {
      if (e && e.body && e.body.code === "answers_changed") {
        delete settleChoice[itemId];  /* chosen for answers that are others now */
        /* answered again, or an answer changed or taken back (the server says which) */
        said("disputes-status", "Item " + itemId + "'s answers changed while you chose, so it " +
          "was not settled: its answers are shown as they are now." +
          " Settle it again if it still needs you.", true);
        settling = null;
        await refresh();
        return;
      }
      said("disputes-status", "Could not settle item " + itemId + ": " + e.message, true);
      if (btn) { btn.disabled = false; if (settling) btn.focus(); }
      settling = null;
    }
  }
  const settleChoice = {};  /* item id -> the label chosen to settle it, not yet sent */
  async function drawDisputes() {
    const d = await Loop.api("GET", base + "/disputes");
    $("disputes-card").hidden = false;
    const rows = $("dispute-rows");
    const open = settling && rows.querySelector("tr[data-key]") &&
      Array.from(rows.rows).some(function (r) { return r.dataset.key === settling.key; });
    /* drawn again only where a row changed: redrawn at every poll, a click or a
       choice that spanned one was lost (team lead's trial, six annotators) */
    Loop.syncRows(rows, d.disputes || [], function (x) { return x.item_id; }, function (x) {
      return [x.text, x.answers, x.waiting_for];
    }, function (x) {
      /* no label chosen until the admin chooses one (new-user trial: every row showed
         the first label, which no annotator had given, one click from being stored);
         a choice survives the table's redraw at the next poll */
      const sel = Loop.el("select", { "aria-label": "Label for item " + x.item_id });
      sel.appendChild(Loop.el("option", { value: "", text: "choose…", disabled: true }));
      labels.forEach(function (l) { sel.appendChild(Loop.el("option", { value: l, text: l })); });
      sel.value = settleChoice[x.item_id] || "";
      /* named with their item, as its list is (a screen reader going through the
         buttons heard "Settle, Settle, Settle": accessibility trial) */
      const btn = Loop.el("button", { type: "button", disabled: !sel.value, "aria-label": "Settle item " + x.item_id,
        onclick: function () { if (sel.value) settle(x.item_id, sel.value, btn, x.answers); } }, "Settle");
      sel.addEventListener("change", function () { settleChoice[x.item_id] = sel.value; btn.disabled = !sel.value; });
      return Loop.el("tr", { "data-key": x.item_id }, itemCell(x), Loop.el("td", { class: "text", text: answersText(x.answers) }),
        Loop.el("td", { text: x.waiting_for === "admin" ? "you" : "one more answer" }),
        Loop.el("td", {}, Loop.el("div", { class: "row" }, sel, btn)));
    }, open ? settling : null, $("disputes-status"));
    $("disputes-none").hidden = (d.disputes || []).length > 0;
    const done = $("resolved-rows");
    const undoing = settling && !open ? settling : null;
    Loop.syncRows(done, d.resolved || [], function (x) { return x.item_id; }, function (x) {
      return [x.text, x.answers, x.label, x.by];
    }, function (x) {
      const btn = Loop.el("button", { type: "button", "aria-label": "Take back the settling of item " + x.item_id,
        title: "The answers decide again (a tie waits again)",
        onclick: function () { settle(x.item_id, null, btn); } }, "Take back");
      return Loop.el("tr", { "data-key": x.item_id }, itemCell(x), Loop.el("td", { class: "text", text: answersText(x.answers) }),
        Loop.el("td", { text: x.label + " (" + x.by + ")" }), Loop.el("td", {}, btn));
    }, undoing, $("disputes-status"));
    settling = null;  /* used by the redraw after it (refresh() does not wait for this one) */
    Loop.setText("n-resolved", (d.resolved || []).length);
    $("resolved-details").hidden = !(d.resolved || []).length;
  }

  /* The last models on the same held-out items, those an LF votes on: the label
     model's line above the end model's read as the exported labels being the worse
     ones, where on those items the two were level (new-user trial, semeval: 71% and
     71%, the end model 68% on all, the label model only guessing the balance on the
     rest). "" until an end model was scored there. */
  function sameItems(history, covered) {
    const last = function (key) {
      const h = (history || []).filter(function (p) { return typeof p[key] === "number"; });
      return h.length ? h[h.length - 1][key] : null;
    };
    const em = last("end_model_covered"), lm = last("label_model");
    if (em === null || lm === null) return "";
    return (covered === 1 ? "; on that one" : "; on those " + covered) + " the last end model has " +
      Loop.pct(em) + ", the label model " + Loop.pct(lm);
  }

  /* How the models did on exploration answers (random picks) they had not seen:
     a held-out check that needs no uploaded labels. */
  function drawUnseen(u, noEval) {
    const out = $("unseen-help");
    const one = function (name, m, where) {
      if (!m || !m.n) return null;
      return name + " right on " + m.right + " of " + m.n + where + " (" + Loop.pct(m.right / m.n) +
        ", 95% interval " + Loop.pct(m.low) + "–" + Loop.pct(m.high) + ")";
    };
    /* the end model on the same items as the label model, and on the rest: "label
       model 94% where an LF votes, end model 71%" read as the exported labels being
       the worse ones, where the end model had 16 of the same 17 right and its misses
       were on items no LF votes on (new-user trial) */
    const em = u.end_model;
    const split = em && em.n && em.covered && em.silent
      ? ": " + [[em.covered, " where an LF votes"], [em.silent, " where none does"]]
        .filter(function (c) { return c[0].n; })
        .map(function (c) { return c[0].right + " of the " + c[0].n + c[1]; }).join(", ")
      : "";
    const parts = [one("label model", u.label_model, " where an LF votes"), one("end model", em, "")]
      .filter(Boolean);
    if (split && parts.length) parts[parts.length - 1] += split;
    out.hidden = !parts.length;
    if (!parts.length) return;
    out.textContent = (noEval ? "No held-out labels, but the random picks tell: " : "On the random picks: ") +
      parts.join("; ") + ". Random picks are the items the queue draws at random among the others " +
      "(badged “Random pick”); each was predicted before its answer came, so this is a held-out " +
      "score. Earlier models count too, so it lags the models a little.";
  }

  /* Precision, recall and F1 per class on the held-out labels: accuracy hides a rare
     class (sms: 97% right with a third of the spam missed; service trial). */
  function drawByClass(r) {
    const em = r && r.end_model, lm = r && r.label_model;
    const box = $("by-class-box"), body = $("by-class");
    box.hidden = !(em || lm);
    if (box.hidden) return;
    Loop.clear(body);
    const names = Loop.inLabelOrder((em || lm).classes, labels);
    for (const c of names) {
      const e = em ? em.classes[c] : null, l = lm ? lm.classes[c] : null;
      const support = e ? e.support : l.support;
      const rare = support > 0 && e && e.recall < 0.5;
      /* no held-out item of the class: nothing to score it on (new-user trial: 0.0%) */
      const none = support === 0 ? "no held-out item of this class to score on" : null;
      const share = function (v) { return e && !none ? fmtShare(v) : "–"; };
      body.appendChild(Loop.el("tr", null,
        Loop.el("th", { scope: "row", class: "name", text: c }),
        Loop.el("td", { class: "num", text: share(e && e.precision), title: none }),
        Loop.el("td", { class: rare ? "num warn" : "num", text: share(e && e.recall),
          title: rare ? "The end model finds fewer than half of the held-out items of this class." : none }),
        Loop.el("td", { class: "num", text: share(e && e.f1), title: none }),
        /* with its own count: it reads only the items an LF votes on (trial: "0.0%"
           beside 18 items was 1 item for the label model) */
        Loop.el("td", { class: "num", text: l && l.support ? fmtShare(l.f1) + " of " + l.support : "–",
          /* none of the class's held-out items under an LF: nothing to score ("– of 0") */
          title: !l ? null : l.support ? "on the " + (l.support === 1 ? "one held-out item" : l.support +
            " held-out items") + " of this class an LF votes on" : "no held-out item of this class that an LF votes on" }),
        Loop.el("td", { class: "num", text: String(support) })));
    }
    const emOn = r && r.end_model_covered;  /* the end model on the label model's items */
    $("by-class-help").textContent = (em && em.macro_f1 !== null ? "End model: macro F1 " +
      fmtShare(em.macro_f1) + " on " + em.n + (em.n === 1 ? " item" : " items") +
      (emOn && emOn.macro_f1 !== null && lm && emOn.n === lm.n && emOn.n < em.n
        ? ", " + fmtShare(emOn.macro_f1) + " on the " + (emOn.n === 1 ? "one" : emOn.n) + " an LF votes on" : "") : "") +
      (lm && lm.macro_f1 !== null ? (em ? "; label" : "Label") + " model: macro F1 " +
        fmtShare(lm.macro_f1) + " on the " + (lm.n === 1 ? "one" : lm.n) + " of them an LF votes on" : "") + ".";
  }

  async function refresh() {
    const [m, lfs, jobs, project] = await Promise.allSettled([
      Loop.api("GET", base + "/metrics"),
      Loop.api("GET", base + "/lfs"),
      Loop.api("GET", base + "/jobs"),
      Loop.api("GET", base),
    ]);
    if (project.status === "fulfilled" && project.value) {
      hasLfs = project.value.has_lfs !== false;
    }
    if (m.status === "fulfilled" && m.value) {
      const v = m.value;
      Loop.setText("n-items", v.n_items);
      // Expert answers, plus uploaded gold the models are fitted on (if any).
      Loop.setText("n-gold", v.n_uploaded_gold ? v.n_gold + " + " + v.n_uploaded_gold : v.n_gold);
      const multi = v.answers_per_item > 1;
      Loop.setText("n-gold-help", (multi ? "items with a gold label, of " + v.n_answers + " answers in all (" +
        v.answers_per_item + " wanted per item" + (v.n_disputed ? "; " + v.n_disputed + (v.n_disputed === 1
          ? " item tied" : " items tied") : "") + ")"
        : "expert answers") + (v.n_uploaded_gold ? " + uploaded labels fitted on" : ""));
      if (multi) drawDisputes().catch(function (e) { status("Could not load the disagreements: " + e.message, true); });
      Loop.setText("remaining", v.remaining);
      Loop.setText("queue-size", v.queue_size);
      // copies are never asked (soak trial: the random pick served them once the queue was empty)
      Loop.setText("copies-help", v.n_copies ? "; " + v.n_copies + (v.n_copies === 1
        ? " more repeats" : " more repeat") + " another item's text: never asked" : "");
      const help = $("curve-help");
      // the label model is scored where an LF votes (it reads nothing else); the end
      // model, whose labels the export takes, on every held-out item
      const withLm = (v.history || []).filter(function (h) { return typeof h.n_eval_covered === "number"; });
      const covered = withLm.length ? withLm[withLm.length - 1].n_eval_covered : null;
      // new-user trial: the label model's line moved 1.00 -> 0.70 -> 0.62 on 15 items, unsaid
      const fewCovered = covered !== null && v.min_eval && covered < v.min_eval && !v.eval_too_small;
      help.classList.toggle("warn-text", !!v.eval_too_small || !!fewCovered);
      const pickCurve = ["label_model", "end_model"].some(function (m) {
        return ((v.unseen || {})[m] || {}).curve && v.unseen[m].curve.length; });
      help.textContent = !v.n_eval ? (pickCurve
        ? "No held-out labels: the chart shows how often each model was right on random picks it had not " +
          "seen yet, in groups of 10 or more by the gold labels the models had (bars: 95% interval). " +
          "Upload some known labels (Data page) for a finer score."
        : "No held-out labels: upload some known labels (Data page) to score the models, or answer on: " +
          "random picks the models had not seen are plotted once there are 10.")
        : "Accuracy on " + v.n_eval + (v.n_eval === 1 ? " held-out uploaded label" : " held-out uploaded labels") +
          /* in words for one and none (multi-class trial: "the label model on the 1 of
             them where an LF votes ...; on those 1 the last end model has 100%") */
          (covered === 0 && v.n_eval ? " (the end model; no LF votes on " + (v.n_eval === 1 ? "it" : "any of them") +
            ", so the label model has no score)"
            : covered !== null && covered < v.n_eval ? " (the label model on the " + (covered === 1 ? "one" : covered) +
            " of them where an LF votes, the end model on all" + sameItems(v.history, covered) + ")" : "") +
          (v.eval_too_small ? ": fewer than " + v.min_eval + ", so the scores say little."
            : fewCovered ? ": the label model's line rests on fewer than " + v.min_eval +
              " items, so it says little." : ".");
      drawUnseen(v.unseen || {}, !v.n_eval);
      drawByClass(v.held_out_by_class);
      const rc = v.recalibration || {};
      const health = $("recal-health");
      health.classList.toggle("warn-text", !!rc.last_error);
      health.textContent = rc.last_error ? "last run failed: " + rc.last_error.message
        : (rc.running ? "running now" : (v.since_recalibration ? v.since_recalibration + (v.since_recalibration === 1 ? " answer since" : " answers since") : ""));
      drawLoopWarning(v.loop || {}, v.since_recalibration, rc.last_error, (v.apply_lfs || {}).last_error);
      drawEndModelWarning(v.end_model_training || {}, (v.n_gold || 0) + (v.n_uploaded_gold || 0));
      const ag = v.agreement;
      Loop.setText("agreement", ag === null || ag === undefined ? "–" : Loop.pct(ag) + " of " + v.n_agreement);
      const aa = v.annotator_agreement;
      const hasAa = aa !== null && aa !== undefined && typeof aa === "object";
      Loop.setText("annotator-agreement", !hasAa ? "–"
        : Loop.pct(aa.observed, 1) + (aa.kappa === null || aa.kappa === undefined ? "" : " · κ " + Loop.num(aa.kappa)));
      const nMulti = hasAa ? Number(aa.n_items_multi) : 0;
      Loop.setText("annotator-agreement-n", nMulti > 0
        ? nMulti + (nMulti === 1 ? " item" : " items") + " with 2+ answers"
        : "no items with 2+ answers");
      Loop.setText("recalibrated", Loop.when(v.last_recalibrated_at));
      drawCurve(v.history, v.n_eval ? null : v.unseen, v.min_eval);
      drawBalance(v.class_balance);
    }
    if (lfs.status === "fulfilled") {
      drawLfs(lfs.value);
      jobButtons(lfRows(lfs.value).length > 0);
    }
    let running = false;
    if (jobs.status === "fulfilled") running = drawJobs(jobs.value);
    const failed = [m, lfs, jobs].filter(function (r) { return r.status === "rejected"; });
    if (failed.length) {
      const e = failed[0].reason;
      if (e && e.status === 401) { location.replace("/?next=" + encodeURIComponent(location.pathname)); return; }
      if (e && e.status === 403) { status("The dashboard needs the admin API key: sign in with it.", true); return false; }
      pollFailed("Some data could not be loaded: " + (e && e.message));
    } else if (pollSaid) {
      pollFailed("");
    }
    return running;
  }

  /* A poll's failure is said until a poll gets through (upgrade trial: a dashboard
     open across a restart said "Failed to fetch" for good while its numbers moved on). */
  let pollSaid = "";
  function pollFailed(msg) {
    if (msg || $("dash-status").textContent === pollSaid) status(msg, !!msg);
    pollSaid = msg;
  }

  let timer = null;
  let busyUntil = 0;  // poll as while a job runs until then (a rule was just saved)
  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(async function () {
      timer = null;
      let running = false;
      try { running = await refresh(); } catch (e) { pollFailed(String(e)); }
      document.dispatchEvent(new Event("loop:polled"));
      /* a rule just saved: its apply run may not have started at the first look
         (rule author's trial: the table then waited for the 12 s idle poll) */
      schedule(running || Date.now() < busyUntil ? POLL_MS : 4 * POLL_MS);
    }, ms);
  }

  async function startJob(type, btn) {
    const name = btn.textContent.trim();
    Loop.busy(btn, true);
    said("action-status", "Starting “" + name + "”…");
    try {
      // applying the LFs changes every model's input: recalibrate when it ends
      const body = type === "apply_lfs" ? { type: type, recalibrate: true } : { type: type };
      const res = await Loop.api("POST", base + "/jobs", body);
      const id = res && (res.id || res.job_id || (res.job && res.job.id));
      said("action-status", "Started “" + name + "”" + (id ? " (job " + String(id).slice(0, 12) + ")" : "") +
        ": Recent jobs, below, follows it.");
      schedule(200);
    } catch (e) {
      said("action-status", e.status === 403 ? "Starting jobs needs the admin API key."
        : Loop.isNetworkError(e)
          /* cut off after it arrived, the job may have started: the table shows it */
          ? "Could not start “" + name + "”: " + Loop.NETWORK + ". Check your connection and press it " +
            "again (if it did start, Recent jobs, below, lists it)."
          : "Could not start “" + name + "”: " + e.message, true);
    } finally {
      if (btn.dataset.blocked) btn.disabled = true;  // blocked meanwhile (no LF yet, say)
      else Loop.busy(btn, false);
    }
  }

  /* One export at a time, said while it is prepared (a big project's takes a while:
     nothing showed, and a second tap downloaded the file twice; phone trial). */
  async function exportFile(fmt) {
    const buttons = document.querySelectorAll(".export-btn");
    Loop.busy(buttons, true);
    said("export-status", "Preparing the export (" + fmt.toUpperCase() + ")… the download starts when it is ready.");
    try {
      await Loop.download(base + "/export?format=" + fmt, pid + "." + fmt, function (wait) {
        said("export-status", "The server is sending as many exports as it sends at once; " +
          "trying again in " + wait + " s…");
      });
      said("export-status", "Downloaded " + fmt.toUpperCase() + ".");
    } catch (e) {
      said("export-status", "Export failed: " + (Loop.isNetworkError(e)
        ? Loop.NETWORK + ". Nothing was downloaded: check your connection and press it again."
        : e.message), true);
    } finally {
      Loop.busy(buttons, false);
    }
  }

  /* Delete for good, once the project's name is typed (no id pasted by mistake). */
  function wireDelete(name) {
    const input = $("delete-confirm"), btn = $("delete-btn"), st = $("delete-status");
    Loop.setText("delete-name", name);
    input.addEventListener("input", function () { btn.disabled = input.value !== name; });
    $("delete-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      if (input.value !== name) return;
      btn.disabled = true;
      try {
        await Loop.api("DELETE", base, { confirm: input.value });
        st.classList.remove("error");
        st.textContent = "Deleted “" + name + "”. Back to the projects …";
        try { sessionStorage.setItem("loop:deleted", name); } catch (e) { /* private mode */ }
        location.assign("/");
      } catch (e) {
        st.classList.add("error");
        st.textContent = "Could not delete it: " + e.message;
        btn.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    /* an annotator's token opens the labeling page, not the dashboard (its data and
       jobs need the admin key): say so and load nothing else */
    if (!await Loop.adminOnly("The dashboard", pid, $("dash-status"))) return;
    document.querySelectorAll(".job-btn").forEach(function (b) {
      b.addEventListener("click", function () { startJob(b.dataset.job, b); });
    });
    initLfTable();
    document.querySelectorAll(".export-btn").forEach(function (b) {
      b.addEventListener("click", function () { exportFile(b.dataset.format); });
    });
    try {
      const project = await Loop.api("GET", base);
      labels = Loop.labelNames(project);
      hasLfs = project.has_lfs !== false;
      if (project && project.name) Loop.setText("project-name", "· " + project.name);
      wireDelete(project.name);
    } catch (e) {
      if (e.status === 401) { location.replace("/?next=" + encodeURIComponent(location.pathname)); return; }
      if (e.status === 404) { Loop.noProject(pid, $("dash-status")); return; }
      status(e.status === 403 ? "The dashboard needs the admin API key: sign in with it."
        : "Could not load project: " + e.message, true);
      return;
    }
    drawCurve([]);
    let resized = null;
    window.addEventListener("resize", function () {
      clearTimeout(resized);
      resized = setTimeout(function () { drawCurve(lastHistory, lastPicks, lastMinEval); }, 150);
    });
    document.addEventListener("loop:refresh", function () { busyUntil = Date.now() + 20000; schedule(300); });
    schedule(0);
  });
})();
