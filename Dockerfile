# The speech gateway (polly-pipeline serve) as a container image.
#
#   docker build -t polly-gateway .
#   docker run -p 8080:8080 -e POLLY_PIPELINE_GATEWAY_TOKEN="$(openssl rand -hex 32)" \
#       -e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=... -e AWS_SECRET_ACCESS_KEY=... polly-gateway
#
# Without AWS credentials it speaks with the built-in local service (offline voice). It binds
# 0.0.0.0 inside the container, so it refuses to start without a bearer token: pass
# POLLY_PIPELINE_GATEWAY_TOKEN, or mount a secret and add `--token-file /run/secrets/token`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY polly_pipeline ./polly_pipeline
COPY plugins/polly-pipeline-browser ./plugins/polly-pipeline-browser
# the package with its [serve] extra, and the browser plugin for the page served at /
RUN pip install '.[serve]' ./plugins/polly-pipeline-browser \
    && useradd --system --uid 10001 --home-dir /app polly

USER polly
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT ["polly-pipeline", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--workers", "2"]
