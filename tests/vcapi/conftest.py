"""Node and Digital Bazaar's pinned libraries for the VC-API tests (installed on demand)."""

from tests.verification.test_interop import node  # noqa: F401  (the fixture)
