"""The one failure a parser reports: the file is not what it claims (the message is shown)."""

MAX_MESSAGE = 1024  # characters: a message may quote a name from the file, and it travels in events


class ParseError(Exception):
    def __init__(self, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        super().__init__(message)
        self.message = message
