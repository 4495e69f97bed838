"""The names of the arq jobs: what the queue enqueues and the worker registers (one spelling)."""

IMPORT_MODEL = "import_model"
IMPORT_DATASET = "import_dataset"  # a Hub dataset import (the task id is the job id)
REINDEX = "reindex"
PROCESS_FILE = "process_file"
DISPATCH_EVENT = "dispatch_event"
DELIVER_WEBHOOK = "deliver_webhook"
VERIFY_DIRECT = "verify_direct_upload"  # a direct (presigned) upload's hash check and commit

# the sweeper's cron jobs (service.workers.sweeper)
CLEAN_STALE_UPLOADS = "clean_stale_uploads"
REQUEUE_LOST = "requeue_lost"
EXPIRE_TUS_UPLOADS = "expire_tus_uploads"
EXPIRE_DIRECT_UPLOADS = "expire_direct_uploads"
RESTORE_INDEX = "restore_index"
CRON_JOBS = (CLEAN_STALE_UPLOADS, REQUEUE_LOST, EXPIRE_TUS_UPLOADS, EXPIRE_DIRECT_UPLOADS, RESTORE_INDEX)
