#!/usr/bin/env bash
# Prints the base image for the Dockerfile's BASE: the registry's python:3.11-slim where it can be
# pulled; otherwise a base with the same role (Debian bookworm's python3 + venv + CA certificates),
# made once by mmdebstrap from the Debian mirror this machine's apt uses and imported into podman.
# The tarball is cached, so a removed image is re-imported without downloading again.
set -euo pipefail
: "${PODMAN:=podman --runtime runc}" "${REGISTRY_BASE:?}" "${LOCAL_BASE:?}" "${CACHE_DIR:?}"

if $PODMAN image exists "$REGISTRY_BASE" || timeout 120 $PODMAN pull -q "$REGISTRY_BASE" >&2; then
    echo "$REGISTRY_BASE"; exit 0
fi
echo "image-base: $REGISTRY_BASE cannot be pulled; using $LOCAL_BASE" >&2
if ! $PODMAN image exists "$LOCAL_BASE"; then
    tarball="$CACHE_DIR/base-bookworm-python3.tar"
    if [ ! -s "$tarball" ]; then
        # apt's own view of its sources: the first mirror that serves bookworm's packages.
        mirror=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Identifier: Packages' \
                 | awk '$1 == "bookworm" { print $2; exit }')
        [ -n "$mirror" ] || { echo "image-base: no bookworm mirror in apt's sources" >&2; exit 1; }
        echo "image-base: mmdebstrap from $mirror" >&2
        mkdir -p "$CACHE_DIR" && rm -rf "$tarball.tmp"
        mmdebstrap --variant=minbase --format=tar --include=python3,python3-venv,ca-certificates \
            bookworm "$tarball.tmp" "$mirror" >&2
        mv "$tarball.tmp" "$tarball"
    fi
    $PODMAN import -q "$tarball" "$LOCAL_BASE" >&2
fi
echo "$LOCAL_BASE"
