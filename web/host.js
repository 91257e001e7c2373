// The host console: waitlist → shows → run the show (start, spontaneous, pose, capture
// with the countdown, review, finish) → outbox; live through /api/events.
"use strict";

(() => {
  const { api, el, errorText } = Cosmos;
  const TOKEN_KEY = "cosmos.host.token";
  const $ = (id) => document.getElementById(id);
  let token = localStorage.getItem(TOKEN_KEY);
  let plan = { max_guests: 4, countdown_seconds: 0 };
  let source = null;
  let refreshTimer = null;
  const previews = new Map(); // photo id → blob URL
  const busy = new Set(); // show ids with a request in flight
  const counting = new Map(); // show id → what its countdown shows (survives re-renders)

  async function call(method, path, body) {
    const r = await api(method, path, token, body);
    if (r.status === 401) { logout(); }
    return r;
  }

  function logout() {
    localStorage.removeItem(TOKEN_KEY);
    token = null;
    if (source) { source.close(); source = null; }
    $("console").classList.add("hidden");
    $("logout").classList.add("hidden");
    $("login").classList.remove("hidden");
    $("live").textContent = "offline";
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/session", null, { role: "host", pin: $("pin").value });
    if (r.status === 200 || r.status === 201) {
      token = r.body.token;
      localStorage.setItem(TOKEN_KEY, token);
      $("pin").value = "";
      $("login-error").textContent = "";
      enter();
    } else {
      $("login-error").textContent = errorText(r);
    }
  });
  $("logout").addEventListener("click", async () => { await call("DELETE", "/api/session"); logout(); });

  function enter() {
    $("login").classList.add("hidden");
    $("console").classList.remove("hidden");
    $("logout").classList.remove("hidden");
    connect();
    refresh();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/events?token=" + encodeURIComponent(token));
    source.onopen = () => { $("live").textContent = "live"; $("live").className = "status up"; };
    source.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "status down"; };
    for (const kind of ["waitlist", "show", "photo", "camera", "mail", "reset"]) {
      source.addEventListener(kind, () => scheduleRefresh());
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  async function refresh() {
    if (!token) return;
    await Promise.all([loadBanner(), loadWaitlist(), loadShows(), loadOutbox()]);
  }

  // ---- attention banner ----------------------------------------------------------
  async function loadBanner() {
    // The daemon words what needs attention (health.problems); the page shows it as it is.
    const h = (await api("GET", "/api/health")).body || {};
    $("banner").replaceChildren(...(h.problems || []).map((t) => el("li", {}, t)));
  }

  // ---- waitlist and a new show -----------------------------------------------------
  async function loadWaitlist() {
    const r = await call("GET", "/api/guests?status=waiting");
    if (r.status !== 200) return;
    const picked = new Set([...document.querySelectorAll("#waitlist input:checked")].map((i) => i.value));
    const items = r.body.items;
    $("wait-count").textContent = String(items.length);
    $("waitlist").replaceChildren(...items.map((g) => {
      const id = "pick-" + g.id;
      return el("li", {}, el("label", { for: id },
        el("input", { type: "checkbox", id, value: g.id, checked: picked.has(g.id), onchange: limitPicks }),
        g.name, el("span", { class: "muted" }, " · " + new Date(g.created_at).toLocaleTimeString())));
    }));
    if (items.length === 0) $("waitlist").append(el("li", { class: "muted" }, "Nobody is waiting."));
    limitPicks();
    const n = await call("GET", "/api/shows/next-start");
    if (n.status === 200) {
      plan = n.body;
      if (!$("start-time").dataset.touched) $("start-time").value = localInput(n.body.start_time);
      $("slot-help").textContent = "Next free slot: " + new Date(n.body.start_time).toLocaleString() +
        " (" + n.body.duration_minutes + " min).";
    }
  }

  function limitPicks() {
    const boxes = [...document.querySelectorAll("#waitlist input[type=checkbox]")];
    const n = boxes.filter((b) => b.checked).length;
    for (const b of boxes) b.disabled = !b.checked && n >= plan.max_guests;
    $("pick-help").textContent = n + " of at most " + plan.max_guests + " guests picked.";
  }

  function localInput(iso) {
    const d = new Date(iso);
    const pad = (x) => String(x).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  $("start-time").addEventListener("input", () => { $("start-time").dataset.touched = "1"; });

  $("new-show").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ids = [...document.querySelectorAll("#waitlist input:checked")].map((i) => i.value);
    $("show-error").textContent = "";
    if (ids.length === 0) { $("show-error").textContent = "Pick at least one guest."; return; }
    const start = new Date($("start-time").value);
    const r = await call("POST", "/api/shows", { start_time: start.toISOString(), guest_ids: ids });
    if (r.status === 201) {
      delete $("start-time").dataset.touched;
      refresh();
    } else {
      // An overlap says which show is in the way and the next free start.
      $("show-error").textContent = errorText(r);
    }
  });

  // ---- shows ------------------------------------------------------------------------
  async function loadShows() {
    const from = new Date(Date.now() - 12 * 3600 * 1000).toISOString();
    const r = await call("GET", "/api/shows?from=" + encodeURIComponent(from));
    if (r.status !== 200) return;
    const shows = r.body.items.filter((s) => s.status !== "cancelled");
    const cards = [];
    for (const s of shows) cards.push(await showCard(s));
    if (cards.length === 0) cards.push(el("p", { class: "muted" }, "No shows yet."));
    $("shows").replaceChildren(...cards);
  }

  async function act(s, action, label) {
    busy.add(s.id);
    const errorBox = document.getElementById("err-" + s.id);
    if (errorBox) errorBox.textContent = "";
    let timer = null;
    if (action === "capture" && plan.countdown_seconds > 0) {
      let left = plan.countdown_seconds;
      const paint = () => {
        counting.set(s.id, left > 0 ? String(left) : "📸");
        const box = document.getElementById("count-" + s.id);
        if (box) box.textContent = counting.get(s.id);
      };
      paint();
      timer = setInterval(() => { left -= 1; paint(); }, 1000);
    }
    const r = await call("POST", "/api/shows/" + s.id + "/" + action);
    clearInterval(timer);
    counting.delete(s.id);
    busy.delete(s.id);
    await refresh();
    if (r.status >= 300) {
      const box = document.getElementById("err-" + s.id);
      if (box) box.textContent = label + ": " + errorText(r);
    }
  }

  async function preview(p) {
    if (!previews.has(p.id)) {
      const res = await fetch(p.preview_url, { headers: { Authorization: "Bearer " + token } });
      if (!res.ok) return "";
      previews.set(p.id, URL.createObjectURL(await res.blob()));
    }
    return previews.get(p.id);
  }

  async function showCard(s) {
    const names = s.guests.map((g) => (g.marker + 1) + ". " + g.name).join(", ");
    const btn = (action, label, cls) => el("button", {
      type: "button", class: cls, disabled: busy.has(s.id), "data-action": action,
      onclick: () => act(s, action, label),
    }, label);
    const actions = [];
    switch (s.status) {
      case "scheduled": actions.push(btn("start", "Start", "primary"), btn("cancel", "Cancel", "danger")); break;
      case "running":
        if (s.spontaneous === "pending" || s.spontaneous === "failed") actions.push(btn("spontaneous", "Spontaneous photo now"));
        actions.push(btn("pose", "Pose", "primary"), btn("cancel", "Cancel", "danger")); break;
      case "posing": actions.push(btn("capture", "Capture", "primary"), btn("cancel", "Cancel", "danger")); break;
      case "review": actions.push(btn("capture", "Retake"), btn("finish", "Finish", "primary"), btn("cancel", "Cancel", "danger")); break;
      default: break;
    }
    const photos = [];
    if (["running", "posing", "review"].includes(s.status)) {
      for (const p of s.photos) {
        const url = await preview(p);
        const buttons = s.status === "review" || s.status === "running" || s.status === "posing"
          ? [p.state === "pending" ? el("button", { type: "button", "data-action": "approve", onclick: () => photoAct(p, "POST", "/approve") }, "Approve") : null,
             el("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => photoAct(p, "DELETE", "") }, "Delete")]
          : [];
        photos.push(el("figure", { class: "photo " + p.state, "data-kind": p.kind },
          el("img", { src: url, alt: p.kind + " photo" }),
          el("figcaption", {}, p.kind + " · ", el("span", { class: "status " + p.state }, p.state)),
          el("div", { class: "row" }, buttons)));
      }
    }
    return el("article", { class: "card", "data-show": s.id, "data-status": s.status },
      el("h3", {}, new Date(s.start_time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + " ",
        el("span", { class: "status " + s.status }, s.status)),
      el("p", {}, names),
      s.status === "running" || s.status === "posing" || s.status === "review"
        ? el("p", { class: "muted" }, "Spontaneous photo: ", el("span", { class: "status " + s.spontaneous, "data-spontaneous": s.spontaneous }, s.spontaneous))
        : null,
      el("div", { class: "countdown", id: "count-" + s.id, "aria-live": "assertive" }, counting.get(s.id) || ""),
      el("div", { class: "row" }, actions),
      el("p", { class: "error", id: "err-" + s.id, role: "alert" }),
      photos.length ? el("div", { class: "photos" }, photos) : null);
  }

  async function photoAct(p, method, suffix) {
    const r = await call(method, "/api/photos/" + p.id + suffix);
    if (r.status >= 300) alert(errorText(r));
    if (method === "DELETE") previews.delete(p.id);
    refresh();
  }

  // ---- outbox -------------------------------------------------------------------------
  async function loadOutbox() {
    const r = await call("GET", "/api/outbox?limit=50");
    if (r.status !== 200) return;
    const c = r.body.counts;
    $("outbox-counts").textContent = c.queued + " queued · " + c.sent + " sent · " + c.failed + " failed";
    $("uplink").textContent = "relay " + r.body.uplink.state;
    $("uplink").className = "status " + r.body.uplink.state;
    $("outbox").replaceChildren(...r.body.items.map((m) => el("tr", { "data-message": m.id, "data-status": m.status },
      el("td", {}, m.to), el("td", {}, el("span", { class: "status " + m.status }, m.status)),
      el("td", {}, String(m.attempts)), el("td", {}, m.last_error || ""),
      el("td", {}, m.status === "failed" ? el("button", { type: "button", onclick: async () => {
        const x = await call("POST", "/api/outbox/" + m.id + "/retry");
        if (x.status >= 300) alert(errorText(x));
        refresh();
      } }, "Retry") : null))));
  }
  $("flush").addEventListener("click", async () => { await call("POST", "/api/outbox/flush"); refresh(); });

  if (token) enter(); else logout();
})();
