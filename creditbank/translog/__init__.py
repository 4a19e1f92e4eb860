"""The transparency log (SPEC §3.8): an append-only RFC 9162 Merkle tree over every ledger
transaction and every certificate issue and revocation, served as C2SP tiles with signed
checkpoints.

A leaf is 33 bytes, a kind byte and a SHA-256 digest of the event's RFC 8785 bytes — not the bytes
themselves: the log is public (anyone may fetch its entries), and a ledger transaction names a
learner's account and credits, which PIPL keeps private; whoever holds the record (the learner, an
employer with the certificate, the auditor with the database) recomputes the digest and proves it.
Digests are fixed-size and already computed on the hot path (the ledger's hash chain, the
certificate's integrity hash), so logging costs one small row per event.

Layering: ``translog`` sits *below* the domains — it imports ``kit`` and ``db`` only and knows
rows, digests and hashes, not ledgers or certificates. The ledger writer and the certificate
service call ``sequencer.append`` themselves, in their own transaction, so no event can be committed
without its leaf (a hook that a CLI or benchmark forgot to wire would silently log nothing).
"""
