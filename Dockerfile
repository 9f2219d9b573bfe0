# syntax=docker/dockerfile:1
# The Battery Intelligence API: migrate, then serve on 0.0.0.0:8000.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked dependencies first: this layer survives changes to the code.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN pip install --no-deps . && battery-intel --help >/dev/null

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin app \
    && mkdir -p /srv/data && chown app /srv/data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000
WORKDIR /srv
USER app
EXPOSE 8000
VOLUME ["/srv/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# migrate waits for a database that is still starting (compose, orchestrators).
CMD ["sh", "-c", "battery-intel migrate --wait 60 && exec battery-intel serve --host 0.0.0.0 --port \"$PORT\""]
