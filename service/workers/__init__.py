"""arq workers: everything slow runs here. Never imports Litestar."""
