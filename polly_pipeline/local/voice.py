"""Local service layer: the offline voice, espeak-ng driven through ctypes.

The library and its data come from the ``espeakng-loader`` package. espeak-ng keeps global
state, so one process-wide engine serves every :class:`OfflineVoice`, guarded by a lock;
synthesis is synchronous (``ENOUTPUT_MODE_SYNCHRONOUS`` with a callback that collects the
samples) and blocking, so async callers run it in a thread.

Determinism: espeak-ng carries three synthesis statics from one call to the next (the pitch
flutter phase, the roughness cycle count and the automatic gain), so the same text would come
out a few samples different each time. Before every call the engine puts them back to their
initial values, found through the library's ELF symbol table, and reseeds the breath noise. On a
build without a symbol table (stripped, or not ELF) speech is still right but not bit-identical.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from array import array
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.espeak_ssml import SSML_TAG, to_espeak_ssml
from polly_pipeline.local.voices import VoiceInfo

__all__ = [
    "DEFAULT_RATE_WPM",
    "OfflineVoice",
    "get_offline_voice",
    "to_espeak_ssml",
]

#: Speaking rate of the offline voice, words per minute (espeak-ng's own default).
DEFAULT_RATE_WPM = 175

# espeak_ng.h / speak_lib.h
_OUTPUT_SYNCHRONOUS = 0x0001
_CHARS_UTF8 = 0x0001
_SSML = 0x0010
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_BUFFER_MS = 1000  # audio per callback: big, as espeak-ng drops an echo tail a full buffer cuts
_MAX_DATA_PATH = 160  # espeak-ng keeps its data path in a buffer this size (N_PATH_HOME)

# the synthesis statics reset before each call (see the module docstring), with the values
# they start with; a symbol that does not hold its start value right after loading is not
# trusted, and the reset is skipped
_STATICS: Mapping[str, int] = {"Flutter_ix": 0, "cycle_count": 0, "agc": 256}

#: espeak_EVENT types the engine keeps: a word or a sentence starts (speak_lib.h).
_EVENT_WORD, _EVENT_SENTENCE = 1, 2
_EVENT_NAMES = {_EVENT_WORD: "word", _EVENT_SENTENCE: "sentence"}


class _EspeakEvent(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h); a list of them ends with type 0."""

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the input
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Engine:
    """The process-wide espeak-ng instance (use :func:`_engine`)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader  # noqa: PLC0415  (only the offline voice needs it)
        except ImportError as exc:
            raise ConfigurationError(
                "the offline voice needs espeak-ng from the espeakng-loader package: "
                "pip install espeakng-loader"
            ) from exc
        library_path = str(espeakng_loader.get_library_path())
        data_path = str(espeakng_loader.get_data_path())
        if len(os.fsencode(data_path)) >= _MAX_DATA_PATH:
            raise ConfigurationError(
                f"espeak-ng cannot use its data at {data_path!r}: the path is longer than "
                f"{_MAX_DATA_PATH - 1} bytes; install espeakng-loader in a shorter path"
            )
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot load espeak-ng from espeakng-loader ({library_path}): {exc}"
            ) from exc
        self._lib = lib
        self._declare(lib)
        lib.espeak_ng_InitializePath(os.fsencode(data_path))
        context = ctypes.c_void_p()
        status = lib.espeak_ng_Initialize(ctypes.byref(context))
        lib.espeak_ng_ClearErrorContext(ctypes.byref(context))
        self._check(status, f"initialising espeak-ng with {data_path}")
        self._check(
            lib.espeak_ng_InitializeOutput(_OUTPUT_SYNCHRONOUS, _BUFFER_MS, None),
            "setting up espeak-ng's synchronous output",
        )
        self.sample_rate: int = lib.espeak_ng_GetSampleRate()
        self._chunks: list[bytes] = []
        #: the word and sentence events of the last synthesis: (kind, char index, length, ms)
        self.events: list[tuple[str, int, int, int]] = []
        self._callback = _SynthCallback(self._collect)  # referenced here so it stays alive
        lib.espeak_SetSynthCallback(self._callback)
        self._statics = _find_statics(library_path, lib)
        self.lock = threading.Lock()

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        lib.espeak_ng_InitializePath.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_InitializePath.restype = None
        lib.espeak_ng_Initialize.argtypes = [ctypes.c_void_p]
        lib.espeak_ng_ClearErrorContext.argtypes = [ctypes.c_void_p]
        lib.espeak_ng_ClearErrorContext.restype = None
        lib.espeak_ng_InitializeOutput.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
        lib.espeak_ng_GetSampleRate.argtypes = []
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_ng_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_ng_Synthesize.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_ng_GetStatusCodeMessage.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.espeak_ng_GetStatusCodeMessage.restype = None
        for name in (
            "espeak_ng_Initialize",
            "espeak_ng_InitializeOutput",
            "espeak_ng_GetSampleRate",
            "espeak_ng_SetVoiceByName",
            "espeak_ng_SetParameter",
            "espeak_ng_Synthesize",
        ):
            getattr(lib, name).restype = ctypes.c_int

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: int) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        if events:
            event = ctypes.cast(events, ctypes.POINTER(_EspeakEvent))
            n = 0
            while event[n].type != 0:
                kind = _EVENT_NAMES.get(event[n].type)
                if kind is not None:
                    e = event[n]
                    self.events.append((kind, e.text_position - 1, e.length, e.audio_position))
                n += 1
        return 0  # 0: go on

    def _check(self, status: int, doing: str) -> None:
        if status != 0:
            message = ctypes.create_string_buffer(512)
            self._lib.espeak_ng_GetStatusCodeMessage(status, message, len(message))
            text = message.value.decode(errors="replace") or f"status {status:#x}"
            raise ConfigurationError(f"espeak-ng failed {doing}: {text}")

    def synthesize(self, data: bytes, espeak_name: str, flags: int, rate_wpm: int) -> bytes:
        """Speak NUL-terminated UTF-8 ``data``; the caller holds :attr:`lock`."""
        lib = self._lib
        for variable, initial in self._statics:
            variable.value = initial
        lib.espeak_ng_SetRandSeed(1)
        self._check(
            lib.espeak_ng_SetVoiceByName(espeak_name.encode()),
            f"selecting the voice {espeak_name!r} (not in espeak-ng-data)",
        )
        for parameter, value in (
            (_RATE, rate_wpm),
            (_VOLUME, 100),
            (_PITCH, 50),
            (_RANGE, 50),
            (_WORDGAP, 0),
        ):
            self._check(lib.espeak_ng_SetParameter(parameter, value, 0), "setting a parameter")
        self._chunks.clear()
        self.events = []
        try:
            status = lib.espeak_ng_Synthesize(
                data, len(data), 0, _POS_CHARACTER, 0, flags, None, None
            )
            self._check(status, "synthesizing")
            pcm = b"".join(self._chunks)
        finally:
            self._chunks.clear()
        if sys.byteorder == "big":
            samples = array("h", pcm)
            samples.byteswap()
            pcm = samples.tobytes()
        return pcm


_engine_lock = threading.Lock()
_shared_engine: _Engine | None = None


def _engine() -> _Engine:
    """The process-wide engine, initialised once even when threads race for it."""
    global _shared_engine  # noqa: PLW0603  (espeak-ng itself is a process-wide singleton)
    with _engine_lock:
        if _shared_engine is None:
            _shared_engine = _Engine()
        return _shared_engine


def _find_statics(library_path: str, lib: ctypes.CDLL) -> tuple[tuple[ctypes.c_int, int], ...]:
    """The statics named in ``_STATICS`` with their start values, or ``()`` if not all found."""
    symbols = _elf_symbols(library_path)
    anchor = symbols.get("espeak_ng_Synthesize")
    address = ctypes.cast(lib.espeak_ng_Synthesize, ctypes.c_void_p).value
    if anchor is None or address is None:
        return ()
    base = address - anchor[0]
    found = []
    for name, start in _STATICS.items():
        symbol = symbols.get(name)
        if symbol is None or symbol[1] != ctypes.sizeof(ctypes.c_int):
            return ()
        variable = ctypes.c_int.from_address(base + symbol[0])
        if variable.value != start:
            return ()
        found.append((variable, start))
    return tuple(found)


def _elf_symbols(path: str) -> Mapping[str, tuple[int, int]]:
    """Value and size of the symbols in a 64-bit little-endian ELF's ``.symtab``.

    Static locals carry a numeric suffix (``Flutter_ix.5965``); it is dropped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return {}
    if data[:6] != b"\x7fELF\x02\x01":
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    symbols: dict[str, tuple[int, int]] = {}
    ambiguous: set[str] = set()
    for section in sections:
        if section[1] != 2:  # SHT_SYMTAB
            continue
        strings = sections[section[6]][4]
        for offset in range(section[4], section[4] + section[5], 24):
            name_at, info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, offset)
            if shndx == 0 or (info & 0xF) not in (1, 2):  # defined objects and functions
                continue
            end = data.index(b"\0", strings + name_at)
            name = data[strings + name_at : end].decode(errors="replace").split(".")[0]
            if name in symbols and symbols[name] != (value, size):
                ambiguous.add(name)  # several statics of that name: use none of them
            symbols[name] = (value, size)
    return {name: symbol for name, symbol in symbols.items() if name not in ambiguous}


class OfflineVoice:
    """espeak-ng speaking through ctypes; one process-wide engine guarded by a lock.

    Args:
        rate_wpm: speaking rate in words per minute.
    """

    def __init__(self, *, rate_wpm: int = DEFAULT_RATE_WPM) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ValueError(f"rate_wpm must be between 80 and 450, not {rate_wpm}")
        self._rate_wpm = rate_wpm
        self._engine = _engine()

    @property
    def native_sample_rate(self) -> int:
        """The rate of the PCM :meth:`synthesize` returns (espeak-ng's, 22050 Hz)."""
        return self._engine.sample_rate

    def synthesize(
        self, text: str, *, voice: VoiceInfo, ssml: bool = False, end_pause: bool = True
    ) -> bytes:
        """Speak ``text``: signed 16-bit little-endian mono PCM at :attr:`native_sample_rate`.

        Blocking and deterministic. Text with nothing to say gives ``b""``. With ``ssml`` the
        text is Polly SSML, rewritten by :func:`to_espeak_ssml`. ``end_pause`` ends the audio
        with a sentence pause (about 0.3 s), as when text is spoken a sentence at a time.
        """
        text = text.replace("\0", "")
        flags = _CHARS_UTF8 | (_ENDPAUSE if end_pause else 0)
        if ssml:
            text = to_espeak_ssml(text)
            if not SSML_TAG.sub("", text).strip() and "<break" not in text:
                return b""
            flags |= _SSML
        elif not text.strip():
            return b""
        data = text.encode() + b"\0"
        engine = self._engine
        with engine.lock:
            return engine.synthesize(data, voice.espeak_name, flags, self._rate_wpm)

    def timed_events(self, text: str, *, voice: VoiceInfo) -> list[tuple[str, int, int, int]]:
        """Where each sentence and word of plain ``text`` starts in its audio, from espeak-ng.

        Returns ``(kind, character index, length in characters, milliseconds)`` tuples in
        order, ``kind`` being ``"sentence"`` (length 0) or ``"word"``. Blocking.
        """
        text = text.replace("\0", "")
        if not text.strip():
            return []
        data = text.encode() + b"\0"
        engine = self._engine
        with engine.lock:
            engine.synthesize(data, voice.espeak_name, _CHARS_UTF8 | _ENDPAUSE, self._rate_wpm)
            return list(engine.events)


@cache
def get_offline_voice() -> OfflineVoice:
    """The shared offline voice at the default rate (initialised on first use)."""
    return OfflineVoice()
