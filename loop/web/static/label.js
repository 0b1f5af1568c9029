/* Labeling page: one item at a time, keyboard first, next item prefetched.
 * Item text and fields are untrusted and only ever set with textContent. */
"use strict";
(function () {
  const REASONS = {
    conflict: "LFs conflict: the labeling functions that fired disagree.",
    lf_conflict: "LFs conflict: the labeling functions that fired disagree.",
    abstain: "No LF fired: nothing in the rules covers this item.",
    lf_abstain: "No LF fired: nothing in the rules covers this item.",
    no_lf: "No LF fired: nothing in the rules covers this item.",
    uncovered: "No LF fired: nothing in the rules covers this item.",
    uncertain: "Model uncertain: the label model's guess is close to a coin flip.",
    uncertainty: "Model uncertain: the label model's guess is close to a coin flip.",
    random: "Random pick: a spot check to keep the estimates honest.",
    exploration: "Random pick: a spot check to keep the estimates honest.",
    cold_start: "Cold start: the model has not been fitted yet.",
    lfs_conflict: "LFs conflict: the labeling functions that fired disagree.",
    no_lf_fired: "No LF fired: nothing in the rules covers this item.",
    model_uncertain: "Model uncertain: the models are least sure about this item.",
    models_disagree: "Models disagree: the label model (from the LF votes) and the end model (from the text) guess different labels.",
    pattern_check: "Checks the LFs: few answers so far on items these LFs vote on; an answer here recalibrates them all.",
    tie_break: "Tie-break: the answers so far disagree; yours can settle it.",
    more_answers: "Another answer: the project asks for more than one answer per item.",
  };
  const SHORT_REASONS = {
    conflict: "LFs conflict", lf_conflict: "LFs conflict", abstain: "No LF fired",
    lf_abstain: "No LF fired", no_lf: "No LF fired", uncovered: "No LF fired",
    uncertain: "Model uncertain", uncertainty: "Model uncertain", random: "Random pick",
    exploration: "Random pick", cold_start: "Cold start", lfs_conflict: "LFs conflict",
    no_lf_fired: "No LF fired", model_uncertain: "Model uncertain",
    models_disagree: "Models disagree", pattern_check: "Checks the LFs",
    tie_break: "Tie-break", more_answers: "Another answer",
  };
  const POLL_MS = Math.max(200, Number(new URLSearchParams(location.search).get("poll_ms")) || 10000);
  const EMPTY_RETRY_MS = 5000;

  const pid = Loop.pid();
  const base = "/api/projects/" + encodeURIComponent(pid);
  const state = {
    labels: [],
    style: [],          // [{name, color, key}] per label
    keys: {},           // key -> label index
    current: null,      // {item, lease}
    ready: [],          // [{item, lease}] shown next, in order
    history: [],        // items answered or skipped here, newest last (for undo)
    mineShown: 10,      // how many of my earlier answers "My answers" lists
    mineNote: null,     // {item, text, isError}: the last change of one of them, said on its row
    transientError: null, // the status line's error of a request the page repeats by itself
    transientKind: null,  // whose: "next" (the next item) or "counts"
    chain: Promise.resolve(),
    prefetching: false,
    exhausted: false,
    recalibratedAt: undefined,
    pendingKeyAt: null,
    shownAt: 0,          // performance.now() when the item on screen appeared
    tooSoon: null,       // {at, text}: the last key refused as pressed before it was read
    inFlight: new Set(), // ids answered or skipped here whose request has not returned
    skippedLast: null,   // the id skipped by the last action here (undo does not take it back)
    unconfirmed: {},     // id -> label index of an answer sent whose reply never came
    nextError: null,     // why the next item did not load, shown in its place until one does
    metricsUrl: "/p/" + encodeURIComponent(pid) + "/label/session",
    errorAt: -Infinity,  // performance.now() when the status line last said an error
  };
  const stats = { latencies: [], shown: 0 };
  window.loopLabel = {
    stats: stats,
    currentId: function () { return state.current ? String(state.current.item.id) : null; },
    shownFor: function () { return state.current ? performance.now() - state.shownAt : null; },
    readyCount: function () { return state.ready.length; },
    readyIds: function () { return state.ready.map(function (r) { return String(r.item.id); }); },
    idle: function () { return state.chain.then(function () { return true; }); },
  };

  const $ = function (id) { return document.getElementById(id); };

  /* Tabs of one annotator show the same lease (a reload, a second tab). What one
     tab answers or skips, the others drop at once, and their "My answers" follow
     (new-user trial: the second tab kept the answered item, and 5 of 10 keys
     pressed in turn in two tabs were spent on items answered already). */
  const tabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("loop-label:" + pid) : null;
  function whoKey() {  /* which annotator a tab is: a digest, the token never leaves */
    const t = Loop.getToken() || "";
    let h = 0;
    for (let i = 0; i < t.length; i++) h = (Math.imul(h, 31) + t.charCodeAt(i)) | 0;
    return String(h);
  }
  function tellTabs(kind, itemId) {
    if (tabs) tabs.postMessage({ kind: kind, item_id: String(itemId), who: whoKey() });
  }
  /* This annotator's other labeling tabs open now (each says "open" as it loads,
     the others answer "here", and "closed" as it goes): a tab closed while another
     is open leaves its leases to it, which may show the same items. */
  const tabId = Math.random().toString(36).slice(2);
  const otherTabs = new Set();
  function sayToTabs(kind) {
    if (tabs) tabs.postMessage({ kind: kind, tab: tabId, who: whoKey() });
  }
  function onTabMessage(ev) {
    const m = ev.data || {};
    if (m.who !== whoKey()) return;  /* another annotator signed in in this browser */
    if (m.kind === "open" || m.kind === "here") {
      otherTabs.add(m.tab);
      if (m.kind === "open") sayToTabs("here");
      return;
    }
    if (m.kind === "closed") { otherTabs.delete(m.tab); return; }
    if (m.kind === "answered" || m.kind === "skipped") {
      state.ready = state.ready.filter(function (r) { return String(r.item.id) !== m.item_id; });
      if (state.current && String(state.current.item.id) === m.item_id) {
        showNext();
        status("#" + m.item_id + " was " + m.kind + " in another tab.");
      }
    }
    refreshProgress();
  }

  function status(msg, isError) {
    const s = $("status");
    s.textContent = msg || "";
    s.classList.toggle("error", !!isError);
    if (isError) state.errorAt = performance.now();
  }

  /* An answer is sent after the ones before it: closing the tab right after a key
     press would drop those not sent yet, so the browser asks first. */
  window.addEventListener("beforeunload", function (e) {
    if (state.inFlight.size) {
      e.preventDefault();
      e.returnValue = "";
    }
  });

  /* The items this page holds go back to the queue as it closes, not when their
     leases expire minutes later (new-user trial: the done message said items were
     "open on someone's screen", held by a tab closed long before). Not when the
     page is kept to come back to (the back-forward cache), nor while another tab
     of this annotator is open. */
  window.addEventListener("pagehide", function (e) {
    if (e.persisted) return;
    sayToTabs("closed");
    if (otherTabs.size) return;
    const held = (state.current ? [state.current] : []).concat(state.ready).filter(function (r) {
      return r.lease && !state.inFlight.has(String(r.item.id));
    }).slice(0, 21);
    /* with this page's id: the lease a /next still on its way asks for goes back too
       (re-trial: a tab closed right after an answer key left the item its prefetch
       was leasing held for 5 minutes); not those shown or being answered here */
    Loop.sendOnLeave(base + "/queue/release", { page: tabId, shown: shownIds(), leases: held.map(function (r) {
      return { item_id: String(r.item.id), lease_id: String(r.lease.id) };
    }) });
  });

  /* Every item this page holds (the one on screen, the one prefetched) is leased to
     this annotator for the server's LEASE_SECONDS; a lease was never renewed, so an
     expert who read a long item, looked something up or took a call past it had
     the answer refused once the item went to someone else. While the annotator is
     here (the tab shown, and a key, click, pointer move or scroll within
     idle_seconds, 10 minutes by default) the page renews them at half the lease
     time; a hidden tab or an idle annotator lets them lapse, and the items go to
     the others. A renewal that says the item on screen is lost is said at once.
     A page that did not run (the computer asleep, the browser froze the tab)
     renews nothing either: back, it says so as "asleep". */
  /* The page's time for all this: performance.now(), plus the time the computer
     slept, which performance.now() leaves out in Chromium on Linux and macOS (and
     Firefox, Safari; MDN "Ticking during sleep"), as do the page's timers: the wall
     clock's jump past it. Without it, a page back from a sleep past the lease
     counted itself renewed and its annotator there, renewed nothing, and said of an
     answer refused that its item had been on screen for a few seconds. */
  const clock = (function () {
    let p0 = performance.now(), w0 = Date.now(), slept = 0;
    return function () {
      const p = performance.now(), w = Date.now();
      const more = (w - w0) - (p - p0);
      if (more > 1000) slept += more;  /* not a wall clock set back, nor its small steps */
      p0 = p;
      w0 = w;
      return p + slept;
    };
  })();
  const presence = {
    lastActive: clock(), leaseMs: 300000, idleMs: 600000,
    renewedAt: clock(), renewing: false, started: false,
    failedAt: -Infinity,   // when a renewal last got no reply or an error
    hiddenAt: null,        // clock() when the tab was hidden, while it is
    ranAt: clock(),        // when the page last ran (its tick, a key, a move...)
    returnedAt: -Infinity, // when the annotator last came back, after awayFor ms
    awayFor: 0, awayHow: "",  // ... "hidden", "idle" or "asleep"
  };
  function tickMs() { return Math.max(250, Math.min(presence.leaseMs / 8, 15000)); }
  function here() {
    return document.visibilityState === "visible" &&
      clock() - presence.lastActive < presence.idleMs;
  }
  /* A renewal that failed is tried again at the next tick, not at the next pointer
     move: offline or with the server down, one went out at every move of the mouse
     (40 in 18 s offline in a trial, at most 60 a second), each failing at once, and a
     server answering 503 would be asked as often. */
  function renewDue() {
    const now = clock();
    return presence.started && here() && !presence.renewing &&
      now - presence.renewedAt >= presence.leaseMs / 2 && now - presence.failedAt >= tickMs() / 2;
  }
  /* The page runs at ``now``: a gap since it last ran far past its tick, shown, is a
     sleep (trial: a page frozen 24 s with 20 s leases said its item lapsed "once
     this page is hidden, or idle for 30 s", neither of which it was). */
  function ran(now) {
    const gap = now - presence.ranAt;
    presence.ranAt = now;
    if (presence.hiddenAt === null && gap > Math.max(2 * tickMs() + 500, presence.leaseMs / 4)) {
      presence.awayHow = "asleep";
      presence.awayFor = gap;
      presence.returnedAt = now;
    }
  }
  function onActivity() {
    const now = clock();
    ran(now);
    const slept = presence.awayHow === "asleep" && presence.returnedAt > presence.lastActive;
    if (presence.hiddenAt !== null || (!slept && now - presence.lastActive >= presence.idleMs)) {
      presence.awayHow = presence.hiddenAt !== null ? "hidden" : "idle";
      presence.awayFor = now - (presence.hiddenAt !== null ? presence.hiddenAt : presence.lastActive);
      presence.returnedAt = now;
      presence.hiddenAt = null;
    }
    presence.lastActive = now;
    if (renewDue()) renewLeases();
  }
  /* Why the page lost an item at ``at``, if it came back from being away just
     before (null if not): "this page was hidden for 2 min, and once a page is
     hidden, an item stays yours at most 5 min more" */
  function awayWhy(at) {
    if (at - presence.returnedAt >= 30000) return null;
    /* how long an item is kept once the page stops renewing: once hidden, or once idle
       for the idle limit, the rest of its lease ("kept for you only 30 s after you
       leave" was said of a page idle for 2 min, whose item was kept up to 90 s: trial) */
    const kept = (presence.awayHow === "idle" ? "idle for " + Loop.duration(presence.idleMs) +
      " (no key, click, pointer move or scroll)" : presence.awayHow === "asleep"
      ? "asleep (the computer slept, or the browser froze this tab: nothing runs then)" : "hidden") +
      ", an item stays yours at most " + Loop.duration(presence.leaseMs) + " more";
    return "this page was " + presence.awayHow + " for " + Loop.duration(presence.awayFor) +
      ", and once a page is " + kept;
  }
  /* said beside an error said a moment ago (an answer refused as the same key came
     back to the page), not over it */
  function sayAlso(text) {
    const s = $("status");
    const prev = s.classList.contains("error") && performance.now() - state.errorAt < 5000 ? s.textContent : "";
    status(prev ? prev + " " + text : text, true);
  }
  function renewLeases() {
    const held = (state.current ? [state.current] : []).concat(state.ready).filter(function (r) {
      return r.lease && !state.inFlight.has(String(r.item.id));
    }).slice(0, 21);
    const asked = clock();
    if (!held.length) { presence.renewedAt = asked; return; }
    presence.renewing = true;
    Loop.api("POST", base + "/queue/renew", { leases: held.map(function (r) {
      return { item_id: String(r.item.id), lease_id: String(r.lease.id) };
    }) }).then(function (res) {
      presence.renewedAt = asked;
      const lapsed = (res && res.not_renewed || []).map(function (x) {
        return { r: held.find(function (h) { return String(h.item.id) === String(x.item_id); }), reason: x.reason };
      }).filter(function (x) { return x.r; });
      /* the prefetched ones that are gone first, dropped unsaid; then the one on
         screen, whose loss shows the next: taken first, it put the prefetched item on
         screen, which was then said to be "settled meanwhile", an item the annotator
         never saw (trial). A prefetched one only expired comes last: put on screen by
         that loss, it is leased again by /next, unsaid (dropped, "Loading…" came
         instead of it, and no "Here is the next one": re-trial) */
      const order = function (x) { return x.r === state.current ? 1 : x.reason === "expired" ? 2 : 0; };
      lapsed.sort(function (a, b) { return order(a) - order(b); });
      lapsed.forEach(function (x) { notRenewed(x.r, x.reason, asked, held); });
      (res && res.renewed || []).forEach(function (x) {
        unsentSaid(String(x.item_id), asked, function (label, id) {
          return "The server answers again: your answer “" + label + "” to #" + id + " did not reach it; ";
        });
      });
    }, function (e) {
      if (e && e.status === 401) handleError(e);
      /* else tried again at the next tick */
      presence.failedAt = clock();
    }).finally(function () { presence.renewing = false; });
  }
  /* A lease the page holds that was not renewed: one prefetched is dropped (the next
     is fetched); the one on screen that expired comes back by /next if nobody took
     it meanwhile (a lease you hold comes back first), else the page says so. */
  function notRenewed(r, reason, asked, held) {
    if (state.inFlight.has(String(r.item.id))) return;  /* being answered here now */
    const idx = state.ready.indexOf(r);
    if (idx >= 0) {
      state.ready.splice(idx, 1);
      prefetch();
      /* one whose answer got no reply, which the page said would come back to be
         answered again: said, not dropped unsaid (trial: offline past the lease, the
         item went to another annotator, and nothing more was said of it, nor of the
         answer lost). Only expired, it comes back by /next (a lease you held). */
      const id = String(r.item.id), sent = state.unconfirmed[id];
      if (sent === undefined || reason === "expired") return;
      delete state.unconfirmed[id];
      sayAlso(reason === "answered"
        ? "Your answer “" + labelName(sent) + "” to #" + id + " reached the server after all (only its " +
          "reply was lost), or you answered it in another tab: it needs no answer again."
        : "Your answer “" + labelName(sent) + "” to #" + id + " did not reach the server, and #" + id +
          (reason === "settled" ? " was settled meanwhile (others answered it, or the admin did): it needs no answer from you."
            : " is no longer yours: " + (awayWhy(asked) || LAPSED) + ", so it went to another annotator; " +
              "it does not come back."));
      return;
    }
    if (state.current !== r) return;  /* answered or skipped meanwhile */
    const id = String(r.item.id);
    if (reason === "expired") {
      enqueue(function () {
        /* answered or skipped meanwhile (a key pressed on coming back): not leased again */
        if (state.current !== r) return null;
        /* not the others it held (one prefetched and dropped may have lapsed too) */
        const others = held.map(function (h) { return String(h.item.id); }).concat(shownIds());
        return Loop.api("POST", base + "/queue/next", { page: tabId,
          shown: Array.from(new Set(others)).filter(function (x) { return x !== id; }).slice(0, 20) });
      }).then(function (data) {
        const got = takeNext(data);
        if (got && String(got.item.id) === id && state.current === r) { r.lease = got.lease; return; }
        /* not the item whose answer is on its way: leased again as the key was
           pressed, it came back on screen under "Saved" (user trial) */
        if (got && !known(got.item.id) && !state.inFlight.has(String(got.item.id))) state.ready.push(got);
        if (state.current === r) lost(r, "taken", asked);
      }, function () { /* the answer says what became of it */ });
      return;
    }
    lost(r, reason, asked);
  }
  const LAPSED = "its lease ran out before this page could renew it (was this browser offline, or the server out of reach?)";
  function lost(r, reason, asked) {
    const id = String(r.item.id);
    /* this renewal came as the annotator came back, or the page could not renew in time */
    const why = awayWhy(asked) || LAPSED;
    showNext();
    const next = state.current ? " Here is the next one." : "";
    if (reason === "settled") {
      sayAlso("#" + id + " was settled meanwhile (others answered it, or the admin did): it needs no answer from you." + next);
    } else if (reason === "answered") {
      sayAlso("#" + id + " was answered already (in another tab?)." + next);
    } else {
      sayAlso("#" + id + " is no longer yours: " + why + ", so " +
        (reason === "taken" ? "another annotator has it now." : "it went back to the others.") + next);
    }
    refreshProgress();
  }

  function leaseTimes(session) {  /* the service's, as the page's session says them */
    const lease = Number(session.lease_seconds), idle = Number(session.idle_seconds);
    if (lease > 0) presence.leaseMs = lease * 1000;
    if (idle > 0) presence.idleMs = idle * 1000;
  }
  function startRenewing() {
    presence.started = true;
    ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"].forEach(function (t) {
      document.addEventListener(t, onActivity, { capture: true, passive: true });
    });
    if (document.visibilityState === "hidden") presence.hiddenAt = clock();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") onActivity();
      else if (presence.hiddenAt === null) { ran(clock()); presence.hiddenAt = clock(); }
    });
    /* checked every eighth of the lease time, or every 15 s if that is sooner: the
       leases are renewed at most 5/8 of it after the last renewal */
    presence.ranAt = clock();
    setInterval(function () { ran(clock()); if (renewDue()) renewLeases(); }, tickMs());
  }

  /* Serialize every request that changes queue state, in order. */
  function enqueue(fn) {
    const p = state.chain.then(fn);
    state.chain = p.catch(function () { /* keep the chain alive */ });
    return p;
  }

  /* the first n characters (whole code points), with "…" if there were more */
  function shorten(text, n) {
    const chars = Array.from(text);
    return chars.length > n ? chars.slice(0, n).join("").trimEnd() + "…" : text;
  }

  function labelName(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return v < 0 ? "abstain" : (state.labels[v] !== undefined ? state.labels[v] : String(v));
    return String(v);
  }

  /* A vote comes as its label's name: "-1" is a label there may be (sentiment: "-1",
     "0", "+1"; trial: its LF's vote read "abstain"), "abstain" only if none is. */
  function isAbstain(v) {
    return v === -1 || v === null || ((v === "-1" || v === "abstain") && state.labels.indexOf(v) === -1);
  }

  /* Relation data names two entities of its text (WRENCH's semeval and chemprot:
     fields entity1 / entity2, and span1 / span2, their [start, end) offsets in code
     points): marked in the text, numbered, since which is first decides a directed
     relation. Without a usable span an entity's first occurrence is marked. A mark
     overlapping an earlier one is left out. Returns [{start, end, n}] in code points. */
  function entityMarks(raw, f) {
    const cps = Array.from(raw);
    const spans = {}, names = {};
    for (const k of Object.keys(f)) {
      const r = Loop.relationField(k);
      if (!r) continue;
      let v = f[k];
      if (r.kind === "entity") {
        if (typeof v === "string" && v.trim()) names[r.n] = v;
        continue;
      }
      if (typeof v === "string" && /^\s*\[\s*\d+\s*,\s*\d+\s*\]\s*$/.test(v)) v = JSON.parse(v);
      if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && Number.isInteger(v[1]) &&
          v[0] >= 0 && v[0] < v[1] && v[1] <= cps.length) spans[r.n] = v;
    }
    const marks = [];
    for (const n of Object.keys(names).concat(Object.keys(spans))) {
      if (marks.some(function (m) { return m.n === n; })) continue;
      let at = spans[n];
      const name = names[n];
      if (name && (!at || cps.slice(at[0], at[1]).join("") !== name)) {
        const i = raw.indexOf(name);  // the span does not hold the entity: find it
        at = i < 0 ? at : [Array.from(raw.slice(0, i)).length,
                           Array.from(raw.slice(0, i)).length + Array.from(name).length];
      }
      if (at) marks.push({ start: at[0], end: at[1], n: n });
    }
    marks.sort(function (a, b) { return a.start - b.start || a.end - b.end; });
    const kept = [];
    for (const m of marks) {
      if (!kept.length || m.start >= kept[kept.length - 1].end) kept.push(m);
    }
    return kept;
  }

  function showText(el, raw, marks) {
    if (!marks.length) { el.textContent = Loop.plainText(raw); return; }
    Loop.clear(el);
    const cps = Array.from(raw);
    const piece = function (a, b) { return Loop.plainText(cps.slice(a, b).join(""), true); };
    let pos = 0;
    for (const m of marks) {
      let before = piece(pos, m.start);
      if (pos === 0) before = before.replace(/^\s+/, "");
      if (before) el.appendChild(document.createTextNode(before));
      el.appendChild(Loop.el("mark", { class: "ent ent-" + m.n, "data-n": m.n, title: "entity " + m.n,
        text: piece(m.start, m.end) }));
      pos = m.end;
    }
    const after = piece(pos, cps.length).replace(/\s+$/, "");
    if (after) el.appendChild(document.createTextNode(after));
  }

  function renderItem() {
    const cur = state.current;
    const text = $("item-text");
    const fields = $("item-fields");
    const votes = $("votes");
    Loop.clear(votes);
    Loop.clear(fields);
    document.querySelectorAll(".label-buttons button").forEach(function (b) { b.disabled = !cur; });
    $("skip-btn").disabled = !cur;
    if (!cur) {
      Loop.setText("item-id", "");
      /* why nothing loads, where the item would be: kept there until one does (re-trial:
         "Loading…" stayed, and the status line's message was overwritten) */
      const failed = !state.exhausted && state.nextError !== null;
      text.textContent = state.exhausted ? "" : failed ? state.nextError : "Loading…";
      text.classList.toggle("error", failed);
      text.hidden = state.exhausted;
      $("done").hidden = !state.exhausted;
      if (state.exhausted) {
        showDone();
        /* the last answer given with a label button or key: the focus on "All done",
           which a screen reader then reads; it went to the page's body as the buttons
           were greyed out and the item hidden, and only "Saved" was heard
           (accessibility trial) */
        const f = document.activeElement;
        if (!f || f === document.body || f === text || (f.closest && f.closest(".label-buttons, #skip-btn"))) {
          $("done").focus({ preventScroll: true });
        }
      }
      text.classList.add("muted");
      $("reason").hidden = true;
      Loop.setText("reason-text", "–");
      Loop.setText("guess-label", "–");
      Loop.setText("guess-conf", "");
      $("guess-bar").style.width = "0";
      fields.hidden = true;
      return;
    }
    const item = cur.item;
    state.shownAt = performance.now();
    text.hidden = false;
    $("done").hidden = true;
    text.classList.remove("muted", "error");
    Loop.setText("item-id", "#" + item.id);
    if (state.skippedLast !== null && String(item.id) === state.skippedLast) {
      /* team lead's trial: "s" on the last item brought it straight back, eight times,
         with only "Skipped" said */
      status("#" + item.id + " is back: it is the last item left for you, and a skipped item " +
        "comes back when nothing else is left. Answer it, or stop here: it stays for others" +
        (item.reason === "tie_break" ? " (or for an admin's decision)." : "."));
    }
    const f = item.fields && typeof item.fields === "object" ? item.fields : {};
    const raw = item.text === undefined || item.text === null ? "" : String(item.text);
    /* #item-text is dir="auto" (label.html), as every item text the pages show: a
       Hebrew or Arabic item reads right to left, its "?" and "!" at its end, not at
       its start (new-user trial) */
    showText(text, raw, entityMarks(raw, f));

    /* a span's offsets (a CSV's "[34, 37]") are its entity's mark, not a field */
    const fieldKeys = Object.keys(f);
    const spanOf = function (k) { return Loop.spanColumn(k, fieldKeys); };
    /* in the file's order (the server's field_order: the object's keys come sorted) */
    const order = Array.isArray(item.field_order) ? item.field_order.filter(function (k) { return k in f; }) : [];
    const keys = order.concat(Object.keys(f).filter(function (k) { return order.indexOf(k) === -1; }))
      .filter(function (k) { return f[k] !== null && f[k] !== "" && typeof f[k] !== "object" && !spanOf(k); });
    /* a nested object's field by its own name (WRENCH's "data.entity1" as "entity1",
       new-user trial), unless two would read the same; the full name on hover */
    const listed = keys.filter(function (k) { return String(f[k]) !== String(item.id); });
    const shown = listed.slice(0, 8);
    const own = function (k) { return k.slice(k.lastIndexOf(".") + 1) || k; };
    for (const k of shown) {
      const v = Loop.plainText(f[k]);
      const name = shown.filter(function (o) { return own(o) === own(k); }).length > 1 ? k : own(k);
      const ent = /^entity(\d+)$/i.exec(own(k));  // coloured as its mark in the text
      fields.appendChild(Loop.el("div", null, Loop.el("dt", { text: name, title: k }),
        Loop.el("dd", { text: v, title: v, dir: "auto", class: ent ? "ent ent-" + ent[1] : null,
          "data-n": ent ? ent[1] : null })));
    }
    const more = listed.length - shown.length;
    if (more > 0) {  // (re-trial: the ninth column on were left out, unsaid)
      fields.appendChild(Loop.el("div", { class: "fields-more" }, Loop.el("dt", { text: "…" }),
        Loop.el("dd", { text: more + (more === 1 ? " more field" : " more fields") +
          " not shown here (the export has every field)" })));
    }
    fields.hidden = keys.length === 0;
    /* a value cut to one line opens in full on a click, a tap or Enter: its title
       was the only way to read it, and a phone has no hover (browser trial) */
    fields.querySelectorAll("dd").forEach(function (dd) {
      if (dd.scrollWidth <= dd.clientWidth + 1) return;
      dd.classList.add("cut");
      dd.tabIndex = 0;
      dd.setAttribute("role", "button");
      dd.setAttribute("aria-expanded", "false");
      const toggle = function () { dd.setAttribute("aria-expanded", String(dd.classList.toggle("open"))); };
      dd.addEventListener("click", toggle);
      dd.addEventListener("keydown", function (ev) {
        if (ev.key !== "Enter" && ev.key !== " ") return;
        ev.preventDefault();
        ev.stopPropagation();
        toggle();
      });
    });

    const reason = item.reason === undefined || item.reason === null ? "" : String(item.reason);
    const badge = $("reason");
    badge.hidden = !reason;
    badge.textContent = SHORT_REASONS[reason] || reason;
    badge.dataset.reason = reason;
    const lg = item.label_model_guess, eg = item.guess;
    Loop.setText("reason-text", item.blind ? "Hidden: blind labeling" : reason === "models_disagree" && lg && eg && eg.source === "end_model"
      ? "Models disagree: the label model (from the LF votes) says " + labelName(lg.label) + " (" +
        Loop.pct(lg.confidence) + "), the end model (from the text) " + labelName(eg.label) + " (" +
        Loop.pct(eg.confidence) + ")."
      /* before any LF there are no estimates to keep honest (new-user trial) */
      : reason === "exploration" && state.hasLfs === false
        ? "Random pick: with no LF yet, items come in random order."
        : REASONS[reason] || (reason ? reason : "–"));

    const g = item.guess || {};
    const conf = Number(g.confidence);
    Loop.setText("guess-label", item.blind ? "hidden: blind labeling (each answer your own reading)"
      : item.guess_hidden ? "hidden: others have answered this item" :
      g.label === undefined ? "no guess yet" : labelName(g.label));
    const src = g.source ? " · " + String(g.source).replace("_", " ") : "";
    Loop.setText("guess-conf", Number.isFinite(conf) ? Loop.pct(conf) + " confident" + src : "");
    $("guess-bar").style.width = Number.isFinite(conf) ? Math.round(100 * conf) + "%" : "0";
    /* no guess (blind, hidden, none yet): no empty bar that reads as "0% sure" */
    $("guess-bar").parentNode.hidden = !Number.isFinite(conf);

    const list = Array.isArray(item.votes) ? item.votes : [];
    const unshown = item.uploaded_votes || 0;  /* votes that came with the items: not shown */
    if (!list.length && !unshown) {
      votes.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "2", class: "muted",
        text: item.blind ? "Hidden: blind labeling" : state.hasLfs === false
          ? "The project has no LFs yet: your answers are saved, and the models learn from them once the admin writes a rule"
          : "No LF fired" })));
    }
    if (unshown) {
      votes.appendChild(Loop.el("tr", null, Loop.el("td", { colspan: "2", class: "muted",
        text: unshown + (unshown === 1 ? " vote" : " votes") + " of LFs uploaded with the items, not shown" })));
    }
    for (const v of list) {
      const abstain = isAbstain(v.label);
      votes.appendChild(Loop.el("tr", { class: abstain ? "abstain" : "" },
        Loop.el("td", { class: "mono", text: String(v.lf) }),
        Loop.el("td", { text: abstain ? "abstain" : labelName(v.label) })));
    }
  }

  /* Counted after the answers still being sent (in the chain, which answer() fills
     before it shows the next item): else the last answer is missing from the count. */
  function showDone() {
    enqueue(function () { return Loop.api("GET", base + "/queue/me?done=1"); }).then(function (me) {
      if (!me) return;
      /* the Progress card from the same read: the message is read again every few
         seconds, and "Every item has its answers." stood beside "Remaining 4" once
         the admin had settled the ties (team lead's trial) */
      showCounts(me);
      const n = function (x, one, many) { return x === 1 ? "1 " + one : x + " " + many; };
      const admin = me.disputed_for_admin || 0;
      /* of the remaining items, those an annotator's answer settles (not the ties
         for the admin; a tie after k + 1 answers is not among the remaining: team
         lead's trial, an item that needed an answer went unsaid) */
      const others = me.waiting_for_others;
      const byAnswer = (me.disputed || 0) - admin;
      /* leased items you have not answered: those may come back to you (team lead's
         trial: "look in again later" for an item already answered) */
      const back = me.leased_for_you === undefined ? me.leased : me.leased_for_you;
      if (me.n_items === 0) {
        /* new-user trial: a link sent before the import said "Every item has its
           answers"; the page asks again every few seconds, so the first item shows */
        $("done-text").textContent = "This project has no items yet: an admin imports them (Data " +
          "page). Keep this page open: the first item shows here once they are in.";
        return;
      }
      $("done-text").textContent = "Nothing is left for you to label: you answered " + me.answers_total +
        (me.answers_total === 1 ? " item" : " items") + " (" + me.answers_today + " today). " +
        (!me.remaining ? "Every item has its answers." : others > 0
          ? n(others, "item still needs", "items still need") + " answers from others" +
            (byAnswer > 0 ? " (" + n(byAnswer, "of them has answers that disagree: one more answer or " +
              "an admin's decision settles it", "of them have answers that disagree: one more answer or " +
              "an admin's decision settles each") + ")" : "") + "." : "") +
        (admin ? " " + n(admin, "item has answers that disagree and waits", "items have answers that " +
          "disagree and wait") + " for an admin's decision (Disagreements, on the dashboard)." : "") +
        /* new-user trial: those were held by a closed tab, and came back minutes later */
        (back ? " " + n(back, "item is", "items are") +
          " open on someone's screen now; an item not answered there within a few minutes " +
          "comes back, so look in again later." : "");
    }, function () { /* keep the default text */ });
  }

  function markShown() {
    const t0 = state.pendingKeyAt;
    state.pendingKeyAt = null;
    stats.shown += 1;
    if (t0 === null) return;
    requestAnimationFrame(function () {
      /* After the frame with the new item has been laid out. */
      setTimeout(function () { stats.latencies.push(performance.now() - t0); }, 0);
    });
  }

  function showNext() {
    state.current = state.ready.shift() || null;
    if (state.current) state.nextError = null;
    if (state.current && $("status").textContent === NOT_READY) status("");  // it is here now
    /* a label button clicked for the item before keeps the focus, and Space or Enter
       would press it again for this one, unread (new-user trial: "spam" saved for a
       ham message by the Space meant to scroll it): the focus goes to the item. A
       screen reader then reads the focused text: its live region is off meanwhile,
       or the text was read twice (accessibility trial) */
    const f = document.activeElement;
    const moveFocus = !!(state.current && f && f.closest
                         && f.closest(".label-buttons, #skip-btn, #done"));
    const text = $("item-text");
    if (moveFocus) text.setAttribute("aria-live", "off");
    renderItem();
    if (state.current) {
      markShown();
      if (moveFocus) {
        text.focus({ preventScroll: true });
        setTimeout(function () { text.setAttribute("aria-live", "polite"); }, 500);
      }
    }
    if (!moveFocus) text.setAttribute("aria-live", "polite");
    prefetch();
  }

  function takeNext(data) {
    if (!data || !data.item) return null;
    return { item: data.item, lease: data.lease || null };
  }

  /* Lease the next item for this page, past the ones it shows (null: none left). */
  async function leaseNext() {
    return takeNext(await Loop.api("POST", base + "/queue/next", { shown: shownIds(), page: tabId }));
  }

  /* Ids of the items this page holds: the server returns a lease we already hold
     (a reload, a second tab) unless we list it here. */
  function shownIds() {
    const ids = state.ready.map(function (r) { return String(r.item.id); });
    if (state.current) ids.unshift(String(state.current.item.id));
    state.inFlight.forEach(function (id) { ids.push(id); });
    return ids.slice(0, 20);
  }

  function known(id) {
    const s = String(id);
    if (state.current && String(state.current.item.id) === s) return true;
    return state.ready.some(function (r) { return String(r.item.id) === s; });
  }

  /* Keep one item ready beyond the current one. */
  function prefetch() {
    if (state.prefetching) return;
    if (state.current && state.ready.length >= 1) { clearTransient("next"); return; }
    state.prefetching = true;
    enqueue(async function () {
      try {
        for (let tries = 0; tries < 3; tries++) {
          const got = await leaseNext();
          if (!got) { state.exhausted = true; break; }
          state.exhausted = false;
          if (known(got.item.id)) continue;
          state.ready.push(got);
          break;
        }
      } finally {
        state.prefetching = false;
      }
    }).then(function () {
      clearTransient();
      state.nextError = null;
      if (!state.current && state.ready.length) {
        showNext();
      } else if (!state.current) {
        renderItem();
        setTimeout(prefetch, EMPTY_RETRY_MS);
      } else if (state.ready.length < 1 && !state.exhausted) {
        prefetch();
      }
    }, function (e) {
      if (e && e.status === 401) { handleError(e); return; }
      /* an item came back meanwhile (an answer that did not arrive: restart trial, its
         "may not have reached the server" was replaced by this, which then stayed up
         with nothing left to try again once the server was back) */
      if (state.current && state.ready.length >= 1) return;
      const text = "Could not load the next item: " + failure(e) + " Trying again in a few seconds.";
      if (state.current) transient(text, "next");
      else {
        /* nothing on screen: said in the item's place, the status line left to what
           it said (the last answer's "Saved ...") */
        state.nextError = text;
        renderItem();
      }
      setTimeout(prefetch, EMPTY_RETRY_MS);
    });
  }

  /* An error of a request the page repeats by itself (the next item, the counts):
     said until one of them works again (phone trial: it stayed on after). The next
     item's matters more: the counts' does not replace it, nor anything said while
     no item is shown (the item's place says why). */
  function transient(text, kind) {
    if (kind === "counts" && (state.nextError !== null ||
        (state.transientKind === "next" && $("status").textContent === state.transientError))) return;
    status(text, true);
    state.transientError = text;
    state.transientKind = kind;
  }
  function clearTransient(kind) {
    if (kind && state.transientKind !== kind) return;  /* counts read: the next item may still fail */
    if (state.transientError !== null && $("status").textContent === state.transientError) status("");
    state.transientError = null;
    state.transientKind = null;
  }

  function handleError(e) {
    if (e && e.status === 401) {
      location.replace("/?next=" + encodeURIComponent(location.pathname));
      return;
    }
    const which = /item (\S+) (?:was|needs)/.exec((e && e.message) || "");
    const that = which ? "#" + which[1] : "That item";
    if (e && e.status === 409 && /needs no more answers/.test(e.message || "")) {
      /* settled by others or the admin while on screen: nobody's mistake (re-trial) */
      status(that + " was settled meanwhile (others answered it, or the admin did): your answer was not needed. Here is the next one.");
      refreshProgress();  /* "Remaining" counted it still */
      return;
    }
    if (e && e.status === 409 && /given a known label meanwhile/.test(e.message || "")) {
      /* an admin added known labels of items, this one among them (POST /labels) */
      status(that + " was given a known label meanwhile (an admin added labels of items): your answer was not needed. Here is the next one.");
      refreshProgress();
      return;
    }
    status("Error: " + failure(e), true);
  }

  /* An error in words; a network error says that nothing answered (what it means
     for the request that failed, its caller says). */
  function failure(e) {
    if (Loop.isNetworkError(e)) return Loop.NETWORK + ": check your connection.";
    const m = e && e.message ? e.message : String(e);
    return /[.!?]$/.test(m) ? m : m + ".";
  }

  function flash(idx) {
    const b = document.querySelector('.label-buttons button[data-index="' + idx + '"]');
    if (!b) return;
    b.classList.add("pressed");
    setTimeout(function () { b.classList.remove("pressed"); }, 150);
  }

  /* A key pressed while the next item loads is not applied to an item nobody has
     seen yet; say so instead of dropping it silently. */
  const NOT_READY = "The next item is still loading: that key was not applied.";
  function notReady() {
    if (!state.exhausted) status(NOT_READY, true);
  }

  /* A key pressed before anyone could have read the item on screen is the second
     half of a double press, meant for the item before: not applied (new-user trial:
     "5" pressed twice 150 ms apart saved "5" for an item on screen for 0.1 s). */
  const MIN_LOOK_MS = 250;
  function tooSoon(t0, what) {
    const t = t0 === undefined ? performance.now() : t0;
    if (!state.current || t - state.shownAt >= MIN_LOOK_MS) return false;
    state.tooSoon = { at: performance.now(), text: "#" + state.current.item.id +
      " appeared just now, so that " + what + " was not applied (a double press?). " +
      "Press it again to apply it." };
    status(state.tooSoon.text, true);
    return true;
  }
  /* What an answer or skip sent at ``since`` says once saved, keeping a key refused
     meanwhile in view (the "Saved" of the first press had replaced it). */
  function saidOnceSaved(text, since) {
    const refused = state.tooSoon && state.tooSoon.at >= since ? state.tooSoon.text : "";
    status(refused ? text + " " + refused : text, !!refused);
  }

  function answer(idx, t0) {
    const cur = state.current;
    if (!cur) { notReady(); return; }
    if (tooSoon(t0, "“" + labelName(idx) + "”")) return;
    const sentAt = performance.now();
    const onScreen = sentAt - state.shownAt;  /* how long the item was read */
    state.skippedLast = null;
    state.pendingKeyAt = t0 === undefined ? performance.now() : t0;
    flash(idx);
    state.history.push(cur.item);
    const id = String(cur.item.id);
    state.inFlight.add(id);
    /* Sent before the next item shows: what that asks for (the next item, or the
       counts once nothing is left) then comes after this answer. */
    const sent = enqueue(function () {
      return Loop.api("POST", base + "/queue/answer", {
        item_id: cur.item.id, label: idx, lease_id: cur.lease ? cur.lease.id : null,
      });
    });
    showNext();
    pending();
    sent.then(function (res) {
      state.inFlight.delete(id);
      pending();
      tellTabs("answered", id);
      const earlier = settle(id);
      /* the same item open in two tabs: the first answer counts; answered again after
         a reply that never came, the first send arrived after all (re-trial: "nothing
         changed" read as a failure) */
      saidOnceSaved(res && res.duplicate
        ? (earlier !== undefined
          ? "Your earlier answer “" + labelName(idx) + "” to #" + id + " was saved after all " +
            "(only its reply was lost); it is kept once."
          : "#" + cur.item.id + " was answered “" + labelName(idx) + "” already (in another tab?); nothing changed.")
        : "Saved “" + labelName(idx) + "” for #" + cur.item.id + ".", sentAt);
      refreshProgress();
    }, function (e) {
      state.inFlight.delete(id);
      pending();
      state.history.pop();
      if (e && e.status === 401) {  /* re-trial: the sign-in page did not say it was lost */
        Loop.noteSignOut("your answer “" + labelName(idx) + "” for #" + cur.item.id + " was not saved");
      }
      if (e && e.body && e.body.code === "already_answered") {
        /* the server says which answer it has (answered twice with no reply, with two
           labels: the page had named its first, which may not be the one stored) */
        const sent = settle(id);
        const earlier = sent !== undefined && Number.isInteger(e.body.label) ? e.body.label : sent;
        status(earlier !== undefined && earlier !== idx
          ? "Your earlier answer “" + labelName(earlier) + "” to #" + id + " was saved after all " +
            "(only its reply was lost), so “" + labelName(idx) + "” was not. To change it, pick it under My answers."
          : "#" + cur.item.id + " was answered already (in another tab?), so “" +
            labelName(idx) + "” was not saved. To change that answer, pick it under My answers.", true);
        refreshProgress();
        return;
      }
      if (e && e.status === 409 && /leased by someone else|no active lease/.test(e.message || "")) {
        /* on screen past its lease (a break), the item went to another annotator:
           "Error: item 1508 is leased by someone else." said neither why nor that
           the answer was lost (team lead's trial). Its key pressed as the page came
           back (shown again, awake again): why it was lost is why the page was away
           (trial: "on your screen for 24 s; once this page is hidden, or idle for
           30 s ..." of a page frozen for 24 s, neither hidden nor idle) */
        const why = awayWhy(clock());
        if (why) {
          status("#" + id + " is no longer yours: " + why + ", so another annotator has it now (or it " +
            "went back to the queue): your answer “" + labelName(idx) + "” was not saved." +
            (state.current ? " Here is the next one." : ""), true);
          refreshProgress();
          return;
        }
        status("#" + id + " was on your screen for " + Loop.duration(onScreen) +
          "; once this page is hidden, or idle for " + Loop.duration(presence.idleMs) + " (no key, click, pointer " +
          "move or scroll), an item stays yours at most " + Loop.duration(presence.leaseMs) +
          " more, and this one is no longer yours (another annotator " +
          "has it now, or it went back to the queue): your answer “" + labelName(idx) + "” was not saved." +
          (state.current ? " Here is the next one." : ""), true);
        refreshProgress();
        return;
      }
      if (e && (e.status === 401 || e.status === 409)) { handleError(e); return; }
      notSaved(cur, idx, e);
    });
  }

  /* An answer that did not arrive (no connection, a server error), said by the
     item's id once the page has moved on (phone trial: "Error: Failed to fetch" under
     the next item, naming nothing). Its lease is still this annotator's: the item is
     shown again next, to be answered again (sent twice, it is stored once). With no
     reply at all the page cannot know: the answer may have been stored and only its
     reply lost (re-trial: "was not saved" for an answer the server had), so it says
     "may not", and the answer given again says which it was (settle). */
  function notSaved(cur, idx, e) {
    const id = String(cur.item.id);
    const network = Loop.isNetworkError(e);
    let back = "";
    /* a refusal (the item gone, the lease another's) is not tried again */
    const retry = network || (e && e.status >= 500);
    if (retry && !known(id)) {
      state.ready.unshift(cur);
      if (state.current) back = " It comes back after this item: answer it again then.";
      else { showNext(); back = " It is back on screen: answer it again."; }
    }
    if (!network) {
      status("Your answer “" + labelName(idx) + "” to #" + id + " was not saved: " + failure(e) + back, true);
      return;
    }
    if (state.unconfirmed[id] === undefined) state.unconfirmed[id] = idx;
    status("Your answer “" + labelName(idx) + "” to #" + id + " may not have reached the server " +
      "(no reply came: a network error; " + (navigator.onLine === false
        ? "this browser is offline: check your connection"
        : "the server is down or restarting, or the connection dropped") + ")." + back +
      (back ? " If the first one was saved, it is kept once, and the page says so." : ""), true);
    state.unsentNote = back ? { id: id, idx: idx, at: clock(), text: $("status").textContent } : null;
  }
  /* Back online, or the server answering again, a message that says "this browser is
     offline" or "the server is down or restarting" is out of date (trial: it stood
     on, 8 s online again, 15 s after the server was back, until the next key): said
     again as it is now, with where the item is, to be answered again. A renewal of
     the item's lease asked after that says its answer was not stored (one stored is
     "answered"). */
  function unsentSaid(id, asked, how) {
    const n = state.unsentNote;
    if (!n || (id !== null && (n.id !== id || asked < n.at))) return;
    state.unsentNote = null;
    if ($("status").textContent !== n.text || state.unconfirmed[n.id] === undefined) return;
    const where = state.current && String(state.current.item.id) === n.id ? "it is on screen: answer it again."
      : known(n.id) ? "it comes back after this item: answer it again then." : null;
    if (where) status(how(labelName(n.idx), n.id) + where);
  }
  window.addEventListener("online", function () {
    unsentSaid(null, null, function (label, id) {
      return "Back online. Your answer “" + label + "” to #" + id + " did not reach the server " +
        "while this browser was offline; ";
    });
  });

  /* The label of an answer to ``id`` whose reply never came (undefined if none):
     the server's answer to this one says what became of it. */
  function settle(id) {
    const earlier = state.unconfirmed[id];
    delete state.unconfirmed[id];
    return earlier;
  }

  /* "Saving…" while an answer or skip is on its way, shown only when it takes a
     while (a quick one would flicker), in the item's heading: nothing moves. */
  let pendingTimer = null;
  function pending() {
    const box = $("saving");
    clearTimeout(pendingTimer);
    if (!state.inFlight.size) { box.textContent = ""; return; }
    pendingTimer = setTimeout(function () {
      const n = state.inFlight.size;
      box.textContent = n ? (n === 1 ? "Saving…" : "Saving " + n + "…") : "";
    }, 300);
  }

  function skip(t0) {
    const cur = state.current;
    if (!cur) { notReady(); return; }
    if (tooSoon(t0, "skip")) return;
    const sentAt = performance.now();
    state.skippedLast = String(cur.item.id);
    state.pendingKeyAt = t0 === undefined ? performance.now() : t0;
    const id = String(cur.item.id);
    state.inFlight.add(id);
    const sent = enqueue(function () {
      return Loop.api("POST", base + "/queue/skip", {
        item_id: cur.item.id, lease_id: cur.lease ? cur.lease.id : null,
      });
    });
    showNext();
    pending();
    sent.then(function () {
      state.inFlight.delete(id);
      pending();
      tellTabs("skipped", id);
      saidOnceSaved("Skipped #" + cur.item.id + ".", sentAt);
      refreshProgress();
    }, function (e) {
      state.inFlight.delete(id);
      pending();
      /* the item is still leased to this annotator: it comes back (the next item
         fetched, else when its lease ends) */
      if (e && e.status !== 401 && e.status !== 409) {
        status("#" + id + " was not skipped: " + failure(e) + " It comes back to you; skip it again then.", true);
        return;
      }
      handleError(e);
    });
  }

  /* What became of an item whose answer was undone and that this page was not given
     back, as the server says (team lead's trial: "it went back to the queue" of an
     item another annotator held, or that the other answers had settled). */
  function undoneWhere(res) {
    const more = res.answers_needed === 1 ? "one more answer" : res.answers_needed + " more answers";
    if (res.item_status === "leased") {
      return "another annotator has it on screen now, so it is theirs to answer (it comes " +
        "back to the queue if they leave it unanswered).";
    }
    if (res.item_status === "settled") {
      return "the other annotators' answers give it its label, so it needs no more answers.";
    }
    if (res.item_status === "resolved") {
      return "an admin settled its label, so it needs no more answers.";
    }
    return "it went back to the queue" + (res.other_answers && res.answers_needed
      ? ", where it needs " + more + "." : ".");
  }

  /* Undo leases the item back to this annotator (held for them, not on top of the
     queue for anyone): the next lease serves it, to relabel. */
  function undo() {
    /* new-user trial: "u" right after "s" undid the answer before the skip, a good
       one, and the skipped item did not come back. A skip is not undone (the item
       comes back when nothing else is left): say so; "u" again undoes the answer. */
    if (state.skippedLast !== null) {
      status("Undo takes back answers, not skips: #" + state.skippedLast + " comes back when " +
             "nothing else is left. Press u again to undo your last answer.");
      state.skippedLast = null;
      return;
    }
    /* said at once: the undo waits behind answers on their way (annotators' trial: on
       a slow network the old "Saved ..." stood for 10 s) */
    status("Undoing your last answer…");
    enqueue(async function () {
      /* the answer this tab gave last, named: pressed again after an error (a 503 of
         an undo that was applied: operator's trial), it takes back nothing more */
      const last = state.history.length ? state.history[state.history.length - 1] : null;
      let res;
      try {
        res = await Loop.api("POST", base + "/queue/undo", last ? { item_id: last.id } : undefined);
      } catch (e) {
        if (!e || e.status !== 409) throw e;
        state.history = [];  /* answered after it elsewhere (another tab): that one is last */
        return { stale: true };
      }
      if (!res || res.item_id === undefined || res.item_id === null) return null;
      if (res.undone === false) return { gone: String(res.item_id) };
      const got = await leaseNext();
      return { id: String(res.item_id), got: got, res: res };
    }).then(function (out) {
      if (!out) { status("Nothing to undo."); return; }
      if (out.stale) {
        status("Your last answer is to another item, given after this tab's (in another tab?): " +
               "nothing was undone. Press u again to undo that one.", true);
        return;
      }
      if (out.gone) {
        state.history.pop();
        status("The answer for #" + out.gone + " was undone already; nothing more was taken back.");
        refreshProgress();
        return;
      }
      tellTabs("undone", out.id);
      const idx = state.history.findIndex(function (it) { return String(it.id) === out.id; });
      if (idx !== -1) state.history.splice(idx, 1);
      if (out.got && String(out.got.item.id) === out.id) {
        if (state.current) state.ready.unshift(state.current);
        state.current = out.got;
        renderItem();
        status("Undid the answer for #" + out.id + ". Label it again.");
      } else {
        if (out.got && !known(out.got.item.id)) state.ready.push(out.got);
        if (!state.current) showNext();
        status("Undid the answer for #" + out.id + "; " + undoneWhere(out.res));
      }
      refreshProgress();
    }, function (e) {
      if (e && e.status === 401) { handleError(e); return; }
      /* the undo names its answer: pressed again, it takes back that one or says
         it was undone already, never one more */
      status("The undo may not have gone through: " + failure(e) + " Press u again to make sure.", true);
    });
  }

  function readMine() { return Loop.api("GET", base + "/queue/me?history=" + state.mineShown); }
  /* the Progress card's counts, from a read of /queue/me */
  function showCounts(me) {
    Loop.setText("answers-today", me.answers_today);
    Loop.setText("answers-total", me.answers_total);
    Loop.setText("remaining", me.remaining);
  }
  function showMine(me) {
    showCounts(me);
    renderMine(me.recent);
  }

  let progressTimer = null;
  function refreshProgress() {
    if (progressTimer) return;
    progressTimer = setTimeout(async function () {
      progressTimer = null;
      try {
        const me = await readMine();
        if (!me) return;
        showMine(me);
        clearTransient("counts");
      } catch (e) {
        if (e && e.status === 401) handleError(e);
        else transient("Could not update your counts and answers: " + failure(e), "counts");
      }
    }, 50);
  }

  async function pollMetrics() {
    try {
      const m = await Loop.api("GET", state.metricsUrl);
      const at = m ? m.last_recalibrated_at : null;
      if (m && typeof m.has_lfs === "boolean") state.hasLfs = m.has_lfs;
      if (state.recalibratedAt === undefined) {
        state.recalibratedAt = at === undefined ? null : at;
      } else if (at && at !== state.recalibratedAt) {
        const n = $("notice");
        n.textContent = "The model was recalibrated at " + Loop.when(at) +
          " using the latest answers. Guesses on new items use the updated model.";
        n.hidden = false;
        /* said, then out of the way (new-user trial: it stayed for good) */
        clearTimeout(state.noticeTimer);
        state.noticeTimer = setTimeout(function () { n.hidden = true; }, 30000);
        state.recalibratedAt = at;
      }
    } catch (e) {
      if (e && e.status === 401) handleError(e);
    }
    setTimeout(pollMetrics, POLL_MS);
  }

  /* A label's colour as its button's edge, darkened where it is too light to see
     against the button (under 3:1 on its background, WCAG's least for a control's
     outline): a yellow label's button (#facc15: 1.4:1) showed no edge at all, only
     its text (accessibility trial); the palette's 7th and 10th colours and most after
     them are such. */
  function edgeColor(hex) {
    const m = /^#([0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return hex;
    const lum = function (rgb) {
      const c = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const back = lum([0xf3, 0xf8, 0xfd]);  /* .label-btn's background (the card's is white) */
    let rgb = [0, 2, 4].map(function (i) { return parseInt(m[1].slice(i, i + 2), 16); });
    for (let n = 0; n < 40 && (back + 0.05) / (lum(rgb) + 0.05) < 3; n++) {
      rgb = rgb.map(function (v) { return Math.floor(v * 0.92); });
    }
    return "#" + rgb.map(function (v) { return v.toString(16).padStart(2, "0"); }).join("");
  }

  /* The width a button needs for the longest word of a label's name (where
     Loop.labelWords' breaks or a hyphen split it), padding and borders
     included: the grid's columns are at least that wide, so a word is never cut in
     two (chemprot trial, ten labels at 1280 px: "Downregulato" / "r / inhibitor") */
  function longestWord(box) {
    const b = box.querySelector(".label-btn");
    if (!b) return 0;
    const cs = getComputedStyle(b);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = cs.fontWeight + " " + cs.fontSize + " " + cs.fontFamily;
    let widest = 0;
    state.labels.forEach(function (name) {
      Loop.labelWords(name).flat().forEach(function (part) {
        part.split(/(?<=-)/).forEach(function (w) {
          widest = Math.max(widest, ctx.measureText(w).width);
        });
      });
    });
    const px = function (v) { return parseFloat(v) || 0; };
    return Math.ceil(widest + px(cs.paddingLeft) + px(cs.paddingRight) +
                     px(cs.borderLeftWidth) + px(cs.borderRightWidth) + 2);
  }

  function buildButtons() {
    const box = $("label-buttons");
    Loop.clear(box);
    state.keys = {};
    state.labels.forEach(function (name, i) {
      const st = state.style[i] || {};
      const key = st.key || (i < 9 ? String(i + 1) : i === 9 ? "0" : null);
      if (key) state.keys[key] = i;
      const b = Loop.el("button", { type: "button", class: "label-btn", "data-index": String(i),
        "aria-keyshortcuts": key },
        key ? Loop.el("kbd", { text: key }) : null, " ", Loop.labelText(name));
      if (st.color) b.style.setProperty("--label-color", edgeColor(st.color));
      b.addEventListener("click", function (ev) { answer(i, ev.timeStamp); });
      box.appendChild(b);
    });
    box.style.setProperty("--label-word", longestWord(box) + "px");
    const rows = $("help-keys");
    Loop.clear(rows);
    const add = function (k, what) {
      rows.appendChild(Loop.el("tr", null, Loop.el("td", null, Loop.el("kbd", { text: k })), Loop.el("td", { text: what })));
    };
    state.labels.forEach(function (name, i) {
      const k = Object.keys(state.keys).find(function (x) { return state.keys[x] === i; });
      if (k) add(k, "answer “" + name + "”");
    });
    add("s", "skip (it comes back when nothing else is left)");
    add("u", "undo your last answer");
    add("g", "show or hide the guidelines");
    add("m", "to your latest answer (Tab: the ones before): a label's key changes it (Esc: back to the item)");
    add("? or h", "this list");
    add("Esc", "close this list");
  }

  function toggleGuidelines(force) {
    const g = $("guidelines");
    const show = force === undefined ? g.hidden : force;
    g.hidden = !show;
    $("guidelines-btn").setAttribute("aria-expanded", String(show));
  }

  /* The Keys dialog keeps the focus while open (it is modal: Tab went on to the page
     behind it, annotators' trial) and gives it back where it was when it closes. */
  let helpReturn = null;
  function toggleHelp(force) {
    const h = $("help");
    const show = force === undefined ? h.hidden : force;
    if (show === !h.hidden) return;
    h.hidden = !show;
    if (show) {
      helpReturn = document.activeElement;
      $("help-close").focus();
      return;
    }
    /* opened with nothing focused ("?" or "h" on the page): back to the item, whose
       keys it was about (keyboard trial: the focus went to the page's body, and the
       next Tab started from its top) */
    const back = helpReturn && document.contains(helpReturn) && helpReturn !== document.body &&
      !helpReturn.disabled && !h.contains(helpReturn) ? helpReturn : $("item-text");
    helpReturn = null;
    back.focus({ preventScroll: back.id === "item-text" });
  }
  function trapHelpFocus(ev) {
    const h = $("help");
    if (h.hidden || ev.key !== "Tab") return;
    const stops = Array.from(h.querySelectorAll("button, [href], select, input, [tabindex]:not([tabindex='-1'])"))
      .filter(function (x) { return !x.disabled; });
    if (!stops.length) return;
    const first = stops[0], last = stops[stops.length - 1];
    const inside = h.contains(document.activeElement);
    if (ev.shiftKey && (document.activeElement === first || !inside)) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && (document.activeElement === last || !inside)) { ev.preventDefault(); first.focus(); }
  }

  function renderMine(recent) {
    const ol = $("my-answers");
    /* the list is redrawn after every answer: a select someone had tabbed to keeps
       the focus (it went to the page, and their label key answered the item shown) */
    const active = document.activeElement;
    const focused = active && active.tagName === "SELECT" && ol.contains(active)
      ? active.closest("li").dataset.item : null;
    Loop.clear(ol);
    if (!recent || !recent.length) {
      ol.appendChild(Loop.el("li", { class: "muted", text: "None yet." }));
      return;
    }
    for (const r of recent.slice(0, state.mineShown)) {
      const sel = Loop.el("select", { "aria-label": "Answer for item " + r.item_id });
      state.labels.forEach(function (name) {
        sel.appendChild(Loop.el("option", { value: name, text: name, selected: name === r.label }));
      });
      /* a changed answer is sent, and the page has the keys again: a shortcut typed
         next is for the item on screen */
      sel.addEventListener("change", function () { relabel(r, sel.value, sel); sel.blur(); });
      sel.addEventListener("keydown", function (ev) { mineKey(ev, sel, r); });
      const note = state.mineNote && state.mineNote.item === String(r.item_id) ? state.mineNote : null;
      const li = Loop.el("li", { "data-item": r.item_id },
        /* "…" where it is cut: with the text on a line of its own, 70 characters fit in
           its two lines and ended mid-word ("from a diap") */
        Loop.el("span", { class: "mine-text", dir: "auto", title: Loop.plainText(r.text),
          text: shorten(Loop.plainText(r.text), 70) || "#" + r.item_id }),
        sel,
        /* not a live region: the status line says it to a screen reader already */
        Loop.el("span", { class: "mine-note" + (note && note.isError ? " error" : ""),
          text: note ? note.text : "" }));
      const st = state.style[state.labels.indexOf(r.label)];
      if (st && st.color) li.style.setProperty("--label-color", st.color);
      ol.appendChild(li);
      if (focused === String(r.item_id)) sel.focus();
    }
    /* new-user trial: an answer given 17 items ago could not be changed here */
    const more = $("mine-more");
    more.hidden = recent.length < state.mineShown || state.mineShown >= 500;
  }

  /* What a change of an earlier answer came to, said on its own row of "My answers"
     (phone trial: said only in the status line, off-screen above the list) and kept
     there when the list is redrawn. */
  function mineSaid(itemId, text, isError) {
    state.mineNote = { item: String(itemId), text: text, isError: !!isError };
    status(text, isError);  /* first: a longer status line above moves the row down */
    const li = Array.from($("my-answers").children).find(function (x) { return x.dataset.item === String(itemId); });
    const note = li && li.querySelector(".mine-note");
    if (note) {
      note.textContent = text;
      note.classList.toggle("error", !!isError);
      /* the select may sit at the screen's edge, its row's message just below it */
      if (text) note.scrollIntoView({ block: "nearest" });
    }
  }

  /* ``r``: the row of "My answers" (its label: the one stored). A change that fails
     puts the select back to it: it showed the new label while the server kept the
     old one (phone trial). */
  function relabel(r, name, sel) {
    const itemId = r.item_id, was = r.label;
    mineSaid(itemId, "Saving “" + name + "” for #" + itemId + "…");
    enqueue(function () {
      return Loop.api("POST", base + "/queue/relabel", { item_id: itemId, label: name });
    }).then(function (res) {
      r.label = name;
      mineSaid(itemId, res.changed ? "Changed #" + itemId + " to “" + name + "”." : "#" + itemId + " was already “" + name + "”.");
      tellTabs("relabelled", itemId);
      refreshProgress();
    }, function (e) {
      if (e && e.status === 401) { handleError(e); return; }
      if (Loop.isNetworkError(e)) { relabelUnconfirmed(r, name, sel); return; }
      if (sel.value === name) sel.value = was;
      mineSaid(itemId, "#" + itemId + " was not changed: " + failure(e) + " It is still “" + was +
        "”: pick “" + name + "” again to retry.", true);
    });
  }

  /* A change whose reply never came may have been made (re-trial: "was not changed
     ... still 'spam'" and the select put back, while the server had the new label):
     the page asks the server what it has, as for "My answers", and shows that; only
     if that fails too is the select put back, saying the change may not have gone
     through. */
  function relabelUnconfirmed(r, name, sel) {
    const itemId = String(r.item_id), was = r.label;
    const lost = "The change of #" + itemId + " to “" + name + "” could not be confirmed (no reply came: a network error)";
    readMine().then(function (me) {
      const row = me && (me.recent || []).find(function (x) { return String(x.item_id) === itemId; });
      if (!row) throw new Error("not listed");
      r.label = row.label;
      showMine(me);
      if (row.label === name) {
        mineSaid(itemId, lost + ", but the server has it: #" + itemId + " is “" + name + "” now.");
        tellTabs("relabelled", itemId);
      } else {
        mineSaid(itemId, lost + ", and the server still has “" + row.label + "” for #" + itemId +
          ": pick “" + name + "” again to retry.", true);
      }
    }).catch(function (e) {
      if (e && e.status === 401) { handleError(e); return; }
      if (sel.value === name) sel.value = was;
      mineSaid(itemId, lost + ", and the server could not be asked either, so it may not have gone " +
        "through. It shows “" + was + "” again: check your connection, then pick “" + name +
        "” again to make sure.", true);
    });
  }

  /* A key on an earlier answer's select (reached with Tab). A label's key changes
     that answer (new-user trial: it answered the item on screen, unread). Other
     letters are the page's shortcuts, not the select's type-ahead ("s" to skip
     changed an earlier answer to "spam"). Arrow keys would change the answer one
     label at a time, each step sent: they say how to change it instead. Space and
     Alt+Down open the list, as in any select; Esc leaves it. */
  /* m: to the latest of "My answers" (keyboard trial: 17 Tab stops away) */
  function toMine() {
    const sel = document.querySelector("#my-answers select");
    if (!sel) { status("No answer of yours to change yet."); return; }
    sel.focus();
    sel.scrollIntoView({ block: "nearest" });
    status("Your latest answer: a label's key changes it, Tab goes to the next, Esc back to the item.");
  }

  /* Esc from "My answers": the item is shown again, and its text has the focus
     (annotators' trial: the page stayed scrolled down to the list, the item and the
     status line off-screen, while the next key answered that unseen item) */
  function backToItem() {
    const text = $("item-text");
    text.scrollIntoView({ block: "center" });
    text.focus({ preventScroll: true });
    status("Back to the item: its keys answer it.");
  }

  /* The shortcut a key press means. ``ev.key`` is what the layout types: on a French
     AZERTY keyboard the key marked 1 types "&" (the digit needs Shift), on a Hebrew,
     Arabic, Greek or Russian one the key marked S types "ד", "س", "σ" or "ы" (trial:
     "No label has the key “&”", and no shortcut worked on a Hebrew layout). Such a
     key counts as the one it sits on (``ev.code``): the top row's digits whatever
     they type but a shortcut, the letters only where the layout types no Latin. */
  function keyOf(ev) {
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (k.length !== 1 || state.keys[k] !== undefined || "sugm?h".indexOf(k) !== -1) return k;
    const code = /^(?:Digit(\d)|Key([A-Z]))$/.exec(ev.code || "");
    if (!code) return k;
    if (code[1] !== undefined) return code[1];
    return /[a-z0-9\s\p{P}\p{S}]/u.test(k) ? k : code[2].toLowerCase();
  }

  function mineKey(ev, sel, r) {
    const itemId = r.item_id;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = keyOf(ev);
    if (k === "Escape") { sel.blur(); backToItem(); return; }
    if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"].includes(k)) {
      ev.preventDefault();
      status("To change this answer press its new label's key, or Space to open the list.");
      return;
    }
    if (ev.key.length !== 1 || k === " ") return;
    ev.preventDefault();
    ev.stopPropagation();
    if (ev.repeat) return;
    if (state.keys[k] !== undefined && $("help").hidden) {
      /* the select keeps the focus: a second key changes this answer again, never
         the item on screen (re-trial: a double press answered it, unread); Tab or
         Esc go back to the item */
      const name = state.labels[state.keys[k]];
      if (sel.value !== name) { sel.value = name; relabel(r, name, sel); }
      else status("#" + itemId + " is “" + name + "” already.");
      return;
    }
    sel.blur();
    shortcut(ev);
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    shortcut(ev);
  }

  function shortcut(ev) {
    const k = keyOf(ev);
    if (k === "Escape") { toggleHelp(false); return; }
    if (k === "?" || k === "h") { ev.preventDefault(); toggleHelp(); return; }
    if (!$("help").hidden) return;
    if (state.keys[k] !== undefined) { ev.preventDefault(); answer(state.keys[k], ev.timeStamp); }
    else if (k === "s") { ev.preventDefault(); skip(ev.timeStamp); }
    else if (k === "u") { ev.preventDefault(); undo(); }
    else if (k === "g") { ev.preventDefault(); toggleGuidelines(); }
    else if (k === "m") { ev.preventDefault(); toMine(); }
    else if (k.length === 1 && k.trim() && state.current) {
      /* new-user trial: a key no label has did nothing, and said nothing */
      const keys = Object.keys(state.keys).map(function (x) { return x + " " + state.labels[state.keys[x]]; });
      status("No label has the key “" + k + "”. Keys: " + keys.join(", ") +
             "; s skip, u undo, ? all shortcuts.");
    }
  }

  document.addEventListener("DOMContentLoaded", async function () {
    if (!Loop.requireToken()) return;
    $("skip-btn").addEventListener("click", function (ev) { skip(ev.timeStamp); });
    $("undo-btn").addEventListener("click", function () { undo(); });
    $("mine-more").addEventListener("click", function () {
      state.mineShown = Math.min(500, state.mineShown * 5);
      refreshProgress();
    });
    $("guidelines-btn").addEventListener("click", function () { toggleGuidelines(); });
    $("help-btn").addEventListener("click", function () { toggleHelp(true); });
    $("help-close").addEventListener("click", function () { toggleHelp(false); });
    document.addEventListener("keydown", onKey);
    document.addEventListener("keydown", trapHelpFocus);
    try {
      /* The API's project and metrics views are admin-only; this page's session view
         gives annotators what they need (labels, last_recalibrated_at). */
      const project = await Loop.api("GET", state.metricsUrl);
      state.labels = Loop.labelNames(project);
      state.style = project.label_style || [];
      leaseTimes(project);
      state.hasLfs = project.has_lfs;
      if (project && project.name) {
        document.title = "Label · " + project.name + " · loop";
        Loop.setText("project-name", project.name);
      }
      const g = $("g-body");
      Loop.clear(g);
      if (project.guidelines) {
        g.appendChild(Loop.markdown(project.guidelines));
        toggleGuidelines(true);
      } else {
        g.appendChild(Loop.el("p", { class: "muted", text: "No guidelines for this project yet." }));
      }
    } catch (e) {
      if (e && (e.status === 404 || e.status === 403)) {
        /* a 403: an annotator's token for another project */
        $("item-text").textContent = e.status === 404
          ? "There is no project “" + pid + "”. Go back to the projects."
          : "Your token does not open this project (" + e.message + "). Go back to the projects " +
            "for yours, or sign in with another token.";
        $("item-text").classList.add("muted");
        /* nothing to skip, undo or read about here (new-user trial) */
        document.querySelector(".item-card .actions").hidden = true;
        document.querySelector(".label-layout > .side").hidden = true;
        $("item-heading").hidden = true;
        return;
      }
      handleError(e);
      return;
    }
    buildButtons();
    renderItem();
    startRenewing();
    if (tabs) { tabs.addEventListener("message", onTabMessage); sayToTabs("open"); }
    prefetch();
    refreshProgress();
    pollMetrics();
  });
})();
