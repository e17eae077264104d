// Loaded into the voice page by the browser tests before its own scripts (Playwright's add_init_script).
// window.__phases: every phase #voice-phase showed, in order; window.__phaseLog the same with the time of each
// (performance.now(), ms), window.__phaseTexts what it said; window.__replyLog the time each exchange appeared in #conversation. Headless Chromium here has no voices (an utterance
// ends at once with "synthesis-failed"), so the page gets a synthesizer that "speaks" each answer for
// window.__speakMs (1.5 s unless a test sets it) and
// counts in window.__spoken / window.__cancelled what it was asked to read and to stop. window.__sent and
// window.__received: every JSON frame the page's WebSockets sent and received, each as [performance.now(), frame].
(function () {
  "use strict";
  window.__sent = [];
  window.__received = [];
  var NativeSocket = window.WebSocket;
  function parsed(data) {
    if (typeof data !== "string") return null;
    try { return JSON.parse(data); } catch (e) { return null; }
  }
  var nativeSend = NativeSocket.prototype.send;
  NativeSocket.prototype.send = function (data) {
    var frame = parsed(data);
    if (frame) window.__sent.push([performance.now(), frame]);
    return nativeSend.call(this, data);
  };
  window.WebSocket = function (url, protocols) {
    var socket = protocols === undefined ? new NativeSocket(url) : new NativeSocket(url, protocols);
    socket.addEventListener("message", function (event) {
      var frame = parsed(event.data);
      if (frame) window.__received.push([performance.now(), frame]);
    });
    return socket;
  };
  window.WebSocket.prototype = NativeSocket.prototype;
  ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (k) { window.WebSocket[k] = NativeSocket[k]; });
  window.__phases = [];
  window.__phaseLog = [];
  window.__phaseTexts = [];
  window.__replyLog = [];
  window.__spoken = [];
  window.__cancelled = 0;
  window.__speakMs = 1500;
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("voice-phase");
    if (!el) return;
    new MutationObserver(function () {
      var last = window.__phases[window.__phases.length - 1];
      if (el.dataset.phase === last) return;
      window.__phases.push(el.dataset.phase);
      window.__phaseTexts.push(el.textContent);
      window.__phaseLog.push([Math.round(performance.now()), el.dataset.phase]);
    }).observe(el, { attributes: true, attributeFilter: ["data-phase"] });
    var conversation = document.getElementById("conversation");
    if (conversation) {
      new MutationObserver(function (changes) {
        changes.forEach(function (c) { c.addedNodes.forEach(function () { window.__replyLog.push(performance.now()); }); });
      }).observe(conversation, { childList: true });
    }
  });
  var current = null, timer = null;
  function finish(utterance, how) {
    if (current !== utterance) return;
    current = null;
    clearTimeout(timer);
    if (how === "end" && utterance.onend) utterance.onend({});
    if (how !== "end" && utterance.onerror) utterance.onerror({ error: how });
  }
  var synthesizer = {
    get speaking() { return current !== null; },
    getVoices: function () { return []; },
    speak: function (utterance) {
      current = utterance;
      window.__spoken.push(utterance.text);
      setTimeout(function () { if (current === utterance && utterance.onstart) utterance.onstart({}); }, 20);
      timer = setTimeout(function () { finish(utterance, "end"); }, window.__speakMs);
    },
    cancel: function () { if (current) { window.__cancelled += 1; finish(current, "interrupted"); } },
  };
  Object.defineProperty(window, "speechSynthesis", { value: synthesizer, configurable: true });
})();
