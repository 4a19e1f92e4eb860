"""Verifying certificates: the pure verifier and how its inputs are read."""
