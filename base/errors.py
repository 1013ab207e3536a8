"""The one error type that bad input turns into.

The CLI prints `calirules: error: <location>: <message>` and exits 2; nothing else may print a
traceback for input a user gave us.
"""


class InputError(Exception):
    """Unreadable or invalid input: a facts dump, a rule file, a bundle, an option value."""

    def __init__(self, message, path=None, line=None, column=None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    @property
    def location(self):
        parts = [str(self.path)] if self.path else []
        if self.path and self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self):
        loc = self.location
        return f"{loc}: {self.message}" if loc else self.message
