"""Both speech-to-text backends: Whisper base in this process, and an OpenAI-compatible server (a small one started
here on 127.0.0.1 that speaks `/v1/audio/transcriptions`)."""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant import stt
from assistant.audio import decode
from assistant.jobs import ANSWER_WORDS
from devtools.redis_server import free_port
from devtools.speech import encode, wav


class TranscriptionServer:
    """Answers like an OpenAI-compatible server; `mode` makes it fail (500) or hang (slow)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mode = "ok"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
                form = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                        for part in message.iter_parts()}  # fmt: skip
                audio = form["file"]
                with wave.open(io.BytesIO(audio)) as clip:
                    frames, rate = clip.getnframes(), clip.getframerate()
                server.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "model": form["model"].decode(),
                     "prompt": form.get("prompt", b"").decode(), "seconds": frames / rate, "rate": rate}
                )  # fmt: skip
                if server.mode == "slow":
                    time.sleep(2 * STT_TIMEOUT)
                status, body = (500, {"error": "down"}) if server.mode == "fail" else (200, {"text": " Help. "})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


#: Long enough for a loaded machine to answer in time when the server does; the slow server takes twice it.
STT_TIMEOUT = 3.0


@pytest.fixture
def transcription_server(settings):
    server = TranscriptionServer()
    settings.VOICE_STT_BACKEND = "openai"
    settings.VOICE_STT_URL = f"http://127.0.0.1:{server.port}/v1"
    settings.VOICE_STT_API_KEY = "test-key"
    settings.VOICE_STT_MODEL_NAME = "whisper-1"
    settings.VOICE_STT_TIMEOUT = STT_TIMEOUT
    yield server
    server.close()


@pytest.fixture
def spoken_help(tmp_path):
    return decode(encode(wav("help", "en-us", tmp_path)), max_seconds=30)


def test_the_openai_backend_posts_a_wav_with_the_prompt(transcription_server, spoken_help):
    assert stt.transcribe(spoken_help.samples, "Add a todo.").text == "Help."
    [request] = transcription_server.requests
    assert request["path"] == "/v1/audio/transcriptions" and request["auth"] == "Bearer test-key"
    assert request["model"] == "whisper-1" and request["prompt"] == "Add a todo." and request["rate"] == 16000
    assert request["seconds"] == pytest.approx(spoken_help.seconds, abs=0.01)


@pytest.mark.parametrize(("mode", "code"), [("fail", "stt_unavailable"), ("slow", "stt_timeout")])
def test_a_failing_or_slow_server_gets_a_code(transcription_server, spoken_help, mode, code):
    transcription_server.mode = mode
    with pytest.raises(stt.SttError) as caught:
        stt.transcribe(spoken_help.samples)
    assert caught.value.code == code


def test_a_server_that_is_not_there_is_unavailable(settings, spoken_help):
    settings.VOICE_STT_BACKEND, settings.VOICE_STT_URL = "openai", f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(stt.SttError) as caught:
        stt.transcribe(spoken_help.samples)
    assert caught.value.code == "stt_unavailable"


def test_the_whisper_backend_hears_espeak_and_loads_the_model_once(spoken_help):
    assert "help" in stt.transcribe(spoken_help.samples, "Help. Add a todo.").text.lower()
    loaded = stt.whisper_model.cache_info()  # earlier tests in this process may have loaded it already
    stt.transcribe(spoken_help.samples)
    assert stt.whisper_model.cache_info().misses == loaded.misses and loaded.currsize == 1


def test_a_short_answer_whisper_repeats_is_heard_once(tmp_path):
    no = decode(encode(wav("No.", "en-gb-x-rp", tmp_path)), max_seconds=30)
    # Whisper base, int8, writes "No. No. No. No. No." for this clip with the yes/no question's prompt.
    assert stt.transcribe(no.samples, ANSWER_WORDS).text == "No."


@pytest.mark.parametrize(
    ("heard", "kept"),
    [
        ("No. No. No. No. No.", "No."),
        ("Add a todo, buy milk. Add a todo, buy milk.", "Add a todo, buy milk."),
        ("Yes. No.", "Yes. No."),
        ("No, no, no.", "No, no, no."),
        ("Mark buy milk as done", "Mark buy milk as done"),
        (" ... ", "..."),
    ],
)
def test_only_a_sentence_that_repeats_the_one_before_is_dropped(heard, kept):
    assert stt.without_repeats(heard) == kept


def test_the_model_is_sure_of_words_it_heard_and_not_of_words_it_did_not(tmp_path, settings):
    """The second pass scores a transcript against the clip: the words said get a high probability, a word put in
    their place that was not said a low one, so a misheard new title is read back before it is written."""
    clip = decode(encode(wav("Add a todo, restock the snacks.", "en-us", tmp_path)), max_seconds=30).samples
    heard = stt.Heard("Add a todo, restock the snacks.", clip)
    misheard = stt.Heard("Add a todo, restock the socks.", clip)
    assert not heard.doubts("Restock the snacks") and heard.confidence("snacks") > settings.VOICE_STT_DOUBT_PROBABILITY
    assert misheard.doubts("Restock the socks") and misheard.confidence("socks") < heard.confidence("snacks")


def test_a_backend_that_cannot_say_doubts_nothing():
    assert stt.Heard("Add a todo, restock the socks.").doubts("Restock the socks") is False
