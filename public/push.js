// "Push on this device" on the notification preferences page: registers the service worker,
// subscribes with the server's VAPID key and tells Roster (server function subscribe_push).
(function () {
  const button = document.getElementById("push-toggle");
  const status = document.getElementById("push-status");
  if (!button) return;
  const say = (text) => { if (status) status.textContent = text; };
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    button.disabled = true;
    say("This browser cannot receive push notifications.");
    return;
  }
  const key = (b64) => {
    const raw = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  const send = (fn, fields) =>
    fetch("/api/" + fn, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams(fields),
    }).then((r) => { if (!r.ok) throw new Error("Roster answered " + r.status); });
  const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  navigator.serviceWorker.register("/sw.js").then(async (registration) => {
    let current = await registration.pushManager.getSubscription();
    const show = () => {
      button.textContent = current ? "Turn off push on this device" : "Turn on push on this device";
      button.dataset.on = current ? "true" : "false";
    };
    show();
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        if (current) {
          await send("unsubscribe_push", { endpoint: current.endpoint });
          await current.unsubscribe();
          current = null;
          say("Push is off on this device.");
        } else {
          current = await registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: key(button.dataset.key),
          });
          await send("subscribe_push", {
            endpoint: current.endpoint,
            p256dh: b64(current.getKey("p256dh")),
            auth: b64(current.getKey("auth")),
            user_agent: navigator.userAgent,
          });
          say("Push is on on this device.");
        }
      } catch (e) {
        say("Could not change push on this device: " + e.message);
      } finally {
        button.disabled = false;
        show();
      }
    });
  });
})();
