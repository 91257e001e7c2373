// A guest's email in Debian's chromium, as a phone (390 px) and a laptop (1024 px) show
// it: no horizontal scrolling on the phone, the photos loaded and no wider than the
// screen, a screenshot of each.
//
//   node mail.mjs MAIL_HTML_FILE SHOTS
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [file, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  for (const width of [390, 1024]) {
    const page = await browser.newPage({ viewport: { width, height: 844 } });
    await page.goto(pathToFileURL(file).href);
    await page.waitForLoadState("load");
    const m = await page.evaluate(() => ({
      scroll: document.scrollingElement.scrollWidth,
      imgs: [...document.images].map((i) => ({ ok: i.complete && i.naturalWidth > 0, w: i.getBoundingClientRect().width, src: i.getAttribute("src") })),
    }));
    if (m.scroll > width) throw new Error(`${width} px: the page scrolls sideways (${m.scroll} px wide)`);
    const photos = m.imgs.filter((i) => i.src.startsWith("photo-"));
    if (photos.length !== 2) throw new Error(`${width} px: ${photos.length} photos in the body, not 2`);
    for (const i of m.imgs) {
      if (!i.ok) throw new Error(`${width} px: ${i.src} did not load`);
      if (i.w > Math.min(width, 600)) throw new Error(`${width} px: ${i.src} is ${i.w} px wide`);
    }
    await page.screenshot({ path: `${shots}/mail-${width}.png`, fullPage: true });
    await page.close();
  }
  console.log(`ok: mail screenshots in ${shots}`);
  await browser.close();
} catch (e) {
  console.error("mail render failed:", e.message);
  await browser.close();
  process.exit(1);
}
