"""The one error type users see: a one-line message that names the file and the fix."""


class UnetkitError(Exception):
    """A problem with the user's input or setup. The CLI prints it on one line and exits 2."""


class SetupError(UnetkitError):
    """A problem with an option or the machine, not with the file at hand (an unreachable scheduler, a diameter
    that is no number): a batch over many files stops at once instead of failing each file in turn."""
