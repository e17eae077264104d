/* Calls between teammates on the voice page: presence, ringing, and an audio-only WebRTC call.
 *
 * Signaling rides the page's one /ws/voice/ connection (window.convonetVoice from voice.js); the
 * server relays it to the other side, which may be on another process. The caller makes the offer
 * once the callee has accepted; ICE candidates that arrive before the remote description are queued.
 * window.convonetCalls exposes the state and the peer connection for the page's tests.
 */
(function () {
  "use strict";

  function init() {
    const voice = window.convonetVoice;
    const panel = document.getElementById("calls-panel");
    if (!voice || !panel) return;

    const listEl = document.getElementById("calls-online");
    const emptyEl = document.getElementById("calls-empty");
    const statusEl = document.getElementById("calls-status");
    const incomingEl = document.getElementById("calls-incoming");
    const incomingName = document.getElementById("calls-incoming-name");
    const acceptBtn = document.getElementById("calls-accept");
    const rejectBtn = document.getElementById("calls-reject");
    const hangupBtn = document.getElementById("calls-hangup");
    const remoteAudio = document.getElementById("calls-remote-audio");

    const calls = {
      state: "idle", // idle | calling | ringing | connecting | active
      callId: null,
      peerName: "",
      role: null, // caller | callee
      pc: null,
      online: [],
      lastEnd: null,
      async inboundAudioBytes() {
        if (!calls.pc) return 0;
        let bytes = 0;
        (await calls.pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "audio") bytes += s.bytesReceived || 0;
        });
        return bytes;
      },
    };
    window.convonetCalls = calls;

    let iceServers = [];
    let localStream = null;
    let pendingCandidates = [];

    function setState(state, text) {
      calls.state = state;
      panel.dataset.callState = state;
      statusEl.textContent = text;
      hangupBtn.hidden = !["calling", "connecting", "active"].includes(state);
      incomingEl.hidden = state !== "ringing";
      renderOnline();
    }

    function renderOnline() {
      listEl.replaceChildren();
      for (const person of calls.online) {
        const item = document.createElement("li");
        item.dataset.userId = person.id;
        const name = document.createElement("span");
        name.textContent = person.name;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "button";
        button.textContent = "Call";
        button.disabled = calls.state !== "idle";
        button.addEventListener("click", () => startCall(person));
        item.append(name, " ", button);
        listEl.append(item);
      }
      emptyEl.hidden = calls.online.length > 0;
    }

    async function openMedia() {
      if (!localStream) {
        localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      }
      return localStream;
    }

    function makePeer() {
      const pc = new RTCPeerConnection({ iceServers });
      calls.pc = pc;
      pendingCandidates = [];
      pc.onicecandidate = (event) => {
        if (event.candidate) signal({ candidate: event.candidate.toJSON() });
      };
      pc.ontrack = (event) => {
        remoteAudio.srcObject = event.streams[0] || new MediaStream([event.track]);
        remoteAudio.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc !== calls.pc) return;
        if (pc.connectionState === "connected") setState("active", `In a call with ${calls.peerName}`);
        if (pc.connectionState === "failed") hangup("The connection failed.");
      };
      for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
      return pc;
    }

    function signal(data) {
      if (calls.callId) voice.send({ type: "signal", call_id: calls.callId, data });
    }

    function teardown(text) {
      if (calls.pc) calls.pc.close();
      calls.pc = null;
      if (localStream) localStream.getTracks().forEach((t) => t.stop());
      localStream = null;
      remoteAudio.srcObject = null;
      calls.callId = null;
      calls.role = null;
      setState("idle", text);
    }

    function hangup(text) {
      if (calls.callId) voice.send({ type: "hangup", call_id: calls.callId });
      calls.lastEnd = "hangup";
      teardown(text || "Call ended.");
    }

    async function startCall(person) {
      if (calls.state !== "idle") return;
      try {
        await openMedia();
      } catch (err) {
        setState("idle", "The microphone is not available.");
        return;
      }
      calls.peerName = person.name;
      calls.role = "caller";
      setState("calling", `Calling ${person.name}…`);
      voice.send({ type: "call", to_user: person.id });
    }

    async function flushCandidates(pc) {
      for (const candidate of pendingCandidates) await pc.addIceCandidate(candidate);
      pendingCandidates = [];
    }

    voice.on("presence", (msg) => {
      panel.hidden = false; // only authenticated connections get presence (a PIN session included)
      const names = msg.names || {};
      calls.online = msg.online.map((id) => ({ id, name: names[id] || `User ${id}` }));
      renderOnline();
    });

    voice.on("calling", (msg) => {
      calls.callId = msg.call_id;
      iceServers = msg.ice_servers || [];
    });

    voice.on("incoming_call", (msg) => {
      if (calls.state !== "idle") {
        voice.send({ type: "reject", call_id: msg.call_id });
        return;
      }
      calls.callId = msg.call_id;
      calls.peerName = msg.from_name;
      calls.role = "callee";
      iceServers = msg.ice_servers || [];
      incomingName.textContent = msg.from_name;
      setState("ringing", `${msg.from_name} is calling you.`);
      incomingEl.scrollIntoView({ behavior: "smooth", block: "center" });
      acceptBtn.focus({ preventScroll: true });
    });

    acceptBtn.addEventListener("click", async () => {
      if (calls.state !== "ringing") return;
      try {
        await openMedia();
      } catch (err) {
        voice.send({ type: "reject", call_id: calls.callId });
        teardown("The microphone is not available.");
        return;
      }
      makePeer();
      setState("connecting", `Connecting to ${calls.peerName}…`);
      voice.send({ type: "accept", call_id: calls.callId });
    });

    rejectBtn.addEventListener("click", () => {
      if (calls.state !== "ringing") return;
      voice.send({ type: "reject", call_id: calls.callId });
      teardown("Call declined.");
    });

    hangupBtn.addEventListener("click", () => hangup("Call ended."));

    voice.on("call_accepted", async (msg) => {
      if (msg.call_id !== calls.callId || calls.role !== "caller") return;
      setState("connecting", `Connecting to ${calls.peerName}…`);
      const pc = makePeer();
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      signal({ sdp: pc.localDescription.toJSON() });
    });

    voice.on("call_rejected", (msg) => {
      if (msg.call_id === calls.callId && calls.role === "caller") teardown(`${calls.peerName} declined the call.`);
    });

    voice.on("signal", async (msg) => {
      const pc = calls.pc;
      if (msg.call_id !== calls.callId || !pc) return;
      const data = msg.data || {};
      if (data.sdp) {
        await pc.setRemoteDescription(data.sdp);
        if (data.sdp.type === "offer") {
          await pc.setLocalDescription(await pc.createAnswer());
          signal({ sdp: pc.localDescription.toJSON() });
        }
        await flushCandidates(pc);
      } else if (data.candidate) {
        if (pc.remoteDescription) await pc.addIceCandidate(data.candidate);
        else pendingCandidates.push(data.candidate);
      }
    });

    const endings = {
      no_answer: "No answer.",
      rejected: "The call was declined.",
      answered_elsewhere: "Answered on another device.",
      cancelled: "Missed call.",
      disconnected: "The other side lost its connection.",
    };
    voice.on("hangup", (msg) => {
      if (msg.call_id !== calls.callId) return;
      calls.lastEnd = msg.reason || "hangup";
      teardown(endings[msg.reason] || "Call ended.");
    });

    voice.on("error", (msg) => {
      const callErrors = ["not_teammates", "callee_offline", "cannot_call_self", "unknown_call", "call_ended",
        "not_in_call", "not_callee", "bad_state", "signal_too_large", "rate_limited", "unavailable"];
      if (!callErrors.includes(msg.code) || calls.state === "idle") return;
      if (["calling", "connecting"].includes(calls.state) && msg.code !== "rate_limited") {
        teardown(msg.message);
      }
    });

    voice.onOpen(() => {
      if (calls.callId) teardown("Reconnected; the call was ended.");
    });

    window.addEventListener("pagehide", () => {
      if (calls.callId) voice.send({ type: "hangup", call_id: calls.callId });
    });

    setState("idle", "");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
