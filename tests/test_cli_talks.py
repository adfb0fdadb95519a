"""The command line talks, shows and converses: subprocess runs as a user makes them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.demo_llm import REFERENCE_ANSWER
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.text import clean_markdown
from tests.test_cli import quiet_env, run, wav_seconds


class Running:
    """A CLI subprocess whose output is collected as it arrives."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "polly_pipeline.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self.out = bytearray()
        self.err = bytearray()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, into: bytearray) -> None:
        while data := stream.read1(4096):
            into.extend(data)

    @property
    def stdout(self) -> str:
        return self.out.decode()

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stdout:
            assert time.monotonic() < deadline, f"no {text!r} in {self.stdout!r} {self.err!r}"
            assert self.proc.poll() is None, f"exited: {self.stdout!r} {self.err!r}"
            time.sleep(0.05)

    def finish(self, timeout: float = 60.0) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        status = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status


@pytest.fixture
def model() -> Iterator[tuple[LocalPollyService, list[Mapping[str, Any]]]]:
    """A demo model this test can see the requests of (an OpenAI-compatible server)."""
    requests: list[Mapping[str, Any]] = []
    service = LocalPollyService()
    service.config.demo_llm = DemoLLMConfig(first_token_delay=0.1, on_request=requests.append)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(service.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield service, requests
    finally:
        asyncio.run_coroutine_threadsafe(service.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def keyless(service: LocalPollyService, tmp_path: Path) -> dict[str, str]:
    """No key anywhere: a server given by --base-url needs none."""
    env = quiet_env(tmp_path)
    env["SSL_CERT_FILE"] = str(service.ca_file)
    return env


@pytest.mark.slow
def test_a_conversation_keeps_only_what_was_heard_of_an_interrupted_answer(
    tmp_path: Path, model: tuple[LocalPollyService, list[Mapping[str, Any]]]
) -> None:
    service, requests = model
    base = ["--base-url", service.endpoint_url + "/v1", "--backend", "local"]
    chat = Running("chat", "-o", "answer.wav", *base, env=keyless(service, tmp_path), cwd=tmp_path)
    chat.type("How does streaming speech work?\n")
    chat.wait_for("Streaming")  # the answer is being shown (and spoken)
    time.sleep(2.0)  # about two seconds heard
    chat.type("\n")  # Enter: barge-in
    chat.wait_for("[turn 1 interrupted")
    chat.type("Tell me a joke\n")
    chat.wait_for("[turn 2]")
    chat.type("Give me a short answer\n")
    status = chat.finish()  # Ctrl-D after the third prompt: its answer is heard out
    assert status == 0, chat.err.decode()
    assert "[turn 3]" in chat.stdout
    assert "Traceback" not in chat.err.decode()

    assert len(requests) == 3
    history = requests[2]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant", "user"]
    heard = history[1]["content"]
    spoken = " ".join(clean_markdown(REFERENCE_ANSWER).split())
    assert heard.strip()
    assert spoken.startswith(" ".join(heard.split()))  # what was heard, from the start
    assert len(heard) < len(spoken) / 2  # and only that: the rest was never heard
    assert "canned" in history[3]["content"]  # the joke, heard out, kept whole
    for number in (1, 2, 3):
        assert wav_seconds(tmp_path / f"answer-{number}.wav") > 0.5
    assert wav_seconds(tmp_path / "answer-1.wav") < 20


def test_ctrl_c_in_a_conversation_while_input_is_open_exits_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "talk.wav"
    talk = Running(
        "chat", "How does streaming speech work?", "-i", "-o", str(out), "-q",
        env=quiet_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    first = tmp_path / "talk-1.wav"
    deadline = time.monotonic() + 60
    while not first.exists() or first.stat().st_size < 40_000:  # about a second of audio
        assert time.monotonic() < deadline, talk.err.decode()
        time.sleep(0.05)
    talk.proc.send_signal(signal.SIGINT)  # standard input still open, as at a terminal
    status = talk.proc.wait(30)
    talk.finish()
    stderr = talk.err.decode()
    assert "Fatal Python error" not in stderr  # the stdin reader held no lock at exit
    assert status == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted; ")
    assert wav_seconds(first) > 0.5


@pytest.mark.slow
def test_prompts_piped_one_per_line_into_one_file(
    tmp_path: Path, model: tuple[LocalPollyService, list[Mapping[str, Any]]]
) -> None:
    service, requests = model
    out = tmp_path / "talk.wav"
    result = subprocess.run(
        [sys.executable, "-m", "polly_pipeline.cli", "chat", "-o", str(out), "--one-file",
         "--base-url", service.endpoint_url + "/v1", "--backend", "local"],
        input="Tell me a joke\nGive me a short answer\n",
        capture_output=True, text=True, env=keyless(service, tmp_path), timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [len(r["messages"]) for r in requests] == [1, 3]  # in turn, each heard out
    assert "conversation: 2 turns" in result.stdout
    assert wav_seconds(out) > 2.0
    assert "\x1b" not in result.stdout  # piped: text and summaries, no control characters


def test_base_url_without_a_key(
    tmp_path: Path, model: tuple[LocalPollyService, list[Mapping[str, Any]]]
) -> None:
    service, requests = model
    out = tmp_path / "a.mp3"
    result = run(
        "chat", "Give me a short answer", "-o", str(out), "--backend", "local",
        "--base-url", service.endpoint_url + "/v1",
        env={"SSL_CERT_FILE": str(service.ca_file)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "OpenAIError" not in result.stderr
    assert len(requests) == 1
    text = result.stdout.splitlines()[0]
    assert text.strip()  # the answer was shown...
    assert "first audio" in result.stdout.splitlines()[-1]  # ...then one summary line
    assert duration_seconds(decode_audio(out.read_bytes(), "mp3", 24000), 24000) > 0.3


def test_a_model_named_without_a_server_is_refused_not_played_by_the_demo(
    tmp_path: Path,
) -> None:
    out = tmp_path / "a.mp3"
    result = run("chat", "Hi", "--model", "gpt-4o", "-o", str(out))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # nothing started, the demo model not announced
    assert "--model gpt-4o" in line
    assert "OPENAI_API_KEY" in line
    assert "--base-url" in line
    assert not out.exists()


def test_a_model_that_cannot_be_reached_names_no_file(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    result = run("chat", "Hi", "-o", str(out), "--base-url", "http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert "Check --base-url" in result.stderr  # what to change
    assert str(out) not in result.stderr
    assert not out.exists()


def test_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    result = run("chat", "Tell me a joke", "-q", "-o", str(tmp_path / "j.mp3"))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "first audio" in result.stdout


@pytest.mark.parametrize(
    ("name", "fmt", "rate"),
    [("a.ogg", "ogg_vorbis", 24000), ("a.opus", "ogg_opus", 48000), ("a.raw", "pcm", 16000),
     ("a.ulaw", "mulaw", 8000), ("a.alaw", "alaw", 8000)],
)  # fmt: skip
def test_the_format_follows_the_file_name(tmp_path: Path, name: str, fmt: str, rate: int) -> None:
    out = tmp_path / name
    result = run("speak", "The format follows the name.", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert duration_seconds(decode_audio(out.read_bytes(), fmt, rate), rate) > 1.0  # type: ignore[arg-type]


def test_a_format_that_disagrees_with_the_file_name_is_refused(tmp_path: Path) -> None:
    result = run("speak", "Hi.", "-o", str(tmp_path / "a.wav"), "--format", "mp3")
    assert result.returncode == 2
    assert "a.wav holds pcm or mulaw or alaw audio, not mp3" in result.stderr
    assert run("speak", "Hi.", "-o", str(tmp_path / "a.wav"), "--format", "mulaw").returncode == 0


def test_a_format_that_is_no_format_is_named_with_the_formats(tmp_path: Path) -> None:
    out = tmp_path / "a.mp3"
    result = run("speak", "Hi.", "-o", str(out), "--format", "flac")
    assert result.returncode == 2
    assert "'flac' is not an output format" in result.stderr
    assert "mp3, ogg_vorbis, ogg_opus, pcm, mulaw, alaw" in result.stderr
    assert ".raw" not in result.stderr  # no file name suggested for a format that does not exist
    assert not out.exists()


def test_play_on_the_null_audio_backend(tmp_path: Path) -> None:
    pytest.importorskip("polly_pipeline_speaker")
    started = time.monotonic()
    result = run("speak", "Played in real time.", "--play", "--audio-backend", "null", "-q")
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.split("spoke ")[1].split()[0])
    assert seconds > 1.0
    assert time.monotonic() - started > seconds  # it played in real time, to its end
    assert not list(tmp_path.iterdir())  # --play alone writes no file


def test_play_without_a_sound_device_says_so(tmp_path: Path) -> None:
    pytest.importorskip("polly_pipeline_speaker")
    result = run("speak", "Hi.", "--play", "--audio-backend", "winmm")
    assert result.returncode == 2
    assert "no sound device" in result.stderr
    assert "--audio-backend null" in result.stderr
    assert "Traceback" not in result.stderr


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (which calls the command line) in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_ctrl_c_while_playing_names_no_file(tmp_path: Path) -> None:
    pytest.importorskip("polly_pipeline_speaker")
    play = Running(
        "chat", "How does streaming speech work?", "--play", "--audio-backend", "null",
        env=quiet_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    play.wait_for("Streaming")  # the answer is being shown (and played)
    play.proc.send_signal(signal.SIGINT)
    status = play.proc.wait(30)
    play.finish()
    assert status == 130
    last = play.err.decode().strip().splitlines()[-1]
    assert last == "interrupted"  # no file was asked for, so none is said to be missing
    assert not list(tmp_path.glob("*.mp3"))


def test_play_fails_before_the_answer_when_the_default_device_cannot_open() -> None:
    pytest.importorskip("polly_pipeline_speaker")
    # as on a machine with no sound card whose ALSA still lists its null plugin: the devices
    # are listed, opening one fails, and the audio library writes its complaints to fd 2
    code = (
        "import os, sys, miniaudio\n"
        "def refuse(*args, **kwargs):\n"
        "    os.write(2, b'ALSA lib pcm.c:2666: Unknown PCM default\\n')\n"
        "    raise miniaudio.MiniaudioError('failed to init device', -401)\n"
        "miniaudio.PlaybackDevice = refuse\n"
        "from polly_pipeline.cli import main\n"
        "sys.exit(main(['chat', 'How does streaming speech work?', '--play']))\n"
    )
    result = run_python(code)
    assert result.returncode == 2
    assert result.stdout == ""  # no answer was asked for, shown or half spoken
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line: no library noise, no traceback
    assert "failed to init device" in lines[0]
    assert "--audio-backend null" in lines[0]
    assert "backends=" not in lines[0]  # the command's options, not the library's


def test_play_without_the_speaker_plugin_names_the_install_command() -> None:
    code = (
        "import importlib.metadata as m, sys\n"
        "real = m.entry_points\n"
        "m.entry_points = lambda **kw: [e for e in real(**kw) if e.name != 'speaker']\n"
        "from polly_pipeline.cli import main\n"
        "sys.exit(main(['speak', 'Hi.', '--play']))\n"
    )
    result = run_python(code)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{sys.executable} -m pip install" in lines[0]
    assert "polly-pipeline-speaker" in lines[0]


def test_sink_sends_audio_to_a_listed_sink(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    result = run("speak", "Two places.", "-o", str(out), "--sink", "null")
    assert result.returncode == 0, result.stderr
    assert wav_seconds(out) > 0.5
    unknown = run("speak", "Hi.", "--sink", "nosuch")
    assert unknown.returncode == 2
    assert "no sink plugin named 'nosuch'" in unknown.stderr


def test_version_verbose_after_the_command_and_environment_defaults() -> None:
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("polly-pipeline 0.")
    verbose = run("speak", "One. Two.", "-o", os.devnull + ".mp3", "-v")
    assert "segment 1 sent at" in verbose.stderr
    assert "first audio at" in verbose.stderr
    assert "stream 1 opened" in verbose.stderr
    assert "POLLY_PIPELINE_VOICE" in run("--help").stdout
    voice = run("speak", "Hi.", env={"POLLY_PIPELINE_VOICE": "Joana"})
    assert voice.returncode == 2
    assert "'Joanna'" in voice.stderr  # the default came from the environment
