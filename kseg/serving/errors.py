"""The error every kseg serving client raises for a failed request."""


class ServingError(RuntimeError):
    """The model server answered with an error (or could not be reached).

    Attributes:
        status: HTTP status code (REST), gRPC status code name (gRPC) or
            ``None`` when no answer came back.
        message: the server's own error text.
    """

    def __init__(self, message, status=None):
        self.status = status
        self.message = message
        super().__init__(f"[{status}] {message}" if status is not None else message)
