"""The HTTP API (Litestar). Never imports botocore."""
