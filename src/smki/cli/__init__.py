"""Operator commands (`smki ...`). Thin: parsing arguments and printing; no SEC rule lives here."""
