// The kiosk's service worker: keeps the kiosk shell (page, script, style) and answers
// with it when the box does not. Never keeps API answers or photos: only the paths below,
// fetched from the network first so an update is seen at once.
"use strict";
const CACHE = "cosmos-kiosk-shell-v1";
const SHELL = ["/kiosk", "/assets/app.css", "/assets/common.js", "/assets/kiosk.js", "/assets/kiosk-secure.js"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return; // the API and photos go to the network only
  ev.respondWith(
    fetch(ev.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(url.pathname, copy));
        }
        return r;
      })
      .catch(() => caches.match(url.pathname).then((r) => r || Response.error()))
  );
});
