"""The soak test of the live chain: python -m soak (make soak)."""
