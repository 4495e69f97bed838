"""The one failure a parser reports: the file is not what it claims (the message is shown)."""


class ParseError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
