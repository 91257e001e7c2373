// The kiosk in a secure context (HTTPS): keep the screen awake while the page is shown,
// and let a service worker keep the kiosk's shell so a reload while the box is down still
// shows the page (which then says the box is not answering). Both are absent, silently,
// over plain HTTP or where the browser lacks them.
(function () {
  "use strict";
  if (!window.isSecureContext) return;

  let lock = null;
  async function wake() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    try {
      lock = await navigator.wakeLock.request("screen");
      // Said on the page for the technician's devtools (and the browser test).
      document.documentElement.dataset.wakeLock = "held";
      lock.addEventListener("release", () => {
        lock = null;
        document.documentElement.dataset.wakeLock = "released";
      });
    } catch (_) {
      // Refused (battery saver, no user gesture yet): the screen dims as before.
    }
  }
  // The lock goes when the page is hidden; ask again when it is shown.
  document.addEventListener("visibilitychange", () => { if (!lock) wake(); });
  wake();

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/kiosk-sw.js", { scope: "/kiosk" }).catch(() => {});
  }
})();
