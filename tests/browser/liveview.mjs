// Live framing in the host console's posing step (issue 14), in Debian's chromium against
// the real daemon. Mode `sim` (the simulated camera, `liveview_max_seconds = 5`): frames
// appear when the show enters the posing step (the <img> changes), in Spanish and in
// English; turned off and on; "open on another screen" while another viewer holds it;
// the time limit offering «Ver la cámara»; the capture ending it, and the console letting
// go of it in review. Mode `nolive` (libgphoto2's virtual camera, which has no live view):
// the plain words for a camera without live view. axe-core on every screen; screenshots
// at 1024×768 and 768×1024 go to SHOTS.
//
//   node liveview.mjs BASE_URL HOST_PIN KIOSK_PIN SHOTS sim|nolive
import { readFileSync } from "node:fs";
import { apiClient, axeChecker, expect, launch, shooter } from "./harness.mjs";

const [base, hostPin, kioskPin, shots, mode] = process.argv.slice(2);
if (!["sim", "nolive"].includes(mode)) throw new Error(`mode must be sim or nolive, not ${mode}`);
const T = 20000;
const api = apiClient(base);
const browser = await launch();
const shots_ = shooter(shots, `liveview-${mode}`);
const shot = (page, name) => shots_.shot(page, name);
const { axe, results: axeResults } = axeChecker();
const consoleErrors = [];

let page;
try {
  // Two guests and a running show, as the kiosk and the host would make them.
  const kiosk = (await api("POST", "/api/session", null, { role: "kiosk", pin: kioskPin })).body.token;
  const host = (await api("POST", "/api/session", null, { role: "host", pin: hostPin })).body.token;
  const q = (await api("GET", "/api/questionnaire")).body;
  const ids = [];
  for (const [name, email] of [["Lucía Pérez", "lucia@example.org"], ["Sam O'Neil", "sam@example.org"]]) {
    const r = await api("POST", "/api/guests", kiosk, { name, email, energy: "lunar", element: "agua", essence: q.essences[0].id, language: "es", consent: true });
    expect(r.status === 201, `registering ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    ids.push(r.body.id);
  }
  const next = (await api("GET", "/api/shows/next-start", host)).body;
  const s = await api("POST", "/api/shows", host, { start_time: next.start_time, guest_ids: ids });
  expect(s.status === 201, `creating the show: ${s.status} ${JSON.stringify(s.body)}`);
  const started = await api("POST", `/api/shows/${s.body.id}/start`, host);
  expect(started.status === 200, `starting the show: ${started.status} ${JSON.stringify(started.body)}`);

  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  page = await ctx.newPage();
  page.on("console", (m) => {
    // The refusals under test (409: no live view, or open on another screen).
    if (m.type() === "error" && !/status of 409/.test(m.text())) consoleErrors.push(m.text());
  });
  // HOST_WEB_DIR: serve the pages from that folder (as in host.mjs; no CSP header then).
  const dev = process.env.HOST_WEB_DIR;
  if (dev) {
    const types = { html: "text/html", js: "text/javascript", css: "text/css" };
    await page.route(/\/(host|assets\/[a-z-]+\.(js|css))$/, (route) => {
      const p = new URL(route.request().url()).pathname;
      const file = p === "/host" ? "host.html" : p.replace("/assets/", "");
      route.fulfill({ body: readFileSync(`${dev}/${file}`), contentType: types[file.split(".").pop()] + "; charset=utf-8" });
    });
  }
  await page.goto(base + "/host");
  await page.getByLabel("PIN de la consola").fill(hostPin);
  await page.getByRole("button", { name: "Entrar" }).click();
  const show = page.locator("#live-shows article[data-status=running]");
  await show.waitFor({ timeout: T });
  expect(await page.locator("[data-liveview]").count() === 0, "live view shows before the posing step");
  await page.locator("#live-shows").getByRole("button", { name: "Posar" }).click();
  await page.locator("#live-shows article[data-status=posing]").waitFor({ timeout: T });
  const panel = page.locator("#live-shows article[data-status=posing] [data-liveview]");
  const img = panel.locator("img");
  const frames = async () => Number(await panel.getAttribute("data-frames"));

  if (mode === "nolive") {
    await panel.and(page.locator("[data-liveview=no_liveview]")).waitFor({ timeout: T });
    await panel.getByText("Esta cámara no puede mostrar imagen en vivo").waitFor({ timeout: T });
    expect(await img.isHidden(), "an empty image shows for a camera without live view");
    expect(await panel.getByRole("button").isHidden(), "a button offers what cannot work");
    await axe(page, "no live view (es)");
    await shot(page, "no-liveview-es");
    await page.getByRole("button", { name: "English" }).click();
    await panel.getByText("This camera cannot show a live image").waitFor({ timeout: T });
    await axe(page, "no live view (en)");
    await shot(page, "no-liveview-en");
  } else {
    // ---- entering the posing step starts it: frames come and the image changes --------
    await panel.and(page.locator("[data-liveview=live]")).waitFor({ timeout: T });
    await panel.getByText("En vivo: encuadra a las personas").waitFor({ timeout: T });
    const first = await img.getAttribute("src");
    expect(first && first.startsWith("blob:"), `the frame is not an object URL: ${first}`);
    await page.waitForFunction((f) => {
      const p = document.querySelector("[data-liveview]");
      return p && Number(p.dataset.frames) >= f + 3;
    }, await frames(), { timeout: T });
    const second = await img.getAttribute("src");
    expect(second !== first, "the image did not change");
    // The frames differ, not only their URLs (the simulated camera sweeps a bar).
    const pixels = async () => page.evaluate(() => {
      const i = document.querySelector("[data-liveview] img");
      const c = document.createElement("canvas");
      c.width = 64; c.height = 48;
      const g = c.getContext("2d");
      g.drawImage(i, 0, 0, 64, 48);
      return Array.from(g.getImageData(0, 0, 64, 48).data).join(",");
    });
    const p1 = await pixels();
    await page.waitForTimeout(600);
    expect((await pixels()) !== p1, "the picture on screen does not move");
    // An object URL per frame, the old ones revoked: the page holds one frame.
    const natural = await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    expect(natural[0] > 0 && natural[0] <= 960, `frame size ${natural}`);
    await axe(page, "live (es)");
    await shot(page, "live-es");
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.waitForTimeout(300);
    await axe(page, "live (es, portrait)");
    await shot(page, "live-es");
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.getByRole("button", { name: "English" }).click();
    await panel.getByText("Live: frame the guests").waitFor({ timeout: T });
    await axe(page, "live (en)");
    await shot(page, "live-en");
    await page.getByRole("button", { name: "Español" }).click();
    await panel.getByText("En vivo: encuadra").waitFor({ timeout: T });

    // ---- turned off; another screen holding it; back on --------------------------------
    await panel.getByRole("button", { name: "Apagar la imagen" }).click();
    await panel.and(page.locator("[data-liveview=stopped]")).waitFor({ timeout: T });
    await panel.getByText("La imagen en vivo está apagada.").waitFor({ timeout: T });
    // The console let go: another viewer gets it.
    const other = new AbortController();
    let r = null;
    for (let i = 0; i < 50 && (!r || r.status !== 200); i++) {
      r = await fetch(base + "/api/camera/liveview", { headers: { Authorization: "Bearer " + host }, signal: other.signal });
      if (r.status !== 200) { await r.text(); await new Promise((ok) => setTimeout(ok, 100)); }
    }
    expect(r.status === 200, `another screen could not open live view after «Apagar»: ${r.status}`);
    const otherReader = r.body.getReader();
    await panel.getByRole("button", { name: "Ver la cámara" }).click();
    await panel.and(page.locator("[data-liveview=busy_elsewhere]")).waitFor({ timeout: T });
    await panel.getByText("ya está abierta en otra pantalla").waitFor({ timeout: T });
    await axe(page, "open on another screen");
    await shot(page, "busy-elsewhere");
    other.abort();
    await otherReader.cancel().catch(() => {});
    // The daemon sees the other viewer gone at its next frame.
    for (let i = 0; i < 50; i++) {
      await panel.getByRole("button", { name: "Intentar otra vez" }).click();
      await page.waitForFunction(() => document.querySelector("[data-liveview]").dataset.liveview !== "connecting", null, { timeout: T });
      if ((await panel.getAttribute("data-liveview")) !== "busy_elsewhere") break;
      await page.waitForTimeout(200);
    }
    await panel.and(page.locator("[data-liveview=live]")).waitFor({ timeout: T });

    // ---- the time limit (5 s here) ends it, and «Ver la cámara» starts it again --------
    await panel.and(page.locator("[data-liveview=ended]")).waitFor({ timeout: T });
    await panel.getByText("La imagen en vivo se paró sola.").waitFor({ timeout: T });
    expect(await img.evaluate((i) => i.classList.contains("stale")), "the last frame does not look stopped");
    await axe(page, "ended by the time limit");
    await shot(page, "ended");
    const before = await frames();
    await panel.getByRole("button", { name: "Ver la cámara" }).click();
    await panel.and(page.locator("[data-liveview=live]")).waitFor({ timeout: T });
    await page.waitForFunction((f) => Number(document.querySelector("[data-liveview]").dataset.frames) > f, before, { timeout: T });

    // ---- the capture ends it; review has no live view and holds nothing ----------------
    await page.locator("#live-shows").getByRole("button", { name: "Hacer la foto" }).click();
    await page.locator("#live-shows article[data-status=review]").waitFor({ timeout: T });
    expect(await page.locator("[data-liveview]").count() === 0, "live view still shows in review");
    const after = await fetch(base + "/api/camera/liveview", { headers: { Authorization: "Bearer " + host } });
    expect(after.status === 200, `the console still holds live view in review: ${after.status}`);
    await after.body.cancel();
    await page.locator("#live-shows figure[data-kind=posed] img[src^='blob:']").waitFor({ timeout: T });
    await axe(page, "review");
    await shot(page, "review");
  }

  if (consoleErrors.length) throw new Error("console errors:\n" + consoleErrors.join("\n"));
  console.log(`axe: ${axeResults.join("; ")}`);
  console.log(`ok: ${shots_.step} screenshots in ${shots}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  if (page) await page.screenshot({ path: `${shots}/liveview-${mode}-failure.png`, fullPage: true }).catch(() => {});
  console.error("live view test failed:", e.message);
  await browser.close();
  process.exit(1);
}
