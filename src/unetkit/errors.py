"""The one error type users see: a one-line message that names the file and the fix."""


class UnetkitError(Exception):
    """A problem with the user's input or setup. The CLI prints it on one line and exits 2."""
