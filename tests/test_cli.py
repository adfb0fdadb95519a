"""The polly-pipeline command as a user runs it: subprocesses, real files, real exit codes."""

from __future__ import annotations

import http.server
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.service import LocalPollyService


def run(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    stdin_fd: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """The command with ``args``, no AWS or OpenAI settings; ``stdin`` (text) or ``stdin_fd``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_"))}
    base["AWS_EC2_METADATA_DISABLED"] = "true"
    base["AWS_CONFIG_FILE"] = base["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return subprocess.run(
        [sys.executable, "-m", "polly_pipeline.cli", *args],
        input=stdin,
        stdin=stdin_fd,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.mark.slow
def test_chat_on_the_embedded_defaults(tmp_path: Path) -> None:
    out = tmp_path / "joke.wav"
    result = run("chat", "Tell me a joke", "-o", str(out), "--format", "pcm")
    assert result.returncode == 0, result.stderr
    assert "offline demo model" in result.stderr  # the stand-ins say what they are
    assert "built-in local service" in result.stderr
    assert "before the model finished" in result.stdout
    assert f"s of audio in {out}" in result.stdout
    assert 3.0 < wav_seconds(out) < 20.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "prompt", "first"),
    [
        ("Vicki", "Warum ist der Himmel blau?", "Gern."),
        ("Kazuha", "空はなぜ青いのですか？", "はい"),
    ],
)
def test_chat_speaks_german_and_japanese_while_the_model_writes(
    tmp_path: Path, voice: str, prompt: str, first: str
) -> None:
    out = tmp_path / "answer.wav"
    result = run("chat", "--voice", voice, prompt, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(first)  # the demo model answered in the voice's language
    summary = result.stdout.splitlines()[-1]
    started = float(summary.split("speech started ")[1].split(" s before")[0])
    assert started > 0.3, summary  # the first sentence was heard before the answer ended
    assert wav_seconds(out) > 5.0


@pytest.mark.slow
def test_chat_keeps_the_audio_when_the_model_fails_mid_answer(tmp_path: Path) -> None:
    config_fail = DemoLLMConfig(first_token_delay=0.05, tokens_per_second=0, fail_after_tokens=40)

    async def serve_and_run() -> subprocess.CompletedProcess[str]:
        import asyncio

        async with LocalPollyService() as llm_server:
            llm_server.config.demo_llm = config_fail
            return await asyncio.to_thread(
                run,
                "chat",
                "Why is the sky blue?",
                "-o",
                str(out),
                "--format",
                "pcm",
                "--backend",
                "local",
                "--base-url",
                llm_server.endpoint_url + "/v1",
                "--model",
                "demo",
                env={"OPENAI_API_KEY": "sk-test", "SSL_CERT_FILE": str(llm_server.ca_file)},
            )

    import asyncio

    out = tmp_path / "partial.wav"
    result = asyncio.run(serve_and_run())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "spoken so far are kept" in result.stderr
    assert str(out) in result.stderr
    assert "sk-test" not in result.stderr + result.stdout
    assert wav_seconds(out) > 1.0  # what the model said before it failed was kept


def test_chat_refuses_an_unwritable_output_before_asking_anything(tmp_path: Path) -> None:
    result = run("chat", "hi", "-o", str(tmp_path / "missing" / "a.mp3"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_speak_names_a_misspelt_voice() -> None:
    result = run("speak", "hello", "--voice", "Joana")
    assert result.returncode == 2
    assert "'Joanna'" in result.stderr
    assert "Traceback" not in result.stderr


def test_speak_from_stdin(tmp_path: Path) -> None:
    out = tmp_path / "stdin.mp3"
    result = run("speak", "-", "-o", str(out), stdin="Read from standard input. Twice over.")
    assert result.returncode == 0, result.stderr
    seconds = duration_seconds(decode_audio(out.read_bytes(), "mp3", 24000), 24000)
    assert 1.5 < seconds < 8.0
    assert "characters billed" in result.stdout


def test_speak_reads_piped_text_without_a_dash(tmp_path: Path) -> None:
    out = tmp_path / "piped.wav"
    result = run("speak", "-o", str(out), stdin="Piped in, as echo text | speak would.")
    assert result.returncode == 0, result.stderr
    assert wav_seconds(out) > 1.0
    empty = run("speak", "-o", str(tmp_path / "empty.wav"), stdin="")
    assert empty.returncode == 2
    assert "nothing to speak" in empty.stderr
    assert not (tmp_path / "empty.wav").exists()


def test_speak_rejects_empty_text() -> None:
    result = run("speak", "   ")
    assert result.returncode == 2
    assert "empty" in result.stderr


def test_voices_lists_and_filters() -> None:
    result = run("voices", "--language", "en-GB")
    assert result.returncode == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"Amy", "Brian"} <= set(ids)
    assert all(" en-GB " in line for line in result.stdout.splitlines())
    assert run("voices", "--language", "xx-XX").returncode == 1


def test_voices_take_a_language_as_users_write_it_and_say_what_exists() -> None:
    exact = run("voices", "--language", "en-GB").stdout
    assert run("voices", "--language", "en-gb").stdout == exact
    english = run("voices", "--language", "en").stdout.splitlines()
    assert set(exact.splitlines()) < set(english)
    assert all(line.split()[1].startswith("en-") for line in english)
    unknown = run("voices", "--language", "xx-XX")
    assert unknown.returncode == 1  # nothing found
    assert "no voice speaks 'xx-XX'" in unknown.stderr
    assert "en-GB" in unknown.stderr  # the codes that would match something
    engine = run("voices", "--engine", "turbo")
    assert engine.returncode == 1
    assert "generative" in engine.stderr


def test_help_lists_every_command() -> None:
    result = run("--help")
    for command in ("chat", "speak", "voices", "local"):
        assert command in result.stdout


def test_plugins_lists_builtins_and_isolates_a_broken_plugin(tmp_path: Path) -> None:
    # three plugin distributions on the path: one loads, one cannot import its module, one
    # raises while importing (not an ImportError)
    for name, target in (
        ("good_plugin", "good_sink:GoodSink"),
        ("bad_plugin", "no_such_mod:X"),
        ("angry_plugin", "angry_sink:X"),
    ):
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[polly_pipeline.sinks]\n{name} = {target}\n")
    (tmp_path / "good_sink.py").write_text("class GoodSink:\n    pass\n")
    (tmp_path / "angry_sink.py").write_text("raise RuntimeError('no sound card here')\n")
    result = run("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0
    assert "sinks    wav" in result.stdout  # built-ins are registered the same way
    assert "good_plugin" in result.stdout
    assert "good_sink:GoodSink" in result.stdout
    bad = next(line for line in result.stdout.splitlines() if "bad_plugin" in line)
    assert "FAILED TO LOAD" in bad
    assert "No module named 'no_such_mod'" in bad
    angry = next(line for line in result.stdout.splitlines() if "angry_plugin" in line)
    assert "FAILED TO LOAD" in angry
    assert "RuntimeError: no sound card here" in angry
    assert "2 plugin(s) failed to load" in result.stderr


def test_speak_a_markdown_file(tmp_path: Path) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nThe **meeting** is at 10:30 a.m.\n\n- Bring the report.\n")
    out = tmp_path / "notes.wav"
    result = run("speak", "--file", str(doc), "-o", str(out), "--format", "pcm")
    assert result.returncode == 0, result.stderr
    billed = int(result.stdout.split("|")[-1].split()[0])
    assert billed == len("Notes.\nThe meeting is at 10:30 a.m.\nBring the report.\n")
    assert wav_seconds(out) > 2.0


def test_speak_needs_exactly_one_input(tmp_path: Path) -> None:
    terminal, other_end = pty.openpty()  # typed at a terminal: nothing to read, so ask
    try:
        alone = run("speak", stdin_fd=terminal)
    finally:
        os.close(terminal)
        os.close(other_end)
    assert alone.returncode == 2
    assert "give the text to speak" in alone.stderr
    both = run("speak", "Hi.", "--file", str(tmp_path / "nope.md"))
    assert both.returncode == 2
    assert "not both" in both.stderr
    missing = run("speak", "--file", str(tmp_path / "nope.md"))
    assert missing.returncode == 2
    assert "nope.md" in missing.stderr


# --- clean exits (signals, pipes, bad input) ---------------------------------------------------


def popen(*args: str, env: dict[str, str], stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "polly_pipeline.cli", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def quiet_env(tmp_path: Path) -> dict[str, str]:
    """No AWS, no OpenAI, and a private TMPDIR to see what the embedded service leaves."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_"))}
    base["AWS_EC2_METADATA_DISABLED"] = "true"
    base["AWS_CONFIG_FILE"] = base["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    base["TMPDIR"] = str(tmp)
    return base


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_answer_keeps_a_valid_file_and_cleans_up(
    tmp_path: Path, signum: int, status: int
) -> None:
    out = tmp_path / "answer.wav"
    env = quiet_env(tmp_path)
    proc = popen("chat", "How does streaming speech work?", "-o", str(out), "-q", env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 40_000):
        time.sleep(0.05)  # wait until about a second of audio is in the file
    assert out.exists(), "no audio arrived"
    assert any((tmp_path / "tmp").iterdir())  # the embedded service's CA directory is there
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("interrupted; ")
    assert lines[-1].endswith(f"s of audio in {out}")
    assert sum("interrupted" in line for line in lines) == 1
    said = float(lines[-1].split()[1])
    assert abs(said - wav_seconds(out)) < 0.05  # the file is valid and holds what it says
    assert said > 0.5
    assert not list((tmp_path / "tmp").iterdir())  # temporary CA directories removed


def test_voices_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written, as `| head` may be
    try:
        result = subprocess.run(
            [sys.executable, "-m", "polly_pipeline.cli", "voices"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=quiet_env(tmp_path),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 141  # as a program stopped by SIGPIPE


@pytest.mark.parametrize("command", ["chat", "speak"])
def test_stdin_that_is_not_utf8_is_one_clear_error(tmp_path: Path, command: str) -> None:
    out = tmp_path / "out.wav"
    result = subprocess.run(
        [sys.executable, "-m", "polly_pipeline.cli", command, "-", "-o", str(out)],
        input=b"Hello there \xff world.",
        capture_output=True,
        env=quiet_env(tmp_path),
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, stderr
    assert "utf-8" in errors[0].lower()
    assert "byte offset 12 (0xff)" in errors[0]
    assert str(out) not in stderr  # nothing was written, so no file is named
    assert not out.exists()


@pytest.mark.parametrize("command", ["chat", "speak"])
@pytest.mark.parametrize("how", ["argument", "stdin"])
def test_whitespace_only_input_is_empty_input(tmp_path: Path, command: str, how: str) -> None:
    blank = "  \n\t  \n"
    out = tmp_path / "out.mp3"
    args = (command, blank if how == "argument" else "-", "-o", str(out))
    result = run(*args, stdin=blank if how == "stdin" else None)
    assert result.returncode == 2, result.stderr
    assert "empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    if command == "chat":  # what to do instead
        assert "leave the prompt out to type prompts one per line" in result.stderr


# --- backends ----------------------------------------------------------------------------------


class _Metadata(http.server.BaseHTTPRequestHandler):
    """An instance-metadata endpoint that records who asked (and answers nothing useful)."""

    asked: list[str] = []  # noqa: RUF012 - shared with the test through the class

    def do_PUT(self) -> None:
        self._record()

    def do_GET(self) -> None:
        self._record()

    def _record(self) -> None:
        type(self).asked.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_no_region_names_the_option(tmp_path: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12", "AWS_SECRET_ACCESS_KEY": "x" * 40}
    result = run("speak", "Hi.", "-o", str(tmp_path / "a.mp3"), env=keys)
    assert result.returncode == 2
    [error] = result.stderr.splitlines()
    assert "no AWS region configured" in error
    assert "--region us-east-1" in error  # the option, not only the library's region=...


def test_a_region_without_the_stream_names_the_regions_that_have_it(tmp_path: Path) -> None:
    out = tmp_path / "a.mp3"
    keys = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12", "AWS_SECRET_ACCESS_KEY": "x" * 40}
    # moon-1 has no Polly endpoint anywhere: the connection fails, on or off the internet
    result = run("speak", "Hi.", "-o", str(out), "--region", "moon-1", env=keys)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "error" in line]
    assert "polly.moon-1.amazonaws.com" in error
    assert "'moon-1' does not offer Polly's bidirectional stream" in error
    assert "pass --region us-east-1" in error
    assert not out.exists()


@pytest.mark.parametrize(("backend", "probes"), [("auto", False), ("aws", True)])
def test_automatic_backend_choice_never_probes_instance_metadata(
    tmp_path: Path, backend: str, probes: bool
) -> None:
    _Metadata.asked = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = quiet_env(tmp_path)
        del env["AWS_EC2_METADATA_DISABLED"]
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}/"
        env["AWS_REGION"] = "us-east-1"
        result = subprocess.run(
            [sys.executable, "-m", "polly_pipeline.cli", "speak", "Hi.", "--backend", backend],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert bool(_Metadata.asked) == probes, (_Metadata.asked, result.stderr)
    if probes:  # --backend aws: the full chain ran, found nothing, and said so in one line
        assert result.returncode == 2
        assert "no AWS credentials" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "built-in local service" in result.stderr


def test_nothing_imports_the_command_line_modules() -> None:
    root = Path(__file__).resolve().parents[1]
    cli_import = re.compile(r"polly_pipeline\.cli(?![a-z_])|cli_speak|cli_chat")
    users = [
        path
        for folder in ("polly_pipeline", "examples", "plugins")
        for path in (root / folder).rglob("*.py")
        if "cli" not in path.relative_to(root).parts[:2] and cli_import.search(path.read_text())
    ]
    assert users == []
