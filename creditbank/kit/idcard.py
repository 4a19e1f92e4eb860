"""Validation of the 18-digit resident identity number (GB 11643-1999).

Layout: 6-digit administrative region, 8-digit birth date, 3-digit sequence (odd = male),
check character (ISO 7064 MOD 11-2). We check the province part of the region (the full
county table changes every year and would reject real people), the date and the check digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from creditbank.kit.checkdigit import mod11_2
from creditbank.kit.halfwidth import fold

# GB/T 2260 province-level codes, plus Taiwan (71), Hong Kong (81), Macao (82) as issued on residence permits.
PROVINCES = {
    "11": "北京",
    "12": "天津",
    "13": "河北",
    "14": "山西",
    "15": "内蒙古",
    "21": "辽宁",
    "22": "吉林",
    "23": "黑龙江",
    "31": "上海",
    "32": "江苏",
    "33": "浙江",
    "34": "安徽",
    "35": "福建",
    "36": "江西",
    "37": "山东",
    "41": "河南",
    "42": "湖北",
    "43": "湖南",
    "44": "广东",
    "45": "广西",
    "46": "海南",
    "50": "重庆",
    "51": "四川",
    "52": "贵州",
    "53": "云南",
    "54": "西藏",
    "61": "陕西",
    "62": "甘肃",
    "63": "青海",
    "64": "宁夏",
    "65": "新疆",
    "71": "台湾",
    "81": "香港",
    "82": "澳门",
}

_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: ``\d`` takes any script's digits
_SCIENTIFIC = re.compile(r"^[0-9](?:\.[0-9]*)?E\+?[0-9]{1,2}$")  # 5.00118E+17, as Excel shows a big number

SAVED_AS_NUMBER_ZH = (
    "身份证号被 Excel 存成了数字，后几位已经丢失（Excel 的数字只保留 15 位）。请把原表中这一列设为“文本”格式，"
    "重新填写或导出后再上传"
)
SAVED_AS_NUMBER_EN = (
    "Excel saved the ID number as a number and lost its last digits (Excel numbers keep 15). Set the "
    "column's format to Text (文本) in the original sheet, fill it in or export it again, and upload again"
)
"""Why an ID number from a spreadsheet's number cell is refused (``completions.batchfile`` says it
of a numeric XLSX cell too): the digits after the 15th are gone and cannot be recovered from the file."""


class InvalidNationalId(ValueError):
    """Why a number was refused, in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass(frozen=True)
class NationalId:
    number: str
    birth_date: date
    gender: str  # "male" | "female"
    province: str

    @property
    def masked(self) -> str:
        """What is stored, printed on certificates and shown to clerks: ``110101************``.

        Only the region (digits 1–6) stays. With the birth year and gender that statistics keep,
        digits 7–18 still leave ≥ 182 500 candidates (365 days × 500 sequence numbers of the
        gender); keeping the sequence or the check character would cut that to hundreds or
        ~16 600 (see ``docs/privacy.md``)."""
        return mask(self.number)


MASK_VISIBLE = 6
"""How many leading characters (the region code) the masked form keeps."""


def mask(number: str) -> str:
    return number[:MASK_VISIBLE] + "*" * (len(number) - MASK_VISIBLE)


def normalize(raw: str) -> str:
    """Spaces out, upper case, full-width digits and ``Ｘ`` folded (``kit.halfwidth``): a number
    typed in full-width mode is the same number (and the same HMAC)."""
    return fold(raw).strip().replace(" ", "").upper()


def parse(raw: str, *, today: date | None = None) -> NationalId:
    number = normalize(raw)
    if not _SHAPE.match(number):
        if _SCIENTIFIC.match(number):
            raise InvalidNationalId(
                f"{number} 是科学计数法：{SAVED_AS_NUMBER_ZH}",
                f"{number} is scientific notation: {SAVED_AS_NUMBER_EN}",
            )
        raise InvalidNationalId("应为 18 位，最后一位可为 X", "must be 18 characters, the last may be X")
    province = PROVINCES.get(number[:2])
    if province is None or number[2:6] == "0000":
        raise InvalidNationalId("地区码不存在", "unknown region code")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidNationalId("出生日期不存在", "birth date does not exist") from None
    if born.year < 1900 or born > (today or date.today()):
        raise InvalidNationalId("出生日期不合理", "birth date is out of range")
    if mod11_2(number[:17]) != number[17]:
        if number.endswith("000"):  # what an 18-digit number becomes once Excel keeps only 15 digits
            raise InvalidNationalId(
                f"校验位不正确，且末三位是 000：很可能是{SAVED_AS_NUMBER_ZH}",
                f"check digit is wrong and it ends in 000: most likely {SAVED_AS_NUMBER_EN}",
            )
        raise InvalidNationalId("校验位不正确", "check digit is wrong")
    gender = "male" if int(number[16]) % 2 else "female"
    return NationalId(number=number, birth_date=born, gender=gender, province=province)


def make(region: str, born: date, sequence: int) -> str:
    """A valid number for demo data and tests (never a real person's: sequence is ours)."""
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + mod11_2(body)
