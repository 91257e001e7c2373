// Shared by the kiosk and the host console: the API client and a tiny DOM helper.
"use strict";

const Cosmos = (() => {
  // `extra`: more request headers (the kiosk's Idempotency-Key). A network failure (fetch
  // throws) is status 0.
  async function api(method, path, token, body, extra) {
    const headers = { ...(extra || {}) };
    if (token) headers["Authorization"] = "Bearer " + token;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: { error: { code: "network", message: String(e) } } };
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    return { status: res.status, body: data };
  }

  // el("button", {class: "primary", onclick: f}, "text", child…)
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function errorText(r) {
    return (r.body && r.body.error && r.body.error.message) || ("HTTP " + r.status);
  }

  return { api, el, errorText };
})();
