"""Audio backends and playback devices, through miniaudio, with errors that say what to pass.

miniaudio bundles its backends (WASAPI, Core Audio, PulseAudio, ALSA, JACK...), plus ``null``,
which consumes audio in real time with no sound card: for servers, containers and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeAlias

try:
    import miniaudio
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "polly-pipeline-speaker plays audio through miniaudio, which is missing: "
        "pip install 'miniaudio>=1.59' (or reinstall polly-pipeline-speaker)"
    ) from exc

from polly_pipeline.errors import ConfigurationError

__all__ = [
    "BACKEND_NAMES",
    "BackendLike",
    "available_devices",
    "check_playback",
    "open_device",
    "resolve_backends",
]

#: A backend: its name (``"null"``, ``"pulseaudio"``, ``"alsa"``, ``"coreaudio"``...) or member.
BackendLike: TypeAlias = str | miniaudio.Backend

#: Backend names, as ``backends=`` accepts them.
BACKEND_NAMES: tuple[str, ...] = tuple(b.name.lower() for b in miniaudio.Backend)

_NO_SOUND_CARD_HINT = "pass backends=['null'] to play in real time without a sound card"


def resolve_backends(backends: Sequence[BackendLike] | None) -> list[miniaudio.Backend] | None:
    """Backend names or members as miniaudio members (None: the system's defaults).

    Raises:
        ConfigurationError: an unknown name, or an empty list.
    """
    if backends is None:
        return None
    if isinstance(backends, str | miniaudio.Backend):
        backends = [backends]
    resolved = []
    for backend in backends:
        if isinstance(backend, miniaudio.Backend):
            resolved.append(backend)
            continue
        name = str(backend).strip().upper()
        if name not in miniaudio.Backend.__members__:
            raise ConfigurationError(
                f"SpeakerSink(backends=...): unknown audio backend {backend!r}; known: "
                f"{', '.join(BACKEND_NAMES)}"
            )
        resolved.append(miniaudio.Backend[name])
    if not resolved:
        raise ConfigurationError(
            "SpeakerSink(backends=[]) names no backend; pass None for the system's defaults "
            "or e.g. ['null']"
        )
    return resolved


def _describe(backends: Sequence[miniaudio.Backend] | None) -> str:
    if backends is None:
        return "the default audio backends"
    return "backends=" + repr([b.name.lower() for b in backends])


def available_devices(backends: Sequence[BackendLike] | None = None) -> list[str]:
    """The names of the playback devices the backends offer (``device=`` takes one).

    Raises:
        ConfigurationError: none of the backends is available here.
    """
    return [str(info["name"]) for info in _playbacks(resolve_backends(backends))]


def _playbacks(backends: list[miniaudio.Backend] | None) -> list[dict[str, Any]]:
    try:
        devices = miniaudio.Devices(backends)
        return list(devices.get_playbacks())
    except miniaudio.MiniaudioError as exc:
        raise ConfigurationError(
            f"SpeakerSink: {_describe(backends)} cannot be used on this machine ({exc}); "
            f"choose others (known: {', '.join(BACKEND_NAMES)}) or {_NO_SOUND_CARD_HINT}"
        ) from exc


def find_device(name: str, backends: list[miniaudio.Backend] | None) -> Any:
    """The id of the playback device called ``name`` (or the only one whose name contains it).

    Raises:
        ConfigurationError: no such device, or several match; the message lists them.
    """
    playbacks = _playbacks(backends)
    names = [str(info["name"]) for info in playbacks]
    matches = [info for info in playbacks if info["name"] == name]
    if not matches:
        matches = [info for info in playbacks if name.lower() in str(info["name"]).lower()]
    if len(matches) == 1:
        return matches[0]["id"]
    problem = "matches several playback devices" if matches else "names no playback device"
    raise ConfigurationError(
        f"SpeakerSink(device={name!r}) {problem} of {_describe(backends)}; available: "
        f"{', '.join(map(repr, names)) or 'none'} (device=None plays on the default one)"
    )


def open_device(
    *,
    sample_rate: int,
    device: str | None,
    backends: list[miniaudio.Backend] | None,
    period_ms: int,
    app_name: str,
) -> Any:
    """Open (not start) a 16-bit mono playback device at ``sample_rate``.

    Raises:
        ConfigurationError: no backend or device could be opened; the message names the
            options to change.
    """
    device_id = find_device(device, backends) if device is not None else None
    try:
        return miniaudio.PlaybackDevice(
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=sample_rate,
            buffersize_msec=period_ms,
            device_id=device_id,
            backends=backends,
            app_name=app_name,
        )
    except miniaudio.MiniaudioError as exc:
        which = f"the playback device {device!r}" if device else "a playback device"
        raise ConfigurationError(
            f"SpeakerSink: cannot open {which} with {_describe(backends)} ({exc}): is there a "
            f"sound card? Choose another device= or backends= (known: "
            f"{', '.join(BACKEND_NAMES)}), or {_NO_SOUND_CARD_HINT}"
        ) from exc


def check_playback(
    device: str | None = None, backends: Sequence[BackendLike] | None = None
) -> None:
    """Open the playback device these options play on, then close it: fail before any audio.

    A backend can list devices and still fail to open its default one (ALSA on a machine with
    no sound card lists its ``null`` plugin), so listing is no proof that playback will work.

    Raises:
        ConfigurationError: an unknown backend or device, or nothing could be opened; the
            message names the options to change.
    """
    opened = open_device(
        sample_rate=16000,
        device=device,
        backends=resolve_backends(backends),
        period_ms=20,
        app_name="polly-pipeline",
    )
    opened.close()


def feeder(render: Callable[[int], bytes]) -> Generator[bytes, int, None]:
    """The generator miniaudio's callback drives: sent a frame count, yields that many."""
    frames = yield b""
    while True:
        frames = yield render(frames)
