"""ISO 7064 MOD 11-2 — the check character of the 18-digit 身份证号 and of our account numbers."""

_WEIGHTS = [pow(2, i, 11) for i in range(17, 0, -1)]  # for 17 digits: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2


def mod11_2(digits: str) -> str:
    """Check character ('0'-'9' or 'X') for a string of decimal digits."""
    n = len(digits)
    total = sum(int(d) * pow(2, n - i, 11) for i, d in enumerate(digits))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def is_valid(number: str) -> bool:
    """True when the last character is the MOD 11-2 check of the digits before it."""
    body, check = number[:-1], number[-1:].upper()
    return body.isascii() and body.isdigit() and bool(check) and mod11_2(body) == check
