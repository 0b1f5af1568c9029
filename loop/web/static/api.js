/* Shared helpers: token storage, JSON API calls, safe DOM building.
 * Item data is untrusted: build nodes with el()/textContent, never innerHTML. */
"use strict";
(function () {
  const KEY = "loop.token";

  function getToken() {
    try { return localStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }
  /* "1" while the stored token is known to be an admin key (wasAdminKey) */
  const ADMIN_FLAG = KEY + "-admin";
  function setToken(t) {
    try { localStorage.setItem(KEY, t); localStorage.removeItem(ADMIN_FLAG); } catch (e) { /* private mode */ }
    document.cookie = "loop_token=; Max-Age=0; Path=/; SameSite=Strict";
  }
  function clearToken() {
    try { localStorage.removeItem(KEY); localStorage.removeItem(ADMIN_FLAG); } catch (e) { /* ignore */ }
  }
  /* Whether the stored token was an admin key when it last worked: one the server
     refuses now was most likely one loop serve generated, new at every start
     (new-user trial: after Ctrl-C and a restart the home page said only "That token
     is not valid (any more)"). */
  function wasAdminKey() {
    try { return localStorage.getItem(ADMIN_FLAG) === "1"; } catch (e) { return false; }
  }

  /* The sign-in is kept per browser. Signed in as someone else (or out) in another
     tab, this page reloads as them: it went on showing "expert" while it answered
     as admin, and its keys failed with "leased by someone else" (re-trial). */
  const signedInAtLoad = getToken();
  window.addEventListener("storage", function (e) {
    if (e.key !== KEY && e.key !== null) return;
    if (getToken() !== signedInAtLoad) location.reload();
  });

  class ApiError extends Error {
    constructor(status, message, body) { super(message); this.status = status; this.body = body; }
  }

  /* A request that got no answer at all (offline, server down, connection cut):
     status 0, in words, instead of the browser's "Failed to fetch" (phone trial:
     nobody could tell what failed, or what to do). A change cut off after it
     arrived may have been applied: "most likely". A page that says more in its own
     words starts from NETWORK. Offline, the browser knows; online, no reply means
     the server is down or restarting, or the connection dropped on the way (team
     session: annotators were told "check your connection", and only that, while
     `loop serve` restarted and their connections were fine). */
  function network() {
    return "Could not reach the server (network error: " + (navigator.onLine === false
      ? "this browser is offline)" : "it is down or restarting, or the connection dropped)");
  }
  async function send(path, init) {
    try { return await fetch(path, init); } catch (e) {
      if (e && e.name === "AbortError") throw e;
      const reads = !init || !init.method || init.method === "GET" || init.method === "HEAD";
      throw new ApiError(0, network() + (reads ? "" : ", so most likely nothing was changed") +
        ": check your connection and try again in a moment.", null);
    }
  }
  function isNetworkError(e) { return !!e && e.status === 0; }

  /* ``asToken``: call with that token instead of the stored one, and leave the stored
     one as it is whatever the answer (a sign-in being tried: tryToken). */
  async function api(method, path, body, asToken) {
    const headers = { "Accept": "application/json" };
    const token = asToken === undefined ? getToken() : asToken;
    if (token) headers["Authorization"] = "Bearer " + token;
    const init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await send(path, init);
    if (res.status === 204) return null;
    let data = null;
    const type = res.headers.get("Content-Type") || "";
    if (type.indexOf("json") !== -1) data = await res.json();
    if (!res.ok) {
      const msg = (data && (data.error || data.message || data.description)) || res.statusText;
      if (res.status === 401 && token && asToken === undefined) dropToken(msg);
      throw new ApiError(res.status, String(msg), data);
    }
    return data;
  }

  /* A request sent as the page goes away (closed, reloaded, left): the browser
     delivers it after the page is gone (fetch's keepalive, which unlike
     sendBeacon can carry the token); nothing reads its answer. */
  function sendOnLeave(path, body) {
    const token = getToken();
    if (!token) return;
    try {
      fetch(path, { method: "POST", keepalive: true, cache: "no-store", headers: {
        "Authorization": "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify(body) }).catch(function () { /* the leases expire anyway */ });
    } catch (e) { /* ditto */ }
  }

  /* The server no longer accepts the stored token (revoked, replaced, a restarted
   * demo's key): forget it, so the sign-in page asks for a new one instead of
   * sending the browser straight back to the page that failed, and say why. */
  function dropToken(msg) {
    const admin = wasAdminKey();
    clearToken();
    /* kept for the sign-in page to say where a new admin key comes from */
    try { if (admin) localStorage.setItem(ADMIN_FLAG, "1"); } catch (e) { /* ignore */ }
    try { sessionStorage.setItem(KEY + "-why", String(msg || "the token was not accepted")); } catch (e) { /* ignore */ }
  }
  /* Add to why the page signed out (the labeling page: the answer it could not save). */
  function noteSignOut(extra) {
    try {
      const why = sessionStorage.getItem(KEY + "-why");
      if (why !== null) sessionStorage.setItem(KEY + "-why", why + "; " + extra);
    } catch (e) { /* ignore */ }
  }
  function signedOutBecause() {
    let why = null;
    try { why = sessionStorage.getItem(KEY + "-why"); sessionStorage.removeItem(KEY + "-why"); } catch (e) { /* ignore */ }
    return why;
  }

  /* ``onWait(seconds)``: told before each wait while the server sends as many export
     files as it sends at once (429 with Retry-After: slow-reader trial); tried again
     for up to about a minute. */
  async function download(path, filename, onWait) {
    const headers = {};
    const token = getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    let res = null;
    for (let waited = 0; ; ) {
      res = await send(path, { headers: headers, cache: "no-store" });
      if (res.status !== 429 || waited >= 60) break;
      const wait = Math.min(Math.max(Number(res.headers.get("Retry-After")) || 2, 1), 10);
      if (onWait) onWait(wait);
      await new Promise(function (done) { setTimeout(done, wait * 1000); });
      waited += wait;
    }
    if (res.status === 401 && token) dropToken(res.statusText);
    if (!res.ok) {
      let msg = res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new ApiError(res.status, msg, null);
    }
    /* the server's name for it (an export: the project's name and id), else ours */
    const named = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") || "");
    saveBlob(await res.blob(), named ? named[1] : filename);
  }

  /* The browser saves ``blob`` as a file named ``filename`` (a download it did not
     fetch itself: an export, a file of rules made on the page). */
  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  /* el("td", {class: "x"}, "text", childNode) -> element; strings become text nodes. */
  function el(tag, attrs) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = String(v);
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === undefined || c === null) continue;
      node.appendChild(typeof c === "string" || typeof c === "number"
        ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  /* A label's name with a line break allowed before each "(": "Entity-Destination(e1,e2)"
     on a labeling button or a class-balance bar broke inside its direction, "(e" /
     "1,e2)", the one part that tells it from "(e2,e1)" (new-user trial, semeval's
     directed relation names). */
  function labelText(name) {
    const out = document.createDocumentFragment();
    labelWords(name).forEach(function (parts, i) {
      if (i) out.appendChild(document.createTextNode(" "));
      parts.forEach(function (part, j) {
        if (j) out.appendChild(document.createElement("wbr"));
        out.appendChild(document.createTextNode(part));
      });
    });
    return out;
  }

  /* A label's name as the pages may break it: its words (split at spaces), each a
     list of parts with a break allowed between them: before each "(", and after each
     "_" (a name built with underscores is one word to the browser, which broke it at
     any letter, "not_spa" / "m_or_promo"). labelText, the labeling page's button
     widths and the Items page's label cells all break names here. */
  function labelWords(name) {
    return String(name).split(" ").map(function (w) { return w.split(/(?=\()|(?<=_)/); });
  }

  /* A field of a relation item (WRENCH's semeval, chemprot: entity1, span1, ..., also
     nested, "data.entity1"), as loop.core.relations reads it: {prefix, kind: "entity"
     or "span", n}, or null for any other field. */
  function relationField(key) {
    const at = String(key).lastIndexOf(".") + 1;
    const m = /^(entity|span)(\d+)$/i.exec(String(key).slice(at));
    return m ? { prefix: String(key).slice(0, at), kind: m[1].toLowerCase(), n: m[2] } : null;
  }
  /* Whether `key` is a relation's span offsets beside its entity among `keys` (span1
     with entity1, under one prefix): the entity's mark on the labeling page, never a
     field an annotator reads. */
  function spanColumn(key, keys) {
    const r = relationField(key);
    return !!r && r.kind === "span" && keys.some(function (o) {
      const e = relationField(o);
      return !!e && e.kind === "entity" && e.n === r.n && e.prefix === r.prefix;
    });
  }

  /* A relation item's entities ({entity1: "AOX", entity2: "NE"}) as a line of marks
     coloured as the labeling page's, or null: two pairs of one sentence read the same
     without them (chemprot trial) */
  function entityLine(ents) {
    const names = Object.keys(ents || {});
    if (!names.length) return null;
    const out = el("span", { class: "entity-line" });
    names.forEach(function (k, i) {
      out.appendChild(document.createTextNode((i ? " · " : "") + k + " "));
      out.appendChild(el("span", { class: "ent-name ent-" + k.slice(6), text: ents[k], dir: "auto" }));
    });
    return out;
  }

  function setText(id, value) {
    const node = typeof id === "string" ? document.getElementById(id) : id;
    if (node) node.textContent = value === undefined || value === null ? "–" : String(value);
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function pct(x, digits) {
    if (x === undefined || x === null || Number.isNaN(Number(x))) return "–";
    return (100 * Number(x)).toFixed(digits === undefined ? 0 : digits) + "%";
  }
  /* "N s" under two minutes, "N min" from there: one rule for every "for how long"
     the pages say (a lease, an idle page, a quiet job) */
  function duration(ms) {
    const secs = Math.round(Math.max(0, Number(ms) || 0) / 1000);
    return secs < 120 ? secs + " s" : Math.round(secs / 60) + " min";
  }
  function num(x, digits) {
    if (x === undefined || x === null || Number.isNaN(Number(x))) return "–";
    return Number(x).toFixed(digits === undefined ? 2 : digits);
  }
  function when(ts) {
    if (ts === undefined || ts === null || ts === "") return "–";
    const d = typeof ts === "number" ? new Date(ts < 1e12 ? ts * 1000 : ts) : new Date(ts);
    if (Number.isNaN(d.getTime())) return String(ts);
    return d.toLocaleString();
  }

  /* Labels may come as ["ham", "spam"] or [{id, name}]: return names by class id. */
  function labelNames(project) {
    const raw = (project && (project.labels || (project.project && project.project.labels))) || [];
    return raw.map(function (l, i) {
      if (typeof l === "string") return l;
      return String(l.name || l.label || l.id || i);
    });
  }

  /* The keys of a per-class object (class name -> value) in the order of the project's
     labels, any others after: JSON objects reach the pages with their keys sorted by
     name (Flask's), so a class balance listed "Other" before "Product-Producer", and a
     numeric known-label column of a project labeled spam, ham was said to read
     "0 = ham, 1 = spam" (new-user trial, multi-class). */
  function inLabelOrder(obj, labels) {
    const keys = Object.keys(obj || {});
    const known = (labels || []).filter(function (l) { return keys.indexOf(l) !== -1; });
    return known.concat(keys.filter(function (k) { return known.indexOf(k) === -1; }));
  }

  function requireToken() {
    if (getToken()) return true;
    const next = location.pathname + location.search;
    location.replace("/?next=" + encodeURIComponent(next));
    return false;
  }

  /* Item text often carries HTML (<br />, &#39;, &amp;): show it as plain text, with
   * line breaks for <br> and block ends, formatting tags (b, i, a, span, p, ...)
   * dropped, entities decoded; any other tag (<script>, <img ...>) stays visible as
   * the text it is. Never parsed as HTML: the result is only ever set with textContent.
   * ``inner``: a piece of a text, its spaces at either end kept. */
  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: "\u00a0", "#39": "'" };
  /* ``s`` with what a browser would not show as written made visible: direction
     overrides and isolates, and control characters other than tab and line breaks,
     as their code ("[U+202E]"). For values that are not HTML, such as ids. */
  function visible(s) {
    return String(s).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g,
      function (c) { return "[U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "]"; });
  }

  function plainText(raw, inner) {
    if (raw === undefined || raw === null) return "";
    let s = String(raw);
    s = s.replace(/<\s*br\s*\/?\s*>/gi, "\n").replace(/<\s*\/\s*(p|div|li|h[1-6])\s*>/gi, "\n");
    s = s.replace(/<\/?(a|b|i|u|s|em|strong|span|p|div|font|small|big|sub|sup|li|ul|ol|h[1-6]|blockquote|code|pre|wbr)(\s[^<>]*)?\/?>/gi, "");
    s = s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, function (m, e) {
      if (e[0] === "#") {
        const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
      }
      if (ENTITIES[e.toLowerCase()] !== undefined) return ENTITIES[e.toLowerCase()];
      // any other named entity (&eacute;, &hellip;, ...) as the server's html.unescape
      // reads it: a detached textarea's content is text (RCDATA), so only the
      // character reference is decoded, and nothing else is parsed or run
      const box = document.createElement("textarea");
      box.innerHTML = m;
      return box.value;
    });
    /* shown as their code: direction overrides, embeddings and isolates (U+202A-202E,
       U+2066-2069), not obeyed ("\u202Etxet" read as "text" while the models and the
       export read the characters in stored order; new-user trials), and control
       characters other than tab and line breaks (NUL, BEL, ESC, DEL, C1), which a
       browser shows as nothing */
    s = visible(s);
    s = s.replace(/\n{3,}/g, "\n\n");
    return inner ? s : s.trim();
  }

  /* A small, safe Markdown subset for guidelines: # headings, - and 1. lists, blank-line
   * paragraphs, **bold**, *italic*, `code`, [text](https://...). Builds DOM nodes only. */
  function inline(text, parent) {
    const re = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`|\[[^\]]+\]\(https?:\/\/[^)\s]+\))/g;
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const t = m[0];
      if (t.startsWith("**")) parent.appendChild(el("strong", { text: t.slice(2, -2) }));
      else if (t.startsWith("`")) parent.appendChild(el("code", { text: t.slice(1, -1) }));
      else if (t.startsWith("[")) {
        const i = t.indexOf("](");
        parent.appendChild(el("a", { href: t.slice(i + 2, -1), rel: "noopener noreferrer", target: "_blank", text: t.slice(1, i) }));
      } else parent.appendChild(el("em", { text: t.slice(1, -1) }));
      last = m.index + t.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }
  function markdown(src) {
    const frag = document.createDocumentFragment();
    let list = null, para = null;
    const close = function () { list = null; para = null; };
    for (const raw of String(src || "").split(/\r?\n/)) {
      const line = raw.trimEnd();
      let m;
      if (!line.trim()) { close(); continue; }
      if ((m = /^(#{1,3})\s+(.*)$/.exec(line))) {
        close();
        frag.appendChild(inline(m[2], el("h" + (m[1].length + 2))));
      } else if ((m = /^\s*([-*]|\d+[.)])\s+(.*)$/.exec(line))) {
        para = null;
        const tag = /\d/.test(m[1]) ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== tag) { list = el(tag); frag.appendChild(list); }
        list.appendChild(inline(m[2], el("li")));
      } else {
        list = null;
        if (!para) { para = el("p"); frag.appendChild(para); } else para.appendChild(document.createTextNode(" "));
        inline(line.trim(), para);
      }
    }
    return frag;
  }

  let me = null;
  /* Where to go after signing in: ``raw`` only if it is a path on this site, as the
     browser reads it ("/\t/evil.example" drops the tab and leaves the site, so no
     look at the first characters can decide that); else null. */
  function safeNext(raw) {
    if (!raw || raw.charAt(0) !== "/") return null;
    let u;
    try { u = new URL(raw, location.origin); } catch (e) { return null; }
    if (u.origin !== location.origin) return null;
    /* "/..//evil.example" is this origin, but its path "//evil.example", assigned to
       location, is another site's address (security trial) */
    if (/^[/\\]{2}/.test(u.pathname)) return null;
    return u.pathname + u.search + u.hash;
  }

  /* A page this user cannot use (an annotator on an admin page, a project that does
     not exist): its title and one message with the way on (``link``: {href, text}),
     instead of a form whose every action would fail. ``box``: the page's own status
     element, if it is a direct child of <main>. */
  function pageRefused(text, link, box) {
    const main = document.getElementById("main");
    let p = box && box.parentNode === main ? box : null;
    for (const n of Array.from(main.children)) {
      if (n !== p && n.tagName !== "H1") n.hidden = true;
    }
    if (!p) { p = el("p", { class: "status page-refused", role: "status" }); main.appendChild(p); }
    clear(p);
    p.hidden = false;
    p.append(text + " ");
    if (link) { p.appendChild(el("a", { href: link.href, text: link.text })); p.append("."); }
  }

  /* An admin page's gate: true when the signed-in user is an admin (or who it is
     could not be read: the page's own requests say what failed); else false, with
     the page refused (an annotator: a link to their labeling page). */
  async function adminOnly(what, pid, box) {
    let who;
    try { who = await whoami(); } catch (e) {
      if (e.status === 401) { location.replace("/?next=" + encodeURIComponent(location.pathname)); return false; }
      return true;  // say nothing here: the page's own requests will say what failed
    }
    if (who && who.role === "admin") return true;
    pageRefused(what + " needs the admin API key; you are signed in as annotator “" + String(who && who.name) + "”.",
      pid ? { href: "/p/" + encodeURIComponent(pid) + "/label", text: "Label items" }
        : { href: "/", text: "Your projects" }, box);
    return false;
  }

  /* A project page whose project does not exist. */
  function noProject(pid, box) {
    pageRefused("There is no project “" + pid + "”.", { href: "/", text: "Go back to the projects" }, box);
  }

  /* Whom a token signs in as, asked without storing it: a link or a paste the server
     refuses leaves this browser's sign-in (and its other tabs) as they were (a bogus
     one-click link had signed out a working session). */
  function tryToken(token) { return api("GET", "/api/me", undefined, token); }

  /* Why a token tried (a link, a paste) was refused: ``otherwise``, or the server's
     own words where it says the token expired (re-trial: an annotator's 7-day link
     opened on day 8 said "revoked or mistyped", and nothing of asking for a new one). */
  function refusedWhy(e, otherwise) {
    const msg = String((e && e.message) || "");
    if (e && e.status === 401 && /\bexpired\b/.test(msg)) {
      return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!]$/.test(msg) ? "" : ".");
    }
    return otherwise;
  }

  /* After a refused token, what to add: " You are still signed in as before." where the
     stored one is still accepted, else "" (a stale one is dropped, so no page says
     "still signed in" over a sign-in that is gone too). */
  async function stillSignedIn() {
    const t = getToken();
    if (!t) return "";
    try { await tryToken(t); } catch (e) {
      if (e.status !== 401) return " You are still signed in as before.";
      clearToken();
      return "";
    }
    return " You are still signed in as before.";
  }

  /* Before a one-click link replaces the sign-in this browser has: who that is, when
     it is another token the server still accepts (else null). A link opened unasked
     signed the admin in as someone's annotator, silently (security trial). */
  async function signedInOther(token) {
    const t = getToken();
    if (!t || t === token) return null;
    try { return await tryToken(t); } catch (e) { return null; }
  }
  /* A one-click link opened in a tab already on the page it leads to changes only the
     part after "#": no new page, so nothing read it (re-trial). The pages that read
     links (home, sign-in) load again when one arrives that way. */
  function readLinksOpenedHere() {
    window.addEventListener("hashchange", function () {
      if (new URLSearchParams(location.hash.slice(1)).get("token")) location.reload();
    });
  }
  function whoName(who) {
    return who.role === "admin" ? "the admin" : "“" + who.name + "”";
  }

  async function whoami() {
    if (!me) me = api("GET", "/api/me").then(function (who) {
      try {
        if (who && who.role === "admin") localStorage.setItem(ADMIN_FLAG, "1");
        else localStorage.removeItem(ADMIN_FLAG);
      } catch (e) { /* private mode */ }
      return who;
    }).catch(function (e) { me = null; throw e; });
    return me;
  }

  /* The header's "who" and Sign out, once there is a token (on the home page that
     is after its sign-in, which runs after this file's DOMContentLoaded). */
  function showSignedIn() {
    const out = document.getElementById("signout");
    if (getToken() && out && out.hidden) {
      out.hidden = false;
      out.addEventListener("click", function () { clearToken(); location.href = "/"; });
      whoami().then(function (who) {
        const w = document.getElementById("whoami");
        if (w && who) { w.textContent = who.role === "admin" ? "admin" : String(who.name); w.hidden = false; }
        if (who && who.role !== "admin") {
          document.querySelectorAll(".admin-only").forEach(function (n) { n.hidden = true; });
        }
      }, function () { /* shown by the page */ });
    }
  }
  document.addEventListener("DOMContentLoaded", showSignedIn);

  /* A button that asks once more before it acts: the first click shows confirmText
   * (in the danger style), the second runs action(). */
  /* A button that acts at its second click: the first arms it, showing confirmText
     and saying so; it disarms after a few seconds, on Esc or when focus leaves it
     (team lead's trial: armed, it stayed so with nothing said, and the revoke never
     happened). */
  /* Redraw a table body (its rows marked data-key) without dropping the keyboard focus
     in it: the control focused before (or `hint`, {key, nth}, one about to be
     disabled by its own action) is focused again in the redrawn row of the same key;
     if that row is gone (its item settled, say), the same control of the row now in
     its place, else `fallback` (focusable) (keyboard trial: every 12 s poll of the
     dashboard redrew the disagreements and left a chosen "Settle as" focused on the
     page's body, and settling one did the same). */
  const CONTROLS = "button, select, input, a[href], summary, [tabindex]";
  let heldFocus = null;  /* the button busy() disabled while it had the focus */
  function keepFocus(body, draw, hint, fallback) {
    /* a busy() button of the table lost the focus to the page's body: its row keeps it */
    const stray = !document.activeElement || document.activeElement === document.body;
    const act = stray && heldFocus && body.contains(heldFocus) ? heldFocus : document.activeElement;
    if (act === heldFocus) heldFocus = null;
    let where = hint || null;
    /* a Revoke / Delete pressed once ("... Click again") stays so in the redrawn row: a
       refresh landing between the two presses made the second one ask again (CI: a
       revoke right after "Create token" was never done) */
    const armed = !!(act && act.dataset && act.dataset.armed && body.contains(act));
    if (act && act !== document.body && body.contains(act) && act.closest("tr")) {
      const tr = act.closest("tr");
      where = { key: tr.dataset.key, nth: Array.from(tr.querySelectorAll(CONTROLS)).indexOf(act) };
    }
    const index = where ? Array.from(body.rows).findIndex(function (r) { return r.dataset.key === where.key; }) : -1;
    const out = draw();
    if (!where) return out;
    const rows = Array.from(body.rows);
    const row = rows.find(function (r) { return r.dataset.key === where.key; }) ||
      rows[Math.min(Math.max(index, 0), rows.length - 1)];
    const controls = row ? Array.from(row.querySelectorAll(CONTROLS)).filter(function (c) { return !c.disabled; }) : [];
    const target = controls[Math.min(Math.max(where.nth, 0), controls.length - 1)] || fallback;
    if (target) target.focus();
    if (target && armed && target.dataset.confirm && !target.dataset.armed) target.click();
    return out;
  }

  /* A table body kept in step with `items` (in order) row by row: only rows whose
     content changed are drawn again (team lead's trial, six annotators: the
     Disagreements table, rebuilt at every 3 s poll though nothing in it had changed,
     lost an admin's click or choice that spanned a redraw). key(x) names an item's
     row, sig(x) is what its row shows (compared with what it drew), build(x) makes
     the <tr>. An unchanged row stays the same element where it is; a row drawn
     again keeps its open <details> open; the focus is kept as keepFocus keeps it.
     Returns whether anything changed. */
  function syncRows(body, items, key, sig, build, hint, fallback) {
    const want = items.map(function (x) {
      return { key: String(key(x)), sig: JSON.stringify(sig(x)), x: x };
    });
    const have = Array.from(body.rows);
    if (have.length === want.length && have.every(function (r, i) {
      return r.dataset.key === want[i].key && r.loopSig === want[i].sig;
    })) return false;
    keepFocus(body, function () {
      const old = {};
      have.forEach(function (r) { if (r.dataset.key !== undefined) old[r.dataset.key] = r; });
      const kept = new Set();
      const rows = want.map(function (w) {
        const r = old[w.key];
        if (r && r.loopSig === w.sig && !kept.has(r)) { kept.add(r); return r; }
        const tr = build(w.x);
        tr.dataset.key = w.key;
        tr.loopSig = w.sig;
        if (r) {  /* the same item's row drawn again: what was open stays open */
          const was = r.querySelectorAll("details"), now = tr.querySelectorAll("details");
          was.forEach(function (d, i) { if (d.open && now[i]) now[i].open = true; });
        }
        return tr;
      });
      have.forEach(function (r) { if (!kept.has(r)) r.remove(); });
      /* rows put in order, moving none that is in place already (a moved row loses
         the focus, and an open list its popup) */
      let at = body.firstElementChild;
      rows.forEach(function (tr) {
        if (tr === at) { at = at.nextElementSibling; return; }
        body.insertBefore(tr, at);
      });
    }, hint, fallback);
    return true;
  }

  /* A button disabled while its request runs: Chromium moves the keyboard focus off it
     to the page's body, where Enter does nothing, Space scrolls the page and a screen
     reader starts again from the top (accessibility trial: Recalibrate, Download CSV,
     Switch off, Check and Import pressed with the keyboard all left the focus there).
     busy(buttons, true) disables them, noting the one focused; busy(buttons, false)
     enables them and gives it the focus back, unless the focus went elsewhere
     meanwhile. */
  function busy(buttons, on) {
    const list = buttons instanceof Element ? [buttons] : Array.from(buttons);
    if (on) {
      if (list.indexOf(document.activeElement) !== -1) heldFocus = document.activeElement;
      list.forEach(function (b) { b.disabled = true; });
      return;
    }
    list.forEach(function (b) { b.disabled = false; });
    if (list.indexOf(heldFocus) !== -1) giveFocusBack();
  }
  /* the focus a busy() button held, given back to it (or, while it stays disabled, to
     `fallback`) if the page's body has it now */
  function giveFocusBack(fallback) {
    const held = heldFocus;
    if (!held) return;
    const act = document.activeElement;
    if (act && act !== document.body && act !== held) { heldFocus = null; return; }  // moved on
    const target = !held.disabled && held.isConnected ? held : fallback;
    if (!target) {  // still disabled, nowhere else to go: kept for a later busy(false)
      if (!held.isConnected) heldFocus = null;
      return;
    }
    heldFocus = null;
    target.focus({ preventScroll: true });
  }

  const ARMED_MS = 6000;
  function confirmButton(attrs, confirmText, action) {
    const btn = el("button", Object.assign({ type: "button", "data-confirm": "1" }, attrs));
    const text = btn.textContent, title = btn.getAttribute("title"), danger = btn.classList.contains("danger");
    /* a name given for screen readers ("Revoke bob" where the button shows "Revoke")
       says the question too while armed: else they never heard "Click again" */
    const named = btn.getAttribute("aria-label");
    let timer = null;
    function disarm() {
      if (!btn.dataset.armed) return;
      delete btn.dataset.armed;
      clearTimeout(timer);
      btn.textContent = text;
      if (named !== null) btn.setAttribute("aria-label", named);
      if (title === null) btn.removeAttribute("title"); else btn.setAttribute("title", title);
      if (!danger) btn.classList.remove("danger");
    }
    btn.addEventListener("click", function () {
      if (btn.dataset.armed) { disarm(); action(); return; }
      btn.dataset.armed = "1";
      btn.textContent = confirmText + " Click again";
      if (named !== null) btn.setAttribute("aria-label", confirmText + " Click again");
      btn.setAttribute("title", "Click again to go ahead; Esc, or a few seconds, cancels.");
      btn.classList.add("danger");
      timer = setTimeout(disarm, ARMED_MS);
    });
    btn.addEventListener("keydown", function (e) { if (e.key === "Escape") disarm(); });
    btn.addEventListener("blur", disarm);
    return btn;
  }

  /* The sign-in form's answer: ``text`` under the token field, which is marked invalid
     (and described by it) until the token is typed again when ``refused`` (the
     accessibility trial: a refused token was said, but the field itself did not say it). */
  function signInSays(text, refused) {
    const status = document.getElementById("signin-status");
    const input = document.getElementById("token");
    status.textContent = text;
    status.classList.toggle("error", !!refused);
    if (!input) return;
    if (refused) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "signin-status");
      input.addEventListener("input", function () { input.removeAttribute("aria-invalid"); },
                             { once: true });
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  window.Loop = {
    api: api, download: download, send: send, sendOnLeave: sendOnLeave, isNetworkError: isNetworkError, get NETWORK() { return network(); },
    el: el, setText: setText, clear: clear, pct: pct,
    showSignedIn: showSignedIn,
    num: num, duration: duration, saveBlob: saveBlob, when: when, labelNames: labelNames, inLabelOrder: inLabelOrder, labelText: labelText, labelWords: labelWords, entityLine: entityLine, relationField: relationField, spanColumn: spanColumn, getToken: getToken, setToken: setToken,
    clearToken: clearToken, requireToken: requireToken, ApiError: ApiError,
    signedOutBecause: signedOutBecause, noteSignOut: noteSignOut, tryToken: tryToken, wasAdminKey: wasAdminKey,
    refusedWhy: refusedWhy, stillSignedIn: stillSignedIn,
    pageRefused: pageRefused, adminOnly: adminOnly, noProject: noProject, safeNext: safeNext,
    plainText: plainText, visible: visible, markdown: markdown, whoami: whoami, confirmButton: confirmButton, keepFocus: keepFocus,
    syncRows: syncRows,
    busy: busy, giveFocusBack: giveFocusBack,
    signedInOther: signedInOther, whoName: whoName, readLinksOpenedHere: readLinksOpenedHere,
    signInSays: signInSays,
    pid: function () { return document.body.dataset.pid; },
  };
})();
