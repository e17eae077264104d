// The assistant's side of the voice page: what was heard, what was done, spoken back (unless muted).
(function () {
  "use strict";

  var voice = window.convonetVoice;
  var $ = function (id) { return document.getElementById(id); };
  if (!voice || !$("assistant")) return;

  var ERRORS = {
    assistant_unavailable: "The assistant is not running right now; your recording was not heard. Try again in a minute.",
    assistant_timeout: "The assistant was too busy to answer in time; please say it again.",
    assistant_busy: "Your earlier commands are still waiting for the assistant; wait for their answers, then say it again.",
    assistant_failed: "Something went wrong while handling your command; please try again.",
    nothing_recorded: "Nothing was recorded: allow the microphone, speak, then press Stop.",
    undecodable_audio: "Your recording could not be decoded; try again, or use another browser.",
    empty_audio: "Nothing was recorded; try again.",
    audio_too_long: "That command was too long; say it shorter.",
    stt_unavailable: "Speech recognition is not reachable right now; try again later.",
    stt_timeout: "Speech recognition took too long; try again.",
    session_gone: "This voice session was cleared before your command was heard; reconnect and say it again.",
    recording_replaced: "A new recording replaced that one before it was heard.",
  };
  var MUTE_KEY = "convonet.assistant.muted";
  var mute = $("assistant-mute");
  mute.checked = localStorage.getItem(MUTE_KEY) === "1";
  mute.addEventListener("change", function () {
    localStorage.setItem(MUTE_KEY, mute.checked ? "1" : "0");
    if (mute.checked) stopSpeaking();
  });

  function status(text) { $("assistant-status").textContent = text; }
  function error(text) { var el = $("assistant-error"); el.textContent = text || ""; el.hidden = !text; }

  // Reads the answer out (unless muted): "speaking" while it is read, "idle" after (also when the browser cannot).
  var utterance = null;
  function speak(text) {
    if (mute.checked || !text || !window.speechSynthesis) { voice.setPhase("idle"); return; }
    speechSynthesis.cancel();
    var spoken = utterance = new SpeechSynthesisUtterance(text);
    spoken.onstart = function () { if (utterance === spoken) voice.setPhase("speaking"); };
    spoken.onend = spoken.onerror = function () {
      if (utterance !== spoken) return;
      utterance = null;
      if (voice.state.phase === "speaking" || voice.state.phase === "thinking") voice.setPhase("idle");
    };
    speechSynthesis.speak(spoken);
  }

  function stopSpeaking() {
    if (!utterance) return;
    utterance = null;
    speechSynthesis.cancel();
    if (voice.state.phase === "speaking") voice.setPhase("idle");
  }

  voice.on("phase", function (m) { if (m.phase === "hearing") stopSpeaking(); });  // barge-in: speech stops it
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") stopSpeaking();
  });

  function addExchange(said, reply, kind, timings) {
    var item = document.createElement("li");
    item.className = kind;
    var line = document.createElement("div");
    line.className = "said";
    line.textContent = said;
    var answer = document.createElement("div");
    answer.className = "reply";
    answer.textContent = reply;
    item.appendChild(line);
    item.appendChild(answer);
    if (timings) {
      var t = document.createElement("div");
      t.className = "timings";
      t.textContent = "decode " + timings.decode + " ms · speech " + timings.stt + " ms · understand " +
        timings.understand + " ms · act " + timings.act + " ms";
      item.appendChild(t);
    }
    $("conversation").appendChild(item);
  }

  function showPanel() { $("assistant").hidden = !voice.state.authenticated; }
  voice.on("session", showPanel);
  voice.on("authenticated", showPanel);
  // This script is deferred and voice.js connects at once: the session may have been announced already.
  showPanel();
  voice.on("recording_started", function () {
    error("");
    stopSpeaking();  // a new command interrupts the last answer
    status("Listening… press Stop when you are done.");
  });
  // A job the queue accepted is always answered; this only catches a worker that died mid-job.
  var NO_ANSWER_SECONDS = 90, waiting = null;
  function stopWaiting() { if (waiting) { clearTimeout(waiting); waiting = null; } }
  // A tentative turn (hands-free's speculative end of turn) is only being transcribed: the page still hears you until
  // it commits the turn (the server's end_turn echo), which is when the assistant thinks.
  voice.on("assistant_thinking", function (m) { if (!m.tentative) thinking(); });
  voice.on("end_turn", function (m) { if (m.commit) thinking(); });
  function thinking() {
    status("Thinking…");
    voice.setPhase("thinking");
    stopWaiting();
    waiting = setTimeout(function () {
      status("Not done.");
      voice.setPhase("idle");
      error("No answer from the assistant after " + NO_ANSWER_SECONDS + " s; it may have stopped. Please try again.");
    }, NO_ANSWER_SECONDS * 1000);
  }

  voice.on("assistant_reply", function (m) {
    stopWaiting();
    var said = m.typed ? "You typed: “" + m.transcript + "”" :
      m.transcript ? "You said: “" + m.transcript + "”" : "You said: (nothing I could hear)";
    $("assistant-status").dataset.intent = m.intent || "";
    status(m.reply);
    addExchange(said, m.reply, m.ok ? "ok" : "refused", m.timings_ms);
    speak(m.reply);
  });

  // Typed commands: the same socket, understanding, answers and history as speech, without the microphone.
  $("typed-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("typed-text").value.trim();
    if (!text) return;
    error("");
    if (voice.send({ type: "say", text: text })) {
      $("typed-text").value = "";
      status("Sending…");
      voice.setPhase("thinking");
    }
  });

  voice.on("assistant_error", function (m) {
    stopWaiting();
    var text = ERRORS[m.code] || m.message;
    status("Not done.");
    error(text);
    addExchange("(" + m.code + ")", text, "failed", null);
    speak(text);
  });
})();
