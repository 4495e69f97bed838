"""All configuration, read from ``DEPOT_*`` environment variables (nothing else reads os.environ)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.domain.scans import ScanPolicy

MIB = 1024 * 1024


class Settings(BaseSettings):
    """One settings object; the Helm chart sets exactly these names."""

    model_config = SettingsConfigDict(env_prefix="DEPOT_", extra="ignore")

    # S3
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint; empty means AWS")
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    bucket_prefix: str = Field("depot-", pattern=r"^[a-z0-9][a-z0-9.-]{0,40}$")
    part_size: int = Field(6 * MIB, ge=5 * MIB, description="S3 multipart part size in bytes (memory: see part_concurrency)")
    part_concurrency: int = Field(3, ge=1, le=32, description="parts in flight per upload (memory: about (n+1) parts)")

    # Redis: index and job queue
    redis_url: str = "redis://localhost:6379/0"
    redis_prefix: str = Field("depot:", description="key prefix of the Redis index")
    redis_password: SecretStr | None = Field(None, description="Redis password (AUTH), instead of one in "
                                             "DEPOT_REDIS_URL; empty: the URL's, if any")
    redis_ca_file: str = Field("", description="CA bundle (PEM) that signed the Redis server's certificate, for "
                               "a rediss:// URL; empty: the system's CAs")
    redis_tls_verify: bool = Field(True, description="check the Redis server's TLS certificate and host name "
                                   "(false only for a test setup)")
    redis_sentinels: str = Field("", description="Redis Sentinels as host:port,host:port; set: the master is "
                                 "asked of them and DEPOT_REDIS_URL gives only scheme, credentials and db")
    redis_sentinel_master: str = Field("mymaster", description="the master's name known to the Sentinels")

    # Uploads
    max_upload_size: int = Field(100 * MIB, ge=1)
    max_description_length: int = Field(2000, ge=0)
    max_metadata_bytes: int = Field(16 * 1024, ge=2)
    body_read_timeout: float = Field(30.0, gt=0, description="seconds a request body may stay idle between two "
                                     "chunks before the request is cut with a 408 (slowloris)")
    tus_expiry_seconds: int = Field(86400, ge=1, description="seconds a resumable (tus) upload may take before "
                                    "it expires and a worker job removes it")
    tus_lock_seconds: float = Field(30.0, gt=0, description="seconds a tus PATCH's lock outlives its last sign of "
                                    "life (a killed API process blocks its upload this long)")

    # Direct transfers to S3 (README "Direct transfers"): presigned URLs, off by default
    direct_transfers: bool = Field(False, description="offer presigned S3 transfers: redirect downloads "
                                   "(?redirect=true) and direct uploads (/api/v1/data/direct)")
    s3_public_endpoint_url: str = Field("", description="the S3 address clients reach, used in "
                                               "presigned URLs; empty: DEPOT_S3_ENDPOINT_URL")
    presign_expiry_seconds: int = Field(900, ge=1, le=604800, description="seconds a presigned URL "
                                        "(download redirect or upload part) stays valid")
    direct_part_size: int = Field(16 * MIB, ge=5 * MIB, le=5 * 1024 * MIB, description="part size of a direct "
                                  "upload in bytes (grown for files that would need over 10000 parts)")
    direct_expiry_seconds: int = Field(86400, ge=60, description="seconds a direct upload may take before it "
                                       "expires and a worker job aborts it")

    # API server
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="API server processes")
    log_level: str = "INFO"
    log_json: bool = True
    debug: bool = False

    # Background worker (the chart derives the pod's terminationGracePeriodSeconds from this)
    worker_job_completion_wait: int = Field(60, ge=0, description="seconds running jobs get to finish on SIGTERM")
    worker_max_jobs: int = Field(32, ge=1, le=1000, description="jobs one worker process runs at once")
    stale_upload_age: int = Field(86_400, ge=0, description="seconds after which the sweeper aborts an open "
                                  "multipart upload and removes a staged model ZIP whose task is not running")
    requeue_every: int = Field(300, description="seconds between two runs of the sweeper's search for lost "
                               "ingestion jobs: a divisor of 60 below a minute, else whole minutes dividing an hour")
    worker_job_lease: float = Field(30.0, ge=1, description="seconds a running job stays claimed without "
                                    "renewal (renewed every third): a killed worker's jobs run elsewhere this soon")
    pending_requeue_after: int = Field(900, ge=0, description="seconds a stored file may stay pending with no "
                                       "ingestion job queued before the sweeper queues it again")

    # Upstreams for model imports
    hf_endpoint: str = "https://huggingface.co"
    hf_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None

    # Model imports (docs/README "Model imports"): required files, retries, ZIP limits, cache
    model_required_files: str = Field(
        "config.json;*.safetensors,*.bin,*.pt,*.pth,*.ckpt,*.onnx,*.gguf,*.h5,*.msgpack",
        description="files a GitHub or ZIP model must hold: ';' separates requirements, ',' alternatives "
        "(globs allowed); by default a config.json and one weights file (no tokenizer: vision, audio and "
        "tabular models have none). Hugging Face repos need only config.json plus weights",
    )
    model_scan: ScanPolicy = Field(ScanPolicy.STRICT, description="strict: an unsafe file fails the import "
                                   "and nothing is published; warn: published but flagged unsafe; off: no scan")
    model_trusted_keys: str = Field("", description="comma-separated paths of PEM public keys or CA "
                                    "certificates that may sign models (model-signing format, verified offline)")
    model_require_signature: bool = Field(False, description="refuse models without a valid signature "
                                          "by a trusted key")
    model_retry_delay: float = Field(10.0, ge=0, description="seconds before the first retry of a transient "
                                     "import fault; doubled for the next")
    model_zip_max_bytes: int = Field(10 * 1024 * MIB, ge=1, description="largest ZIP accepted, bytes")
    model_zip_max_unpacked: int = Field(20 * 1024 * MIB, ge=1, description="largest total unpacked size")
    model_zip_max_ratio: int = Field(100, ge=1, description="largest unpacked/packed ratio of an entry")
    model_zip_max_entries: int = Field(10_000, ge=1, description="most entries in one ZIP")
    model_cache_bytes: int = Field(20 * 1024 * MIB, ge=0, description="bytes of upstream files kept for "
                                   "re-imports of the same commit (least recently used go first); 0 = off")

    # Access control (hashed keys with scopes); empty means auth off
    api_keys: str = Field("", description='JSON list of {"name", "hash": "sha256:<hex>", "scopes": [...], '
                          '"purpose"?} (`depot keys create`); empty turns auth off')
    rate_limit_per_minute: int = Field(600, ge=0, description="requests per minute per API key; 0 = no limit")
    rate_limit_burst: int = Field(60, ge=1, description="requests one key may send at once before the rate applies")

    # Ingestion (README "Ingestion"): batches, duplicates, parsing limits, events, webhooks, training triggers
    max_batch_files: int = Field(100, ge=1, description="most files in one upload request")
    max_batch_bytes: int = Field(0, ge=0, description="largest body of a batch upload in bytes; 0 = max_upload_size "
                                 "(each file is also held to max_upload_size)")
    duplicates: Literal["allow", "reject"] = Field("allow", description="content already stored for the same "
                                                   "purpose: allow (marked duplicate) or reject (409)")
    process_timeout: int = Field(600, ge=1, description="seconds one file's ingestion parse may take")
    archive_max_entries: int = Field(100_000, ge=1, description="most members listed in an ingested archive")
    archive_max_unpacked: int = Field(50 * 1024 * MIB, ge=1, description="largest total unpacked size of an "
                                      "ingested archive (zip bombs fail the file)")
    archive_max_ratio: int = Field(1000, ge=1, description="largest unpacked/packed ratio of an archive member")
    parse_max_depth: int = Field(128, ge=1, le=10_000, description="deepest nesting of an ingested JSON, YAML or "
                                 "XML file or JSON Lines record; deeper fails it")
    summary_max_string: int = Field(1024, ge=16, description="characters kept of one name or key in a file's "
                                    "summary (longer ones are cut)")
    summary_max_bytes: int = Field(64 * 1024, ge=1024, description="largest summary of one file as JSON, bytes; "
                                   "a larger one is trimmed and marked truncated")
    events_max_len: int = Field(100_000, ge=10, description="events kept in the Redis stream (approximate)")
    public_url: str = Field("", description="the API's public base URL, e.g. https://depot.example.com; "
                            "empty: http://<host>:<port>")
    event_source: str = Field("", description="CloudEvents `source` of every event; empty: the public URL")
    events_streams_per_key: int = Field(5, ge=1, description="open SSE event streams one API key may hold "
                                        "(per API process)")
    events_streams_max: int = Field(200, ge=1, description="open SSE event streams per API process, all keys")
    events_heartbeat: float = Field(15.0, gt=0, description="seconds between keep-alive comments on a quiet "
                                    "SSE event stream")
    webhook_urls: str = Field("", description="comma-separated URLs that receive every event as a signed POST")
    webhook_secret: SecretStr | None = Field(None, description="Standard Webhooks secrets `whsec_<base64>`, "
                                             "space- or comma-separated (several during a rotation: each signs); "
                                             "empty: webhooks are sent unsigned")
    webhook_timeout: float = Field(10.0, gt=0, description="seconds one webhook POST may take")
    webhook_max_tries: int = Field(5, ge=1, description="tries of one webhook delivery")
    webhook_retry_delay: float = Field(2.0, ge=0, description="seconds before the first webhook retry; doubled "
                                       "for each next")
    training_thresholds: str = Field("", description="training.ready thresholds per category, e.g. "
                                     "'audio:count=50,bytes=1073741824;text:count=200'; empty = off")

    @field_validator("requeue_every")
    @classmethod
    def _check_requeue_every(cls, value: int) -> int:
        if not (0 < value < 60 and 60 % value == 0) and not (value >= 60 and value % 60 == 0 and 60 % (value // 60) == 0):
            raise ValueError("must divide a minute (1-30 s) or be whole minutes dividing an hour (60, 120, ... 3600)")
        return value

    @field_validator("training_thresholds")
    @classmethod
    def _check_thresholds(cls, value: str) -> str:
        from service.domain.training import parse_thresholds
        from service.errors import InvalidInput

        try:
            parse_thresholds(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from service.domain.webhooks import parse_secrets

        if value is not None:
            try:
                parse_secrets(value.get_secret_value())
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    def webhook_keys(self) -> list[bytes]:
        """The HMAC keys of ``DEPOT_WEBHOOK_SECRET`` (none: unsigned)."""
        from service.domain.webhooks import parse_secrets

        return parse_secrets(self.webhook_secret.get_secret_value()) if self.webhook_secret else []

    def events_source(self) -> str:
        """The CloudEvents ``source``: ``event_source``, else the public URL."""
        return self.event_source or self.public_url or f"http://{self.host}:{self.port}"

    def bucket(self, name: str) -> str:
        """The bucket name for a purpose (``training``, ``ingestion``) or ``models``."""
        return f"{self.bucket_prefix}{name}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
