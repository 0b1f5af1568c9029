/* Shared helpers: token storage, JSON API calls, safe DOM building.
 * Item data is untrusted: build nodes with el()/textContent, never innerHTML. */
"use strict";
(function () {
  const KEY = "loop.token";

  function getToken() {
    try { return localStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }
  function setToken(t) {
    try { localStorage.setItem(KEY, t); } catch (e) { /* private mode */ }
    document.cookie = "loop_token=; Max-Age=0; Path=/; SameSite=Strict";
  }
  function clearToken() {
    try { localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
  }

  class ApiError extends Error {
    constructor(status, message, body) { super(message); this.status = status; this.body = body; }
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    const token = getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    const init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 204) return null;
    let data = null;
    const type = res.headers.get("Content-Type") || "";
    if (type.indexOf("json") !== -1) data = await res.json();
    if (!res.ok) {
      const msg = (data && (data.error || data.message || data.description)) || res.statusText;
      throw new ApiError(res.status, String(msg), data);
    }
    return data;
  }

  async function download(path, filename) {
    const headers = {};
    const token = getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    const res = await fetch(path, { headers: headers, cache: "no-store" });
    if (!res.ok) throw new ApiError(res.status, res.statusText, null);
    const blob = await res.blob();
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

  function setText(id, value) {
    const node = typeof id === "string" ? document.getElementById(id) : id;
    if (node) node.textContent = value === undefined || value === null ? "–" : String(value);
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function pct(x, digits) {
    if (x === undefined || x === null || Number.isNaN(Number(x))) return "–";
    return (100 * Number(x)).toFixed(digits === undefined ? 0 : digits) + "%";
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

  function requireToken() {
    if (getToken()) return true;
    const next = location.pathname + location.search;
    location.replace("/signin?next=" + encodeURIComponent(next));
    return false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const out = document.getElementById("signout");
    const link = document.getElementById("signin-link");
    if (getToken() && out) {
      out.hidden = false;
      if (link) link.hidden = true;
      out.addEventListener("click", function () { clearToken(); location.href = "/signin"; });
    }
  });

  window.Loop = {
    api: api, download: download, el: el, setText: setText, clear: clear, pct: pct,
    num: num, when: when, labelNames: labelNames, getToken: getToken, setToken: setToken,
    clearToken: clearToken, requireToken: requireToken, ApiError: ApiError,
    pid: function () { return document.body.dataset.pid; },
  };
})();
