"""X.509 building blocks; so far, CA keys that stay in a PKCS#11 token (token_keys)."""
