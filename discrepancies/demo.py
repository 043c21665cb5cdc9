# Placeholder: the demo discrepancies are written next; nothing is seeded yet.
def seed() -> int:
    return 0
