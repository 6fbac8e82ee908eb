"""placeholder during development"""


def add_parser(cmd) -> None:
    """Development placeholder."""


def run(args, explicit):
    """Development placeholder."""
    return 0
