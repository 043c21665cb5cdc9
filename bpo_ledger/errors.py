class DomainError(Exception):
    """A problem a person caused and can fix: the message says what is wrong and where."""
