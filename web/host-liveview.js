// Live framing in the posing step (issue 14). `GET /api/camera/liveview` needs the host's
// bearer token, so no <img src>: the body is read as a stream, split into its
// multipart/x-mixed-replace parts (boundary `cosmosframe`, each part with its
// Content-Length), and each JPEG is shown through an object URL (the previous one
// revoked). It starts when a show enters the posing step, runs through the countdown,
// and stops when the show leaves the step or the page is hidden; the daemon ends it at
// the shutter, after `camera.liveview_max_seconds`, or on a camera error. One panel,
// moved into the posing show's card at each render (so a re-render never restarts it).
//
// host.js calls: panel(show) in the posing card, sync(posingIds) after each render,
// capturing(true|false) around a capture.
"use strict";

function HostLiveView({ token, onUnauthorized }) {
  const { el } = Cosmos;
  const { t } = HostText;
  const enc = new TextEncoder();
  const BOUNDARY = enc.encode("--cosmosframe");
  const HEAD_END = enc.encode("\r\n\r\n");
  const MAX_PART_HEAD = 1024;
  const MAX_FRAME = 8 * 1024 * 1024;

  let showId = null; // the posing show the panel belongs to
  let run = null; // the AbortController of the stream being read
  let state = "idle";
  let url = null; // the frame on screen
  let frames = 0;
  let inCapture = false;
  let wanted = true; // false once the host turned it off for this show

  // What each state says, and what its button does (null: no button).
  const STATES = {
    idle: { text: "lv_off", button: "start" },
    stopped: { text: "lv_off", button: "start" },
    connecting: { text: "lv_connecting", button: null },
    live: { text: "lv_live", button: "stop" },
    capture: { text: "lv_capture", button: null },
    ended: { text: "lv_ended", button: "start" },
    lost: { text: "lv_lost", button: "start" },
    paused: { text: "lv_off", button: "start" },
    no_liveview: { text: "lv_no_liveview", button: null },
    busy_elsewhere: { text: "lv_busy_elsewhere", button: "retry" },
    camera_busy: { text: "lv_camera_busy", button: "retry" },
    unavailable: { text: "lv_unavailable", button: "retry" },
    network: { text: "lv_network", button: "retry" },
  };

  const title = el("h4", { id: "liveview-title", class: "liveview-title" });
  const img = el("img", { class: "liveview-img", hidden: true });
  const msg = el("p", { class: "liveview-msg", role: "status", "aria-live": "polite" });
  const button = el("button", { type: "button", "data-liveview-action": "", onclick: () => press() });
  const root = el("section", { class: "liveview", "aria-labelledby": "liveview-title", "data-liveview": state },
    title, el("div", { class: "liveview-frame" }, img), el("div", { class: "liveview-bar" }, msg, button));

  function paint() {
    const s = STATES[state];
    root.dataset.liveview = state;
    root.dataset.frames = String(frames);
    title.textContent = t("lv_title");
    img.alt = t("lv_alt");
    // The last frame stays, dimmed, only right after a stream (or while one starts).
    img.hidden = frames === 0 || !["live", "connecting", "capture", "ended", "lost"].includes(state);
    img.classList.toggle("stale", state !== "live");
    const text = t(s.text);
    if (msg.textContent !== text) msg.textContent = text;
    button.hidden = !s.button;
    if (s.button) {
      button.textContent = t("lv_" + s.button);
      button.dataset.liveviewAction = s.button;
      button.className = s.button === "stop" ? "small" : "";
    }
  }

  function setState(s) {
    state = s;
    paint();
  }

  function press() {
    if (STATES[state].button === "stop") {
      wanted = false;
      halt();
      setState("stopped");
    } else {
      wanted = true;
      start();
    }
  }

  function halt() {
    if (run) run.abort();
    run = null;
  }

  function clearFrame() {
    if (url) URL.revokeObjectURL(url);
    url = null;
    frames = 0;
    img.removeAttribute("src");
  }

  function showFrame(bytes) {
    const next = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
    const prev = url;
    url = next;
    img.src = next;
    if (prev) URL.revokeObjectURL(prev);
    frames += 1;
    if (state !== "live") setState("live");
    else root.dataset.frames = String(frames);
  }

  function find(hay, needle, from) {
    outer: for (let i = from; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  // The next part in `buf`: null when more bytes are needed, {end} at the closing
  // boundary, else {jpeg, used}. Throws on a broken stream.
  function nextPart(buf) {
    const b = find(buf, BOUNDARY, 0);
    if (b < 0) {
      if (buf.length > MAX_PART_HEAD) throw new Error("no boundary");
      return null;
    }
    const after = b + BOUNDARY.length;
    if (buf.length < after + 2) return null;
    if (buf[after] === 0x2d && buf[after + 1] === 0x2d) return { end: true };
    const h = find(buf, HEAD_END, after);
    if (h < 0) {
      if (buf.length - after > MAX_PART_HEAD) throw new Error("part head too long");
      return null;
    }
    const head = new TextDecoder().decode(buf.subarray(after, h));
    const m = head.match(/content-length:\s*(\d+)/i);
    if (!m) throw new Error("a part without Content-Length");
    const len = Number(m[1]);
    if (len > MAX_FRAME) throw new Error("a part too large");
    const start = h + HEAD_END.length;
    if (buf.length < start + len) return null;
    return { jpeg: buf.slice(start, start + len), used: start + len };
  }

  async function start() {
    halt();
    const mine = new AbortController();
    run = mine;
    setState("connecting");
    let res;
    try {
      res = await fetch("/api/camera/liveview", {
        headers: { Authorization: "Bearer " + token() }, signal: mine.signal, cache: "no-store",
      });
    } catch (_) {
      if (run === mine) { run = null; setState("network"); }
      return;
    }
    if (run !== mine) return;
    if (res.status !== 200) {
      let code = "";
      try { code = ((await res.json()).error || {}).code || ""; } catch (_) { /* not JSON */ }
      if (run !== mine) return;
      run = null;
      if (res.status === 401) { setState("idle"); onUnauthorized(); return; }
      setState(code === "camera_no_liveview" ? "no_liveview"
        : code === "liveview_busy" ? "busy_elsewhere"
          : code === "camera_busy" ? "camera_busy" : "unavailable");
      return;
    }
    const reader = res.body.getReader();
    let buf = new Uint8Array(0);
    let closed = false;
    try {
      reading: for (;;) {
        const { value, done } = await reader.read();
        if (done || run !== mine) break;
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
        for (;;) {
          const part = nextPart(buf);
          if (!part) break;
          if (part.end) { closed = true; break reading; }
          showFrame(part.jpeg);
          buf = buf.subarray(part.used);
        }
      }
    } catch (_) {
      // An abort (ours) or the connection cut.
    }
    if (run !== mine) return;
    run = null;
    reader.cancel().catch(() => {});
    // The daemon ends the stream at the shutter, at its time limit or on a camera error.
    setState(inCapture ? "capture" : closed ? "ended" : "lost");
  }

  // The panel for the posing show `s`: started the first time (and again after a failed
  // capture left the show posing).
  function panel(s) {
    if (showId !== s.id) {
      halt();
      clearFrame();
      showId = s.id;
      wanted = true;
      state = "idle";
    }
    const again = state === "capture" && !inCapture;
    if (wanted && !run && !inCapture && (state === "idle" || again) && !document.hidden) start();
    else paint();
    return root;
  }

  // After each render: the panel goes when no show is posing any more.
  function sync(posingIds) {
    if (showId && !posingIds.includes(showId)) {
      halt();
      clearFrame();
      showId = null;
      state = "idle";
      inCapture = false;
      root.remove();
    }
  }

  function capturing(on) {
    inCapture = on;
    if (on && state === "live") paint();
  }

  // A hidden page (tablet asleep, another tab) does not keep the camera streaming.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && run) {
      halt();
      setState("paused");
    } else if (!document.hidden && state === "paused" && showId && wanted) {
      start();
    }
  });

  return { panel, sync, capturing };
}
