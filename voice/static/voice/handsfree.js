// Hands-free conversation on the voice page: the microphone stays open, Silero voice activity detection (vad-web on
// onnxruntime-web, served from /static/vad/, loaded only when needed) starts a turn when speech starts and ends it
// after the chosen silence; the utterance goes to the server as one recording (convonetVoice.sendRecording).
// Noise without speech starts nothing. Speech while an answer is read stops it (assistant.js, on "hearing").
// A reply that asks a question is followed by listening for the answer, in both modes.
//
// Speculative end of turn (hands-free on): at the first SPECULATE_MS of silence after speech the page sends the turn so
// far as a *tentative* recording, which the assistant transcribes at once; when the whole pause has passed with no more
// speech (the detector's onSpeechEnd) it commits it ({"type": "end_turn", "commit": true}) and the assistant acts;
// speech before that retracts it ("commit": false) and the longer turn follows. The page keeps its own copy of the
// turn's frames (onFrameProcessed, with the same pre-speech pad as the detector), so the tentative audio is the turn's.
(function () {
  "use strict";

  var voice = window.convonetVoice;
  var $ = function (id) { return document.getElementById(id); };
  var box = $("hands-free-box");
  if (!voice || !box) return;

  var ON_KEY = "convonet.voice.handsFree", SILENCE_KEY = "convonet.voice.handsFreeSilence";
  // "0" turns the speculative end of turn off (each turn is sent once the whole pause passed): the bench's baseline.
  var speculate = localStorage.getItem("convonet.voice.speculate") !== "0";
  // Seconds the page listens for the answer to a question when hands-free is off.
  var FOLLOW_UP_SECONDS = 8;
  // Speech shorter than this is a misfire (a cough, a click), not a turn.
  var MIN_SPEECH_MS = 250, PRE_SPEECH_PAD_MS = 300;
  // Silence after speech that sends the turn so far, tentatively; the detector's frames (Silero v5: 512 samples at
  // 16 kHz) and its thresholds (vad-web's defaults: a frame is speech at 0.3, silence under 0.25).
  var SPECULATE_MS = 256, FRAME_MS = 32, SPEECH_AT = 0.3, SILENCE_BELOW = 0.25;
  var PAD_FRAMES = Math.floor(PRE_SPEECH_PAD_MS / FRAME_MS), MIN_SPEECH_FRAMES = Math.floor(MIN_SPEECH_MS / FRAME_MS);
  var switchEl = $("hands-free"), silenceEl = $("hands-free-silence");
  var detector = null, loading = null, audioContext = null;
  var mode = "off";  // off | hands-free | follow-up
  var askedBack = false, followUpTimer = null;
  // The frames before speech (the pad), and the turn being heard: its frames, speech frames, silent frames since the
  // last speech, and its tentative recording (voice.sendRecording's turn) while one awaits its verdict.
  var pad = [], heard = null;

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
        preSpeechPadMs: PRE_SPEECH_PAD_MS,
        positiveSpeechThreshold: SPEECH_AT,
        negativeSpeechThreshold: SILENCE_BELOW,
        onFrameProcessed: frameProcessed,
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

  function wavOf(samples) { return window.vad.utils.encodeWAV(samples, 1, 16000, 1, 16); }  // 16-bit PCM, 16 kHz mono

  function joined(frames) {
    var length = frames.reduce(function (n, f) { return n + f.length; }, 0), out = new Float32Array(length), at = 0;
    frames.forEach(function (f) { out.set(f, at); at += f.length; });
    return out;
  }

  // Called for every frame before the detector's own events for it (so the first speech frame is in `pad` when
  // onSpeechStart comes).
  function frameProcessed(probabilities, frame) {
    if (!listening()) return;
    if (!heard) {
      pad.push(frame);
      if (pad.length > PAD_FRAMES + 1) pad.shift();
      return;
    }
    heard.frames.push(frame);
    if (probabilities.isSpeech >= SPEECH_AT) {
      heard.speech += 1;
      heard.silent = 0;
      retract();
    } else if (probabilities.isSpeech < SILENCE_BELOW) {
      heard.silent += 1;
      if (speculate && mode === "hands-free" && !heard.tentative && heard.speech >= MIN_SPEECH_FRAMES &&
          heard.silent * FRAME_MS >= SPECULATE_MS) {
        heard.tentative = voice.sendRecording(wavOf(joined(heard.frames)), { tentative: true });
      }
    }
  }

  // Speech resumed (or the turn was abandoned) before the verdict: the tentative turn is dropped on the server.
  function retract() {
    if (!heard || !heard.tentative) return;
    voice.sendAfterUploads({ type: "end_turn", commit: false }, heard.tentative);
    heard.tentative = null;
  }

  function speechStarted() {
    if (!listening()) return;
    clearTimeout(followUpTimer);
    heard = { frames: pad, speech: 0, silent: 0, tentative: null };
    pad = [];
    voice.setPhase("hearing");
  }

  function misfire() {
    retract();
    heard = null;
    if (listening() && voice.state.phase === "hearing") voice.setPhase("listening", listenText());
  }

  function speechEnded(audio) {
    if (!listening()) { retract(); heard = null; return; }
    var tentative = heard && heard.tentative;
    heard = null;
    askedBack = false;
    if (mode === "follow-up") stopListening();
    if (tentative && !tentative.failed) {  // no speech since it was sent: act on it
      voice.sendAfterUploads({ type: "end_turn", commit: true }, tentative);
      voice.setPhase("thinking");
      return;
    }
    if (!voice.sendRecording(wavOf(audio))) voice.setPhase(mode === "off" ? "idle" : "listening", listenText());
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
    retract();
    heard = null;
    pad = [];
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
