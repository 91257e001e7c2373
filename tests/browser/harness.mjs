// What every browser check shares: Debian's chromium launched headless, numbered
// screenshots, axe-core on a screen (a violation fails the check), the API over fetch.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export function expect(cond, what) { if (!cond) throw new Error(what); }

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// shot(page, name) writes SHOTS/PREFIX-NN-name-WxH.png, NN counting up.
export function shooter(shots, prefix) {
  mkdirSync(shots, { recursive: true });
  const s = {
    step: 0,
    async shot(page, name, options = {}) {
      s.step += 1;
      const v = page.viewportSize();
      await page.screenshot({ path: `${shots}/${prefix}-${String(s.step).padStart(2, "0")}-${name}-${v.width}x${v.height}.png`, ...options });
    },
  };
  return s;
}

// axe(page, screen) runs axe-core; `results` lists each screen's count for the log.
export function axeChecker() {
  const results = [];
  async function axe(page, screen) {
    if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.evaluate(axeSource);
    const violations = await page.evaluate(async () =>
      (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`));
    results.push(`${screen}: ${violations.length} violations`);
    if (violations.length) throw new Error(`axe on ${screen}:\n` + violations.join("\n"));
  }
  return { axe, results };
}

export function apiClient(base) {
  return async function api(method, path, token, body) {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token ? { Authorization: "Bearer " + token } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}
