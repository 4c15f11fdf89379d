"""Keys and X.509: profile, signing, derivation, CRLs and OCSP responses, drift."""
