// The guest kiosk in Debian's chromium, screen by screen, at 1024×768 and 768×1024:
// every missing answer named at once (and again after a language switch), the first
// scrolled into view; "¿Quisiste decir gmail.com?"; the address checked before sending and
// shown on the thank-you; a registration whose answer is lost on the way back, retried
// with the same Idempotency-Key, making exactly one guest; English, with a typo caught on
// the address check; a half-filled form left alone asking "¿Sigues ahí?" and clearing; no
// connection for longer than the retries last, then a second tap with the same key, still
// one guest. axe-core must find no violation on any screen. Screenshots go to SHOTS.
//
//   node kiosk.mjs BASE_URL HOST_PIN KIOSK_PIN SHOTS
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const [base, hostPin, kioskPin, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const T = 20000;
const SIZES = [[1024, 768], [768, 1024]];
const consoleErrors = [];
const axeReport = [];
let step = 0;

// Both tablet sizes, then back to the first; the whole page, or only the screen (a modal
// dialog covers the screen, not the page below it).
async function shot(page, name, fullPage = true) {
  step += 1;
  for (const [w, h] of SIZES) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}-${w}x${h}.png`, fullPage });
  }
  await page.setViewportSize({ width: SIZES[0][0], height: SIZES[0][1] });
}

// axe-core through the DevTools protocol (the page's CSP allows no injected script tag).
async function axe(page, name) {
  const has = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!has) await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  axeReport.push(`${name}: ${r.violations.length} violations`);
  if (r.violations.length) {
    const what = r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    throw new Error(`axe on "${name}":\n  ${what.join("\n  ")}`);
  }
}

const expect = (cond, what) => { if (!cond) throw new Error(what); };
const text = (page, sel) => page.locator(sel).innerText();
async function api(method, path, token, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

let page;
try {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: "es-ES" });
  page = await ctx.newPage();
  page.on("console", (m) => {
    // The dropped answer below is a network failure on purpose.
    if (m.type() === "error" && !m.text().includes("net::ERR_FAILED")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/kiosk");
  await page.getByLabel("PIN del kiosco").waitFor({ timeout: T });
  await shot(page, "pairing");
  await axe(page, "pairing");
  await page.getByLabel("PIN del kiosco").fill(kioskPin);
  await page.getByRole("button", { name: "Emparejar" }).click();
  await page.getByLabel("Tu nombre").waitFor({ timeout: T });
  expect(await page.locator("#consent-text").innerText() !== "", "the consent sentence comes from the venue's content");
  const notice = await text(page, "#privacy-notice");
  expect(/guarda tu nombre/.test(notice) && /\d+ días/.test(notice) && /@/.test(notice),
    `the privacy notice says who, how long and whom to ask: ${notice}`);
  expect(await page.locator("#consent").evaluate((n) => getComputedStyle(n).accentColor !== "auto"), "the checkbox is themed");
  await shot(page, "form-es");
  await axe(page, "form (es)");

  // ---- every missing answer at once ------------------------------------------------------
  await page.getByRole("button", { name: "Continuar" }).click();
  await page.locator("#err-summary").filter({ hasText: "Faltan 6 respuestas" }).waitFor({ timeout: T });
  const want = {
    name: "Escribe tu nombre.", energy: "Elige tu energía.", element: "Elige tu elemento.", essence: "Elige tu esencia.",
  };
  for (const [f, s] of Object.entries(want)) expect((await text(page, "#err-" + f)) === s, `#err-${f}: ${await text(page, "#err-" + f)}`);
  expect((await text(page, "#err-email")).length > 0 && (await text(page, "#err-consent")).length > 0, "email and consent named");
  for (const g of ["energy", "element", "essence"]) {
    expect(await page.locator(`#field-${g}.invalid`).count() === 1, `the ${g} group is outlined`);
  }
  await shot(page, "all-errors-es");
  await axe(page, "all errors (es)");
  // The same errors, said again in English.
  await page.getByRole("button", { name: "English" }).click();
  expect((await text(page, "#err-energy")) === "Choose your energy.", "errors follow the language");
  expect((await text(page, "#err-summary")).startsWith("6 answers are missing"), "the summary too");
  await shot(page, "all-errors-en");
  await axe(page, "all errors (en)");
  await page.getByRole("button", { name: "Español" }).click();
  expect((await text(page, "#err-energy")) === "Elige tu energía.", "and back to Spanish");

  // The first missing answer is scrolled into view and focused.
  await page.getByLabel("Tu nombre").fill("Lucía Pérez");
  await page.getByLabel("Tu correo electrónico").fill("lucia.perez@gmial.com");
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByRole("button", { name: "Continuar" }).click();
  await page.locator("#err-summary").filter({ hasText: "Faltan 4 respuestas" }).waitFor({ timeout: T });
  const box = await page.locator("#field-energy").boundingBox();
  expect(box && box.y >= 0 && box.y < 768, `the energy group is in view (y=${box && box.y})`);
  expect(await page.evaluate(() => document.activeElement.name) === "energy", "focus is on the energy group");
  expect(await text(page, "#err-name") === "", "a fixed field's error is gone");

  // ---- the typo suggestion ---------------------------------------------------------------
  const suggest = page.locator("#email-suggest");
  await suggest.filter({ hasText: "¿Quisiste decir lucia.perez@gmail.com?" }).waitFor({ timeout: T });
  await page.getByLabel("Tu correo electrónico").scrollIntoViewIfNeeded();
  await shot(page, "typo-suggestion");
  await axe(page, "typo suggestion");
  await suggest.getByRole("button").click();
  expect(await page.getByLabel("Tu correo electrónico").inputValue() === "lucia.perez@gmail.com", "the tap takes the suggestion");
  expect(await suggest.isHidden(), "the suggestion goes once taken");

  await page.getByText("Lunar", { exact: true }).click();
  expect(await text(page, "#err-energy") === "", "an answered group's error goes at once");
  await page.getByText("Agua", { exact: true }).click();
  await page.getByText("Colibrí", { exact: true }).click();
  await page.locator("#consent").check();
  await page.getByRole("button", { name: "Continuar" }).click();

  // ---- the address, checked before anything is sent --------------------------------------
  await page.getByRole("heading", { name: "¿Es este tu correo?" }).waitFor({ timeout: T });
  expect(await text(page, "#confirm-email") === "lucia.perez@gmail.com", "the confirm step shows the address");
  await shot(page, "confirm-es");
  await axe(page, "confirm (es)");
  await page.getByRole("button", { name: "Corregir" }).click();
  await page.getByLabel("Tu nombre").waitFor({ timeout: T });
  expect(await page.getByLabel("Tu nombre").inputValue() === "Lucía Pérez", "back to the form with the answers");
  expect(await page.locator("#element-agua").isChecked(), "the choices too");
  await page.getByRole("button", { name: "Continuar" }).click();

  // ---- the answer lost on the way back: retried with the same key, one guest -------------
  const keys = [];
  const statuses = [];
  await page.route("**/api/guests", async (route) => {
    keys.push(route.request().headers()["idempotency-key"]);
    const response = await route.fetch(); // the server registers the guest…
    statuses.push(response.status());
    if (keys.length === 1) {
      // …and the tablet never hears it: a Wi-Fi blip on the way back.
      await new Promise((r) => setTimeout(r, 300));
      await route.abort("failed");
    } else {
      await route.fulfill({ response });
    }
  });
  await page.getByRole("button", { name: "Sí, enviar" }).click();
  await page.locator("#sending").filter({ hasText: "la conexión con COSMOS va lenta" }).waitFor({ timeout: T });
  await page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-retrying-1024x768.png`, fullPage: true });
  await axe(page, "retrying");
  await page.getByRole("heading", { name: "¡Ya estás en la lista!" }).waitFor({ timeout: T });
  await page.unroute("**/api/guests");
  expect(keys.length === 2 && keys[0] && keys[0] === keys[1], `the retry sent the same Idempotency-Key: ${keys}`);
  expect(statuses[0] === 201 && statuses[1] === 200, `first registered (201), the retry answered the same guest (200): ${statuses}`);
  const host = (await api("POST", "/api/session", null, { role: "host", pin: hostPin })).body.token;
  const waiting = (await api("GET", "/api/guests?status=waiting", host)).body.items;
  const lucias = waiting.filter((g) => g.email === "lucia.perez@gmail.com");
  expect(lucias.length === 1, `exactly one guest registered, not ${lucias.length}`);
  expect(lucias[0].energy === "lunar" && lucias[0].element === "agua" && lucias[0].essence === "colibrí", "with her answers");

  // ---- the thank-you shows the address ----------------------------------------------------
  expect(await text(page, "#thanks-email") === "lucia.perez@gmail.com", "the thank-you shows the address");
  expect(/personal/.test(await text(page, "#thanks")), "and who can fix it");
  await shot(page, "thanks-es");
  await axe(page, "thanks (es)");

  // ---- the next person, in English --------------------------------------------------------
  await page.getByRole("button", { name: "Siguiente persona" }).click();
  await page.getByLabel("Tu nombre").waitFor({ timeout: T });
  expect(await page.locator("#guest-form input:checked").count() === 0, "the next person starts from an empty form");
  await page.getByRole("button", { name: "English" }).click();
  expect(/Hello/.test(await text(page, "#form-title")), "English title");
  expect(/keeps your name/.test(await text(page, "#privacy-notice")), "English privacy notice");
  await page.getByLabel("Your name", { exact: true }).fill("Sam O'Neil");
  await page.getByLabel("Your email", { exact: true }).fill("sam@hotmial.com");
  await page.getByText("Solar", { exact: true }).click();
  await page.getByText("Fire", { exact: true }).click();
  await page.getByText("Jaguar", { exact: true }).click();
  await page.locator("#consent").check();
  await shot(page, "form-en");
  await axe(page, "form (en)");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "Is this your email?" }).waitFor({ timeout: T });
  // A typo that went past the form is offered again on the check, in the guest's language.
  await page.locator("#confirm-suggest").filter({ hasText: "Did you mean sam@hotmail.com?" }).waitFor({ timeout: T });
  await shot(page, "confirm-en");
  await axe(page, "confirm with a suggestion (en)");
  await page.getByRole("button", { name: "Use sam@hotmail.com" }).click();
  expect(await text(page, "#confirm-email") === "sam@hotmail.com", "the check shows the corrected address");
  expect(await page.locator("#confirm-suggest").isHidden(), "and no more suggestion");
  await page.getByRole("button", { name: "Yes, send" }).click();
  await page.getByRole("heading", { name: "You are on the list!" }).waitFor({ timeout: T });
  expect(await text(page, "#thanks-email") === "sam@hotmail.com", "English thank-you shows the address");
  await shot(page, "thanks-en");
  await axe(page, "thanks (en)");
  await page.getByRole("button", { name: "Next person" }).click();

  // ---- a half-filled form left alone --------------------------------------------------------
  const idle = await ctx.newPage();
  idle.on("console", (m) => { if (m.type() === "error") consoleErrors.push("idle: " + m.text()); });
  await idle.goto(base + "/kiosk?idle=2&answer=5");
  await idle.getByLabel("Tu nombre").fill("Alguien");
  await idle.getByText("Solar", { exact: true }).click();
  const dialog = idle.getByRole("dialog", { name: "¿Sigues ahí?" });
  await dialog.waitFor({ timeout: T });
  await shot(idle, "idle-question", false);
  await axe(idle, "idle question");
  await dialog.getByRole("button", { name: "Sí, sigo aquí" }).click();
  expect(await idle.getByLabel("Tu nombre").inputValue() === "Alguien", "answering keeps the form");
  await dialog.waitFor({ timeout: T });
  // Nobody answers this time: the form clears for the next person.
  await dialog.waitFor({ state: "hidden", timeout: T });
  expect(await idle.getByLabel("Tu nombre").inputValue() === "", "nobody answered: the form is empty");
  expect(await idle.locator("#guest-form input:checked").count() === 0, "no choice left behind");

  // ---- no connection for longer than the retries last: the guest taps again, same key ----
  const late = await ctx.newPage();
  late.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("net::ERR_FAILED")) consoleErrors.push("late: " + m.text());
  });
  await late.goto(base + "/kiosk?retry=0.1");
  await late.getByLabel("Tu nombre").fill("Noa");
  await late.getByLabel("Tu correo electrónico").fill("noa@example.org");
  await late.getByText("Solar", { exact: true }).click();
  await late.getByText("Tierra", { exact: true }).click();
  await late.getByText("Estrella", { exact: true }).click();
  await late.locator("#consent").check();
  await late.getByRole("button", { name: "Continuar" }).click();
  const lateKeys = [];
  await late.route("**/api/guests", async (route) => {
    lateKeys.push(route.request().headers()["idempotency-key"]);
    // Every attempt reaches the box, no answer comes back.
    await route.fetch().catch(() => {});
    await route.abort("failed");
  });
  await late.getByRole("button", { name: "Sí, enviar" }).click();
  await late.locator("#err-send").filter({ hasText: "Ahora no hay conexión con COSMOS" }).waitFor({ timeout: T });
  await shot(late, "offline");
  await axe(late, "offline");
  expect(lateKeys.length === 7 && new Set(lateKeys).size === 1, `seven attempts, one key: ${lateKeys}`);
  await late.unroute("**/api/guests");
  await late.getByRole("button", { name: "Sí, enviar" }).click();
  await late.getByRole("heading", { name: "¡Ya estás en la lista!" }).waitFor({ timeout: T });
  const waitingAfter = (await api("GET", "/api/guests?status=waiting", host)).body.items;
  expect(waitingAfter.filter((g) => g.email === "noa@example.org").length === 1, "tapping again made no second Noa");
  expect(waitingAfter.length === 3, `three guests registered in all, not ${waitingAfter.length}`);

  if (consoleErrors.length) throw new Error("console errors:\n" + consoleErrors.join("\n"));
  console.log(axeReport.join("\n"));
  console.log(`ok: ${step} screens in ${shots}`);
  await browser.close();
} catch (e) {
  if (page) await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
  console.error("kiosk test failed:", e.message);
  console.error(axeReport.join("\n"));
  await browser.close();
  process.exit(1);
}
