// The tablets' pages end to end in Debian's chromium: two guests register on the kiosk,
// the host logs in, builds a show, starts it, sees the spontaneous photo arrive live,
// poses, captures (countdown), approves, finishes, and sees the two messages in the outbox.
// Screenshots of every step go to SHOTS (kept as test artifacts).
//
//   node e2e.mjs BASE_URL HOST_PIN KIOSK_PIN SHOTS
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, hostPin, kioskPin, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let step = 0;
const shot = async (page, name) => {
  step += 1;
  await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}.png`, fullPage: true });
};
const consoleErrors = [];
const T = 20000;

let kiosk, host;
try {
  // ---- kiosk: a 10" tablet held upright ----------------------------------------------
  const kctx = await browser.newContext({ viewport: { width: 800, height: 1280 }, locale: "es-ES" });
  kiosk = await kctx.newPage();
  // The 422 is the API refusing the bad email on purpose; anything else is a defect.
  kiosk.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("status of 422")) consoleErrors.push("kiosk: " + m.text());
  });
  await kiosk.goto(base + "/kiosk");
  await kiosk.getByLabel("PIN del kiosco").fill(kioskPin);
  await shot(kiosk, "kiosk-pairing");
  await kiosk.getByRole("button", { name: "Emparejar" }).click();
  await kiosk.getByLabel("Tu nombre").waitFor({ timeout: T });
  await shot(kiosk, "kiosk-questionnaire-es");

  // Missing answers and a malformed address are named beside their field.
  await kiosk.getByRole("button", { name: "Continuar" }).click();
  await kiosk.locator("#err-name").filter({ hasText: "Escribe tu nombre" }).waitFor({ timeout: T });
  await kiosk.getByLabel("Tu nombre").fill("Lucía Pérez");
  await kiosk.getByLabel("Tu correo electrónico").fill("no-es-un-correo");
  await kiosk.getByText("Lunar", { exact: true }).click();
  await kiosk.getByText("Agua", { exact: true }).click();
  await kiosk.getByText("Colibrí", { exact: true }).click();
  await kiosk.getByLabel(/Acepto/).check();
  await kiosk.getByRole("button", { name: "Continuar" }).click();
  await kiosk.locator("#err-email").filter({ hasText: /./ }).waitFor({ timeout: T });
  await shot(kiosk, "kiosk-field-error");
  await kiosk.getByLabel("Tu correo electrónico").fill("lucia@example.org");
  await kiosk.getByRole("button", { name: "Continuar" }).click();
  await kiosk.getByRole("button", { name: "Sí, enviar" }).click();
  await kiosk.getByText("¡Ya estás en la lista!").waitFor({ timeout: T });
  await shot(kiosk, "kiosk-thanks");

  // The next guest picks answers in Spanish, then switches to English (the choices are
  // redrawn) and finishes by keyboard where it matters.
  await kiosk.getByRole("button", { name: "Siguiente persona" }).click();
  await kiosk.getByText("Solar", { exact: true }).click();
  await kiosk.getByText("Fuego", { exact: true }).click();
  await kiosk.getByText("Jaguar", { exact: true }).click();
  await kiosk.getByRole("button", { name: "English" }).click();
  await kiosk.getByLabel("Your name", { exact: true }).fill("Sam O'Neil");
  await kiosk.getByLabel("Your email", { exact: true }).fill("sam@example.org");
  if (!(await kiosk.locator("#element-fuego").isChecked())) throw new Error("the language switch lost the guest's element");
  await kiosk.getByLabel(/I agree/).focus();
  await kiosk.keyboard.press("Space");
  await shot(kiosk, "kiosk-questionnaire-en");
  await kiosk.getByLabel("Your email", { exact: true }).press("Enter");
  await kiosk.getByRole("button", { name: "Yes, send" }).click();
  await kiosk.getByText("You are on the list!").waitFor({ timeout: T });
  await shot(kiosk, "kiosk-thanks-en");

  // The guest after them starts from an empty form, in both languages: nobody inherits
  // the previous guest's answers.
  const emptyForm = async (when) => {
    const checked = await kiosk.locator("#guest-form input:checked").count();
    const name = await kiosk.locator("#name").inputValue();
    const email = await kiosk.locator("#email").inputValue();
    if (checked || name || email) {
      throw new Error(`${when}: the next guest's form is not empty (${checked} checked, name "${name}", email "${email}")`);
    }
  };
  await kiosk.getByRole("button", { name: "Next person" }).click();
  await kiosk.getByLabel("Tu nombre").waitFor({ timeout: T });
  await emptyForm("after Next guest");
  await kiosk.getByRole("button", { name: "English" }).click();
  await emptyForm("after switching to English");
  await kiosk.getByRole("button", { name: "Español" }).click();
  await emptyForm("after switching back to Spanish");

  // ---- host: a tablet held sideways -------------------------------------------------
  const hctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  host = await hctx.newPage();
  host.on("console", (m) => { if (m.type() === "error") consoleErrors.push("host: " + m.text()); });
  await host.goto(base + "/host");
  // The console starts in Spanish; this host reads English (host.mjs covers Spanish).
  await host.getByRole("button", { name: "English" }).click();
  await host.getByLabel("Host PIN").fill(hostPin);
  await host.getByRole("button", { name: "Log in" }).click();
  await host.locator("#live").filter({ hasText: "live" }).waitFor({ timeout: T });
  await host.getByLabel(/Lucía Pérez/).check();
  await host.getByLabel(/Sam O'Neil/).check();
  await shot(host, "host-waitlist");
  await host.getByRole("button", { name: "Create show" }).click();
  const card = host.locator("article[data-show]").first();
  await card.locator("[data-status=scheduled]").or(card.and(host.locator("[data-status=scheduled]"))).first().waitFor({ timeout: T });
  await shot(host, "host-show-scheduled");

  await card.getByRole("button", { name: "Start" }).click();
  await host.locator("article[data-status=running]").waitFor({ timeout: T });
  // The spontaneous photo comes from the daemon's own timer: it must arrive live.
  await host.locator("figure[data-kind=spontaneous] img[src^='blob:']").waitFor({ timeout: T });
  await host.locator("[data-spontaneous=taken]").waitFor({ timeout: T });
  await shot(host, "host-spontaneous-arrived");

  await host.getByRole("button", { name: "Pose" }).click();
  await host.locator("article[data-status=posing]").waitFor({ timeout: T });
  await shot(host, "host-posing");
  await host.getByRole("button", { name: "Take the photo" }).click();
  await host.locator(".countdown").filter({ hasText: /\d/ }).waitFor({ timeout: T });
  await shot(host, "host-countdown");
  await host.locator("article[data-status=review]").waitFor({ timeout: T });
  await host.locator("figure[data-kind=posed] img[src^='blob:']").waitFor({ timeout: T });
  await shot(host, "host-review");

  for (let i = 0; i < 2; i++) {
    await host.locator("button[data-action=approve]").first().click();
    await host.locator("figure.approved").nth(i).waitFor({ timeout: T });
  }
  await shot(host, "host-approved");
  await host.getByRole("button", { name: "Finish" }).click();
  // A finished show is folded away under "Finished shows".
  await host.locator("article[data-status=completed]").waitFor({ state: "attached", timeout: T });
  await host.locator("#outbox [data-message]").nth(1).waitFor({ timeout: T });
  const rows = await host.locator("#outbox [data-message]").count();
  if (rows !== 2) throw new Error(`the outbox shows ${rows} messages, not 2`);
  await host.locator("#outbox [data-message][data-status=sent]").nth(1).waitFor({ timeout: T });
  await shot(host, "host-outbox");

  // Portrait host tablet: the same console still fits.
  await host.setViewportSize({ width: 800, height: 1280 });
  await shot(host, "host-portrait");

  if (consoleErrors.length) throw new Error("console errors:\n" + consoleErrors.join("\n"));
  console.log(`ok: ${step} screenshots in ${shots}`);
  await browser.close();
} catch (e) {
  for (const [p, n] of [[kiosk, "kiosk"], [host, "host"]]) {
    if (p) await p.screenshot({ path: `${shots}/failure-${n}.png`, fullPage: true }).catch(() => {});
  }
  console.error("e2e failed:", e.message);
  await browser.close();
  process.exit(1);
}
