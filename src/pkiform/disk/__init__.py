"""The output directory: bytes in and out (store), manifest.json, the facts read (observe)."""
