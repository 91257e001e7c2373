// The host console's dialogs and secondary views: the confirmation dialog, the photo
// zoom, the guest sheet (edit, remove, erase), editing a scheduled show, one outbox row
// (retry, send again, fix the address), alerts with their acknowledgement and the
// "Resumen" view. Newer endpoints are used only when the box serves them (`features`).
"use strict";

function HostSheets({ call, refresh, features }) {
  const { el } = Cosmos;
  const { t, clock } = HostText;
  const $ = (id) => document.getElementById(id);
  const failed = (r) => r.status === 0 || r.status >= 300;
  let questionnaire = null;

  // ---- confirmation: the safe answer is the default ----------------------------------
  function confirm({ title, body, yes, no }) {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-body").textContent = body;
    $("confirm-yes").textContent = yes;
    $("confirm-no").textContent = no;
    return new Promise((resolve) => {
      const done = (v) => {
        $("confirm-yes").onclick = null;
        $("confirm-no").onclick = null;
        d.onclose = null;
        if (d.open) d.close();
        resolve(v);
      };
      $("confirm-yes").onclick = () => done(true);
      $("confirm-no").onclick = () => done(false);
      d.onclose = () => done(false);
      d.showModal();
      $("confirm-no").focus();
    });
  }

  // ---- photo zoom ----------------------------------------------------------------------
  function zoom(url, label) {
    $("zoom-img").src = url;
    $("zoom-img").alt = label;
    $("zoom-title").textContent = label;
    $("zoom").showModal();
  }
  $("zoom-close").addEventListener("click", () => $("zoom").close());
  $("zoom").addEventListener("click", (ev) => { if (ev.target === $("zoom") || ev.target === $("zoom-img")) $("zoom").close(); });

  // An error paragraph, with "Usar 18:38" when the API names the next free slot.
  function errorWithSlot(r, use) {
    const out = [el("p", { class: "error" }, HostText.error(r))];
    const e = (r.body && r.body.error) || {};
    if (e.code === "show_overlap") {
      const o = HostText.overlapTimes(e.message);
      if (o.nextIso) {
        const label = HostText.lang === "es" ? "Usar " + clock(o.nextIso) : "Use " + clock(o.nextIso);
        out.push(el("button", { type: "button", class: "primary", "data-action": "use-slot", onclick: () => use(o.nextIso) }, label));
      }
    }
    return out;
  }

  // ---- the guest sheet -----------------------------------------------------------------
  async function names() {
    if (!questionnaire) {
      const r = await call("GET", "/api/questionnaire");
      if (r.status === 200) questionnaire = r.body;
    }
    return questionnaire;
  }

  function choiceName(list, id) {
    const c = (list || []).find((x) => x.id === id);
    if (!c) return id;
    return (c.name && (c.name[HostText.lang] || c.name.es)) || id;
  }

  function closeButton(d) {
    return el("button", { type: "button", "data-action": "close", onclick: () => d.close() }, t("close"));
  }

  // opts.fix: a message whose address is being corrected (resent after saving).
  async function openGuest(id, opts = {}) {
    const d = $("guest-sheet");
    const body = $("guest-body");
    const [r, q] = await Promise.all([call("GET", "/api/guests/" + id), names()]);
    if (r.status !== 200) {
      body.replaceChildren(el("h2", { id: "guest-title" }, t("guest")), el("p", { class: "error", role: "alert" }, HostText.error(r)),
        el("div", { class: "row" }, closeButton(d)));
      if (!d.open) d.showModal();
      return;
    }
    const g = r.body;
    const msg = el("div", { class: "sheet-msg", role: "status" }, opts.note ? el("p", { class: "ok" }, opts.note) : null);
    const nameIn = el("input", { id: "g-name", type: "text", value: g.name, autocomplete: "off" });
    const emailIn = el("input", { id: "g-email", type: "email", value: g.email, autocomplete: "off", inputmode: "email" });
    const editable = g.status !== "cancelled";
    const form = el("form", { novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      msg.replaceChildren();
      const patch = {};
      if (nameIn.value.trim() !== g.name) patch.name = nameIn.value.trim();
      if (emailIn.value.trim() !== g.email) patch.email = emailIn.value.trim();
      if (!Object.keys(patch).length) { d.close(); return; }
      const p = await call("PATCH", "/api/guests/" + g.id, patch);
      if (failed(p)) { msg.append(el("p", { class: "error" }, HostText.error(p))); return; }
      let text = t("saved");
      if (opts.fix && patch.email) {
        // The corrected address gets the photos: a new message where the box can send
        // one again, else the failed one retried (it follows the new address).
        const again = features().resend
          ? await call("POST", "/api/outbox/" + opts.fix.id + "/resend")
          : opts.fix.status === "failed" ? await call("POST", "/api/outbox/" + opts.fix.id + "/retry") : null;
        if (again && failed(again)) { msg.append(el("p", { class: "error" }, HostText.error(again))); refresh(); return; }
        if (again) text = t("saved_resent");
      }
      refresh();
      await openGuest(g.id, { note: text });
    } },
    el("label", { for: "g-name" }, t("name")), nameIn,
    el("label", { for: "g-email" }, t("email")), emailIn,
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary", disabled: !editable, "data-action": "save" }, t("save")), closeButton(d)));
    if (!editable) { nameIn.disabled = true; emailIn.disabled = true; }

    const danger = [];
    if (g.status === "waiting") {
      danger.push(el("button", { type: "button", class: "danger", "data-action": "leave", onclick: async () => {
        if (!(await confirm({ title: t("leave_q"), body: g.name, yes: t("leave_yes"), no: t("keep") }))) return;
        const x = await call("POST", "/api/guests/" + g.id + "/cancel");
        if (failed(x)) { msg.replaceChildren(el("p", { class: "error" }, HostText.error(x))); return; }
        d.close();
        refresh();
      } }, t("leave")));
    }
    danger.push(el("button", { type: "button", class: "danger", "data-action": "erase", onclick: async () => {
      if (!(await confirm({ title: t("erase_q"), body: g.name + ". " + t("erase_body"), yes: t("erase_yes"), no: t("keep") }))) return;
      const x = await call("DELETE", "/api/guests/" + g.id);
      if (failed(x)) { msg.replaceChildren(el("p", { class: "error" }, HostText.error(x))); return; }
      d.close();
      refresh();
    } }, t("erase")));

    const facts = [
      [t("email"), g.email], [t("language"), t("lang_" + g.language)], [t("status"), t("g_" + g.status)],
      [t("energy"), choiceName(q && q.energies, g.energy)], [t("element"), choiceName(q && q.elements, g.element)],
      [t("essence"), choiceName(q && q.essences, g.essence)],
    ];
    body.replaceChildren(
      el("h2", { id: "guest-title" }, g.name),
      el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      form, msg,
      el("div", { class: "danger-zone" }, danger));
    if (!d.open) d.showModal();
    (opts.fix ? emailIn : nameIn).focus();
  }

  // ---- a scheduled show's time and guests ------------------------------------------------
  async function editShow(s) {
    const d = $("show-sheet");
    const w = await call("GET", "/api/guests?status=waiting");
    const waiting = w.status === 200 ? w.body.items : [];
    const pad = (x) => String(x).padStart(2, "0");
    const local = (iso) => { const x = new Date(iso); return x.getFullYear() + "-" + pad(x.getMonth() + 1) + "-" + pad(x.getDate()) + "T" + pad(x.getHours()) + ":" + pad(x.getMinutes()); };
    const timeIn = el("input", { id: "e-time", type: "datetime-local", value: local(s.start_time) });
    const people = [...s.guests.map((g) => ({ id: g.id, name: g.name, on: true })), ...waiting.map((g) => ({ id: g.id, name: g.name, on: false }))];
    const msg = el("div", { class: "sheet-msg", role: "alert" });
    const form = el("form", { novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      msg.replaceChildren();
      const ids = [...form.querySelectorAll("input[type=checkbox]:checked")].map((i) => i.value);
      if (!ids.length) { msg.append(el("p", { class: "error" }, t("pick_one"))); return; }
      const r = await call("PATCH", "/api/shows/" + s.id, { start_time: new Date(timeIn.value).toISOString(), guest_ids: ids });
      if (failed(r)) { msg.append(...errorWithSlot(r, (iso) => { timeIn.value = local(iso); msg.replaceChildren(); })); return; }
      d.close();
      refresh();
    } },
    el("label", { for: "e-time" }, t("time")), timeIn,
    el("fieldset", {}, el("legend", {}, t("which_guests")),
      el("ul", { class: "list" }, people.map((p) => el("li", {},
        el("input", { type: "checkbox", id: "e-g-" + p.id, value: p.id, checked: p.on }),
        el("label", { for: "e-g-" + p.id }, p.name))))),
    msg,
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary", "data-action": "save" }, t("save")), closeButton(d)));
    $("show-sheet-body").replaceChildren(el("h2", { id: "show-sheet-title" }, t("edit_show") + " · " + clock(s.start_time)), form);
    d.showModal();
    timeIn.focus();
  }

  // ---- one outbox message ------------------------------------------------------------------
  function messageRow(m) {
    const err = el("p", { class: "error", role: "alert" });
    const run = async (path) => {
      err.textContent = "";
      const r = await call("POST", path);
      if (failed(r)) err.textContent = HostText.error(r);
      refresh();
    };
    const buttons = [];
    if (m.status === "failed") buttons.push(el("button", { type: "button", "data-action": "retry", onclick: () => run("/api/outbox/" + m.id + "/retry") }, t("retry")));
    if (features().resend && m.status !== "queued") buttons.push(el("button", { type: "button", "data-action": "resend", onclick: () => run("/api/outbox/" + m.id + "/resend") }, t("resend")));
    if (m.status !== "sent" || features().resend) {
      buttons.push(el("button", { type: "button", "data-action": "fix", onclick: () => openGuest(m.guest_id, { fix: m }) }, t("fix_address")));
    }
    const reason = m.status === "sent" ? "" : HostText.mailReason(m);
    return el("li", { "data-message": m.id, "data-status": m.status },
      el("div", { class: "msg-head" },
        el("span", { class: "addr" }, m.to),
        el("span", { class: "status " + m.status }, t("m_" + m.status)),
        el("span", { class: "muted small" }, clock(m.sent_at || m.created_at) + " · " + t("tries", m.attempts))),
      reason ? el("p", { class: "reason" }, reason) : null,
      buttons.length ? el("div", { class: "row" }, buttons) : null,
      err);
  }

  // ---- alerts (when the box keeps them) --------------------------------------------------
  // health's problems list the open, unacknowledged alerts by their message; those lines
  // are drawn from the alert instead (worded by its kind, with "Entendido").
  async function alertItems(problems) {
    const r = await call("GET", "/api/alerts?status=open");
    const open = r.status === 200 ? r.body.items.filter((a) => !a.acknowledged_at && !a.cleared_at) : [];
    const byMessage = new Set(open.map((a) => a.message));
    const plain = problems.filter((p) => !byMessage.has(p)).map((p) => {
      const x = HostText.problem(p);
      return el("li", { lang: x.lang }, x.text);
    });
    const alerts = open.map((a) => el("li", { "data-alert": a.id, "data-kind": a.kind },
      el("span", {}, t("al_" + a.kind) === "al_" + a.kind ? a.message : t("al_" + a.kind)),
      el("button", { type: "button", class: "small", "data-action": "ack", onclick: async () => {
        await call("POST", "/api/alerts/" + a.id + "/ack");
        refresh();
      } }, t("ack"))));
    return [...plain, ...alerts];
  }

  // ---- the day's summary ---------------------------------------------------------------------
  const STATS = ["guests_registered", "shows_completed", "shows_cancelled", "photos_taken", "retakes",
    "photos_deleted", "mails_sent", "mails_failed", "mails_queued", "capture_failures"];

  // Today's numbers, and a week of guests and finished shows as a chart. The box counts
  // in UTC days; the last row is today's.
  async function loadSummary(box) {
    const r = await call("GET", "/api/stats");
    if (r.status !== 200) { box.replaceChildren(el("p", { class: "error", role: "alert" }, HostText.error(r))); return; }
    const days = r.body.days || [];
    const today = days[days.length - 1] || {};
    box.replaceChildren(...[
      STATS.some((k) => today[k]) ? null : el("p", { class: "muted" }, t("stats_none")),
      el("dl", { class: "stats" }, STATS.map((k) => el("div", { "data-stat": k }, el("dt", {}, t("st_" + k)), el("dd", {}, String(today[k] || 0))))),
      days.length ? week(days) : null].filter(Boolean));
  }

  // Two bars a day (guests registered, shows finished), drawn as inline SVG.
  function week(days) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      return e;
    };
    const series = [["guests_registered", "bar"], ["shows_completed", "bar alt"]];
    const max = Math.max(1, ...days.flatMap((d) => series.map(([k]) => d[k] || 0)));
    const colW = 80, barW = 26, h = 180, top = 24, foot = 30;
    const width = days.length * colW;
    const root = svg("svg", { viewBox: `0 0 ${width} ${h + top + foot}`, role: "img", "aria-labelledby": "chart-title", class: "chart" });
    const label = (d) => d.day.slice(8, 10) + "/" + d.day.slice(5, 7);
    root.append(svg("title", { id: "chart-title" }, t("chart") + ": " + days.map((d) =>
      label(d) + " " + series.map(([k]) => t("st_" + k) + " " + (d[k] || 0)).join(", ")).join("; ")));
    days.forEach((d, i) => {
      series.forEach(([k, cls], j) => {
        const v = d[k] || 0;
        const bh = Math.max(2, (v / max) * h);
        const x = i * colW + 12 + j * (barW + 4);
        root.append(svg("rect", { x, y: top + h - bh, width: barW, height: bh, rx: 3, class: cls }));
        root.append(svg("text", { x: x + barW / 2, y: top + h - bh - 6, "text-anchor": "middle", class: "chart-value" }, String(v)));
      });
      root.append(svg("text", { x: i * colW + 40, y: top + h + 22, "text-anchor": "middle", class: "chart-label" }, label(d)));
    });
    const legend = el("p", { class: "legend" }, series.map(([k, cls]) => el("span", { class: "key " + cls.replace("bar", "").trim() }, t("st_" + k))));
    return el("figure", { class: "week" }, el("figcaption", {}, t("chart")), root, legend);
  }

  return { confirm, zoom, errorWithSlot, openGuest, editShow, messageRow, alertItems, loadSummary };
}
