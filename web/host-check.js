// The camera check in the host console (issue 14): «Comprobar la cámara» takes a test
// frame (never a guest's photo) and says, in plain words, whether the camera is ready
// for the show, with the frame to look at. Until a check is made on this tablet today,
// the card asks for one; a camera that is not ready stays flagged until the next check.
"use strict";

const HostCheck = ({ call, token }) => {
  const { el } = Cosmos;
  const { t } = HostText;
  const $ = (id) => document.getElementById(id);
  const DAY_KEY = "cosmos.host.checked";
  let last = null; // {r} of the last check on this page
  let running = false;
  let frameUrl = null;

  const today = () => new Date().toDateString();
  const checkedToday = () => localStorage.getItem(DAY_KEY) === today();

  async function frame(path) {
    try {
      const res = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
      if (!res.ok) return null;
      return URL.createObjectURL(await res.blob());
    } catch (_) {
      return null;
    }
  }

  // A code this page does not know yet still gets a plain sentence.
  function problem(code) {
    const key = "chk_p_" + code;
    const words = t(key);
    return words === key ? t("chk_p_other") : words;
  }

  function facts(b) {
    const out = [];
    if (b.battery !== null && b.battery !== undefined) out.push(t("chk_battery", b.battery));
    if (b.free_images !== null && b.free_images !== undefined) out.push(t("chk_free", b.free_images));
    if (b.format) out.push(t("chk_format", b.format));
    return out.join(" · ");
  }

  function paint() {
    const box = $("check-result");
    const btn = $("check-run");
    btn.disabled = running;
    btn.textContent = t(running ? "chk_running" : "chk_run");
    const parts = [];
    if (running) {
      parts.push(el("p", { class: "muted" }, t("chk_wait")));
    } else if (!last) {
      parts.push(el("p", { class: checkedToday() ? "muted" : "warn-line" }, t(checkedToday() ? "chk_again" : "chk_prompt")));
    } else if (last.status !== 200) {
      parts.push(el("p", { class: "error" }, HostText.error(last)));
    } else {
      const b = last.body;
      if (b.ready) {
        parts.push(el("p", { class: "ok-line" }, t("chk_ready")));
      } else {
        parts.push(el("p", { class: "error" }, t("chk_not_ready")));
        parts.push(el("ul", { class: "check-problems" },
          ...b.problems.map((p) => el("li", {}, problem(p.code)))));
      }
      const line = facts(b);
      if (line) parts.push(el("p", { class: "muted" }, line));
    }
    box.replaceChildren(...parts);
    const showFrame = frameUrl && !running && last && last.status === 200;
    $("check-frame").replaceChildren(...(showFrame ? [el("img", { class: "check-frame", src: frameUrl, alt: t("chk_frame_alt") })] : []));
  }

  async function run() {
    if (running) return;
    running = true;
    paint();
    const r = await call("POST", "/api/camera/check");
    running = false;
    last = r;
    if (frameUrl) { URL.revokeObjectURL(frameUrl); frameUrl = null; }
    if (r.status === 200) {
      localStorage.setItem(DAY_KEY, today());
      frameUrl = await frame(r.body.frame_url);
    }
    paint();
  }

  $("check-run").addEventListener("click", run);
  paint();
  return { paint };
};
