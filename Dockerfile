# MuskTracker: one image for the API, the Celery worker and beat (the command differs).
# Build: docker build -t musktracker .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOG_FORMAT=json

# PyTorch (for the sentiment model) is pinned to the CPU build: a plain `torch` requirement
# pulls a multi-GB CUDA build.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md LICENSE ./
COPY musktracker ./musktracker
# The signal rules at the default RULES_PATH (rules/rules.yml, relative to WORKDIR).
COPY rules ./rules
# The sentiment extra (transformers, MLflow, ONNX Runtime) on top of the CPU torch above.
RUN pip install ".[postgres,sentiment]" \
    && useradd --create-home --uid 1000 musktracker \
    && mkdir -p /data/artifacts \
    && chown musktracker /app /data/artifacts
USER musktracker

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["musktracker", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
