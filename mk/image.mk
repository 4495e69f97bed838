# The container image (Dockerfile): built, run and tested with podman (Debian's package; no Docker
# engine needed). runc, because podman's default crun refuses hybrid cgroup layouts. Containers only
# ever get `--network host` (build steps, serve/worker in tests) or `--network none`.
IMAGE_NAME ?= depot
# The tag is the project's version, which is also the chart's appVersion (its default image tag).
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE := $(IMAGE_NAME):$(IMAGE_TAG)
PODMAN ?= podman --runtime runc
IMAGE_REGISTRY_BASE ?= docker.io/library/python:3.11-slim
IMAGE_LOCAL_BASE ?= localhost/depot-base:bookworm-python3
# Survives clean clones on the same machine: the base tarball and the downloaded wheels.
IMAGE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/depot/image
# Read-only at build time when present, so pip works behind this machine's proxy; never in the image.
IMAGE_PIP_CONF ?= $(or $(PIP_CONFIG_FILE),/etc/pip.conf)
IMAGE_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_MOUNTS = $(if $(wildcard $(IMAGE_PIP_CONF)),-v $(abspath $(IMAGE_PIP_CONF)):/etc/pip.conf:ro) \
	$(if $(wildcard $(IMAGE_CA_BUNDLE)),-v $(IMAGE_CA_BUNDLE):/etc/ssl/certs/ca-certificates.crt:ro) \
	-v $(IMAGE_CACHE)/wheels:/wheels

.PHONY: image image-tools image-ref test-image

image-tools:
	@missing=; for tool in podman runc mmdebstrap; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then APT=apt-get; else APT="sudo apt-get"; fi; \
		$$APT update && DEBIAN_FRONTEND=noninteractive $$APT install -y $$missing; \
	fi
	@$(PODMAN) --version

image: image-tools ## the container image $(IMAGE), as the chart deploys it by default
	@mkdir -p $(IMAGE_CACHE)/wheels
	@start=$$(date +%s) && base=$$(PODMAN="$(PODMAN)" REGISTRY_BASE=$(IMAGE_REGISTRY_BASE) LOCAL_BASE=$(IMAGE_LOCAL_BASE) \
		CACHE_DIR=$(IMAGE_CACHE) mk/image-base.sh) && echo "image: $(IMAGE) on $$base" && \
	$(PODMAN) build --network host --layers --build-arg BASE=$$base $(IMAGE_MOUNTS) -t $(IMAGE) . && \
	echo "image: $(IMAGE) built in $$(( $$(date +%s) - start )) s (base included), $$($(PODMAN) image inspect --format '{{.Size}}' $(IMAGE)) bytes"

image-ref:
	@echo $(IMAGE)

# The image's own tests (tests/image): kept out of `make test`'s collection, run here after a build.
test-image: install image
	DEPOT_IMAGE=$(IMAGE) DEPOT_PODMAN="$(PODMAN)" $(BIN)/python -m pytest tests/image -p no:cacheprovider $(PYTEST_ARGS)
