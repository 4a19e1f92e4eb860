"""Certificates: issuer keys, credential documents, issuing and revoking."""
