#!/bin/sh
# Find uploads from the command line, the same view the MinIO console gives:
# bucket = purpose, first folder = category, tags = purpose/category/sha256, manifest beside the file.
#
# Usage: browse.sh [purpose] [category]      e.g. browse.sh training audio
# Environment: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (Depot's user is enough), DEPOT_BUCKET_PREFIX.
set -eu
prefix="${DEPOT_BUCKET_PREFIX:-depot-}"
purpose="${1:-training}"
category="${2:-}"
mc alias set s3 "$S3_ENDPOINT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >/dev/null

mc ls --recursive "s3/${prefix}${purpose}/${category:+$category/}"
# Tags and manifest of the last file listed (saved names end in their upload time, so the newest).
newest="$(mc find "s3/${prefix}${purpose}/${category:+$category/}" | grep -v '\.meta\.json$' | tail -n 1 || true)"
if [ -n "$newest" ]; then
  mc tag list "$newest"
  mc cat "$newest.meta.json"
fi
