"""Hands-free mode in Chromium: VAD onset and end-of-turn delays, end of speech -> reply shown, the renderer's CPU;
with the speculative end of turn (the page's default) and without it (`convonet.voice.speculate` = "0").

A live daphne and one RQ worker (Whisper base) as in `bench_assistant`; Debian's Chromium whose fake microphone plays
one WAV: 2 s of silence, then the bench's 3 s command ROUNDS times with GAP s of silence between. The page listens
hands-free (Silero VAD v5 in the page, 0.7 s hangover) with no click after the switch. Times come from the page
(`performance.now()` when #voice-phase becomes "hearing you" and "thinking", and when the reply appears), placed on the
WAV's own timeline by the first onset (taken as on time: onset delays are those of the later turns against it). Speech
starts and ends in the WAV are found by ffmpeg's silencedetect (-40 dB). Push-to-talk, for comparison: stop->reply of
the same command sent as WebM over `/ws/voice/` (what `bench_assistant` measures; the user's own delay in pressing Stop
comes on top). Where the time goes, per turn, from the frames the page sent and received (`devtools/page_probe.js`)
and the worker's `timings_ms` in each reply. CPU: the renderer's (and Chromium's audio service's) CPU seconds per
second over 10 s of a silent microphone, hands-free on against the same page with it off.

`BENCH_SCREENSHOTS=DIR` also saves the voice page in each state (idle, listening, hearing, thinking, speaking) as
DIR/voice-{state}.png, after the measurements (the README's pictures: `docs/`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from bench.bench_assistant import COMMAND, PIN, SETUP, _command_audio, _one, _p, _stop, _wait_for_workers, _worker
from bench.bench_signaling import _daphne, _environment, _manage
from devtools.live import CHROMIUM_ARGS, PAGE_PROBE
from devtools.speech import wav

ROUNDS = 6
GAP = 4.0
LEAD = 2.0
HANGOVER_MS = 700
GOAL_MS = 1300


def _speech_span(path: Path) -> tuple[float, float]:
    """Where speech starts and ends in `path` (seconds), by ffmpeg's silencedetect at -40 dB."""
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-i", str(path), "-af", "silencedetect=noise=-40dB:d=0.15", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", out)]
    starts = [float(x) for x in re.findall(r"silence_start: ([\d.]+)", out)]
    duration = float(re.search(r"Duration: (\d+):(\d+):([\d.]+)", out).group(3))
    begin = ends[0] if starts and starts[0] < 0.05 else 0.0
    finish = starts[-1] if starts and starts[-1] > begin else duration
    return begin, finish


def _microphone(folder: Path) -> tuple[Path, list[tuple[float, float]], Path]:
    """The WAV of ROUNDS commands, their (start, end) in it, and a WAV of 30 s of silence (CPU)."""
    source = wav(COMMAND, "en-us", folder, speed=170, gap=2)
    begin, finish = _speech_span(source)
    length = float(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(source)],
        capture_output=True, text=True, check=True,
    ).stdout)  # fmt: skip
    step = length + GAP
    spans = [(LEAD + i * step + begin, LEAD + i * step + finish) for i in range(ROUNDS)]
    parts = "".join(f"[0]aresample=48000,adelay={round((LEAD + i * step) * 1000)}[c{i}];" for i in range(ROUNDS))
    mix = "".join(f"[c{i}]" for i in range(ROUNDS))
    target = folder / "commands.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-filter_complex",
         f"{parts}{mix}amix=inputs={ROUNDS}:normalize=0,apad=pad_dur=3", "-ac", "1", "-ar", "48000", str(target)],
        check=True,
    )  # fmt: skip
    silence = folder / "silence.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "30",
         str(silence)],
        check=True,
    )  # fmt: skip
    return target, spans, silence


def _chromium_cpu_seconds(browser_pid: int) -> float:
    """CPU seconds so far of Chromium's renderers and its audio service (where capture and the page's audio run)."""
    total = 0.0
    for child in psutil.Process(browser_pid).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if "--type=renderer" in line or "audio.mojom" in line:
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _open_voice_page(playwright, server, microphone: Path, username: str, *, speculate: bool = True):
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"]
    browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=args)
    page = browser.new_context(permissions=["microphone"]).new_page()
    page.set_default_timeout(60_000)
    page.add_init_script(path=str(PAGE_PROBE))
    page.add_init_script(f"localStorage.setItem('convonet.voice.speculate', '{int(speculate)}')")
    page.goto(f"{server.url}/voice/")
    page.wait_for_selector("#pin-form:not([hidden])")
    page.fill("#pin-username", username)
    page.fill("#pin-value", PIN)
    page.press("#pin-value", "Enter")
    page.wait_for_selector("#record-button:not([disabled])")
    page.check("#assistant-mute")
    return browser, page


def _browser_pid(browser) -> int:
    """Chromium's main process: the one child of this process launched with the fake-audio flag."""
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "--use-file-for-fake-audio-capture" in line and "--type=" not in line:
            return child.pid
    raise RuntimeError("Chromium's main process not found")


def _cpu(playwright, server, silence: Path) -> tuple[float, float]:
    """Chromium's CPU seconds per second over 10 s: hands-free off, then on (silent microphone both times)."""
    browser, page = _open_voice_page(playwright, server, silence, "bench2")
    pid = _browser_pid(browser)
    try:
        rates = []
        for on in (False, True):
            if on:
                page.click("#hands-free")
                page.wait_for_selector("#voice-phase[data-phase='listening']")
                page.wait_for_timeout(2000)  # the model loaded and running
            before, started = _chromium_cpu_seconds(pid), time.monotonic()
            page.wait_for_timeout(10_000)
            rates.append((_chromium_cpu_seconds(pid) - before) / (time.monotonic() - started))
        return rates[0], rates[1]
    finally:
        browser.close()


def _hands_free(
    playwright, server, microphone: Path, spans: list[tuple[float, float]], *, speculate: bool, user: str
) -> dict[str, list]:
    browser, page = _open_voice_page(playwright, server, microphone, user, speculate=speculate)
    try:
        page.click("#hands-free")
        page.wait_for_function(f"window.__replyLog.length >= {ROUNDS}", timeout=(LEAD + ROUNDS * 12) * 1000)
        phase_log = page.evaluate("window.__phaseLog")
        replies = page.evaluate("window.__replyLog")
        sent, received = page.evaluate("window.__sent"), page.evaluate("window.__received")
        said = page.eval_on_selector_all("#conversation li .said", "els => els.map(e => e.textContent)")
    finally:
        browser.close()
    hearing = [t for t, phase in phase_log if phase == "hearing"]
    thinking = [t for t, phase in phase_log if phase == "thinking"]
    if len(hearing) != ROUNDS or len(thinking) != ROUNDS:
        raise RuntimeError(f"expected {ROUNDS} turns, the page went through {phase_log}; heard {said}")
    anchor = hearing[0] - spans[0][0] * 1000  # the WAV's time 0 on the page's clock
    ends = [anchor + spans[i][1] * 1000 for i in range(ROUNDS)]
    bounds = [*hearing[1:], float("inf")]

    def first(log: list, i: int, test) -> float:
        """When (page clock) turn i first sent or received a frame that passes `test`."""
        return next(t for t, frame in log if hearing[i] <= t < bounds[i] and test(frame))

    starts = [first(sent, i, lambda f: f["type"] == "start_recording") for i in range(ROUNDS)]
    answers = [first(received, i, lambda f: f["type"] in ("assistant_reply", "assistant_error")) for i in range(ROUNDS)]
    frames = [next(f for t, f in received if t == answers[i]) for i in range(ROUNDS)]
    return {
        "onset": [hearing[i] - (anchor + spans[i][0] * 1000) for i in range(1, ROUNDS)],
        "sent": [starts[i] - ends[i] for i in range(ROUNDS)],
        "turn_end": [thinking[i] - ends[i] for i in range(ROUNDS)],
        "answer": [answers[i] - ends[i] for i in range(ROUNDS)],
        "reply": [replies[i] - ends[i] for i in range(ROUNDS)],
        "retracted": [sum(1 for t, f in sent if f == {"type": "end_turn", "commit": False})],
        "timings": [f.get("timings_ms", {}) for f in frames],
        "said": said,
    }


def _report(name: str, free: dict[str, list]) -> None:
    """One hands-free pass: the end-to-end figures, then where the time went (p50 of each step)."""
    print(f"   hands-free, {name}:")
    rows = (
        ("VAD onset delay", free["onset"]),
        ("end of speech -> turn sent", free["sent"]),
        ("end of speech -> turn committed", free["turn_end"]),
        ("end of speech -> reply frame", free["answer"]),
        ("end of speech -> reply shown", free["reply"]),
        # the same less each turn's own transcription: what the end of turn costs, whatever the machine's load
        (
            "  the same, less the worker's STT",
            [r - t["stt"] for r, t in zip(free["reply"], free["timings"], strict=True)],
        ),
    )
    for label, values in rows:
        print(f"     {label:<34} p50 {_p(values, 50):6.0f} ms   p95 {_p(values, 95):6.0f} ms")
    stages = ("queued", "decode", "stt", "verdict", "understand", "act")
    split = [
        f"{s} {_p([t[s] for t in free['timings']], 50):.0f}" for s in stages if all(s in t for t in free["timings"])
    ]
    print(f"     worker p50 (ms): {', '.join(split)}; tentative turns retracted: {free['retracted'][0]}")


def _screenshots(playwright, server, microphone: Path, folder: Path) -> list[Path]:
    """The voice page in each state, hands-free, the answer read out by the probe's synthesizer for 4 s."""
    browser, page = _open_voice_page(playwright, server, microphone, "bench3")
    saved = []
    try:
        page.uncheck("#assistant-mute")
        page.evaluate("window.__speakMs = 4000")
        page.set_viewport_size({"width": 900, "height": 1100})
        for phase in ("idle", "listening", "hearing", "thinking", "speaking"):
            if phase == "listening":
                page.click("#hands-free")
            page.wait_for_selector(f"#voice-phase[data-phase='{phase}']", timeout=60_000)
            path = folder / f"voice-{phase}.png"
            page.locator("#voice").screenshot(path=str(path))
            saved.append(path)
    finally:
        browser.close()
    return saved


def run() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-handsfree-") as tmp:
        folder = Path(tmp)
        env = _environment(folder / "db.sqlite3", RATE_LIMIT_VOICE_REQUESTS="1000000/60")
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "shell", "-c", SETUP)
        microphone, spans, silence = _microphone(folder)
        webm = _command_audio(folder)
        server = _daphne(env, folder)
        worker = _worker(env, folder, 1)
        try:
            _wait_for_workers(1)
            asyncio.run(_one(server, "bench0", webm))  # warm-up
            push = [asyncio.run(_one(server, "bench0", webm))["latency"] * 1000 for _ in range(ROUNDS)]
            with sync_playwright() as playwright:
                free = _hands_free(playwright, server, microphone, spans, speculate=True, user="bench1")
                plain = _hands_free(playwright, server, microphone, spans, speculate=False, user="bench3")
                idle_cpu, listening_cpu = _cpu(playwright, server, silence)
                if os.environ.get("BENCH_SCREENSHOTS"):
                    folder_out = Path(os.environ["BENCH_SCREENSHOTS"])
                    folder_out.mkdir(parents=True, exist_ok=True)
                    shots = _screenshots(playwright, server, microphone, folder_out)
        finally:
            _stop(worker)
            server.stop()
    print(f"   {ROUNDS} commands of {spans[0][1] - spans[0][0]:.1f} s of speech ({COMMAND!r}), {GAP:g} s apart, "
          f"hangover {HANGOVER_MS} ms; heard: {free['said'][0]!r}")  # fmt: skip
    _report("speculative end of turn (the page's default)", free)
    _report("without speculation (each turn sent after the whole hangover)", plain)
    print(f"     {'stop -> reply (push-to-talk, WebM)':<34} p50 {_p(push, 50):6.0f} ms   p95 {_p(push, 95):6.0f} ms"
          "   (+ the user's delay in pressing Stop)")  # fmt: skip
    print(
        f"   Chromium CPU (renderer + audio service), silent microphone: page idle {idle_cpu * 100:.1f}% of a core, "
        f"listening hands-free {listening_cpu * 100:.1f}% (VAD's cost: {(listening_cpu - idle_cpu) * 100:.1f}%)"
    )
    if os.environ.get("BENCH_SCREENSHOTS"):
        print(f"   screenshots: {', '.join(str(p) for p in shots)}")
    met = "met" if _p(free["reply"], 50) <= GOAL_MS else "NOT met"
    print(f"   end of speech -> reply p50 hands-free: {_p(free['reply'], 50):.0f} ms  goal <= {GOAL_MS} ms: {met}")
