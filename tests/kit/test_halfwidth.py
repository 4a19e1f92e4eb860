"""Full-width and other-script characters in values that are codes (kit.halfwidth and its users)."""

from __future__ import annotations

from datetime import date

import pytest

from creditbank.completions.rules import parse_date
from creditbank.kit import checkdigit, halfwidth, idcard
from creditbank.kit.tokens import is_account_no, new_account_no, normalize_account_no

NUMBER = idcard.make("500118", date(1955, 3, 5), 123)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_full_width_id_numbers_are_the_same_number():
    assert idcard.normalize(_fullwidth(NUMBER)) == NUMBER
    assert idcard.parse(_fullwidth(NUMBER)).number == NUMBER


def test_other_scripts_digits_are_refused_as_the_wrong_shape():
    arabic = "".join(chr(0x0660 + int(d)) for d in NUMBER)
    with pytest.raises(idcard.InvalidNationalId) as caught:
        idcard.parse(arabic)
    assert caught.value.zh.startswith("应为 18 位")


@pytest.mark.parametrize(
    "shown", ["5.00118E+17", "5.00118e+17", "５.００１１８Ｅ＋１７", "5.00118195503051E17"]
)
def test_scientific_notation_says_excel_saved_it_as_a_number(shown):
    with pytest.raises(idcard.InvalidNationalId) as caught:
        idcard.parse(shown)
    assert "科学计数法" in caught.value.zh and "文本" in caught.value.zh
    assert "scientific notation" in caught.value.en and "Text" in caught.value.en


def test_account_numbers_fold_and_take_ascii_digits_only():
    account = new_account_no()
    assert normalize_account_no(" " + _fullwidth(account.lower())) == account
    assert is_account_no(account)
    assert not is_account_no(account[:11] + "²" + account[12])  # isdigit() took it, int() raised
    assert not is_account_no(account[:2] + "".join(chr(0x0660 + int(d)) for d in account[2:12]) + account[12])
    assert not checkdigit.is_valid("1²3")


def test_dates_fold_and_take_a_time_of_day():
    assert parse_date("２０２６年３月５日") == date(2026, 3, 5)
    assert parse_date("2026/3/5 0:00") == parse_date("2026/03/05 00:00:00") == date(2026, 3, 5)
    assert parse_date("2026-03-05T08:15:00") == date(2026, 3, 5)
    for garbage in ("2026/3/5 24:00", "2026/3/5 0:60", "2026/3/5 0:00 0:00", "2026/3/5 abc", "5/3/2026 0:00"):
        assert parse_date(garbage) is None, garbage


def test_phone_numbers_fold_and_keep_one_space():
    assert halfwidth.phone("１３８\u3000００１３\u3000８０００") == "138 0013 8000"
    assert halfwidth.phone("  \u3000 ") is None
    assert halfwidth.is_phone("+86 138-0013-8000") and not halfwidth.is_phone("１３８")
