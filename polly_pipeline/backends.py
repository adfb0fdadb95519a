"""Entry-point layer: open the backends the way ``polly-pipeline`` does.

Two choices every program built on polly-pipeline makes, made here once:

- **Speech**: Amazon Polly when AWS credentials are configured (or an endpoint is given), else
  the embedded local Polly service (an offline voice, a stand-in), started for the caller.
- **Model**: an OpenAI-compatible server when ``OPENAI_API_KEY`` or a base URL is set (servers
  such as Ollama, llama.cpp or vLLM need no key), else the local service's offline demo model.

::

    from polly_pipeline.backends import open_backends

    async with open_backends() as backends:
        source = openai_chat_source(backends.llm, model=backends.model, messages=messages)
        async with SpeechSession(backends.polly, voice_id="Joanna") as session:
            ...

Choosing automatically never asks the EC2 instance-metadata service for credentials (a
network probe that stalls a second or more off EC2): only credentials configured on this
machine (environment, config files, SSO, ``credential_process``, container roles) count.
``backend="aws"`` uses botocore's full chain, instance roles included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError

if TYPE_CHECKING:
    import openai

    from polly_pipeline.local.service import LocalPollyService

__all__ = [
    "DEFAULT_MODEL",
    "DEMO_LLM_NOTICE",
    "LOCAL_POLLY_NOTICE",
    "Backends",
    "LLMOptions",
    "PollyBackend",
    "PollyOptions",
    "aws_credentials_configured",
    "demo_llm_client",
    "open_backends",
    "open_polly",
    "uses_local_polly",
    "uses_real_llm",
]

log = logging.getLogger("polly_pipeline.backends")

#: ``auto``: Amazon Polly when AWS credentials are configured, else the local service.
PollyBackend = Literal["auto", "aws", "local"]

#: The model asked for when a real OpenAI-compatible server is used and no model is given.
DEFAULT_MODEL = "gpt-4o-mini"

#: Announced whenever the local service stands in for Amazon Polly.
LOCAL_POLLY_NOTICE = (
    "Polly: the built-in local service (offline voice, a stand-in for Amazon Polly); "
    "configure AWS credentials and a region, or pass --backend aws, to use Amazon Polly."
)

#: Announced whenever the offline demo model stands in for a real one.
DEMO_LLM_NOTICE = (
    "LLM: the offline demo model (canned answers, a stand-in for a real model); "
    "set OPENAI_API_KEY or --base-url to use a real one."
)

#: Sent as the API key to a server given by base URL when no key is configured: local
#: servers (Ollama, llama.cpp, vLLM) ignore it, and the OpenAI client needs a value.
NO_KEY = "no-key"


@dataclass(frozen=True)
class PollyOptions:
    """Where speech comes from.

    Attributes:
        backend: ``auto`` (Amazon Polly when credentials are configured, else local),
            ``aws`` (Amazon Polly or ``endpoint_url``, botocore's full credential chain) or
            ``local`` (the embedded service).
        region: AWS region (default: from the AWS configuration).
        endpoint_url: a Polly endpoint instead of Amazon's (implies ``aws`` under ``auto``).
        profile: AWS profile.
        ca_file: an extra CA bundle to trust.
    """

    backend: PollyBackend = "auto"
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    ca_file: str | os.PathLike[str] | None = None

    @classmethod
    def from_args(cls, args: object) -> PollyOptions:
        """From parsed command-line options named as ``polly-pipeline``'s (``args.backend``,
        ``args.region``, ``args.endpoint_url``, ``args.profile``, ``args.ca_file``; missing
        ones keep their defaults)."""
        return cls(
            backend=getattr(args, "backend", "auto"),
            region=getattr(args, "region", None),
            endpoint_url=getattr(args, "endpoint_url", None),
            profile=getattr(args, "profile", None),
            ca_file=getattr(args, "ca_file", None),
        )

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "aws", "local"):
            raise ConfigurationError(
                f"unknown Polly backend {self.backend!r}; use auto, aws or local"
            )


@dataclass(frozen=True)
class LLMOptions:
    """Which model answers.

    Attributes:
        base_url: an OpenAI-compatible API base URL (e.g. ``http://localhost:11434/v1``).
        api_key: the key (default ``OPENAI_API_KEY``; none is needed with ``base_url``).
        model: the model name (default: :data:`DEFAULT_MODEL`, or the demo model).
    """

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Backends:
    """The opened backends.

    Attributes:
        polly: the Polly client (open until the context ends).
        llm: the ``openai`` client, or None when only speech was asked for.
        model: the model name to ask ``llm`` for (None with ``llm``).
        service: the embedded local service when one was started, else None.
    """

    polly: PollyStreamingClient
    llm: openai.AsyncOpenAI | None = None
    model: str | None = None
    service: LocalPollyService | None = None

    @property
    def local_polly(self) -> bool:
        """True when speech comes from the embedded local service."""
        return self.service is not None and self.polly.endpoint_url == self.service.endpoint_url


def aws_credentials_configured(profile: str | None = None) -> bool:
    """Whether AWS credentials are configured on this machine, without any network probe.

    Looks where botocore does except the EC2 instance-metadata service.

    Raises:
        ConfigurationError: ``profile`` is not in the AWS config files.
    """
    import botocore.exceptions  # noqa: PLC0415  (botocore is slow to import)
    import botocore.session  # noqa: PLC0415

    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # raises now for a profile that does not exist
        resolver = session.get_component("credential_provider")
        resolver.remove("iam-role")  # the instance-metadata lookup
        credentials = resolver.load_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigurationError(
            f"AWS profile {profile!r} is not in your AWS config files; "
            "check the name or set AWS_PROFILE"
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        log.info("AWS credentials could not be loaded (%s); using the local service", exc)
        return False
    return credentials is not None


def uses_local_polly(options: PollyOptions) -> bool:
    """Whether ``options`` (or the lack of AWS credentials) choose the local service."""
    if options.backend != "auto":
        return options.backend == "local"
    return not options.endpoint_url and not aws_credentials_configured(options.profile)


def uses_real_llm(options: LLMOptions) -> bool:
    """Whether a real OpenAI-compatible model is configured (else the demo model is used)."""
    return bool(options.base_url or options.api_key or os.environ.get("OPENAI_API_KEY"))


def demo_llm_client(service: LocalPollyService) -> openai.AsyncOpenAI:
    """An ``openai`` client for ``service``'s offline demo model (ask for ``DEMO_MODEL``)."""
    import openai  # noqa: PLC0415  (slow to import; only model users need it)

    if service.ca_file is None:
        raise ConfigurationError("the local service is not running; start it first")
    return openai.AsyncOpenAI(
        base_url=service.endpoint_url + "/v1",
        api_key="local",
        http_client=openai.DefaultAsyncHttpxClient(
            verify=ssl.create_default_context(cafile=str(service.ca_file))
        ),
    )


def _aws_client(options: PollyOptions, notice: Callable[[str], None]) -> PollyStreamingClient:
    client = PollyStreamingClient(
        region=options.region,
        endpoint_url=options.endpoint_url,
        profile=options.profile,
        ca_file=str(Path(options.ca_file)) if options.ca_file else None,
    )
    where = "the endpoint" if client.endpoint_overridden else "Amazon Polly at"
    notice(f"Polly: {where} {client.endpoint_url} ({client.region}).")
    return client


def _real_llm_client(options: LLMOptions, notice: Callable[[str], None]) -> openai.AsyncOpenAI:
    import openai  # noqa: PLC0415

    key = options.api_key or os.environ.get("OPENAI_API_KEY")
    if not key and not options.base_url:
        raise ConfigurationError("no model configured: set OPENAI_API_KEY or a base URL")
    llm = openai.AsyncOpenAI(base_url=options.base_url, api_key=key or NO_KEY)
    notice(f"LLM: {options.model or DEFAULT_MODEL} at {llm.base_url}")
    return llm


def _log_notice(message: str) -> None:
    log.info("%s", message)


@contextlib.asynccontextmanager
async def open_polly(
    options: PollyOptions | None = None, *, notice: Callable[[str], None] = _log_notice
) -> AsyncIterator[PollyStreamingClient]:
    """A Polly client for the chosen backend: Amazon Polly, or the local service started here.

    Args:
        options: the choice (default: automatic).
        notice: told in one line which backend is used (default: logged at INFO).
    """
    async with open_backends(options, None, notice=notice) as backends:
        yield backends.polly


@contextlib.asynccontextmanager
async def open_backends(
    polly: PollyOptions | None = None,
    llm: LLMOptions | None = None,
    *,
    notice: Callable[[str], None] = _log_notice,
) -> AsyncIterator[Backends]:
    """Open speech and (with ``llm``) a model, sharing one local service where both need it.

    Args:
        polly: where speech comes from (default: automatic).
        llm: which model answers; None opens speech only.
        notice: told in one line per backend which one is used, and when a stand-in is.

    Raises:
        ConfigurationError: a bad option (unknown profile, no region for Amazon Polly...).
    """
    polly = polly or PollyOptions()
    local_polly = uses_local_polly(polly)
    real_llm = llm is not None and uses_real_llm(llm)
    async with contextlib.AsyncExitStack() as stack:
        service = None
        if local_polly or (llm is not None and not real_llm):
            from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

            service = await stack.enter_async_context(LocalPollyService())
        client = None
        model = None
        if llm is not None:
            if real_llm:
                client = _real_llm_client(llm, notice)
                model = llm.model or DEFAULT_MODEL
            else:
                from polly_pipeline.local.demo_llm import DEMO_MODEL  # noqa: PLC0415

                assert service is not None
                client = demo_llm_client(service)
                model = llm.model or DEMO_MODEL
                notice(DEMO_LLM_NOTICE)
            stack.push_async_callback(client.close)
        if local_polly:
            assert service is not None
            speech = service.client()
            notice(LOCAL_POLLY_NOTICE)
        else:
            speech = _aws_client(polly, notice)
        await stack.enter_async_context(speech)
        yield Backends(speech, client, model, service)
