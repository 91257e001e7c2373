// The host console: waitlist → shows → run the live show (start, spontaneous, pose,
// capture with the countdown, review, finish) → mail; live through /api/events. Words
// come from host-text.js, dialogs and sheets from host-sheets.js. A failure stays on its
// show until the host's next action there; box-level problems come from health.
"use strict";

(() => {
  const { api, el } = Cosmos;
  const { t, clock } = HostText;
  const TOKEN_KEY = "cosmos.host.token";
  const CANCEL_UNDO_SECONDS = 10;
  const $ = (id) => document.getElementById(id);
  let token = localStorage.getItem(TOKEN_KEY);
  let plan = { max_guests: 4, countdown_seconds: 0 };
  let source = null;
  let refreshTimer = null;
  let transport = null; // health's mail transport: "file" mail says so instead of "relay unknown"
  let features = {}; // endpoints this box serves (from its OpenAPI document)
  let view = "room";
  const previews = new Map(); // photo id → blob URL
  const busy = new Set(); // show ids with a request in flight: their buttons are disabled
  const counting = new Map(); // show id → what its countdown shows (survives re-renders)
  const failures = new Map(); // show id → {r, action}: kept until the next action on that show
  const notes = new Map(); // show id → a plain info line (e.g. a cancel undone)
  const cancels = new Map(); // show id → {left, timer}: a cancel not yet sent
  let lastShows = [];

  async function call(method, path, body) {
    const r = await api(method, path, token, body);
    if (r.status === 401 && path !== "/api/session") logout();
    return r;
  }

  const sheets = HostSheets({ call, refresh: () => refresh(), features: () => features });
  const check = HostCheck({ call, token: () => token });
  // Live framing in the posing step (issue 14): host-liveview.js.
  const liveview = HostLiveView({ token: () => token, onUnauthorized: () => logout() });

  // ---- language ------------------------------------------------------------------
  function paintLang() {
    HostText.apply();
    $("lang-es").setAttribute("aria-pressed", String(HostText.lang === "es"));
    $("lang-en").setAttribute("aria-pressed", String(HostText.lang === "en"));
    paintLive();
    check.paint();
  }
  for (const l of ["es", "en"]) {
    $("lang-" + l).addEventListener("click", () => { HostText.setLang(l); paintLang(); refresh(); });
  }

  let liveState = "offline";
  function paintLive() {
    $("live").textContent = t(liveState);
    $("live").className = "status " + (liveState === "live" ? "up" : "down");
  }

  // ---- session -------------------------------------------------------------------
  function logout() {
    localStorage.removeItem(TOKEN_KEY);
    token = null;
    if (source) { source.close(); source = null; }
    liveview.sync([]);
    for (const id of ["console", "logout", "views", "summary"]) $(id).classList.add("hidden");
    $("login").classList.remove("hidden");
    $("banner").replaceChildren();
    liveState = "offline";
    paintLive();
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
      $("login-error").textContent = HostText.error(r);
    }
  });
  $("logout").addEventListener("click", async () => { await call("DELETE", "/api/session"); logout(); });

  async function enter() {
    $("login").classList.add("hidden");
    for (const id of ["console", "logout"]) $(id).classList.remove("hidden");
    connect();
    await detect();
    refresh();
  }

  // What this box serves: newer endpoints (resend, alerts, stats) appear only when they do.
  async function detect() {
    const r = await api("GET", "/api/openapi.json");
    const paths = (r.status === 200 && r.body && r.body.paths) || {};
    features = {
      resend: "/api/outbox/{id}/resend" in paths,
      alerts: "/api/alerts" in paths,
      stats: "/api/stats" in paths,
    };
    // One view needs no switch: "Sala"/"Resumen" appear together, with the stats.
    $("views").classList.toggle("hidden", !features.stats);
    $("view-summary").classList.toggle("hidden", !features.stats);
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/events?token=" + encodeURIComponent(token));
    source.onopen = () => { liveState = "live"; paintLive(); };
    source.onerror = () => { liveState = "reconnecting"; paintLive(); };
    for (const kind of ["waitlist", "show", "photo", "camera", "mail", "alerts", "reset"]) {
      source.addEventListener(kind, () => scheduleRefresh());
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  async function refresh() {
    if (!token) return;
    const jobs = [loadBanner(), loadWaitlist(), loadShows(), loadOutbox()];
    if (view === "summary") jobs.push(sheets.loadSummary($("summary-body")));
    await Promise.all(jobs);
  }

  // ---- views ---------------------------------------------------------------------
  function show(v) {
    view = v;
    $("console").classList.toggle("hidden", v !== "room");
    $("summary").classList.toggle("hidden", v !== "summary");
    $("view-room").setAttribute("aria-pressed", String(v === "room"));
    $("view-summary").setAttribute("aria-pressed", String(v === "summary"));
    refresh();
  }
  $("view-room").addEventListener("click", () => show("room"));
  $("view-summary").addEventListener("click", () => show("summary"));

  // ---- the banner: box-level problems ----------------------------------------------
  async function loadBanner() {
    // The daemon words what needs attention (health.problems); the page only translates.
    const h = (await api("GET", "/api/health")).body || {};
    transport = h.mail && h.mail.transport;
    const problems = h.problems || [];
    const items = features.alerts ? await sheets.alertItems(problems) : problems.map((p) => {
      const x = HostText.problem(p);
      return el("li", { lang: x.lang }, x.text);
    });
    // Camera recovery ladder (issue 14): say so while the daemon revives the camera.
    if (h.camera && h.camera.recovering) items.unshift(el("li", {}, t("cam_reconnecting")));
    $("banner").replaceChildren(...items);
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
      return el("li", {},
        el("input", { type: "checkbox", id, value: g.id, checked: picked.has(g.id), onchange: limitPicks }),
        el("label", { for: id }, g.name, el("span", { class: "muted small" }, " · " + clock(g.created_at))),
        el("button", { type: "button", class: "link", "data-guest": g.id, onclick: () => sheets.openGuest(g.id) },
          el("span", { class: "visually-hidden" }, g.name + ": "), t("details")));
    }));
    if (items.length === 0) $("waitlist").append(el("li", { class: "muted" }, t("nobody")));
    limitPicks();
    const n = await call("GET", "/api/shows/next-start");
    if (n.status === 200) {
      plan = n.body;
      if (!$("start-time").dataset.touched) $("start-time").value = localInput(n.body.start_time);
      $("slot-help").textContent = t("next_slot", clock(n.body.start_time), n.body.duration_minutes);
    }
  }

  function limitPicks() {
    const boxes = [...document.querySelectorAll("#waitlist input[type=checkbox]")];
    const n = boxes.filter((b) => b.checked).length;
    for (const b of boxes) b.disabled = !b.checked && n >= plan.max_guests;
    $("pick-help").textContent = t("picked", n, plan.max_guests);
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
    $("show-error").replaceChildren();
    if (ids.length === 0) { $("show-error").append(el("p", { class: "error" }, t("pick_one"))); return; }
    const start = new Date($("start-time").value);
    const r = await call("POST", "/api/shows", { start_time: start.toISOString(), guest_ids: ids });
    if (r.status === 201) {
      delete $("start-time").dataset.touched;
      refresh();
    } else {
      $("show-error").append(...sheets.errorWithSlot(r, (iso) => {
        $("start-time").value = localInput(iso);
        $("start-time").dataset.touched = "1";
        $("show-error").replaceChildren();
      }));
    }
  });

  // ---- shows ------------------------------------------------------------------------
  async function loadShows() {
    const from = new Date(Date.now() - 12 * 3600 * 1000).toISOString();
    const r = await call("GET", "/api/shows?from=" + encodeURIComponent(from));
    if (r.status !== 200) return;
    lastShows = r.body.items;
    await paintShows();
  }

  async function paintShows() {
    const live = lastShows.filter((s) => ["running", "posing", "review"].includes(s.status));
    const coming = lastShows.filter((s) => s.status === "scheduled");
    const done = lastShows.filter((s) => s.status === "completed").reverse();
    const liveCards = [];
    for (const s of live) liveCards.push(await showCard(s));
    $("live-shows").replaceChildren(...(liveCards.length ? liveCards : [el("p", { class: "muted" }, t("no_live"))]));
    const cards = [];
    for (const s of coming) cards.push(await showCard(s));
    $("shows").replaceChildren(...(cards.length ? cards : [el("p", { class: "muted" }, t("no_upcoming"))]));
    $("done-shows").classList.toggle("hidden", done.length === 0);
    $("done-title").textContent = t("done_shows", done.length);
    $("done-list").replaceChildren(...done.map(doneCard));
    liveview.sync(live.filter((s) => s.status === "posing").map((s) => s.id));
  }

  function guestButtons(s) {
    return el("ul", { class: "guests", "aria-label": t("guests_of") }, s.guests.map((g) => el("li", {},
      el("button", { type: "button", class: "link", "data-guest": g.id, onclick: () => sheets.openGuest(g.id) },
        (g.marker + 1) + ". " + g.name))));
  }

  function doneCard(s) {
    return el("article", { class: "card compact", "data-show": s.id, "data-status": s.status },
      el("h3", {}, clock(s.start_time) + " ", el("span", { class: "status completed" }, t("s_" + s.status))),
      guestButtons(s));
  }

  function failureText(f) {
    return t("a_" + f.action).replace(/…$/, "") + ": " + HostText.error(f.r);
  }

  // Runs one action on a show; its failure (an API refusal, a 503 from the camera, or
  // the box unreachable) stays on the show until the next action there.
  async function act(s, action, body) {
    failures.delete(s.id);
    notes.delete(s.id);
    busy.add(s.id);
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
    await paintShows();
    if (action === "capture") liveview.capturing(true);
    const r = await call("POST", "/api/shows/" + s.id + "/" + action, body);
    if (action === "capture") liveview.capturing(false);
    clearInterval(timer);
    counting.delete(s.id);
    busy.delete(s.id);
    if (r.status === 0 || r.status >= 300) failures.set(s.id, { r, action });
    await refresh();
    return r;
  }

  async function preview(p) {
    if (!previews.has(p.id)) {
      try {
        const res = await fetch(p.preview_url, { headers: { Authorization: "Bearer " + token } });
        if (!res.ok) return "";
        previews.set(p.id, URL.createObjectURL(await res.blob()));
      } catch (_) {
        return "";
      }
    }
    return previews.get(p.id);
  }

  // Zoom shows the email-size photo (the preview is too small to judge focus or eyes).
  const larges = new Map(); // photo id → blob URL
  async function large(p) {
    if (!larges.has(p.id)) {
      try {
        const res = await fetch(p.email_url, { headers: { Authorization: "Bearer " + token } });
        if (!res.ok) return "";
        larges.set(p.id, URL.createObjectURL(await res.blob()));
      } catch (_) {
        return "";
      }
    }
    return larges.get(p.id);
  }

  async function showCard(s) {
    const locked = busy.has(s.id) || cancels.has(s.id);
    const btn = (action, cls) => el("button", {
      type: "button", class: cls, disabled: locked, "data-action": action,
      onclick: () => act(s, action),
    }, t("a_" + action));
    const actions = [];
    const live = ["running", "posing", "review"].includes(s.status);
    switch (s.status) {
      case "scheduled":
        actions.push(btn("start", "primary"), el("button", { type: "button", disabled: locked, "data-action": "edit",
          onclick: () => sheets.editShow(s) }, t("a_edit")));
        break;
      case "running":
        actions.push(btn("pose", "primary"));
        if (s.spontaneous === "pending" || s.spontaneous === "failed") actions.push(btn("spontaneous"));
        break;
      case "posing": actions.push(btn("capture", "primary")); break;
      case "review": actions.push(btn("finish", "primary"), el("button", { type: "button", disabled: locked,
        "data-action": "capture", onclick: () => act(s, "capture") }, t("a_retake"))); break;
      default: break;
    }
    const f = failures.get(s.id);
    const photos = live ? await photoGrid(s, locked) : null;
    const end = new Date(s.end_time);
    return el("article", { class: "card show" + (live ? " live" : ""), "data-show": s.id, "data-status": s.status },
      el("h3", {}, clock(s.start_time) + "–" + clock(end.toISOString()) + " ",
        el("span", { class: "status " + s.status }, t("s_" + s.status))),
      s.status === "posing" ? liveview.panel(s) : null,
      guestButtons(s),
      live ? el("p", { class: "muted" }, t("spontaneous"),
        el("span", { class: "status " + s.spontaneous, "data-spontaneous": s.spontaneous }, t("sp_" + s.spontaneous))) : null,
      live && s.spontaneous === "failed" ? el("p", { class: "reason" }, t("sp_failed_help")) : null,
      el("div", { class: "countdown", id: "count-" + s.id, "aria-live": "assertive" }, counting.get(s.id) || ""),
      busy.has(s.id) && counting.has(s.id) ? el("p", { class: "muted" }, t("countdown_busy")) : null,
      el("div", { class: "row" }, actions),
      el("div", { class: "failure", id: "err-" + s.id, role: "alert", "data-failure": f ? f.action : null },
        f ? failureText(f) : ""),
      notes.has(s.id) ? el("p", { class: "note", role: "status" }, t(notes.get(s.id))) : null,
      cancels.has(s.id) ? undoBar(s) : null,
      photos,
      ["scheduled", "running", "posing", "review"].includes(s.status) && !cancels.has(s.id)
        ? el("div", { class: "danger-zone" }, el("button", { type: "button", class: "danger", disabled: locked,
          "data-action": "cancel", onclick: () => askCancel(s) }, t("a_cancel")))
        : null);
  }

  // ---- photos -----------------------------------------------------------------------
  async function photoGrid(s, locked) {
    if (!s.photos.length) return null;
    const figures = [];
    let n = 0;
    for (const p of s.photos) {
      n += 1;
      const url = await preview(p);
      const label = t("photo_of", p.kind) + " " + n;
      figures.push(el("figure", { class: "photo " + p.state, "data-kind": p.kind, "data-photo": p.id },
        el("button", { type: "button", class: "zoom-btn", onclick: async () => sheets.zoom((await large(p)) || url, label) },
          el("img", { src: url, alt: label }),
          el("span", { class: "visually-hidden" }, t("zoom"))),
        el("figcaption", {}, label + " · ", el("span", { class: "status " + p.state }, t("ph_" + p.state))),
        // Approve on the left, delete on the far right: never one above the other.
        el("div", { class: "row split" },
          p.state === "pending"
            ? el("button", { type: "button", disabled: locked, "data-action": "approve", onclick: () => photoAct(s, p, "approve") }, t("a_approve"))
            : el("span"),
          el("button", { type: "button", class: "danger small", disabled: locked, "data-action": "delete",
            onclick: () => askDelete(s, p, label) }, t("a_delete")))));
    }
    const pending = s.photos.filter((p) => p.state === "pending");
    return el("section", { class: "photo-area", "aria-label": t("a_photo") },
      pending.length > 1 ? el("div", { class: "row" }, el("button", { type: "button", disabled: locked,
        "data-action": "approve-all", onclick: () => approveAll(s, pending) }, t("a_approve_all"))) : null,
      el("div", { class: "photos" }, figures));
  }

  async function photoAct(s, p, what) {
    failures.delete(s.id);
    notes.delete(s.id);
    const r = what === "approve"
      ? await call("POST", "/api/photos/" + p.id + "/approve")
      : await call("DELETE", "/api/photos/" + p.id);
    if (r.status === 0 || r.status >= 300) failures.set(s.id, { r, action: what });
    if (what === "delete" && r.status < 300 && r.status !== 0) previews.delete(p.id);
    await refresh();
    return r;
  }

  async function approveAll(s, pending) {
    busy.add(s.id);
    failures.delete(s.id);
    await paintShows();
    for (const p of pending) {
      const r = await call("POST", "/api/photos/" + p.id + "/approve");
      if (r.status === 0 || r.status >= 300) { failures.set(s.id, { r, action: "approve_all" }); break; }
    }
    busy.delete(s.id);
    await refresh();
  }

  async function askDelete(s, p, label) {
    const yes = await sheets.confirm({ title: t("delete_q"), body: label + ". " + t("delete_body"), yes: t("delete_yes"), no: t("keep") });
    if (yes) await photoAct(s, p, "delete");
  }

  // ---- cancel: confirmed, then an undo window before anything is sent ----------------
  async function askCancel(s) {
    const yes = await sheets.confirm({ title: t("cancel_q"), body: t("cancel_body"), yes: t("cancel_yes"), no: t("keep") });
    if (!yes) return;
    failures.delete(s.id);
    notes.delete(s.id);
    const pending = { left: CANCEL_UNDO_SECONDS, timer: null };
    pending.timer = setInterval(async () => {
      pending.left -= 1;
      const box = document.getElementById("undo-" + s.id);
      if (box) box.textContent = t("undo_note", pending.left);
      if (pending.left > 0) return;
      clearInterval(pending.timer);
      cancels.delete(s.id);
      await act(s, "cancel");
    }, 1000);
    cancels.set(s.id, pending);
    await paintShows();
  }

  function undoBar(s) {
    const pending = cancels.get(s.id);
    return el("div", { class: "undo", role: "status" },
      el("p", { id: "undo-" + s.id }, t("undo_note", pending.left)),
      el("button", { type: "button", class: "primary", "data-action": "undo", onclick: async () => {
        clearInterval(pending.timer);
        cancels.delete(s.id);
        notes.set(s.id, "undone");
        await paintShows();
      } }, t("undo")));
  }

  // ---- outbox -------------------------------------------------------------------------
  async function loadOutbox() {
    const r = await call("GET", "/api/outbox?limit=50");
    if (r.status !== 200) return;
    const c = r.body.counts;
    $("outbox-counts").textContent = t("counts", c);
    // A failed message is not "all well", whatever the relay's state.
    let state = r.body.uplink.state;
    let text = transport === "file" ? t("up_file") : t("up_" + state);
    if (c.failed > 0) { state = "down"; text += " · " + t("failed_n", c.failed); }
    $("uplink").textContent = text;
    $("uplink").className = "status " + state;
    $("outbox").replaceChildren(...r.body.items.map((m) => sheets.messageRow(m)));
    if (!r.body.items.length) $("outbox").append(el("li", { class: "muted" }, t("no_mail")));
  }
  $("flush").addEventListener("click", async () => {
    const r = await call("POST", "/api/outbox/flush");
    $("outbox-error").textContent = r.status === 0 || r.status >= 300 ? HostText.error(r) : "";
    refresh();
  });

  paintLang();
  if (token) enter(); else logout();
})();
