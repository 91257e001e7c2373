// The kiosk in a secure context (http://127.0.0.1 is one for chromium, as HTTPS on the
// venue's LAN is): it holds a screen wake lock, its service worker keeps the shell, a
// reload while the box is down still shows the kiosk saying so in plain words, and the
// kiosk comes back to the form by itself when the box answers again. axe-core on the
// box-down screen. The script asks the test to stop and start the daemon on its stdout
// (`DAEMON stop`, `DAEMON start`) and waits for `ok`.
//
//   node shell.mjs BASE_URL KIOSK_PIN SHOTS
import { createInterface } from "node:readline";
import { launch, shooter, axeChecker, expect } from "./harness.mjs";

const [base, kioskPin, shots] = process.argv.slice(2);
const T = 20000;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(what) {
  console.log(what);
  const { value } = await lines.next();
  expect(value === "ok", `the test answered ${value} to ${what}`);
}

const browser = await launch();
const { shot } = shooter(shots, "shell");
const { axe, results } = axeChecker();
let page;
try {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: "es-ES" });
  page = await ctx.newPage();
  await page.goto(base + "/kiosk");
  expect(await page.evaluate(() => window.isSecureContext), "the kiosk is not in a secure context");
  await page.getByLabel("PIN del kiosco").fill(kioskPin);
  await page.getByRole("button", { name: "Emparejar" }).click();
  await page.getByLabel("Tu nombre").waitFor({ timeout: T });

  // The screen is kept awake while the kiosk is shown.
  await page.waitForFunction(() => document.documentElement.dataset.wakeLock === "held", null, { timeout: T });
  console.log("ok: the kiosk holds a screen wake lock");

  // The service worker is installed and controls the page (it claims its clients).
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: T });
  const cached = await page.evaluate(async () => {
    const c = await caches.open("cosmos-kiosk-shell-v1");
    return (await c.keys()).map((r) => new URL(r.url).pathname).sort();
  });
  for (const p of ["/kiosk", "/assets/kiosk.js", "/assets/app.css"]) {
    expect(cached.includes(p), `the shell cache lacks ${p}: ${cached.join(", ")}`);
  }
  expect(!cached.some((p) => p.startsWith("/api/")), `an API answer was cached: ${cached.join(", ")}`);
  console.log(`ok: the service worker keeps the shell (${cached.join(", ")})`);

  // The box goes down; a reload still shows the kiosk, which says so plainly.
  await ask("DAEMON stop");
  await page.reload();
  // A paired kiosk waits on its own screen: a guest never meets the staff's PIN form.
  await page.getByRole("heading", { name: "Un momento" }).waitFor({ timeout: T });
  expect((await page.locator("#down").innerText()).includes("COSMOS no responde ahora"), "the wait says why");
  expect(!(await page.locator("#pair").isVisible()), "the PIN form is shown to guests");
  await shot(page, "box-down-es");
  await axe(page, "box down (es)");
  await page.getByRole("button", { name: "English" }).click();
  await page.getByRole("heading", { name: "One moment" }).waitFor({ timeout: T });
  expect((await page.locator("#down").innerText()).includes("COSMOS is not answering"), "and in English");
  await shot(page, "box-down-en");
  await axe(page, "box down (en)");
  await page.getByRole("button", { name: "Español" }).click();
  console.log("ok: a reload while the box is down shows the kiosk saying COSMOS is not answering");

  // The box comes back: the kiosk returns to the form by itself, still paired.
  await ask("DAEMON start");
  await page.getByLabel("Tu nombre").waitFor({ timeout: 30000 });
  await shot(page, "back");
  console.log("ok: the kiosk came back to the form by itself when the box answered");
  console.log("axe: " + results.join("; "));
} catch (e) {
  if (page) await page.screenshot({ path: `${shots}/shell-failure.png`, fullPage: true }).catch(() => {});
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
process.exit(process.exitCode || 0);
