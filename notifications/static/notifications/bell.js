/* The notification bell: unread count, live feed, toasts; lossless across reconnects and reloads.
 *
 * State lives in localStorage per user: the last event id seen, the unread count and the feed. On
 * (re)connect the bell sends that id, so the server replays what was missed; anything not newer than
 * it is never counted or shown again, in this tab or another one of the same browser.
 */
(function () {
  "use strict";
  const root = document.getElementById("notification-bell");
  if (!root || !("WebSocket" in window)) return;

  const STORE = "convonet.notifications." + root.dataset.user;
  const FEED_MAX = 30;
  const TOAST_MS = 6000;
  const button = root.querySelector(".nb-button");
  const panel = root.querySelector(".nb-panel");
  const countEl = root.querySelector(".nb-count");
  const feedEl = root.querySelector(".nb-feed");
  const statusEl = root.querySelector(".nb-status");
  const toastsEl = root.querySelector(".nb-toasts");

  let socket = null;
  let attempts = 0;
  let watchdog = null;
  let heartbeatMs = 60000;
  let resyncing = false;
  const toasted = new Set();

  function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE));
      if (saved && Array.isArray(saved.feed) && typeof saved.unread === "number") return saved;
    } catch (e) { /* a corrupt entry starts afresh */ }
    return { last: null, unread: 0, feed: [] };
  }

  function save(state) {
    try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* storage full or denied */ }
  }

  /* Ids are digit strings that grow with time: longer is newer, else compare as text. */
  function newer(id, than) {
    if (!than) return true;
    return id.length !== than.length ? id.length > than.length : id > than;
  }

  function describe(item) {
    const when = item.timestamp ? new Date(item.timestamp * 1000).toLocaleTimeString() : "";
    const where = item.channel && item.channel.startsWith("team:") ? "team" : "you";
    const label = (item.type || "notification").replace(/_/g, " ");  // todo_assigned -> "todo assigned"
    return label + " · " + where + (when ? " · " + when : "");
  }

  function render() {
    const state = load();
    countEl.textContent = String(state.unread);
    countEl.hidden = state.unread === 0;
    button.setAttribute("aria-label", state.unread ? "Notifications, " + state.unread + " unread" : "Notifications");
    feedEl.replaceChildren(...state.feed.map(function (item, index) {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      if (index < state.unread) li.className = "unread";
      if (item.url) {  // a page of this site to act on it (e.g. an invitation to accept)
        const link = document.createElement("a");
        link.href = item.url;
        link.textContent = item.message;
        li.appendChild(link);
      } else {
        li.textContent = item.message;
      }
      const meta = document.createElement("span");
      meta.className = "nb-meta";
      meta.textContent = describe(item);
      li.appendChild(meta);
      return li;
    }));
  }

  function toast(item) {
    if (toasted.has(item.id)) return;
    toasted.add(item.id);
    const el = document.createElement("div");
    el.className = "toast";
    el.setAttribute("role", "status");
    el.textContent = item.message;
    const meta = document.createElement("span");
    meta.className = "nb-meta";
    meta.textContent = describe(item);
    el.appendChild(meta);
    el.addEventListener("click", function () { el.remove(); });
    toastsEl.appendChild(el);
    setTimeout(function () { el.remove(); }, TOAST_MS);
  }

  function receive(frame) {
    const n = frame.notification || {};
    const item = {
      id: frame.id,
      channel: frame.channel,
      type: typeof n.type === "string" ? n.type : "",
      message: typeof n.message === "string" && n.message ? n.message : (n.type || "New notification"),
      timestamp: typeof n.timestamp === "number" ? n.timestamp : null,
      // only a path on this site: a notification can never link elsewhere (or to javascript:)
      url: typeof n.url === "string" && /^\/[^\/\\]/.test(n.url) ? n.url : "",
    };
    const state = load();  // another tab may have moved on: re-read before deciding
    if (!newer(item.id, state.last)) {
      if (resyncing && !state.feed.some(function (f) { return f.id === item.id; })) {
        state.feed.push(item);  // rebuilding the feed after a resync: already seen, so not unread
        state.feed.sort(function (a, b) { return newer(a.id, b.id) ? -1 : 1; });
        state.feed = state.feed.slice(0, FEED_MAX);
        save(state);
        render();
      }
      return;
    }
    state.last = item.id;
    state.unread += 1;
    state.feed.unshift(item);
    state.feed = state.feed.slice(0, FEED_MAX);
    save(state);
    render();
    toast(item);
  }

  function setStatus(name, text) {
    root.dataset.state = name;
    statusEl.textContent = text;
  }

  function armWatchdog() {
    clearTimeout(watchdog);
    watchdog = setTimeout(function () { if (socket) socket.close(); }, heartbeatMs * 2.5);
  }

  function connect() {
    const state = load();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const query = state.last ? "?last_event_id=" + encodeURIComponent(state.last) : "";
    setStatus("connecting", "connecting…");
    socket = new WebSocket(scheme + location.host + root.dataset.wsPath + query);
    socket.onmessage = function (event) {
      armWatchdog();
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "notification") {
        receive(frame);
      } else if (frame.type === "resync") {
        resyncing = true;
        const current = load();
        current.feed = [];
        save(current);
        render();
      } else if (frame.type === "ready") {
        resyncing = false;
        attempts = 0;
        if (typeof frame.heartbeat === "number") heartbeatMs = frame.heartbeat * 1000;
        const current = load();
        if (frame.last_event_id && newer(frame.last_event_id, current.last)) {
          current.last = frame.last_event_id;
          save(current);
        }
        setStatus("live", "live");
        armWatchdog();
      } else if (frame.type === "error") {
        setStatus(frame.code === "unavailable" ? "delayed" : root.dataset.state, frame.message || frame.code);
      }
    };
    socket.onclose = function (event) {
      clearTimeout(watchdog);
      socket = null;
      if (event.code === 4401) { setStatus("offline", "signed out"); return; }
      // 1012: this server process is restarting (a deploy); reconnect at once, another one answers.
      if (event.code !== 1012) attempts += 1;
      const delay = event.code === 1012 ? 200 + Math.random() * 800
        : Math.min(30000, 500 * Math.pow(2, attempts - 1)) * (0.75 + Math.random() / 2);
      setStatus("offline", "reconnecting…");
      setTimeout(connect, delay);
    };
  }

  button.addEventListener("click", function () {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      render();
      const state = load();
      state.unread = 0;  // opening the feed reads it; the highlight stays until it is closed
      save(state);
      countEl.hidden = true;
      countEl.textContent = "0";
    } else {
      render();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) button.click();
  });
  window.addEventListener("storage", function (event) { if (event.key === STORE) render(); });

  render();
  connect();
})();
