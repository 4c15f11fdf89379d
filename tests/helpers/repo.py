"""Where the repository's files are: its root and the example specs, and the passwords
those examples read."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# what examples/outputs.yaml reads its passwords from (its comment says to export them)
EXAMPLE_PASSWORDS = {
    "ISSUING_KEY_PASSWORD": "issuing-Secret-5d1c",
    "PAYMENTS_P12_PASSWORD": "payments-Secret-77e0",
    "TRUSTSTORE_PASSWORD": "truststore-Secret-09ab",
}
