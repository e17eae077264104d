// Hands-free conversation on the voice page: the microphone stays open, Silero voice activity detection (vad-web on
// onnxruntime-web, served from /static/vad/, loaded only when needed) starts a turn when speech starts and ends it
// after the chosen silence; the utterance goes to the server as one recording (convonetVoice.sendRecording).
// Noise without speech starts nothing. Speech while an answer is read stops it (assistant.js, on "hearing").
// A reply that asks a question is followed by listening for the answer, in both modes.
(function () {
  "use strict";

  var voice = window.convonetVoice;
  var $ = function (id) { return document.getElementById(id); };
  var box = $("hands-free-box");
  if (!voice || !box) return;

  var ON_KEY = "convonet.voice.handsFree", SILENCE_KEY = "convonet.voice.handsFreeSilence";
  // Seconds the page listens for the answer to a question when hands-free is off.
  var FOLLOW_UP_SECONDS = 8;
  // Speech shorter than this is a misfire (a cough, a click), not a turn.
  var MIN_SPEECH_MS = 250;
  var switchEl = $("hands-free"), silenceEl = $("hands-free-silence");
  var detector = null, loading = null, audioContext = null;
  var mode = "off";  // off | hands-free | follow-up
  var askedBack = false, followUpTimer = null;

  var stored = parseFloat(localStorage.getItem(SILENCE_KEY));
  if (stored >= 0.3 && stored <= 3) silenceEl.value = stored;
  function silenceMs() {
    var seconds = Math.min(3, Math.max(0.3, parseFloat(silenceEl.value) || 0.7));
    return Math.round(seconds * 1000);
  }

  function showError(text) { var el = $("voice-error"); el.textContent = text; el.hidden = !text; }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function loadDetector() {
    if (loading) return loading;
    var base = box.dataset.vadBase;
    // Our own AudioContext: a browser may start it suspended until the user touches the page (autoplay policy).
    audioContext = new (window.AudioContext || window.webkitAudioContext)();
    loading = loadScript(base + "ort.wasm.min.js").then(function () {
      return loadScript(base + "bundle.min.js");
    }).then(function () {
      return window.vad.MicVAD.new({
        model: "v5",
        baseAssetPath: base,
        onnxWASMBasePath: base,
        audioContext: audioContext,
        startOnLoad: false,
        redemptionMs: silenceMs(),
        minSpeechMs: MIN_SPEECH_MS,
        preSpeechPadMs: 300,
        onSpeechStart: speechStarted,
        onVADMisfire: misfire,
        onSpeechEnd: speechEnded,
      });
    }).then(function (made) { detector = made; return made; });
    loading.catch(function () { loading = null; });
    return loading;
  }

  function resumeAudio() { if (audioContext && audioContext.state === "suspended") audioContext.resume(); }
  document.addEventListener("click", resumeAudio);
  document.addEventListener("keydown", resumeAudio);

  function listening() {
    return mode !== "off" && !voice.state.recording;  // a push-to-talk recording has the microphone's turn
  }

  function listenText() {
    return askedBack || mode === "follow-up" ? "Listening for your answer…" :
      "Listening hands-free: speak any time (a " + (silenceMs() / 1000) + " s pause ends your turn).";
  }

  function speechStarted() {
    if (!listening()) return;
    clearTimeout(followUpTimer);
    voice.setPhase("hearing");
  }

  function misfire() {
    if (listening() && voice.state.phase === "hearing") voice.setPhase("listening", listenText());
  }

  function speechEnded(audio) {
    if (!listening()) return;
    var wav = window.vad.utils.encodeWAV(audio, 1, 16000, 1, 16);  // 16-bit PCM, 16 kHz mono
    askedBack = false;
    if (mode === "follow-up") stopListening();
    if (!voice.sendRecording(wav)) voice.setPhase(mode === "off" ? "idle" : "listening", listenText());
  }

  function startListening(newMode) {
    return loadDetector().then(function (made) {
      made.setOptions({ redemptionMs: silenceMs() });
      mode = newMode;
      resumeAudio();
      return made.start();
    }).then(function () {
      if (voice.state.phase === "idle") voice.setPhase("listening", listenText());
    });
  }

  function stopListening() {
    mode = "off";
    clearTimeout(followUpTimer);
    if (detector) detector.pause();
    if (voice.state.phase === "listening" || voice.state.phase === "hearing") voice.setPhase("idle");
  }

  function setHandsFree(on) {
    localStorage.setItem(ON_KEY, on ? "1" : "0");
    switchEl.checked = on;
    if (voice.state.authenticated) voice.send({ type: "hands_free", on: on });
    if (!on) { stopListening(); return; }
    startListening("hands-free").catch(function (error) {
      switchEl.checked = false;
      localStorage.setItem(ON_KEY, "0");
      stopListening();
      showError("Hands-free could not start (" + error.message + "); allow the microphone, or use Record.");
    });
  }

  switchEl.addEventListener("change", function () { setHandsFree(switchEl.checked); });
  silenceEl.addEventListener("change", function () {
    localStorage.setItem(SILENCE_KEY, String(silenceMs() / 1000));
    if (detector) detector.setOptions({ redemptionMs: silenceMs() });
    if (voice.state.phase === "listening") voice.setPhase("listening", listenText());
  });

  // Remembered per browser: on again once the socket knows who is listening (also after a reconnect).
  function resume() { if (localStorage.getItem(ON_KEY) === "1" && voice.state.authenticated) setHandsFree(true); }
  voice.on("session", resume);
  voice.on("authenticated", resume);
  voice.on("error", function (m) {
    if (m.code === "idle_listen_timeout") {
      localStorage.setItem(ON_KEY, "0");
      switchEl.checked = false;
      stopListening();
    }
  });

  voice.on("assistant_reply", function (m) { askedBack = !!m.asks; });
  voice.on("assistant_error", function () { askedBack = false; });
  // After each answer (read out, or not): listen again hands-free, or for the answer to a question.
  voice.on("phase", function (m) {
    if (m.phase !== "idle") return;
    if (mode === "hands-free") { voice.setPhase("listening", listenText()); return; }
    if (!askedBack || voice.state.recording) return;
    startListening("follow-up").then(function () {
      followUpTimer = setTimeout(function () { askedBack = false; stopListening(); }, FOLLOW_UP_SECONDS * 1000);
    }).catch(function (error) { askedBack = false; showError("Could not listen for your answer: " + error.message); });
  });
})();
