class DomainError(Exception):
    """A problem a person caused and can fix: the message says what is wrong and where."""


class StaleError(DomainError):
    """The row changed since the user loaded it: nothing was overwritten (HTTP 409 to a page)."""
