"""Training of the embedded VLA from time-aligned episode arrays (torch is imported lazily)."""
