const BUILD = __BUILD__; // this line is replaced by the server with this build's files (server/src/pwa.rs)
// Roster's service worker, one for the whole site.
// - Keeps this build's shell (stylesheet, islands JS and WASM by hashed name, icons, the
//   offline page) and serves it from the device.
// - Pages: from the network first; a copy of each page is kept for when there is no
//   connection, marked "as of" when shown; an address never kept shows the offline page.
// - One person's pages never reach another: every page names who it was made for
//   (x-roster-person); when that changes, and on sign-out, the kept pages and waiting
//   changes are removed.
// - After a deploy the new worker takes over at once and removes the old build's files.
// - Web push: shows notifications and opens what they are about.

importScripts("/queue.js");

const SHELL = "roster-shell-" + BUILD.version;
const PAGES = "roster-pages";
const PERSON = "roster-person";
// Kept once used (or once a trainer's rosters are kept): the QR decoder of the roster's scanner.
const ON_DEMAND = ["/vendor/jsqr.js"];
// Pages that are never kept: sign-in, and anything that is not a page to read again.
const NEVER_KEPT = /^\/(auth|sign-in|api|invitations|feeds)(\/|$)|\.(csv|ics)$|\/live$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((cache) => cache.addAll(BUILD.shell.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("roster-shell-") && k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "forget-person") {
    event.waitUntil(forgetPerson().then(() => event.source && event.source.postMessage({ type: "forgotten" })));
  } else if (data.type === "keep" && Array.isArray(data.urls)) {
    // A trainer's coming rosters (My sessions): kept for use without a connection.
    event.waitUntil(Promise.all([onDemand(ON_DEMAND[0]).catch(() => null)].concat(data.urls.slice(0, 50).map(async (path) => {
      const url = new URL(path, self.location.origin);
      if (url.origin !== self.location.origin) return null;
      // Kept in the last five minutes: fresh enough.
      const kept = await (await caches.open(PAGES)).match(url.pathname);
      const at = kept ? Date.parse(kept.headers.get("x-roster-kept-at") || "") : NaN;
      if (Date.now() - at < 5 * 60_000) return null;
      return page(new Request(url.href, { credentials: "same-origin" }), url).catch(() => null);
    }))));
  }
});

// Background Sync: the waiting roster changes, sent when the connection is back (even with
// no page open); the open pages are told what happened.
self.addEventListener("sync", (event) => {
  if (event.tag === "roster-changes") event.waitUntil(sendQueue());
});

async function sendQueue() {
  const outcome = await self.rosterQueue.send();
  const windows = await self.clients.matchAll({ type: "window" });
  for (const w of windows) w.postMessage({ type: "queue-sent", stopped: outcome.stopped, sent: outcome.sent.length, refused: outcome.refused.length });
  // Still offline: fail, so the browser tries the sync again later.
  if (outcome.stopped === "offline" || outcome.stopped === "busy") throw new Error("roster changes still waiting");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === "/auth/logout") {
    // Signing out: nothing of this person stays on the device.
    event.respondWith(forgetPerson().then(() => fetch(request)));
    return;
  }
  if (request.method !== "GET") return;
  if (BUILD.shell.includes(url.pathname) && url.search === "") {
    event.respondWith(caches.match(url.pathname, { cacheName: SHELL }).then((hit) => hit || fetch(request)));
    return;
  }
  if (ON_DEMAND.includes(url.pathname)) {
    event.respondWith(onDemand(url.pathname));
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  }
});

async function onDemand(path) {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(path);
  if (hit) return hit;
  const response = await fetch(path);
  if (response.ok) await cache.put(path, response.clone());
  return response;
}

/** A page from the network (kept for later), else the kept copy, else the offline page. */
async function page(request, url) {
  let response;
  try {
    response = await fetch(request);
  } catch (_) {
    return (await keptPage(request)) || (await caches.match("/offline", { cacheName: SHELL })) || Response.error();
  }
  const type = response.headers.get("content-type") || "";
  const person = response.headers.get("x-roster-person");
  if (person) {
    if (person !== (await currentPerson())) {
      await forgetPerson();
      await setPerson(person);
    }
    if (response.ok && type.startsWith("text/html") && !response.redirected && !NEVER_KEPT.test(url.pathname)) {
      const copy = response.clone();
      const headers = new Headers(copy.headers);
      headers.set("x-roster-kept-at", new Date().toISOString());
      const body = await copy.blob();
      const cache = await caches.open(PAGES);
      await cache.put(url.pathname + url.search, new Response(body, { status: 200, headers }));
    }
  }
  return response;
}

/** The kept copy of a page, marked with when it was made and linking this build's files. */
async function keptPage(request) {
  const url = new URL(request.url);
  const cache = await caches.open(PAGES);
  const hit = (await cache.match(url.pathname + url.search)) || (await cache.match(url.pathname, { ignoreSearch: true }));
  if (!hit) return null;
  const keptAt = hit.headers.get("x-roster-kept-at") || "";
  let html = await hit.text();
  // A copy kept before a deploy names the old build's files: name this build's instead.
  html = html
    .replace(/\/pkg\/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?\.css/g, BUILD.assets.css)
    .replace(/\/pkg\/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?\.js/g, BUILD.assets.js)
    .replace(/\/pkg\/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?\.wasm/g, BUILD.assets.wasm)
    .replace("<body", '<body data-offline-as-of="' + keptAt + '"');
  return new Response(html, { status: 200, headers: hit.headers });
}

async function currentPerson() {
  const hit = await caches.match("/person", { cacheName: PERSON });
  return hit ? hit.text() : null;
}

async function setPerson(person) {
  const cache = await caches.open(PERSON);
  await cache.put("/person", new Response(person));
}

/** Removes everything kept for the person on this device (pages, waiting changes). */
async function forgetPerson() {
  await caches.delete(PAGES);
  await caches.delete(PERSON);
  if (self.rosterQueue) await self.rosterQueue.clear();
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_) {
    data = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Roster", {
      body: data.body || "",
      tag: data.tag,
      icon: "/icons/icon-192.png",
      badge: "/icons/icon-192.png",
      data: { url: data.url || "/notifications" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/notifications", self.location.origin);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if (new URL(w.url).pathname === url.pathname && "focus" in w) return w.focus();
      }
      return self.clients.openWindow(url.href);
    }),
  );
});
