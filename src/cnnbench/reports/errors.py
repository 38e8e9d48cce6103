"""The one exception of the reports package: the CLI prints its message as one line and exits 2."""


class ReportError(Exception):
    """Bad input or output: the message says what is wrong and what would be right."""
