# syntax=docker/dockerfile:1
# One image for the API (`depot serve`, the default) and the worker (`depot worker`).
# `make image` builds it with podman and picks BASE: the registry's python:3.11-slim where reachable,
# else a local base with the same role (Debian's python3, python3-venv, ca-certificates).
ARG BASE=docker.io/library/python:3.11-slim

# Build stage: a venv with the dependencies (wheels only: no compiler anywhere), then Depot itself.
FROM ${BASE} AS build
ARG UID=10001
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /build
# Dependencies first, read from pyproject.toml: code changes reuse this layer, and the project is
# never built here (an earlier placeholder-package build left a stale build/ that shadowed the code).
# Wheels only (no compiler anywhere), downloaded into /wheels: `make image` mounts a cache there.
COPY pyproject.toml ./
RUN python3 -m venv /opt/depot \
 && python3 -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
open("requirements.txt", "w").write("\n".join(p["project"]["dependencies"])); \
open("build-requires.txt", "w").write("\n".join(p["build-system"]["requires"]))' \
 && /opt/depot/bin/pip download --only-binary=:all: --dest /wheels -r requirements.txt -r build-requires.txt \
 && /opt/depot/bin/pip install --no-index --find-links /wheels -r requirements.txt
# Depot from a fresh directory holding only pyproject.toml and service/ (see .dockerignore), built
# once into a wheel outside the tree; the build fails unless the installed package is the copied one.
COPY pyproject.toml /src/
COPY service /src/service
RUN /opt/depot/bin/pip wheel --no-deps --find-links /wheels --wheel-dir /tmp/dist /src \
 && /opt/depot/bin/pip install --no-deps /tmp/dist/depot-*.whl \
 && rm -rf /tmp/dist /src/build \
 && version=$(python3 -c 'import tomllib; print(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["version"])') \
 && /opt/depot/bin/python -m pip check \
 && /opt/depot/bin/python -c 'import sys, service; assert service.__version__ == sys.argv[1], service.__version__' "$version" \
 && /opt/depot/bin/depot --help >/dev/null \
 && /opt/depot/bin/python -m pip uninstall -q -y pip \
 && /opt/depot/bin/python -m compileall -q /opt/depot/lib
# The runtime user's passwd entry, made here without useradd (not in every base).
RUN echo "depot:x:${UID}:${UID}:depot:/tmp:/usr/sbin/nologin" >> /etc/passwd \
 && echo "depot:x:${UID}:" >> /etc/group

# Runtime stage: the base plus the venv and the user; no pip, no build files, no cache. It has no
# RUN step, so nothing mounted at build time (pip.conf, CA bundle, pip cache) leaves a trace here.
FROM ${BASE} AS runtime
ARG UID=10001
COPY --from=build /etc/passwd /etc/group /etc/
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
