"""How many 18-digit ID numbers fit what an attacker can see (issue 9 item 1, SPEC §3.2).

The attacker is granted the region code even where it is masked (the stored district usually
names it), then enumerates the hidden birth date (every real date the constraints allow, up to
today) and the 3-digit sequence (only the gender's parity), and keeps the numbers whose check
character matches a visible one. Counting is exact: the check character depends only on the
weighted digit sum mod 11, so residues of the date part and the sequence part are convolved.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

WEIGHTS = [pow(2, i, 11) for i in range(17, 0, -1)]
CHECK = "10X98765432"
MASK_LIKE = re.compile(r"(?<![0-9*])[0-9]{2}[0-9*]{15}[0-9X*](?![0-9X*])")


def _residue(digits: str, start: int) -> int:
    return sum(int(d) * WEIGHTS[start + i] for i, d in enumerate(digits)) % 11


def _fits(text: str, mask: str, start: int) -> bool:
    return all(m == "*" or m == c for c, m in zip(text, mask[start : start + len(text)], strict=False))


def combine(masks: list[str]) -> str:
    """What several masked forms of one number reveal together (the union of visible places)."""
    out = ["*"] * 18
    for mask in masks:
        for i, c in enumerate(mask):
            if c != "*":
                out[i] = c
    return "".join(out)


def count(
    mask: str,
    *,
    region: str,
    today: date,
    birth_year: int | None = None,
    birth_date: date | None = None,
    gender: str | None = None,
) -> int:
    assert len(mask) == 18, mask
    region = "".join(m if m != "*" else r for m, r in zip(mask[:6], region, strict=True))
    if birth_date is not None:
        first = last = birth_date
    elif birth_year is not None:
        first, last = date(birth_year, 1, 1), min(date(birth_year, 12, 31), today)
    else:
        first, last = date(1900, 1, 1), today
    dates: Counter[int] = Counter()
    day = first
    while day <= last:
        text = f"{day:%Y%m%d}"
        if _fits(text, mask, 6):
            dates[_residue(text, 6)] += 1
        day += timedelta(days=1)
    sequences: Counter[int] = Counter()
    for n in range(1000):
        text = f"{n:03d}"
        if gender is not None and (n % 2 == 1) != (gender == "male"):
            continue
        if _fits(text, mask, 14):
            sequences[_residue(text, 14)] += 1
    base = _residue(region, 0)
    total = 0
    for r1, n1 in dates.items():
        for r2, n2 in sequences.items():
            check = CHECK[(base + r1 + r2) % 11]
            if mask[17] in ("*", check):
                total += n1 * n2
    return total
