"""Every name in the output directory, in one place (README, "The output directory").

    DIR/manifest.json  DIR/trust-bundle.pem  DIR/archive/<stamp>/<name>/  DIR/.lock
    DIR/.gitattributes DIR/.gitignore                            (for a directory in git)
    DIR/<name>/key.pem cert.pem chain.pem fullchain.pem ca.pem   (every identity)
               cross.pem                                         (a root rotation)
               crl.pem crl.der ocsp.der                          (signed revocation data)
               cert.der key.der bundle.p12 truststore.p12 secret.yaml combined.pem
               seed-id                                           (reproducible mode)
               csr.pem                                           (the request signed: no key.pem)
               archive/<stamp>/                                  (what was replaced)

Standard library only: the spec's rules (reserved names), the planner and the store all
name files from here, and none of them needs the others for it.
"""

from __future__ import annotations

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
CHAIN_FILE = "chain.pem"
FULLCHAIN_FILE = "fullchain.pem"
CA_FILE = "ca.pem"
# what every identity has: its key, its certificate, and the chain files made from them
IDENTITY_FILES = (KEY_FILE, CERT_FILE, CHAIN_FILE, FULLCHAIN_FILE, CA_FILE)

CRL_PEM = "crl.pem"
CRL_DER = "crl.der"
OCSP_DER = "ocsp.der"
# a new root's certificate signed by the root it replaces (issue 16: a CA rotation)
CROSS_FILE = "cross.pem"

# signed revocation data: public, re-made from the spec at will, refreshed every few
# days, so a newer one simply replaces the old instead of filling the archive
REVOCATION_FILES = (CRL_PEM, CRL_DER, OCSP_DER)

# the outputs an identity may ask for beside its PEM files (formats/outputs.py makes them)
CERT_DER = "cert.der"
KEY_DER = "key.der"
BUNDLE = "bundle.p12"
TRUSTSTORE = "truststore.p12"
SECRET = "secret.yaml"
COMBINED = "combined.pem"
OUTPUT_FILES = (CERT_DER, KEY_DER, BUNDLE, TRUSTSTORE, SECRET, COMBINED)

# the certificate request an identity's certificate was signed from (`csr:` in the spec):
# its key stays with its owner, and no key.pem is written
CSR_FILE = "csr.pem"

# reproducible mode's mark, beside each key derived from a seed: the seed's public id.
# It travels with the keys, so no lost or deleted manifest.json lets random keys in
SEED_ID = "seed-id"

# every file of an identity's folder pkiform reads or writes, in the order it reads them
IDENTITY_FOLDER = (*IDENTITY_FILES, CROSS_FILE, *REVOCATION_FILES, *OUTPUT_FILES, SEED_ID, CSR_FILE)
# files that hold a private key, plain or encrypted: created 0600
PRIVATE_FILES = frozenset((KEY_FILE, KEY_DER, BUNDLE, SECRET, COMBINED))

MANIFEST = "manifest.json"
TRUST_BUNDLE = "trust-bundle.pem"  # every root (plan/adopted.trust_anchors), for all clients
ARCHIVE = "archive"  # DIR/archive (retired identities) and DIR/<name>/archive (replaced files)
LOCK = ".lock"
# what keeps a directory committed to git byte for byte (formats/git_files.py writes them)
GITATTRIBUTES = ".gitattributes"
GITIGNORE = ".gitignore"
GIT_FILES = (GITATTRIBUTES, GITIGNORE)
# names the output directory itself uses beside the identities' folders: no identity
# may take one
RESERVED_NAMES = (MANIFEST, ARCHIVE, TRUST_BUNDLE)

# a replacement in progress: staged files sit beside the live ones as .pending.<file>,
# and the marker that makes a staged group final is .pending.COMMIT; a new identity's
# folder is built as .new.<name>, then renamed to <name>
PENDING = ".pending."
COMMIT = PENDING + "COMMIT"
NEW = ".new."
