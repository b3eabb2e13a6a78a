"""Errors a user can cause (bad scenario, missing file, unreachable client). The CLI prints them as one line, exit 2."""


class InputError(ValueError):
    """Bad input from the user. ``str(error)`` is one line naming the field or file."""
