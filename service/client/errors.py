"""The one error type the client raises: a short message for people, detail for ``--verbose``."""


class ClientError(Exception):
    """Something the user can act on; ``message`` is one readable line."""

    def __init__(self, message: str, detail: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status = status
