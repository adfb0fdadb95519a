"""Local service layer: a throwaway certificate authority and server certificate for loopback TLS.

The local service speaks HTTP/2 only over TLS (ALPN ``h2``), like the real one, so it needs a
certificate the client can verify. :meth:`TLSMaterial.generate` makes a fresh CA and a leaf
certificate signed by it; clients trust the CA through their ``ca_file`` option. Nothing here is
written to disk except the CA certificate (on request), the server's certificate and key beside
it when asked to keep them (:meth:`TLSMaterial.save`, owner-only, so a restarted service presents
the same chain) and, for the instant it takes :mod:`ssl` to load them, private temporary files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_COMMON_NAME", "TLSMaterial", "server_state_path"]

#: The subject common name of every generated CA.
CA_COMMON_NAME = "polly-pipeline local CA"

_VALIDITY = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(hours=1)
#: Kept material is reused only while its certificate has at least this long left.
_REUSE_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class TLSMaterial:
    """A CA certificate plus a server certificate and key it signed (all PEM)."""

    ca_cert_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    @classmethod
    def generate(cls, hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")) -> TLSMaterial:
        """Make a fresh CA and a server certificate for ``hostnames`` (EC P-256, 30 days)."""
        if isinstance(hostnames, str) or not hostnames:
            raise ValueError("hostnames must be a non-empty sequence of names or addresses")
        now = dt.datetime.now(dt.UTC)
        not_before, not_after = now - _BACKDATE, now + _VALIDITY

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(_san(hostnames)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_cert_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    def write_ca(self, path: str | os.PathLike[str]) -> Path:
        """Write the CA certificate (PEM) to ``path``, creating parent directories."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.ca_cert_pem)
        return target

    def save(self, ca_file: str | os.PathLike[str]) -> Path:
        """Write the CA certificate to ``ca_file`` and keep the server's certificate and key
        beside it (:func:`server_state_path`, owner-only), for :meth:`load` after a restart."""
        target = self.write_ca(ca_file)
        state = server_state_path(target)
        fd, tmp = tempfile.mkstemp(prefix=".polly-local-", dir=state.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.cert_pem + self.key_pem)
            os.replace(tmp, state)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, ca_file: str | os.PathLike[str]) -> TLSMaterial | None:
        """The material :meth:`save` kept for ``ca_file``, or None when there is none usable.

        Usable means: both files readable, the server certificate issued by that CA, and valid
        for at least another day. A service restarted with the same CA file then presents the
        same chain, so clients that trusted it before keep working.
        """
        ca_path = Path(ca_file)
        try:
            ca_pem = ca_path.read_bytes()
            state = server_state_path(ca_path).read_bytes()
            ca = x509.load_pem_x509_certificate(ca_pem)
            cert = x509.load_pem_x509_certificate(state)
            cert.verify_directly_issued_by(ca)
            key = serialization.load_pem_private_key(state, password=None)
        except (OSError, ValueError, TypeError, InvalidSignature):
            return None
        if cert.not_valid_after_utc < dt.datetime.now(dt.UTC) + _REUSE_MARGIN:
            return None
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(
            ca_cert_pem=ca_pem,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key_pem,
        )

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server context: TLS 1.2 or newer, ALPN ``h2`` then ``http/1.1``, this certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # RFC 9113 section 9.2: no compression and no renegotiation under HTTP/2.
        ctx.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        # ssl can only load a key from a file: use private (0600) files removed at once.
        paths: list[str] = []
        try:
            for data in (self.cert_pem, self.key_pem):
                fd, name = tempfile.mkstemp(prefix="polly-local-", suffix=".pem")
                paths.append(name)
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            ctx.load_cert_chain(certfile=paths[0], keyfile=paths[1])
        finally:
            for name in paths:
                Path(name).unlink(missing_ok=True)
        return ctx


def server_state_path(ca_file: str | os.PathLike[str]) -> Path:
    """Where :meth:`TLSMaterial.save` keeps the server certificate and key for ``ca_file``."""
    path = Path(ca_file)
    return path.with_name(path.name + ".server.pem")


def _san(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses as IP SANs, everything else as DNS names."""
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    return names
