"""Bitstring Status List v1.0: bit order, encoding, the credential and entry shapes."""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from creditbank.kit import statuslist

# The spec's "Example BitstringStatusListCredential" encodedList (§2.2): 16 KiB of zero bits.
SPEC_EXAMPLE = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def test_new_bitstring_is_16_kib_of_zeros() -> None:
    bits = statuslist.new_bitstring()
    assert statuslist.SIZE == 131072
    assert len(bits) == 16384 and not any(bits)


def test_spec_example_decodes_to_an_empty_minimum_list() -> None:
    bits = statuslist.decode(SPEC_EXAMPLE)
    assert len(bits) * 8 == statuslist.SIZE
    assert not any(bits)
    # …and our encoding of the same list decodes to the same bits.
    assert statuslist.decode(statuslist.encode(bits)) == bits


def test_bit_order_index_zero_is_left_most_bit_of_first_byte() -> None:
    bits = statuslist.new_bitstring()
    statuslist.set_bit(bits, 0, True)
    assert bits[0] == 0b1000_0000
    statuslist.set_bit(bits, 7, True)
    assert bits[0] == 0b1000_0001
    statuslist.set_bit(bits, 9, True)
    assert bits[1] == 0b0100_0000
    statuslist.set_bit(bits, statuslist.SIZE - 1, True)  # spec: the last index is the right-most bit
    assert bits[-1] == 0b0000_0001
    assert [i for i in range(16) if statuslist.get_bit(bits, i)] == [0, 7, 9]
    statuslist.set_bit(bits, 0, False)
    assert bits[0] == 0b0000_0001 and not statuslist.get_bit(bits, 0)


def test_index_is_read_from_the_gunzipped_bytes_independently() -> None:
    """Decode with nothing but base64 + gzip, as another verifier would, and find the bit."""
    bits = statuslist.new_bitstring()
    statuslist.set_bit(bits, 94567, True)  # the index used in the spec's examples
    encoded = statuslist.encode(bits)
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw[94567 // 8] == 0x80 >> (94567 % 8)
    assert sum(bin(b).count("1") for b in raw) == 1


def test_round_trip_random_bits() -> None:
    rng = random.Random(7)
    bits = statuslist.new_bitstring()
    chosen = set(rng.sample(range(statuslist.SIZE), 500))
    for index in chosen:
        statuslist.set_bit(bits, index, True)
    encoded = statuslist.encode(bits)
    assert encoded.startswith("u") and "=" not in encoded
    back = statuslist.decode(encoded)
    assert back == bits
    assert {i for i in range(statuslist.SIZE) if statuslist.get_bit(back, i)} == chosen


def test_encoding_is_deterministic_and_small_when_empty() -> None:
    empty = statuslist.encode(statuslist.new_bitstring())
    assert empty == statuslist.encode(statuslist.new_bitstring())
    assert len(empty) < 100  # 16 KiB of zeros → ~50 bytes of gzip


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "zH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",  # base58 prefix
        SPEC_EXAMPLE[1:],  # no prefix at all
        SPEC_EXAMPLE + "==",  # padding
        "u!!!!",
        "u" + base64.urlsafe_b64encode(b"not gzip").decode().rstrip("="),
        "u" + base64.urlsafe_b64encode(gzip.compress(bytes(1024), mtime=0)).decode().rstrip("="),  # too small
        SPEC_EXAMPLE[:-6],  # truncated stream
    ],
)
def test_decode_refuses_malformed_lists(bad: str) -> None:
    with pytest.raises(ValueError):
        statuslist.decode(bad)


def test_decode_bounds_decompression() -> None:
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(statuslist.MAX_BYTES + 8))).decode().rstrip("=")
    with pytest.raises(ValueError, match="larger"):
        statuslist.decode(bomb)


def test_encode_refuses_short_bitstrings_and_bad_indexes() -> None:
    with pytest.raises(ValueError):
        statuslist.encode(bytearray(100))
    bits = statuslist.new_bitstring()
    with pytest.raises(IndexError):
        statuslist.set_bit(bits, statuslist.SIZE, True)
    with pytest.raises(IndexError):
        statuslist.get_bit(bits, -1)


def test_status_list_credential_shape() -> None:
    url = "https://bank.example.org/api/v1/status-lists/3"
    encoded = statuslist.encode(statuslist.new_bitstring())
    vc = statuslist.status_list_credential(
        list_url=url, issuer="did:web:bank.example.org", encoded=encoded, valid_from="2026-11-26T08:00:00Z"
    )
    assert vc == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": "did:web:bank.example.org",
        "validFrom": "2026-11-26T08:00:00Z",
        "credentialSubject": {
            "id": url + "#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }
    suspended = statuslist.status_list_credential(
        list_url=url,
        issuer="did:web:x",
        encoded=encoded,
        valid_from="2026-11-26T08:00:00Z",
        purpose="suspension",
    )
    assert suspended["credentialSubject"]["statusPurpose"] == "suspension"
    with pytest.raises(ValueError):
        statuslist.status_list_credential(
            list_url=url,
            issuer="did:web:x",
            encoded=encoded,
            valid_from="2026-11-26T08:00:00Z",
            purpose="message",
        )


def test_status_entry_shape() -> None:
    url = "https://bank.example.org/api/v1/status-lists/3"
    assert statuslist.status_entry(url, 94567) == {
        "id": url + "#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": url,
    }
    for bad in (-1, statuslist.SIZE, True, "5"):
        with pytest.raises(ValueError):
            statuslist.status_entry(url, bad)  # type: ignore[arg-type]
