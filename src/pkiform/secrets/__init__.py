"""Passwords and PINs: read from the environment and files, kept as data that never prints."""
