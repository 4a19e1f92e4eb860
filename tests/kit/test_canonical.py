"""The fast canonical-JSON path must give exactly the RFC 8785 bytes (or defer to the reference)."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.kit.canonical import canonical_bytes

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=1500)
@given(values)
def test_same_bytes_as_the_reference(value):
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        try:
            canonical_bytes(value)
        except Exception:
            return
        raise AssertionError(f"accepted what RFC 8785 refuses: {value!r}") from None
    assert canonical_bytes(value) == expected


def test_control_characters_and_unicode_match():
    value = {"b": '\u0001\b\f\n\r\t"\\/ 张桂兰 😀 \u2028 \u007f', "a": [1, None, True, 9007199254740991]}
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_credit_numbers_match():
    for value in (0.5, 1.5, 2.25, 0.01, 12.75, 99.99, 0.0001, 123456.789):
        assert canonical_bytes({"credits": value}) == rfc8785.dumps({"credits": value})
