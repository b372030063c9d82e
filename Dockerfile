# Kommo Analytics: `kommo-analytics serve` (the dashboard on 8501 and the scheduler) in one
# container. Everything is installed while the image is built; nothing is downloaded when it runs.
#   docker compose up -d          (see compose.yaml: the data volume and .env)
FROM python:3.11-slim

# WeasyPrint (the weekly report's PDF) needs Pango, HarfBuzz and fonts from the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
        libfontconfig1 fonts-dejavu-core fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-compile . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin kommo \
    && mkdir -p /data \
    && chown kommo:kommo /data \
    && chmod 0700 /data

USER kommo
VOLUME ["/data"]
EXPOSE 8501

# The dashboard answering is what "healthy" means for the container: `kommo-analytics health`
# exits 1 on a mere warning (a stale stream), which would mark it unhealthy and restart it.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=5)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["kommo-analytics"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8501"]
