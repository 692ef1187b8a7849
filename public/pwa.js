// Roster as an installed app, on every page: starts the service worker (/sw.js), offers
// "Install Roster" where the browser can install it (and how to on iPhones), says when the
// page is offline or a kept copy ("as of 14:05"), stops forms that need the server while
// offline, and moves the page to a new build once it is deployed.
(function () {
  "use strict";
  const body = document.body;
  let edited = false;
  document.addEventListener("input", (e) => { if (e.target && e.target.form) edited = true; });

  // --- The banner: offline, a kept copy, an update -----------------------------------------
  let banner = null;
  function say(text, action) {
    if (!banner) {
      banner = document.createElement("div");
      banner.className = "app-banner";
      banner.setAttribute("role", "status");
      banner.dataset.testid = "app-banner";
      const main = document.getElementById("main") || body;
      main.prepend(banner);
    }
    banner.textContent = text;
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button small";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      banner.append(" ", button);
    }
    banner.hidden = false;
  }
  function quiet() { if (banner) banner.hidden = true; }
  const keptAt = body.dataset.offlineAsOf;
  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  function showConnection() {
    if (keptAt) {
      if (navigator.onLine) say("Back online. This page is as of " + clock(keptAt) + ".", { label: "Load the latest", run: () => location.reload() });
      else say("Offline — as of " + clock(keptAt) + ". Changes need a connection.");
      body.dataset.offline = navigator.onLine ? "" : "true";
    } else if (!navigator.onLine) {
      say("Offline — changes need a connection.");
      body.dataset.offline = "true";
    } else {
      body.dataset.offline = "";
      quiet();
    }
  }
  window.addEventListener("online", showConnection);
  window.addEventListener("offline", showConnection);
  if (keptAt || !navigator.onLine) showConnection();

  // A form that needs the server says so while offline, instead of failing (forms marked
  // data-offline handle themselves).
  window.addEventListener("submit", (e) => {
    const form = e.target;
    if (navigator.onLine || !(form instanceof HTMLFormElement) || "offline" in form.dataset) return;
    // Reading (a search, a filter): the worker answers from what the device kept.
    if ((form.getAttribute("method") || "get").toLowerCase() === "get") return;
    e.preventDefault();
    e.stopImmediatePropagation();
    say("You are offline: this needs a connection. Try again when you are back online.");
  }, true);

  // --- The offline page: what this device has kept ------------------------------------------
  const kept = document.getElementById("offline-pages");
  if (kept && "caches" in window) {
    caches.open("roster-pages").then((cache) => cache.keys()).then((requests) => {
      const list = kept.querySelector("ul");
      for (const request of requests) {
        const url = new URL(request.url);
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = url.pathname + url.search;
        link.textContent = url.pathname + url.search;
        item.append(link);
        list.append(item);
      }
      kept.hidden = requests.length === 0;
    });
  }
  const retry = document.querySelector("[data-retry]");
  if (retry) retry.addEventListener("click", (e) => { e.preventDefault(); location.reload(); });

  // --- Install ------------------------------------------------------------------------------
  const install = document.getElementById("install-app");
  const hint = document.getElementById("install-hint");
  const standalone = matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  let offer = null;
  window.addEventListener("beforeinstallprompt", (e) => {
    e.preventDefault();
    offer = e;
    if (install) install.hidden = false;
  });
  if (install) {
    install.addEventListener("click", async () => {
      if (!offer) return;
      offer.prompt();
      const choice = await offer.userChoice;
      if (choice.outcome === "accepted") install.hidden = true;
      offer = null;
    });
  }
  window.addEventListener("appinstalled", () => { if (install) install.hidden = true; });
  // iOS Safari installs from the share sheet only, and never offers it itself.
  const ios = /iphone|ipad|ipod/i.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  if (hint && ios && !standalone && !localStorage.getItem("roster-install-hint-seen")) {
    hint.hidden = false;
    const close = hint.querySelector("button");
    if (close) close.addEventListener("click", () => { hint.hidden = true; localStorage.setItem("roster-install-hint-seen", "1"); });
  }

  // --- A roster: attendance and walk-ins through the device's queue ------------------------
  const queue = self.rosterQueue;
  const roster = document.querySelector("[data-roster]");
  let waitingHere = 0;
  let stopped = null;
  let sending = false;
  const changesText = (n) => n === 1 ? "1 change" : n + " changes";

  function lineOf(user) {
    return roster.querySelector('[data-testid="confirmed"][data-user="' + user + '"]');
  }
  function showMark(user, state) {
    const line = lineOf(user);
    if (!line) return;
    line.dataset.attendance = state || "";
    for (const button of line.querySelectorAll('button[name="state"]')) {
      const on = button.value === state;
      button.classList.toggle("pressed", on);
      button.setAttribute("aria-pressed", String(on));
    }
  }
  function showWalkIn(change) {
    const list = roster.querySelector('ul[aria-label="Coming"]');
    if (!list || list.querySelector('[data-change="' + change.id + '"]')) return;
    const item = document.createElement("li");
    item.dataset.change = change.id;
    item.dataset.testid = "walk-in-waiting";
    item.className = "waiting";
    item.textContent = change.body.who + " ";
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "Walk-in (waiting)";
    item.append(badge);
    list.append(item);
  }

  async function showQueue(justSent) {
    const mine = (await queue.all()).filter((c) => c.occurrence === roster.dataset.roster);
    const waiting = mine.filter((c) => c.state === "waiting");
    const refused = mine.filter((c) => c.state === "refused");
    waitingHere = waiting.length;
    for (const change of waiting) {
      if (change.kind === "attendance") showMark(change.user, change.body.state);
      else if (change.kind === "check-in") { if (change.user) showMark(change.user, "present"); }
      else showWalkIn(change);
    }
    const status = roster.querySelector('[data-testid="sync-status"]');
    justSent = justSent || (status && status.dataset.state === "synced");
    let text = "";
    if (waiting.length && (stopped === "offline" || !navigator.onLine)) text = "Offline — " + changesText(waiting.length) + " waiting";
    else if (waiting.length && stopped === "signed-out") text = changesText(waiting.length) + " waiting: sign in again to send them.";
    else if (waiting.length && stopped === "busy") text = changesText(waiting.length) + " waiting: Roster is busy, sending again shortly.";
    else if (waiting.length) text = "Sending " + changesText(waiting.length) + "…";
    else if (justSent) text = "Synced";
    if (status) {
      status.textContent = text;
      status.dataset.state = waiting.length ? "waiting" : (justSent ? "synced" : "");
      status.hidden = !text;
    }
    const list = roster.querySelector('[data-testid="sync-conflicts"]');
    if (list) {
      list.replaceChildren();
      for (const change of refused) {
        const item = document.createElement("li");
        item.dataset.testid = "sync-conflict";
        item.textContent = "Not applied — " + change.label + ": " + change.reason + " ";
        const ok = document.createElement("button");
        ok.type = "button";
        ok.className = "link";
        ok.textContent = "Dismiss";
        ok.addEventListener("click", async () => { await queue.remove(change.id); showQueue(false); });
        item.append(ok);
        list.append(item);
      }
      list.hidden = refused.length === 0;
    }
  }

  let refreshing = false;
  /** The roster's lists as the server has them now (the forms, scanner and status stay). */
  let refreshAgain = false;
  async function refreshRoster() {
    // One at a time; asked again meanwhile, it runs once more after (the server may have
    // changed after the first one read).
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("[data-roster]");
      if (!fresh) return;
      for (const selector of ['ul[aria-label="Coming"]', 'ol[aria-label="Waitlist"]', ".hint"]) {
        const now = roster.querySelector(selector);
        const next = fresh.querySelector(selector);
        if (now && next) now.replaceWith(document.importNode(next, true));
      }
      roster.dataset.refreshed = String(Date.now());
      await showQueue(false);
    } catch (_) {
      // offline: the next change tries again
    } finally {
      refreshing = false;
    }
    if (refreshAgain) {
      refreshAgain = false;
      await refreshRoster();
    }
  }

  async function sendQueue() {
    if (!queue || sending) return;
    sending = true;
    let outcome;
    try {
      outcome = await queue.send();
    } catch (_) {
      outcome = { sent: [], refused: [], stopped: "offline" };
    } finally {
      sending = false;
    }
    stopped = outcome.stopped;
    // A walk-in refused right away (no such member, already has a spot): said at its field.
    const input = roster && roster.querySelector('#walk-in');
    const note = roster && roster.querySelector('#walk-in-error');
    for (const change of outcome.refused) {
      if (change.kind !== "walk-in" || !input || !note || Date.now() - Date.parse(change.madeAt) > 30_000) continue;
      await queue.remove(change.id);
      roster.querySelectorAll('[data-change="' + change.id + '"]').forEach((item) => item.remove());
      note.textContent = change.reason;
      note.setAttribute("role", "alert");
      input.value = change.body.who;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    if (roster) await showQueue(outcome.sent.length > 0);
    if (stopped && "serviceWorker" in navigator) {
      // Where the browser has Background Sync, the worker sends them even if the page closes.
      navigator.serviceWorker.ready.then((r) => r.sync && r.sync.register("roster-changes")).catch(() => {});
    }
    if (stopped === "busy") setTimeout(sendQueue, 5000);
    // A walk-in the server added, or a change it refused (the marks shown were only ours):
    // show the roster as the server has it now.
    if (roster && (outcome.refused.length > 0 || outcome.sent.some((c) => c.kind === "walk-in" || (c.kind === "check-in" && !c.user)))) {
      roster.querySelectorAll("[data-change]").forEach((item) => item.remove());
      refreshRoster();
    }
  }

  if (roster && queue) {
    window.addEventListener("submit", async (e) => {
      const form = e.target;
      if (!(form instanceof HTMLFormElement) || !roster.contains(form)) return;
      const kind = form.dataset.offline;
      if (kind !== "attendance" && kind !== "walk-in") return;
      e.preventDefault();
      e.stopImmediatePropagation();
      const occurrence = roster.dataset.roster;
      if (kind === "attendance") {
        const user = form.elements.namedItem("user").value;
        const state = e.submitter ? e.submitter.value : "";
        const line = lineOf(user);
        const seen = (line && line.dataset.attendance) || "unmarked";
        if (seen === state) return;
        const name = line ? line.querySelector(".name").textContent : "";
        await queue.add({
          kind, occurrence, user, method: "PUT",
          url: "/api/v1/occurrences/" + occurrence + "/attendance/" + user,
          body: { state, seen },
          label: name + " " + state,
        });
        showMark(user, state);
      } else {
        const input = form.elements.namedItem("who");
        const who = input.value.trim();
        if (!who) return;
        const note = form.querySelector("#walk-in-error");
        if (note) { note.textContent = ""; note.removeAttribute("role"); }
        input.removeAttribute("aria-invalid");
        const change = await queue.add({
          kind, occurrence, method: "POST",
          url: "/api/v1/occurrences/" + occurrence + "/walk-ins",
          body: { who },
          label: "Walk-in " + who,
        });
        input.value = "";
        showWalkIn(change);
      }
      await showQueue(false);
      sendQueue();
    }, true);
    showQueue(false).then(sendQueue);
  }
  if (queue) {
    window.addEventListener("online", sendQueue);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") sendQueue(); });
  }
  // --- Scanning check-in codes (the member's QR code) ---------------------------------------
  const scan = roster && roster.querySelector("[data-scan]");
  const PREFIX = "roster-checkin:";
  function bookingOf(code) {
    try {
      const raw = atob(code.replace(/-/g, "+").replace(/_/g, "/") + "=");
      if (raw.length !== 32) return null;
      const hex = [...raw.slice(0, 16)].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
      return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
    } catch (_) {
      return null;
    }
  }
  async function checkIn(text) {
    const result = scan.querySelector('[data-testid="scan-result"]');
    const tell = (message, state) => { result.textContent = message; result.dataset.state = state; };
    if (!text.startsWith(PREFIX)) return tell("This is not a Roster check-in code.", "refused");
    const booking = bookingOf(text.slice(PREFIX.length));
    if (!booking) return tell("This is not a Roster check-in code.", "refused");
    const line = roster.querySelector('[data-booking="' + booking + '"]');
    if (line && line.dataset.testid === "waitlisted") {
      return tell(line.querySelector(".name").textContent + " is on the waitlist, not booked: add them as a walk-in if they take part.", "refused");
    }
    if (line && line.dataset.attendance === "present") {
      return tell(line.querySelector(".name").textContent + " is already marked present.", "already");
    }
    const occurrence = roster.dataset.roster;
    const name = line ? line.querySelector(".name").textContent : "";
    await queue.add({
      kind: "check-in", occurrence, user: line ? line.dataset.user : null, method: "POST",
      url: "/api/v1/occurrences/" + occurrence + "/check-ins",
      body: { code: text },
      label: "Check-in " + (name || "code"),
    });
    if (line) {
      showMark(line.dataset.user, "present");
      tell(name + ": present" + (navigator.onLine && !stopped ? "." : " (sent when back online)."), "present");
    } else {
      tell("Not on this copy of the roster: checking with Roster…", "checking");
    }
    await showQueue(false);
    sendQueue();
  }
  if (scan && queue && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    scan.hidden = false;
    const start = scan.querySelector('[data-testid="scan-start"]');
    const video = scan.querySelector("video");
    let stream = null;
    let timer = null;
    let last = { text: "", at: 0 };
    let detect = null;
    async function decoder() {
      if ("BarcodeDetector" in window) {
        try {
          const formats = await BarcodeDetector.getSupportedFormats();
          if (formats.includes("qr_code")) {
            const detector = new BarcodeDetector({ formats: ["qr_code"] });
            return async () => { const found = await detector.detect(video); return found.length ? found[0].rawValue : null; };
          }
        } catch (_) { /* fall back */ }
      }
      if (!window.jsQR) {
        await new Promise((resolve, reject) => {
          const script = document.createElement("script");
          script.src = "/vendor/jsqr.js";
          script.onload = resolve;
          script.onerror = () => reject(new Error("The code reader could not be loaded."));
          document.head.append(script);
        });
      }
      const canvas = document.createElement("canvas");
      const context = canvas.getContext("2d", { willReadFrequently: true });
      return async () => {
        const w = video.videoWidth, h = video.videoHeight;
        if (!w || !h) return null;
        canvas.width = w;
        canvas.height = h;
        context.drawImage(video, 0, 0, w, h);
        const found = window.jsQR(context.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
        return found ? found.data : null;
      };
    }
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (stream) for (const track of stream.getTracks()) track.stop();
      stream = null;
      video.hidden = true;
      start.textContent = "Scan check-in codes";
    }
    start.addEventListener("click", async () => {
      if (stream) return stop();
      const result = scan.querySelector('[data-testid="scan-result"]');
      try {
        detect = detect || await decoder();
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      } catch (e) {
        result.textContent = "The camera could not be used: " + (e && e.message ? e.message : e);
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      await video.play().catch(() => {});
      start.textContent = "Stop scanning";
      result.textContent = "Point the camera at a member's check-in code.";
      timer = setInterval(async () => {
        let text = null;
        try { text = await detect(); } catch (_) { text = null; }
        if (!text || (text === last.text && Date.now() - last.at < 4000)) return;
        last = { text, at: Date.now() };
        checkIn(text);
      }, 250);
    });
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") stop(); });
  }

  // Signing out forgets the waiting changes: say so first.
  window.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.action.endsWith("/auth/logout") || !queue || form.dataset.confirmed) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    const { waiting } = await queue.counts();
    if (waiting === 0 || confirm(changesText(waiting) + " made on a roster have not reached Roster yet; signing out discards them. Sign out anyway?")) {
      form.dataset.confirmed = "true";
      form.requestSubmit();
    }
  }, true);

  // --- Live news for the signed-in person: the bell's count, "you moved up", a cancellation --
  const bell = document.querySelector('[data-testid="bell"]');
  if (bell && "EventSource" in window && !body.dataset.offlineAsOf) {
    const source = new EventSource("/me/live");
    source.addEventListener("news", (e) => {
      let news;
      try { news = JSON.parse(e.data); } catch (_) { return; }
      let badge = bell.querySelector('[data-testid="unread-count"]');
      if (news.unread > 0 && !badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        badge.dataset.testid = "unread-count";
        bell.append(badge);
      }
      if (badge) {
        badge.textContent = String(news.unread);
        badge.hidden = news.unread === 0;
      }
      bell.setAttribute("aria-label", news.unread ? "Notifications, " + news.unread + " unread" : "Notifications");
      const n = news.notification;
      if (!n) return;
      const text = n.title + (n.text ? " — " + n.text : "");
      // About the page on screen: "Show" loads it as it is now; else "Open" goes there.
      const here = n.link && n.link === location.pathname;
      say(text, n.link ? { label: here ? "Show" : "Open", run: () => { if (here) location.reload(); else location.href = n.link; } } : null);
      if (banner) banner.dataset.kind = n.kind;
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // --- A trainer's open roster follows the session: bookings, cancellations, check-ins -----
  if (roster && "EventSource" in window && !body.dataset.offlineAsOf && roster.dataset.slug) {
    const source = new EventSource("/s/" + roster.dataset.slug + "/live?ids=" + roster.dataset.roster);
    let first = true;
    source.addEventListener("spots", () => {
      if (first) { first = false; return; }
      const typing = roster.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
      if (waitingHere === 0 && !typing) refreshRoster();
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // --- The service worker, and moving to a new build ---------------------------------------
  if (!("serviceWorker" in navigator)) return;
  const hadWorker = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener("message", (e) => {
    if (e.data && e.data.type === "queue-sent" && roster && queue) {
      // The worker sent the waiting changes (Background Sync): show the roster as it is now.
      stopped = e.data.stopped;
      if (e.data.sent > 0 || e.data.refused > 0) {
        roster.querySelectorAll("[data-change]").forEach((item) => item.remove());
        refreshRoster().then(() => showQueue(e.data.sent > 0));
      } else {
        showQueue(false);
      }
    }
  });
  // My sessions: keep the rosters of the coming days on the device.
  const keep = [...document.querySelectorAll("a[data-keep-offline]")].map((a) => new URL(a.href).pathname);
  if (keep.length) {
    navigator.serviceWorker.ready.then((r) => r.active && r.active.postMessage({ type: "keep", urls: keep }));
  }
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first worker taking over a page changes nothing on it; a new build's does.
    if (!hadWorker) return;
    if (!edited) location.reload();
    else say("Roster was updated.", { label: "Reload", run: () => location.reload() });
  });
  navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" }).then((registration) => {
    let checked = Date.now();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && Date.now() - checked > 60_000) {
        checked = Date.now();
        registration.update().catch(() => {});
      }
    });
  }).catch(() => {});
})();
