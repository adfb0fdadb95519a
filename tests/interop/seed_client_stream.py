"""Stream through the local service with the seed's own client, ``amazon-polly-streaming`` 1.1.0.

The package hard-codes ``https://polly.<region>.amazonaws.com:443`` and the system trust store.
Nothing of it is changed here except where awscrt connects: ``HttpClientConnection.new`` is
wrapped so a connection to that host goes to the local service's port instead, with TLS that
trusts the local CA. The request, its ``:authority`` and ``host`` headers, its signature, the
event signing and the response parsing are the package's own. Run with a Python >= 3.13 that
has ``amazon-polly-streaming`` installed:

    python tests/interop/seed_client_stream.py PORT CA_FILE REGION TEXT OUT_FILE

Credentials come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), as
the package resolves them. Prints one JSON line: audio bytes and chunks, or the error raised.
"""

import asyncio
import json
import sys
from pathlib import Path

from amazon_polly_streaming import PollyStreamingClient
from awscrt import http, io

_original_new = http.HttpClientConnection.new


def redirect(region: str, port: int, ca_file: str) -> None:
    """Send connections for ``polly.<region>.amazonaws.com:443`` to ``127.0.0.1:port``."""
    polly_host = f"polly.{region}.amazonaws.com"

    def new(*, host_name: str, port: int = 443, tls_connection_options=None, **kwargs):
        if (host_name, port) == (polly_host, 443):
            options = io.TlsContextOptions()
            options.override_default_trust_store_from_path(None, ca_file)
            tls_connection_options = io.ClientTlsContext(options).new_connection_options()
            tls_connection_options.set_server_name("localhost")
            tls_connection_options.set_alpn_list(["h2"])
            host_name, port = "127.0.0.1", local_port
        return _original_new(
            host_name=host_name, port=port, tls_connection_options=tls_connection_options, **kwargs
        )

    local_port = port
    http.HttpClientConnection.new = staticmethod(new)


async def main(port: str, ca_file: str, region: str, text: str, out_file: str) -> None:
    redirect(region, int(port), ca_file)
    client = PollyStreamingClient(region=region, pool_size=1)
    audio = bytearray()
    chunks = 0
    report: dict[str, object]
    try:
        async with asyncio.timeout(60):
            async for chunk in client.start_speech_synthesis_stream(text=text, voice_id="Joanna"):
                audio += chunk
                chunks += 1
        report = {"audio_bytes": len(audio), "chunks": chunks}
    except Exception as exc:  # the package raises RuntimeError or its ServiceException tree
        report = {"error": type(exc).__name__, "message": str(exc)[:2000]}
    await asyncio.to_thread(Path(out_file).write_bytes, bytes(audio))
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
