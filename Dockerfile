# syntax=docker/dockerfile:1
# One image for the API (`depot serve`, the default) and the worker (`depot worker`).
# Build stage: compilers for any dependency without a wheel; the runtime stage gets only the venv.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/depot
WORKDIR /src
# Dependencies first, so code changes reuse the cached dependency layer.
COPY pyproject.toml ./
RUN mkdir service && touch service/__init__.py \
 && /opt/depot/bin/pip install . \
 && /opt/depot/bin/pip uninstall -y depot
COPY service ./service
# Not editable, byte-compiled here: the runtime root filesystem is read-only.
RUN /opt/depot/bin/pip install --no-deps . \
 && /opt/depot/bin/python -m compileall -q /opt/depot/lib

FROM python:${PYTHON_VERSION}-slim AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} depot \
 && useradd --system --uid ${UID} --gid depot --no-create-home --home-dir /tmp --shell /usr/sbin/nologin depot
COPY --from=build /opt/depot /opt/depot
# /tmp is the only writable path in Kubernetes (an emptyDir): caches and spooled files go there.
ENV PATH=/opt/depot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    XDG_CACHE_HOME=/tmp/.cache \
    DEPOT_HOST=0.0.0.0 \
    DEPOT_PORT=8080
USER ${UID}:${UID}
EXPOSE 8080
ENTRYPOINT ["depot"]
CMD ["serve"]
