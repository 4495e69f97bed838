#!/bin/sh
# Example: tell a webhook whenever Depot completes a file. Depot writes <name>.meta.json last,
# so an event on that suffix means "file and manifest are both there" (never a half-written upload).
#
# Environment: S3_ENDPOINT, S3_ADMIN_ACCESS_KEY, S3_ADMIN_SECRET_KEY (as for setup.sh),
#              WEBHOOK_URL (your receiver), DEPOT_BUCKET_PREFIX (default depot-).
set -eu
prefix="${DEPOT_BUCKET_PREFIX:-depot-}"
mc alias set s3 "$S3_ENDPOINT" "$S3_ADMIN_ACCESS_KEY" "$S3_ADMIN_SECRET_KEY" >/dev/null

# A webhook target named "depot"; MinIO applies notify_* changes after a restart.
mc admin config set s3 notify_webhook:depot endpoint="$WEBHOOK_URL"
mc admin service restart s3 --wait

for purpose in training ingestion models; do
  mc event add "s3/${prefix}${purpose}" arn:minio:sqs::depot:webhook \
    --event put --suffix .meta.json --ignore-existing
done
mc event list "s3/${prefix}training"
