# MuskTracker: one image for the API, the Celery worker and beat (the command differs).
# Build: docker build -t musktracker .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOG_FORMAT=json

# PyTorch (for the sentiment model) is pinned to the CPU build: a plain `torch` requirement
# pulls a multi-GB CUDA build. Set TORCH_VERSION= (empty) to leave it out.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

WORKDIR /app
RUN if [ -n "$TORCH_VERSION" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"; \
    fi

COPY pyproject.toml README.md LICENSE ./
COPY musktracker ./musktracker
RUN pip install ".[postgres]" \
    && useradd --create-home --uid 1000 musktracker \
    && chown musktracker /app
USER musktracker

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["musktracker", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
