// The voice page: one WebSocket to /ws/voice/, shared with other scripts through window.convonetVoice.
(function () {
  "use strict";

  var root = document.getElementById("voice");
  var $ = function (id) { return document.getElementById(id); };
  var handlers = {};
  var openHandlers = [];
  var socket = null;
  var retries = 0;
  var queue = Promise.resolve();  // keeps binary chunks and the final stop_recording in order

  var state = {
    connection: "connecting",   // connecting | open | reconnecting | closed
    sessionId: null,
    authenticated: false,
    userId: null,
    userName: "",
    recording: false,
    phase: "idle",
  };

  var ERRORS = {
    bad_message: "The server did not understand a message.",
    auth_failed: "That username and PIN do not match.",
    auth_locked: "Too many PIN attempts.",
    not_authenticated: "Log in or enter your voice PIN first.",
    rate_limited: "Too many voice requests.",
    not_recording: "No recording is in progress.",
    already_recording: "A recording is already in progress.",
    audio_too_large: "The recording reached its size limit and was stopped; what was recorded is kept.",
    bad_command: "Type some words before sending.",
    command_too_long: "That command is too long; type it shorter.",
    recording_in_progress: "Stop the recording before typing a command.",
    idle_listen_timeout: "Hands-free listening heard no command for a while, so it was turned off; switch it on again when you need it.",
    turn_expired: "Your command was dropped before it was done (the page answered too late); please say it again.",
    session_gone: "This voice session was cleared; starting a new one.",
    server_error: "Something went wrong on the server.",
  };

  var END_TURN_ERRORS = { no_tentative_turn: true, turn_expired: true };

  function setConnection(value, text) {
    state.connection = value;
    var el = $("voice-state");
    if (el) { el.dataset.state = value; el.textContent = text; }
  }

  function showError(text) {
    var el = $("voice-error");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  // -- what the page is doing, shown and announced (#voice-phase, aria-live) ---------------------
  // idle -> listening (microphone open, no speech yet) -> hearing (speech in the recording) -> thinking (the
  // assistant has the command) -> speaking (the answer is read out) -> idle.
  var PHASES = {
    idle: "Idle: press Record, or type a command.",
    listening: "Listening: speak now.",
    hearing: "Hearing you…",
    thinking: "Thinking…",
    speaking: "Speaking the answer (press Escape to stop it).",
  };

  function setPhase(phase, text) {
    state.phase = phase;
    var el = $("voice-phase");
    if (!el) return;
    var said = text || PHASES[phase];
    if (el.dataset.phase === phase && el.textContent === said) return;  // announce changes only
    el.dataset.phase = phase;
    el.textContent = said;
    emit("phase", { phase: phase });
  }

  function on(type, handler) { (handlers[type] = handlers[type] || []).push(handler); }
  function onOpen(handler) { openHandlers.push(handler); if (state.connection === "open") handler(); }
  function emit(type, message) { (handlers[type] || []).forEach(function (h) { h(message); }); }

  function send(obj) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected to the server; your message was not sent.");
      return false;
    }
    socket.send(JSON.stringify(obj));
    return true;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + (root ? root.dataset.wsPath : "/ws/voice/"));
    socket.binaryType = "arraybuffer";
    socket.onopen = function () {
      retries = 0;
      setConnection("open", "Connected");
      showError("");
      openHandlers.forEach(function (h) { h(); });
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      emit(message.type, message);
    };
    socket.onclose = function (event) {
      if (state.recording) stopRecorder(false);
      dropUploads();  // turns waiting for recording_started are lost with the session
      state.sessionId = null;
      state.authenticated = false;
      // 1012: this server process is restarting (a deploy); another one answers at once.
      var restart = event.code === 1012;
      var delay = restart ? 0.2 + Math.random() : Math.min(30, Math.pow(2, retries)) + Math.random();
      if (!restart) retries += 1;
      setConnection("reconnecting", (restart ? "Server restarting" : "Disconnected") + "; reconnecting in " +
        Math.round(delay) + " s" + (restart ? "…" : " (attempt " + retries + ")…"));
      setTimeout(connect, delay * 1000);
    };
  }

  // -- session and authentication -------------------------------------------------------------

  function showAuthenticated() {
    $("pin-form").hidden = state.authenticated;
    $("recorder").hidden = !state.authenticated;
    $("record-button").disabled = !state.authenticated;
    $("voice-user").textContent = state.userName;
  }

  on("session", function (m) {
    state.sessionId = m.session_id;
    state.authenticated = m.authenticated;
    state.userName = m.user_name;
    setConnection("open", m.authenticated ? "Connected as " + m.user_name : "Connected; not signed in");
    if (root) root.dataset.sessionId = m.session_id;
    showAuthenticated();
  });

  on("authenticated", function (m) {
    state.authenticated = true;
    state.userId = m.user_id;
    state.userName = m.user_name;
    setConnection("open", "Connected as " + m.user_name);
    showError(m.pin_change_needed ? "Your voice PIN has fewer than 6 digits: log in and set a 6-digit one on the Voice PIN page." : "");
    showAuthenticated();
  });

  on("error", function (m) {
    var text = ERRORS[m.code] || m.message;
    // its start_recording was refused, or a cap stopped it (an end_turn's refusal is about an earlier turn)
    if (upload && !state.recording && !END_TURN_ERRORS[m.code]) endUpload(false);
    if (m.retry_after) text += " Try again in " + Math.ceil(m.retry_after) + " s.";
    if (m.code === "audio_too_large" || m.code === "user_audio_limit") stopRecorder(false);  // stopped and kept: the assistant has it
    if (stream && !state.recording) {  // start_recording was refused: release the microphone
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
    }
    if (m.code === "bad_message" || m.code === "server_error") text += " (" + m.message + ")";
    showError(text);
    if (!state.recording && state.phase !== "speaking") setPhase("idle");
  });

  // -- recording ----------------------------------------------------------------------------------

  var recorder = null, stream = null, audioContext = null, chunks = [], bytesSent = 0, startedAt = 0, timer = null;

  function pickMimeType() {
    var types = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  // A peak this far from silence (of 128) means the recording hears something: "listening" becomes "hearing".
  var HEARING_PEAK = 12;

  function startMeter() {
    audioContext = new (window.AudioContext || window.webkitAudioContext)();
    var analyser = audioContext.createAnalyser();
    analyser.fftSize = 512;
    audioContext.createMediaStreamSource(stream).connect(analyser);
    var data = new Uint8Array(analyser.fftSize);
    (function draw() {
      if (!state.recording) { $("level-meter").style.width = "0"; return; }
      analyser.getByteTimeDomainData(data);
      var peak = 0;
      for (var i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i] - 128));
      $("level-meter").style.width = Math.min(100, (peak / 128) * 100 * 1.5) + "%";
      if (peak >= HEARING_PEAK && state.phase === "listening") setPhase("hearing");
      requestAnimationFrame(draw);
    })();
  }

  function tick() {
    $("elapsed").textContent = ((Date.now() - startedAt) / 1000).toFixed(1) + " s";
    $("bytes-sent").textContent = bytesSent + " bytes";
  }

  function beginRecorder() {
    var mimeType = pickMimeType();
    recorder = mimeType ? new MediaRecorder(stream, { mimeType: mimeType }) : new MediaRecorder(stream);
    chunks = [];
    bytesSent = 0;
    recorder.ondataavailable = function (event) {
      if (!event.data || !event.data.size) return;
      chunks.push(event.data);
      queue = queue.then(function () { return event.data.arrayBuffer(); }).then(function (buffer) {
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(buffer);
          bytesSent += buffer.byteLength;
        }
      });
    };
    recorder.onstop = function () {
      var blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      $("playback").src = URL.createObjectURL(blob);
      $("playback-box").hidden = false;
      queue = queue.then(function () { if (recorder.tellServer) send({ type: "stop_recording" }); tick(); });
    };
    state.recording = true;
    startedAt = Date.now();
    timer = setInterval(tick, 100);
    recorder.start(250);
    setPhase("listening");
    startMeter();
    $("record-button").textContent = "Stop";
    $("record-button").classList.add("recording");
  }

  function stopRecorder(tellServer) {
    state.recording = false;
    clearInterval(timer);
    if (recorder && recorder.state !== "inactive") {
      recorder.tellServer = tellServer;
      recorder.stop();
    }
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    if (audioContext) audioContext.close();
    stream = null;
    audioContext = null;
    $("record-button").textContent = "Record";
    $("record-button").classList.remove("recording");
    setPhase(tellServer ? "thinking" : "idle");
  }

  on("recording_started", function () {
    if (upload) { sendUpload(); return; }
    if (!stream) { send({ type: "stop_recording" }); return; }
    beginRecorder();
  });

  // A turn the page already holds whole (hands-free: the voice activity detector's WAV of one utterance) goes as a
  // recording does: start_recording, the bytes in frames well under VOICE_MAX_FRAME_BYTES, stop_recording. Turns
  // (and messages about them: a tentative turn's end_turn) go one after another, each once the last was stopped.
  // A turn is {tentative, held, failed}: held once the server awaits a verdict on it (a tentative one), failed when
  // it was refused; a message sent `after` a failed turn is dropped.
  var UPLOAD_FRAME_BYTES = 64 * 1024, upload = null, uploads = [];

  function sendRecording(bytes, options) {
    if (state.recording) return null;
    var turn = { bytes: bytes, tentative: !!(options && options.tentative), held: false, failed: false };
    uploads.push(turn);
    if (!turn.tentative) setPhase("thinking");
    nextUpload();
    return turn;
  }

  function sendAfterUploads(message, after) {
    uploads.push({ message: message, after: after || null });
    nextUpload();
  }

  function nextUpload() {
    while (!upload && uploads.length) {
      var item = uploads.shift();
      if (item.message) {
        if (!(item.after && item.after.failed)) send(item.message);
        continue;
      }
      if (send(item.tentative ? { type: "start_recording", tentative: true } : { type: "start_recording" })) {
        upload = item;
      } else {
        item.failed = true;
      }
    }
  }

  // The turn in flight ended: `ok` when stopped (and, a tentative one, awaiting its verdict).
  function endUpload(ok) {
    upload.held = ok && upload.tentative;
    upload.failed = !ok;
    upload = null;
    nextUpload();
  }

  function dropUploads() {
    if (upload) upload.failed = true;
    uploads.forEach(function (item) { if (!item.message) item.failed = true; });
    upload = null;
    uploads = [];
  }

  function sendUpload() {
    var bytes = new Uint8Array(upload.bytes);
    for (var at = 0; at < bytes.length; at += UPLOAD_FRAME_BYTES) {
      socket.send(bytes.subarray(at, at + UPLOAD_FRAME_BYTES));
    }
    send({ type: "stop_recording" });
  }

  on("recording_stopped", function (m) {
    $("bytes-stored").textContent = m.audio_bytes + " bytes";
    if (upload && !state.recording) endUpload(!upload.tentative || m.tentative === true);
    if (m.interrupted === "server_restart") {
      if (state.recording) stopRecorder(false);
      showError("The server restarted: your recording was stopped and kept (" + m.audio_bytes +
        " bytes). Record again to continue.");
    }
  });

  function toggleRecording() {
    showError("");
    if (state.recording) { stopRecorder(true); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showError("This browser cannot record audio (no MediaRecorder or microphone access).");
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
      stream = s;
      send({ type: "start_recording" });
    }).catch(function (error) {
      showError("The microphone is not available: " + error.message);
    });
  }

  if (root) {
    $("record-button").addEventListener("click", toggleRecording);
    $("pin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      showError("");
      send({ type: "authenticate", username: $("pin-username").value.trim(), pin: $("pin-value").value });
      $("pin-value").value = "";
    });
  }

  window.convonetVoice = {
    send: send, on: on, onOpen: onOpen, state: state, setPhase: setPhase, sendRecording: sendRecording,
    sendAfterUploads: sendAfterUploads,
  };
  connect();
})();
