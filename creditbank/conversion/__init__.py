"""Credit conversion: the pure eligibility engine (rules, lots, caps, explanations) — no web, no database."""
