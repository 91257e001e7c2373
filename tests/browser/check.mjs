// The host console's camera check in Debian's chromium, against the real daemon: the card
// asks for a check before the first show, «Comprobar la cámara» shows the test photo and
// says the camera is ready; a low battery and a nearly full card are named in plain words
// (no codes, no numbers from the API's English), in Spanish and in English; an unplugged
// camera is a plain error that stays until the next check. axe-core on every screen.
//
// The Rust test changes the simulated camera when this script prints `CAMERA weak`,
// `CAMERA unplug` or `CAMERA plug`, and answers `ok` on stdin.
//
//   node check.mjs BASE_URL HOST_PIN SHOTS
import { createInterface } from "node:readline";
import { axeChecker, expect, launch, shooter } from "./harness.mjs";

const [base, hostPin, shots] = process.argv.slice(2);
const T = 20000;
const replies = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function camera(what) {
  console.log("CAMERA " + what);
  const { value } = await replies.next();
  if (value !== "ok") throw new Error(`the test did not ${what} the camera: ${value}`);
}

const browser = await launch();
const shots_ = shooter(shots, "check");
const shot = (page, name) => shots_.shot(page, name);
const { axe, results: axeResults } = axeChecker();
const consoleErrors = [];

let page;
try {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  page = await ctx.newPage();
  page.on("console", (m) => {
    // The unplugged camera (503) is refused on purpose.
    if (m.type() === "error" && !/status of 503/.test(m.text())) consoleErrors.push(m.text());
  });
  await page.goto(base + "/host");
  await page.getByLabel("PIN de la consola").fill(hostPin);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.locator("#live").filter({ hasText: "en directo" }).waitFor({ timeout: T });

  // ---- before the first show: the card asks for a check --------------------------------
  const card = page.locator("#camera-card");
  await card.getByText("Todavía no se ha comprobado la cámara hoy").waitFor({ timeout: T });
  await axe(page, "check prompt (es)");
  await card.evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot(page, "prompt");

  // ---- a good camera: ready, with its test photo ----------------------------------------
  await page.getByRole("button", { name: "Comprobar la cámara" }).click();
  await card.getByText("La cámara está lista para el show.").waitFor({ timeout: T });
  const img = card.getByRole("img", { name: "Foto de prueba de la cámara" });
  await img.waitFor({ timeout: T });
  await page.waitForFunction(() => {
    const i = document.querySelector("#camera-card img");
    return i && i.complete && i.naturalWidth > 0;
  }, null, { timeout: T });
  await card.getByText("Batería: 80 %").waitFor({ timeout: T });
  const text = await card.innerText();
  expect(!/SIM-|_|frame_url|\{/.test(text), `no ids or API words on the card: ${text}`);
  await axe(page, "camera ready (es)");
  await card.evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot(page, "ready");

  // ---- a weak camera: each problem in plain words ---------------------------------------
  await camera("weak");
  await page.getByRole("button", { name: "Comprobar la cámara" }).click();
  await card.getByText("La cámara no está lista. Revisa esto antes del show:").waitFor({ timeout: T });
  await card.getByText("A la batería de la cámara le queda poco").waitFor({ timeout: T });
  await card.getByText("La tarjeta de la cámara está casi llena").waitFor({ timeout: T });
  expect((await card.locator("li").count()) === 2, "two problems listed");
  await axe(page, "camera not ready (es)");
  await card.evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot(page, "not-ready");

  // ---- English --------------------------------------------------------------------------
  await page.getByRole("button", { name: "English" }).click();
  await card.getByText("The camera is not ready. Look at this before the show:").waitFor({ timeout: T });
  await card.getByText("The camera's battery is low").waitFor({ timeout: T });
  await page.getByRole("button", { name: "Check the camera" }).waitFor({ timeout: T });
  await axe(page, "camera not ready (en)");
  await card.evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot(page, "not-ready-en");

  // ---- no camera: a plain error that stays ----------------------------------------------
  await camera("unplug");
  await page.getByRole("button", { name: "Check the camera" }).click();
  await card.getByText("The camera did not answer. Check it is on and plugged in, then try again.").waitFor({ timeout: T });
  await page.waitForTimeout(1500);
  await card.getByText("The camera did not answer.").waitFor({ timeout: 1000 });
  await axe(page, "camera unavailable (en)");
  await card.evaluate((e) => e.scrollIntoView({ block: "start" }));
  await shot(page, "unavailable-en");
  await camera("plug");
  await page.getByRole("button", { name: "Español" }).click();
  await page.getByRole("button", { name: "Comprobar la cámara" }).waitFor({ timeout: T });

  if (consoleErrors.length) throw new Error("console errors:\n" + consoleErrors.join("\n"));
  console.log(`axe: ${axeResults.join("; ")}`);
  console.log(`ok: ${shots_.step} screenshots in ${shots}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  if (page) await page.screenshot({ path: `${shots}/check-failure.png`, fullPage: true }).catch(() => {});
  console.error("camera check test failed:", e.message);
  await browser.close();
  process.exit(1);
}
