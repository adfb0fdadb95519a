"""Timeouts by phase: one ``except`` catches one kind of wait, ``NetworkTimeout`` catches all."""

from __future__ import annotations

import pytest

from polly_pipeline import errors
from polly_pipeline.errors import (
    CloseTimeout,
    ConnectTimeout,
    NetworkTimeout,
    ReadTimeout,
    ResponseHeadersTimeout,
    ServerSideError,
    SignatureError,
    TransportError,
    WriteTimeout,
    timeout_error,
)
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport import Timeouts

KINDS = {
    "connect": ConnectTimeout,
    "response_headers": ResponseHeadersTimeout,
    "read": ReadTimeout,
    "write": WriteTimeout,
    "close": CloseTimeout,
}


@pytest.mark.parametrize(("phase", "kind"), list(KINDS.items()))
def test_each_phase_has_its_own_kind_under_network_timeout(
    phase: str, kind: type[NetworkTimeout]
) -> None:
    error = timeout_error(phase, 1.5, "detail")  # type: ignore[arg-type]
    assert type(error) is kind
    assert isinstance(error, NetworkTimeout)
    assert error.phase == phase
    assert error.timeout == 1.5
    others = [k for p, k in KINDS.items() if p != phase]
    assert not isinstance(error, tuple(others))


async def test_a_stalled_stream_raises_read_timeout_and_a_silent_service_response_headers() -> None:
    service = LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))
    timeouts = Timeouts(connect=1.0, response_headers=0.3, read=0.3, write=0.5, close=0.3)
    async with memory_client(service, timeouts=timeouts) as client:
        service.inject(Fault("stall", "first_event"))
        with pytest.raises(ReadTimeout):
            async for _ in client.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna"):
                pass
        service.inject(Fault("stall", "before_headers"))
        with pytest.raises(ResponseHeadersTimeout):
            async for _ in client.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna"):
                pass


def test_server_side_errors_are_out_of_the_clients_tree() -> None:
    assert issubclass(SignatureError, ServerSideError)
    assert not issubclass(ServerSideError, (TransportError, errors.ProtocolError))
