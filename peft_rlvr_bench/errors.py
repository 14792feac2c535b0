"""The one exception type that reaches the user as a one-line message with exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: a file, a field or an argument the user can fix.

    The message is a single line that names where the problem is, what is wrong and how to fix
    it. The CLI prints it verbatim and exits with code 2; nothing else catches it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
