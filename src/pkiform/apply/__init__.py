"""Carrying a plan out: keys, signatures and file replacements, on one or two processes."""
