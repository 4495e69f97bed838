#!/bin/sh
# Prepare S3 for Depot: buckets, the lifecycle rule for stale multipart uploads and, on MinIO,
# Depot's own least-privilege user. Idempotent: the Helm hook Job runs it on every install/upgrade.
# The chart ships a byte-identical copy (charts/depot/files/setup.sh); a test keeps them equal.
#
# Environment:
#   S3_ENDPOINT          S3 URL, e.g. http://depot-minio:9000
#   S3_ADMIN_ACCESS_KEY  credentials allowed to create buckets (MinIO: the root user)
#   S3_ADMIN_SECRET_KEY
#   DEPOT_BUCKET_PREFIX  default depot-; buckets are <prefix>training, <prefix>ingestion, <prefix>models
#   ABORT_DAYS           days before incomplete multipart uploads are aborted (default 1)
#   CREATE_USER          "true" on MinIO: create Depot's user with the policy below
#   POLICY_FILE          IAM policy JSON for Depot's user (default: depot-policy.json beside this script)
#   DEPOT_S3_ACCESS_KEY_ID, DEPOT_S3_SECRET_ACCESS_KEY   Depot's user (when CREATE_USER is true)
set -eu

prefix="${DEPOT_BUCKET_PREFIX:-depot-}"
days="${ABORT_DAYS:-1}"
policy_file="${POLICY_FILE:-$(cd "$(dirname "$0")/.." && pwd)/depot-policy.json}"
config_dir="${TMPDIR:-/tmp}/.mc"  # the root filesystem may be read-only: keep mc's config in /tmp
mkdir -p "$config_dir"
mcx() { mc --config-dir "$config_dir" "$@"; }

# S3 may still be starting (a fresh install): retry the alias until it answers, about 5 minutes.
tries=0
until mcx alias set s3 "$S3_ENDPOINT" "$S3_ADMIN_ACCESS_KEY" "$S3_ADMIN_SECRET_KEY" >/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "S3 at $S3_ENDPOINT never answered" >&2; exit 1; }
  sleep 5
done

lifecycle="$config_dir/lifecycle.json"
cat >"$lifecycle" <<JSON
{"Rules": [{"ID": "depot-abort-stale-multipart", "Status": "Enabled", "Filter": {"Prefix": ""},
  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": $days}}]}
JSON

for purpose in training ingestion models; do
  bucket="s3/${prefix}${purpose}"
  mcx mb --ignore-existing "$bucket"
  # Import replaces the bucket's whole lifecycle configuration, so running it again changes nothing.
  # MinIO accepts but drops AbortIncompleteMultipartUpload (it expires stale uploads itself, see README).
  mcx ilm rule import "$bucket" <"$lifecycle"
done

if [ "${CREATE_USER:-false}" = "true" ]; then
  mcx admin policy create s3 depot "$policy_file"  # create or replace
  mcx admin user add s3 "$DEPOT_S3_ACCESS_KEY_ID" "$DEPOT_S3_SECRET_ACCESS_KEY"  # create or update
  # `policy attach` fails when the policy is already attached: that case is success here.
  if ! out="$(mcx admin policy attach s3 depot --user "$DEPOT_S3_ACCESS_KEY_ID" 2>&1)"; then
    case "$out" in
      *"already in effect"*) ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
fi
echo "buckets ready: ${prefix}training ${prefix}ingestion ${prefix}models"
