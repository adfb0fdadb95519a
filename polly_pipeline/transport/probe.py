"""Transport layer: explain a slow TLS handshake with an independent certificate check.

awscrt's TLS (s2n on Linux) "blinds" a failed handshake: it reports a certificate it cannot
verify only after a random 10-30 s delay, so a missing ``ca_file`` would look like a connect
timeout. When awscrt's handshake is slow, the connection attempt runs this probe: a standard
library TLS handshake with the same trust (the ``ca_file`` or the system store), host name
and ALPN. The probe never replaces awscrt's verification; it only names the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys

from polly_pipeline.transport.config import Endpoint, TLSConfig

__all__ = ["certificate_problem", "probe_is_authoritative"]


async def certificate_problem(endpoint: Endpoint, tls: TLSConfig) -> str | None:
    """Why the server's certificate fails verification, or None if it verifies or we can't tell."""
    context = ssl.create_default_context(cafile=tls.ca_file)
    context.set_alpn_protocols(["h2"])
    try:
        _, writer = await asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=context, server_hostname=endpoint.host
        )
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except (OSError, EOFError):
        return None
    writer.transport.abort()  # only the handshake mattered
    with contextlib.suppress(Exception):
        writer.close()
    return None


def probe_is_authoritative(tls: TLSConfig) -> bool:
    """Whether the probe trusts exactly what awscrt trusts, so its verdict may end a connect.

    With a ``ca_file`` both use that bundle. On Linux both read the system bundle. Elsewhere
    awscrt uses the platform's store, which Python's ``ssl`` may not share.
    """
    return tls.ca_file is not None or sys.platform.startswith("linux")
