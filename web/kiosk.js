// The guest kiosk: paired once by staff with the kiosk PIN (the token stays on the
// tablet), then for each guest: the questionnaire (every missing answer named at once),
// a check of the email address before anything is sent, the registration (one
// Idempotency-Key per attempt, retried with the same key while the Wi-Fi blips), a
// thank-you showing the address, and back to an empty form. A half-filled form left
// alone asks "¿Sigues ahí?" and clears itself if nobody answers.
"use strict";

(() => {
  const { api, el, errorText } = Cosmos;
  const TOKEN_KEY = "cosmos.kiosk.token";
  const TEXT = {
    es: {
      pair_title: "Emparejar este kiosco", pair_help: "Personal: introduzca el PIN del kiosco una sola vez.",
      pair_pin: "PIN del kiosco", pair_go: "Emparejar", pair_bad: "PIN incorrecto.",
      form_title: "Hola, te damos la bienvenida a COSMOS", form_help: "Cuéntanos quién eres antes del show.",
      name: "Tu nombre", email: "Tu correo electrónico", energy: "Tu energía", element: "Tu elemento",
      essence: "Tu esencia", continue: "Continuar",
      missing_name: "Escribe tu nombre.", missing_email: "Escribe tu correo: allí llegarán tus fotos.",
      bad_email: "Ese correo no parece completo. Debe ser como nombre@dominio.com.",
      missing_energy: "Elige tu energía.", missing_element: "Elige tu elemento.", missing_essence: "Elige tu esencia.",
      missing_consent: "Marca la casilla para continuar: sin ella no podemos hacerte fotos ni enviártelas.",
      summary_one: "Falta 1 respuesta. Está marcada abajo.", summary_many: "Faltan {n} respuestas. Están marcadas abajo.",
      bad_name: "Revisa tu nombre (de 1 a 100 caracteres).", bad_duplicate: "Ese correo ya está en la lista de espera. Si es el tuyo, avisa al personal.",
      suggest: "¿Quisiste decir {x}?", suggest_use: "Usar {x}",
      confirm_title: "¿Es este tu correo?", confirm_body: "Tus fotos llegarán a esta dirección:",
      fix: "Corregir", send: "Sí, enviar",
      sending: "Enviando…", retrying: "Un momento: la conexión con COSMOS va lenta. Lo seguimos intentando, tus respuestas están a salvo.",
      offline: "Ahora no hay conexión con COSMOS. Tus respuestas siguen aquí: vuelve a pulsar «Sí, enviar» o avisa al personal.",
      box_down: "COSMOS no responde ahora. Espera un momento: esta página vuelve a intentarlo sola.",
      down_title: "Un momento",
      thanks_title: "¡Ya estás en la lista!", thanks_body: "Después del show, tus fotos llegarán a:",
      thanks_fix: "¿No es tu correo? Avisa al personal de la sala: lo corrigen en un momento.",
      next: "Siguiente persona",
      idle_title: "¿Sigues ahí?", idle_body: "Si nadie responde, borraremos el formulario para la siguiente persona.",
      idle_stay: "Sí, sigo aquí", idle_clear: "Borrar y empezar",
    },
    en: {
      pair_title: "Pair this kiosk", pair_help: "Staff: enter the kiosk PIN once.",
      pair_pin: "Kiosk PIN", pair_go: "Pair", pair_bad: "Wrong PIN.",
      form_title: "Hello, welcome to COSMOS", form_help: "Tell us who you are before the show.",
      name: "Your name", email: "Your email", energy: "Your energy", element: "Your element",
      essence: "Your essence", continue: "Continue",
      missing_name: "Write your name.", missing_email: "Write your email: your photos will go there.",
      bad_email: "That email does not look complete. It should look like name@domain.com.",
      missing_energy: "Choose your energy.", missing_element: "Choose your element.", missing_essence: "Choose your essence.",
      missing_consent: "Tick the box to continue: without it we cannot photograph you or send you the photos.",
      summary_one: "1 answer is missing. It is marked below.", summary_many: "{n} answers are missing. They are marked below.",
      bad_name: "Please check your name (1 to 100 characters).", bad_duplicate: "That email is already on the waitlist. If it is yours, tell the staff.",
      suggest: "Did you mean {x}?", suggest_use: "Use {x}",
      confirm_title: "Is this your email?", confirm_body: "Your photos will go to this address:",
      fix: "Correct it", send: "Yes, send",
      sending: "Sending…", retrying: "One moment: the connection to COSMOS is slow. We keep trying; your answers are safe.",
      offline: "There is no connection to COSMOS right now. Your answers are still here: tap “Yes, send” again or tell the staff.",
      box_down: "COSMOS is not answering right now. Please wait a moment: this page tries again by itself.",
      down_title: "One moment",
      thanks_title: "You are on the list!", thanks_body: "After the show, your photos will go to:",
      thanks_fix: "Not your email? Tell the staff in the room: they can correct it in a moment.",
      next: "Next person",
      idle_title: "Are you still there?", idle_body: "If nobody answers, we will clear the form for the next person.",
      idle_stay: "Yes, I am here", idle_clear: "Clear and start over",
    },
  };
  // Common addresses' domains, for "did you mean…?" (no outside service is asked).
  const DOMAINS = [
    "gmail.com", "hotmail.com", "hotmail.es", "outlook.com", "outlook.es", "yahoo.com", "yahoo.es",
    "icloud.com", "live.com", "msn.com", "me.com", "protonmail.com", "proton.me", "gmx.com", "gmx.es",
    "aol.com", "telefonica.net", "movistar.es", "orange.es", "vodafone.es",
  ];
  const GROUPS = ["energy", "element", "essence"];
  const FIELDS = ["name", "email", ...GROUPS, "consent"];
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const seconds = (q, attr) => Number(params.get(q)) || Number(document.body.dataset[attr]);
  const IDLE_MS = seconds("idle", "idleSeconds") * 1000;
  const ANSWER_MS = seconds("answer", "idleAnswerSeconds") * 1000;
  // Network retries of one registration (about half a minute in all), then the guest decides.
  const RETRY_DELAYS_MS = document.body.dataset.retrySeconds.split(" ")
    .map((x) => (Number(params.get("retry")) || Number(x)) * 1000);

  let lang = "es";
  let choices = null;
  // The errors on screen, as text keys, so a language switch says them again.
  let errors = {};
  let sendError = null;
  let suggestion = null;
  // The registration under way: its Idempotency-Key and the exact body sent with it.
  let pending = null;
  let sending = false;

  function t(k, x) { return (TEXT[lang][k] || k).replace("{x}", x ?? "").replace("{n}", x ?? ""); }

  function setLang(l) {
    lang = l;
    document.documentElement.lang = l;
    $("lang-es").setAttribute("aria-pressed", String(l === "es"));
    $("lang-en").setAttribute("aria-pressed", String(l === "en"));
    for (const n of document.querySelectorAll("[data-t]")) n.textContent = t(n.dataset.t);
    if (choices) {
      renderChoices();
      $("consent-text").textContent = choices.privacy[l].consent;
      $("privacy-notice").textContent = choices.privacy[l].notice;
    }
    renderErrors();
    renderSuggestion();
    if (sendError) $("err-send").textContent = t(sendError);
    if (sending && $("sending").dataset.key) $("sending").textContent = t($("sending").dataset.key);
  }

  function show(id) {
    for (const s of ["pair", "down", "form-screen", "confirm", "thanks"]) $(s).classList.toggle("hidden", s !== id);
    window.scrollTo(0, 0);
  }

  function renderGroup(container, name, items) {
    const keep = new FormData($("guest-form")).get(name);
    container.replaceChildren(...items.map((c) => {
      const input = el("input", { type: "radio", name, value: c.id, id: name + "-" + c.id });
      // The live `checked` property, never the `checked` attribute: the attribute is the
      // default that `form.reset()` restores, so setting it here would hand this guest's
      // answers to the next guest after a language switch.
      input.checked = keep === c.id;
      return el("label", { class: "choice", for: name + "-" + c.id }, input, el("span", {}, c.name[lang]));
    }));
  }

  function renderChoices() {
    renderGroup($("energy-choices"), "energy", choices.energies);
    renderGroup($("element-choices"), "element", choices.elements);
    renderGroup($("essence-choices"), "essence", choices.essences);
  }

  // ---- errors: all at once, each beside its field, kept as keys --------------------------

  function renderErrors() {
    for (const f of [...FIELDS, "form"]) {
      const key = errors[f];
      $("err-" + f).textContent = key ? t(key) : "";
      const box = $("field-" + f);
      if (box) box.classList.toggle("invalid", !!key);
      const input = f === "form" || GROUPS.includes(f) ? null : $(f);
      if (input) {
        if (key) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
      }
      if (GROUPS.includes(f)) {
        for (const r of $("field-" + f).querySelectorAll("input")) {
          if (key) r.setAttribute("aria-invalid", "true"); else r.removeAttribute("aria-invalid");
        }
      }
    }
    const n = FIELDS.filter((f) => errors[f]).length;
    $("err-summary").textContent = n === 0 ? "" : n === 1 ? t("summary_one") : t("summary_many", n);
  }

  function clearErrors() { errors = {}; renderErrors(); }

  // Shows the errors and brings the first one into view, its field focused.
  function showErrors(found) {
    errors = found;
    renderErrors();
    const first = FIELDS.find((f) => errors[f]) || "form";
    const box = $("field-" + first) || $("err-" + first);
    box.scrollIntoView({ block: "center" });
    const focus = GROUPS.includes(first) ? box.querySelector("input") : $(first);
    if (focus) focus.focus({ preventScroll: true });
  }

  // ---- the email: a plausible shape, and "did you mean…?" for common domains ------------

  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/;

  // Optimal string alignment distance: typos are swaps, drops, doubles and slips.
  function distance(a, b) {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
    return d[a.length][b.length];
  }

  function suggestFor(email) {
    const at = email.lastIndexOf("@");
    if (at < 1) return null;
    const domain = email.slice(at + 1).toLowerCase();
    if (domain.length < 4 || DOMAINS.includes(domain)) return null;
    let best = null;
    for (const d of DOMAINS) {
      const n = distance(domain, d);
      if (n <= 2 && (!best || n < best.n)) best = { d, n };
    }
    return best ? email.slice(0, at + 1) + best.d : null;
  }

  function renderSuggestion() {
    for (const [box, inline] of [[$("email-suggest"), true], [$("confirm-suggest"), false]]) {
      box.classList.toggle("hidden", !suggestion);
      if (!suggestion) { box.replaceChildren(); continue; }
      const accept = el("button", { type: "button", class: "link", "data-suggestion": suggestion, onclick: acceptSuggestion },
        inline ? suggestion : t("suggest_use", suggestion));
      // "¿Quisiste decir [x]?" on the form, with x the button; "Usar x" on the check.
      const [before, after] = TEXT[lang].suggest.split("{x}");
      box.replaceChildren(...(inline ? [before, accept, after] : [t("suggest", suggestion), " ", accept]));
    }
  }

  function updateSuggestion() {
    suggestion = suggestFor($("email").value.trim());
    renderSuggestion();
  }

  function acceptSuggestion() {
    $("email").value = suggestion;
    suggestion = null;
    renderSuggestion();
    if (errors.email) { delete errors.email; renderErrors(); }
    if (!$("confirm").classList.contains("hidden")) $("confirm-email").textContent = $("email").value;
  }

  // ---- the form ----------------------------------------------------------------------------

  function body() {
    const f = new FormData($("guest-form"));
    return {
      name: (f.get("name") || "").toString().trim(),
      email: (f.get("email") || "").toString().trim(),
      energy: f.get("energy"), element: f.get("element"), essence: f.get("essence"),
      language: lang, consent: $("consent").checked,
    };
  }

  function check(b) {
    const found = {};
    if (!b.name) found.name = "missing_name";
    if (!b.email) found.email = "missing_email";
    else if (!EMAIL.test(b.email)) found.email = "bad_email";
    for (const g of GROUPS) if (!b[g]) found[g] = "missing_" + g;
    if (!b.consent) found.consent = "missing_consent";
    return found;
  }

  $("guest-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const found = check(body());
    if (Object.keys(found).length) { showErrors(found); return; }
    clearErrors();
    updateSuggestion();
    $("confirm-email").textContent = body().email;
    setSendError(null);
    $("sending").textContent = "";
    show("confirm");
    $("send").focus();
  });

  // A fixed group error goes as soon as the guest answers it.
  $("guest-form").addEventListener("change", (ev) => {
    const f = ev.target.name;
    if (f && errors[f] && !check(body())[f]) { delete errors[f]; renderErrors(); }
  });
  // While typing, not on leaving the field: a suggestion appearing on blur would move the
  // choices below under the guest's finger as they tap one.
  $("email").addEventListener("input", updateSuggestion);

  $("fix").addEventListener("click", () => {
    show("form-screen");
    $("email").focus();
  });

  // ---- sending: one Idempotency-Key per attempt, retried on network failures -------------

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // Plain http on the venue's LAN is not a secure context: no randomUUID there.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function setSendError(key) {
    sendError = key;
    $("err-send").textContent = key ? t(key) : "";
  }

  function status(key) {
    $("sending").dataset.key = key || "";
    $("sending").textContent = key ? t(key) : "";
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function register() {
    if (sending) return;
    const b = body();
    const json = JSON.stringify(b);
    // The same answers keep their key (a repeat after a blip is "already done"); changed
    // answers are a new registration.
    if (!pending || pending.json !== json) pending = { key: newKey(), json };
    sending = true;
    $("send").disabled = true;
    $("fix").disabled = true;
    setSendError(null);
    status("sending");
    let r;
    for (let attempt = 0; ; attempt++) {
      r = await api("POST", "/api/guests", localStorage.getItem(TOKEN_KEY), b, { "Idempotency-Key": pending.key });
      if (r.status !== 0 || attempt >= RETRY_DELAYS_MS.length) break;
      status("retrying");
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
    sending = false;
    status(null);
    $("send").disabled = false;
    $("fix").disabled = false;
    if (r.status === 201 || r.status === 200) {
      thanks(b.email);
    } else if (r.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      show("pair");
    } else if (r.status === 0) {
      setSendError("offline");
    } else {
      // The API names the field; say it in the guest's language where we know how.
      const e = (r.body && r.body.error) || {};
      pending = null;
      const key = r.status === 409 ? "bad_duplicate" : "bad_" + e.field;
      const field = r.status === 409 ? "email" : FIELDS.includes(e.field) ? e.field : "form";
      show("form-screen");
      if (TEXT[lang][key]) showErrors({ [field]: key });
      else { $("err-form").textContent = errorText(r); $("err-form").scrollIntoView({ block: "center" }); }
    }
  }
  $("send").addEventListener("click", register);

  // ---- thank-you and the next person -------------------------------------------------------

  let resetTimer = null;
  function thanks(email) {
    pending = null;
    $("thanks-email").textContent = email;
    clearForm();
    show("thanks");
    $("next").focus();
    clearTimeout(resetTimer);
    resetTimer = setTimeout(nextGuest, 20000);
  }

  function clearForm() {
    clearErrors();
    setSendError(null);
    suggestion = null;
    renderSuggestion();
    $("guest-form").reset();
    // Belt and braces: whatever the defaults say, the next guest starts with no answer.
    for (const n of $("guest-form").querySelectorAll("input[type=radio], input[type=checkbox]")) n.checked = false;
    pending = null;
  }

  function nextGuest() {
    clearTimeout(resetTimer);
    clearForm();
    setLang("es");
    show("form-screen");
    $("name").focus();
  }
  $("next").addEventListener("click", nextGuest);

  // ---- idle: a half-filled form asks, then clears ------------------------------------------

  let idleTimer = null;
  let answerTimer = null;
  function halfFilled() {
    const onForm = !$("form-screen").classList.contains("hidden") || !$("confirm").classList.contains("hidden");
    const b = body();
    return onForm && !sending && !!(b.name || b.email || b.energy || b.element || b.essence || b.consent);
  }
  function armIdle() {
    clearTimeout(idleTimer);
    if ($("idle").open) return;
    idleTimer = setTimeout(() => {
      if (!halfFilled()) { armIdle(); return; }
      $("idle").showModal();
      answerTimer = setTimeout(() => { closeIdle(); nextGuest(); }, ANSWER_MS);
    }, IDLE_MS);
  }
  function closeIdle() {
    clearTimeout(answerTimer);
    if ($("idle").open) $("idle").close();
    armIdle();
  }
  for (const type of ["pointerdown", "keydown", "input"]) document.addEventListener(type, () => { if (!$("idle").open) armIdle(); }, true);
  $("idle-stay").addEventListener("click", closeIdle);
  $("idle-clear").addEventListener("click", () => { closeIdle(); nextGuest(); });
  // Escape closes a modal dialog: that is an answer too.
  $("idle").addEventListener("cancel", (ev) => { ev.preventDefault(); closeIdle(); });

  // ---- start -------------------------------------------------------------------------------

  async function start() {
    const r = await api("GET", "/api/questionnaire");
    if (r.status !== 200) {
      // The box is down (the shell may come from the service worker): say so, try again.
      // A paired kiosk waits on its own screen (a guest sees no PIN form); an unpaired
      // one says it under the PIN, for the staff pairing it.
      if (localStorage.getItem(TOKEN_KEY)) show("down");
      else { show("pair"); $("pair-error").textContent = t("box_down"); }
      setTimeout(start, 5000);
      return;
    }
    choices = r.body;
    $("pair-error").textContent = ""; // the box-down words of a retry, if any
    setLang(lang);
    show(localStorage.getItem(TOKEN_KEY) ? "form-screen" : "pair");
    armIdle();
  }

  $("lang-es").addEventListener("click", () => setLang("es"));
  $("lang-en").addEventListener("click", () => setLang("en"));

  $("pair-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/session", null, { role: "kiosk", pin: $("pair-pin").value });
    if (r.status === 201 || r.status === 200) {
      localStorage.setItem(TOKEN_KEY, r.body.token);
      $("pair-pin").value = "";
      $("pair-error").textContent = "";
      show("form-screen");
      $("name").focus();
    } else {
      $("pair-error").textContent = r.status === 401 ? t("pair_bad") : errorText(r);
    }
  });

  setLang("es");
  start();
})();
