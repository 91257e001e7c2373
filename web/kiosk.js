// The guest kiosk: paired once by staff with the kiosk PIN (the token stays on the
// tablet), then the questionnaire, a thank-you, and back for the next guest.
"use strict";

(() => {
  const { api, el, errorText } = Cosmos;
  const TOKEN_KEY = "cosmos.kiosk.token";
  const TEXT = {
    es: {
      pair_title: "Emparejar este kiosco", pair_help: "Personal: introduzca el PIN del kiosco una sola vez.",
      pair_pin: "PIN del kiosco", pair_go: "Emparejar", pair_bad: "PIN incorrecto.",
      form_title: "Bienvenida a COSMOS", form_help: "Cuéntanos quién eres antes del show.",
      name: "Tu nombre", email: "Tu correo electrónico", energy: "Tu energía", element: "Tu elemento",
      essence: "Tu esencia",
      consent: "Acepto que me fotografíen durante el show y recibir mis fotos por correo.",
      submit: "Enviar", thanks_title: "¡Gracias!", thanks_body: "Te avisaremos cuando empiece tu show. Tus fotos llegarán a tu correo.",
      next: "Siguiente invitado", required: "Este campo es obligatorio.", consent_needed: "Necesitamos tu consentimiento.",
      offline: "Sin conexión con COSMOS. Inténtalo de nuevo.",
      bad_name: "Revisa tu nombre (de 1 a 100 caracteres).", bad_email: "Esa dirección de correo no es válida.",
      bad_duplicate: "Ese correo ya está en la lista de espera.",
    },
    en: {
      pair_title: "Pair this kiosk", pair_help: "Staff: enter the kiosk PIN once.",
      pair_pin: "Kiosk PIN", pair_go: "Pair", pair_bad: "Wrong PIN.",
      form_title: "Welcome to COSMOS", form_help: "Tell us who you are before the show.",
      name: "Your name", email: "Your email", energy: "Your energy", element: "Your element",
      essence: "Your essence",
      consent: "I agree to be photographed during the show and to receive my photos by email.",
      submit: "Send", thanks_title: "Thank you!", thanks_body: "We will call you when your show begins. Your photos will arrive by email.",
      next: "Next guest", required: "This field is required.", consent_needed: "We need your consent.",
      offline: "No connection to COSMOS. Please try again.",
      bad_name: "Please check your name (1 to 100 characters).", bad_email: "That email address is not valid.",
      bad_duplicate: "That email is already on the waitlist.",
    },
  };
  let lang = "es";
  let choices = null;
  const $ = (id) => document.getElementById(id);

  function t(k) { return TEXT[lang][k] || k; }

  function setLang(l) {
    lang = l;
    document.documentElement.lang = l;
    $("lang-es").setAttribute("aria-pressed", String(l === "es"));
    $("lang-en").setAttribute("aria-pressed", String(l === "en"));
    for (const n of document.querySelectorAll("[data-t]")) n.textContent = t(n.dataset.t);
    if (choices) renderChoices();
  }

  function show(id) {
    for (const s of ["pair", "form-screen", "thanks"]) $(s).classList.toggle("hidden", s !== id);
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

  function clearErrors() {
    for (const n of document.querySelectorAll(".error")) n.textContent = "";
    for (const n of document.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
  }

  function fieldError(field, message) {
    const target = $("err-" + field) || $("err-form");
    target.textContent = message;
    const input = $(field);
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  async function start() {
    const r = await api("GET", "/api/questionnaire");
    if (r.status !== 200) { show("pair"); $("pair-error").textContent = t("offline"); return; }
    choices = r.body;
    renderChoices();
    show(localStorage.getItem(TOKEN_KEY) ? "form-screen" : "pair");
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

  $("guest-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const f = new FormData($("guest-form"));
    const body = {
      name: (f.get("name") || "").toString(),
      email: (f.get("email") || "").toString(),
      energy: f.get("energy"), element: f.get("element"), essence: f.get("essence"),
      language: lang, consent: $("consent").checked,
    };
    for (const k of ["name", "email", "energy", "element", "essence"]) {
      if (!body[k]) { fieldError(k, t("required")); return; }
    }
    if (!body.consent) { fieldError("consent", t("consent_needed")); return; }
    $("submit").disabled = true;
    const r = await api("POST", "/api/guests", localStorage.getItem(TOKEN_KEY), body);
    $("submit").disabled = false;
    if (r.status === 201) {
      $("guest-form").reset();
      show("thanks");
      $("next").focus();
      clearTimeout(window.__reset);
      window.__reset = setTimeout(nextGuest, 15000);
    } else if (r.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      show("pair");
    } else if (r.status === 0) {
      fieldError("form", t("offline"));
    } else {
      // The API names the field; say it in the guest's language where we know how.
      const e = (r.body && r.body.error) || {};
      const known = r.status === 409 ? "bad_duplicate" : "bad_" + e.field;
      fieldError(e.field || "form", TEXT[lang][known] || errorText(r));
    }
  });

  function nextGuest() {
    clearTimeout(window.__reset);
    clearErrors();
    $("guest-form").reset();
    // Belt and braces: whatever the defaults say, the next guest starts with no answer.
    for (const n of $("guest-form").querySelectorAll("input[type=radio], input[type=checkbox]")) n.checked = false;
    setLang("es");
    show("form-screen");
    $("name").focus();
  }
  $("next").addEventListener("click", nextGuest);

  setLang("es");
  start();
})();
