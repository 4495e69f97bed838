"""I/O adapters: S3 objects and the Redis index. Never imports Litestar."""
