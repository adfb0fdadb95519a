"""Text sources without an LLM: iterables, files (and FIFOs) and stdin."""

from __future__ import annotations

import asyncio
import io
import os
import selectors
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.sources import file_source, iterable_source, stdin_source

TEXT = "Hello there! Ünïcödé text — with “quotes”, emoji 🎉 and numbers like 3.14.\n" * 40


async def collect(source: AsyncIterator[str]) -> list[str]:
    return [piece async for piece in source]


# --- iterables ----------------------------------------------------------------------------------


async def test_iterable_yields_the_strings_and_skips_empty_ones() -> None:
    assert await collect(iterable_source(["Hello", "", " world", "."])) == ["Hello", " world", "."]


async def test_a_string_is_one_piece_not_its_characters() -> None:
    assert await collect(iterable_source("Hello world.")) == ["Hello world."]


async def test_a_long_sync_iterable_does_not_starve_the_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    seen_at_half = -1
    count = 0
    async for _ in iterable_source(str(i) for i in range(2000)):
        count += 1
        if count == 1000:
            seen_at_half = ticks
    task.cancel()
    assert count == 2000
    assert seen_at_half >= 500  # the other task ran while the items were read


async def test_async_iterables_pass_through_and_are_closed_when_we_stop() -> None:
    closed = asyncio.Event()

    async def tokens() -> AsyncIterator[str]:
        try:
            for word in ["one ", "", "two ", "three "]:
                yield word
        finally:
            closed.set()

    assert await collect(iterable_source(tokens())) == ["one ", "two ", "three "]
    assert closed.is_set()
    closed.clear()
    source = iterable_source(tokens())
    assert await anext(source) == "one "
    await source.aclose()  # type: ignore[attr-defined]
    assert closed.is_set()


async def test_non_text_items_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="item 1 is a int"):
        await collect(iterable_source(["a", 2]))  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="not int"):
        iterable_source(42)  # type: ignore[arg-type]


# --- files --------------------------------------------------------------------------------------


async def test_file_is_read_in_pieces_of_at_most_chunk_chars(tmp_path: Path) -> None:
    path = tmp_path / "answer.txt"
    path.write_text(TEXT, encoding="utf-8")
    pieces = await collect(file_source(path, chunk_chars=10))
    assert "".join(pieces) == TEXT
    assert all(0 < len(p) <= 10 for p in pieces)


async def test_characters_split_across_reads_are_decoded_whole(tmp_path: Path) -> None:
    # a 4-byte emoji straddles the 64 KiB read boundary
    text = "a" * (64 * 1024 - 2) + "🎉" + "b" * 10 + "\ufeff"
    path = tmp_path / "big.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # with a byte order mark
    assert "".join(await collect(file_source(path))) == text  # the BOM is not text


async def test_other_encodings(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème".encode("latin-1"))
    assert "".join(await collect(file_source(path, encoding="latin-1"))) == "Café crème"


def test_a_missing_file_fails_at_once_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigurationError, match=r"nope\.txt: no such file"):
        file_source(missing)
    with pytest.raises(ConfigurationError, match="is a directory"):
        file_source(tmp_path)


def test_bad_options_fail_at_once(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    with pytest.raises(ConfigurationError, match="chunk_chars"):
        file_source(path, chunk_chars=0)
    with pytest.raises(ConfigurationError, match="unknown text encoding 'klingon'"):
        file_source(path, encoding="klingon")
    with pytest.raises(ConfigurationError, match="chunk_chars"):
        stdin_source(chunk_chars=-1)


async def test_undecodable_bytes_name_the_offset_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes("héllo ".encode() + b"\xff\xfe world")
    source = file_source(path)
    with pytest.raises(ConfigurationError) as caught:
        await collect(source)
    message = str(caught.value)
    assert str(path) in message
    assert "utf-8" in message
    assert "byte offset 7 (0xff)" in message  # "héllo " is 7 bytes


async def test_a_truncated_character_at_the_end_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes(b"ok " + "🎉".encode()[:2])
    with pytest.raises(ConfigurationError, match="byte offset 3"):
        await collect(file_source(path))


def run_unprivileged(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code as an ordinary user: ``nobody`` when the tests run as root.

    The code's imports come first, while the interpreter can still read them.
    """
    drop = "import os\nif os.geteuid() == 0:\n    os.setgid(65534)\n    os.setuid(65534)\n"
    imports, _, body = code.partition("# --\n")
    return subprocess.run(
        [sys.executable, "-c", imports + drop + body],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can enter."""
    path = Path(tempfile.mkdtemp(prefix="polly-sources-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def test_an_unreadable_file_fails_at_once(shared_dir: Path) -> None:
    secret = shared_dir / "secret.txt"
    secret.write_text("no")
    secret.chmod(0)
    code = textwrap.dedent(f"""
        from polly_pipeline.errors import ConfigurationError
        from polly_pipeline.sources import file_source
        # --
        try:
            file_source({str(secret)!r})
        except ConfigurationError as exc:
            print(exc)
    """)
    result = run_unprivileged(code)
    assert result.stdout.strip() == f"cannot read text from {secret}: permission denied", result


async def test_a_fifo_streams_as_the_writer_writes(tmp_path: Path) -> None:
    fifo = tmp_path / "llm.fifo"
    os.mkfifo(fifo)
    first_seen = threading.Event()

    def writer() -> None:
        with open(fifo, "w", encoding="utf-8") as out:
            out.write("The first part ")
            out.flush()
            first_seen.wait(5)  # the rest only once the reader has the start
            out.write("and the rest.")

    thread = threading.Thread(target=writer)
    thread.start()
    pieces = []
    try:
        async with asyncio.timeout(10):
            async for piece in file_source(fifo):
                pieces.append(piece)
                first_seen.set()
    finally:
        first_seen.set()
        thread.join()
    assert pieces[0] == "The first part "
    assert "".join(pieces) == "The first part and the rest."


# --- stdin --------------------------------------------------------------------------------------

STDIN_CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from polly_pipeline.sources import stdin_source

    async def main():
        async def ticker():
            while True:
                await asyncio.sleep(0.01)
                print("tick", flush=True)
                return

        tick = asyncio.create_task(ticker())
        async for piece in stdin_source(chunk_chars=int(sys.argv[1])):
            print("piece", repr(piece), flush=True)
        await tick
        print("end", os.get_blocking(0), flush=True)

    asyncio.run(main())
""")


class Lines:
    """Reads a child's stdout line by line, with a deadline for each line."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._proc = proc
        self._fd = proc.stdout.fileno()
        self._buffer = b""

    def next(self, timeout: float = 10.0) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if not selector.select(timeout):
                    self._proc.kill()
                    pytest.fail(f"the child printed no line; so far: {self._buffer!r}")
                data = os.read(self._fd, 4096)
                if not data:
                    pytest.fail(f"the child ended; so far: {self._buffer!r}")
                self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()


def test_stdin_streams_without_blocking_the_loop() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", STDIN_CHILD, "8"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    ) as proc:
        assert proc.stdin is not None
        lines = Lines(proc)
        assert lines.next() == "tick"  # the loop runs while stdin has nothing yet
        proc.stdin.write(b"Hello, world")
        # text is yielded as it arrives, long before stdin ends
        assert lines.next() == "piece 'Hello, w'"
        assert lines.next() == "piece 'orld'"
        proc.stdin.write(b" and goodbye.")
        proc.stdin.close()
        rest = [lines.next() for _ in range(3)]
    assert rest == ["piece ' and goo'", "piece 'dbye.'", "end True"]  # stdin is blocking again


@pytest.mark.parametrize("kind", ["file", "devnull"])
def test_stdin_redirected_from_a_file_or_dev_null(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "in.txt"
    path.write_text("From a file.", encoding="utf-8")
    with open(path if kind == "file" else os.devnull, "rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-c", STDIN_CHILD, "64"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    lines = result.stdout.splitlines()
    pieces = [line for line in lines if line.startswith("piece")]
    assert pieces == (["piece 'From a file.'"] if kind == "file" else [])
    assert lines[-1] == "end True"


async def test_waiting_on_stdin_can_be_cancelled_and_leaves_stdin_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    try:
        with io.FileIO(read_end, "r", closefd=False) as fake_stdin:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(fake_stdin)))
            source = stdin_source()
            task = asyncio.create_task(anext(source))
            await asyncio.sleep(0.05)
            os.write(write_end, "héllo".encode())
            assert await asyncio.wait_for(task, 5) == "héllo"
            waiting = asyncio.create_task(anext(source))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await source.aclose()  # type: ignore[attr-defined]
            assert os.get_blocking(read_end)
            os.write(write_end, b"still open")
            assert os.read(read_end, 100) == b"still open"
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_stdin_that_is_not_a_file_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("not a real stream"))
    with pytest.raises(ConfigurationError, match="stdin cannot be read"):
        await collect(stdin_source())
