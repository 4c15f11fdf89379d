"""The spec: YAML read with positions, checked (schema, rules), resolved; the issuer graph."""
