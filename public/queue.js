// Roster's queue of changes made on a roster (attendance, walk-ins), kept in IndexedDB until
// the server has them. Shared by the pages (/pwa.js) and the service worker (/sw.js), which
// both send it: each change carries its own id, sent as the Idempotency-Key, so a change sent
// twice is applied once. One sender at a time (a Web Lock); changes go in the order made.
// A change the server refuses (someone else marked the person, the session was cancelled,
// the member cancelled, the walk-in already has a spot) stays, marked with the reason, until
// the trainer has read it.
(function (scope) {
  "use strict";
  const DB = "roster";
  const STORE = "changes";
  let opening = null;

  function open() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB, 1);
        request.onupgradeneeded = () => {
          const store = request.result.createObjectStore(STORE, { keyPath: "id" });
          store.createIndex("order", "seq");
        };
        request.onsuccess = () => {
          const db = request.result;
          // Another tab or the worker deletes the database (sign-out): let it.
          db.onversionchange = () => { db.close(); opening = null; };
          resolve(db);
        };
        request.onerror = () => { opening = null; reject(request.error); };
      });
    }
    return opening;
  }

  async function run(mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const store = tx.objectStore(STORE);
      let result;
      Promise.resolve(work(store)).then((r) => { result = r; });
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });

  /** Every change, in the order made. */
  function all() {
    return run("readonly", (store) => request(store.index("order").getAll()));
  }

  /** Adds a change: { kind, occurrence, method, url, body, label, user? }. */
  function add(change) {
    const record = Object.assign({}, change, {
      id: (scope.crypto && scope.crypto.randomUUID) ? scope.crypto.randomUUID() : String(Date.now()) + Math.random(),
      seq: Date.now() + Math.random() / 1000,
      madeAt: new Date().toISOString(),
      state: "waiting",
    });
    return run("readwrite", (store) => request(store.put(record))).then(() => record);
  }

  function remove(id) {
    return run("readwrite", (store) => request(store.delete(id)));
  }

  function put(record) {
    return run("readwrite", (store) => request(store.put(record)));
  }

  /** Forgets every change (signing out, another person). */
  function clear() {
    return run("readwrite", (store) => request(store.clear())).catch(() => {});
  }

  async function counts() {
    const list = await all();
    return {
      waiting: list.filter((c) => c.state === "waiting").length,
      refused: list.filter((c) => c.state === "refused"),
    };
  }

  /** Sends the waiting changes in order. Stops at the first that cannot reach the server (it
   * stays waiting). Answers { sent, refused, stopped }: `stopped` is why it stopped early
   * ("offline", "signed-out", "busy"), or null. */
  async function sendOnce() {
    const outcome = { sent: [], refused: [], stopped: null };
    for (const change of await all()) {
      if (change.state !== "waiting") continue;
      let response;
      try {
        response = await fetch(change.url, {
          method: change.method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": change.id },
          body: JSON.stringify(change.body),
        });
      } catch (_) {
        outcome.stopped = "offline";
        break;
      }
      if (response.ok) {
        await remove(change.id);
        outcome.sent.push(change);
        continue;
      }
      if (response.status === 401) { outcome.stopped = "signed-out"; break; }
      if (response.status === 429 || response.status >= 500) { outcome.stopped = "busy"; break; }
      let detail = "The server refused this change (" + response.status + ").";
      try {
        const problem = await response.json();
        if (problem && problem.detail) detail = problem.detail;
      } catch (_) { /* not a problem document */ }
      change.state = "refused";
      change.reason = detail;
      await put(change);
      outcome.refused.push(change);
    }
    return outcome;
  }

  function send() {
    if (scope.navigator && scope.navigator.locks) {
      return scope.navigator.locks.request("roster-queue", () => sendOnce());
    }
    return sendOnce();
  }

  scope.rosterQueue = { all, add, remove, clear, counts, send };
})(self);
