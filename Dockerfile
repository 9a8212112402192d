FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 gateway \
    && mkdir -p /data && chown gateway /data
USER gateway
WORKDIR /data
# The image's own config: model "human" with client and reviewer auth, which need
# GATEWAY_KEY and REVIEWER_TOKEN (docker run -e ...). Mount your own and point here.
ENV GATEWAY_CONFIG=/app/config/docker.toml
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Binds all interfaces inside the container: set client keys (or allow_open) in the config.
CMD ["sh", "-c", "exec hitl-gateway --host 0.0.0.0 --port 8000 ${GATEWAY_CONFIG:+--config $GATEWAY_CONFIG}"]
