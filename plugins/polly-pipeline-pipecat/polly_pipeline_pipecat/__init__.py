"""polly-pipeline for Pipecat: Amazon Polly's bidirectional stream as a Pipecat TTS service.

::

    from polly_pipeline_pipecat import PollyStreamingTTSService

    tts = PollyStreamingTTSService(settings=PollyStreamingTTSService.Settings(voice="Joanna"))
    pipeline = Pipeline([transport.input(), stt, user_aggregator, llm, tts, transport.output()])
"""

from polly_pipeline_pipecat.service import PollyStreamingTTSService
from polly_pipeline_pipecat.settings import PollyStreamingTTSSettings, polly_language

__all__ = ["PollyStreamingTTSService", "PollyStreamingTTSSettings", "polly_language"]
