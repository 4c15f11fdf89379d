"""The files made from a certificate and its key: PEM, PKCS#12, Secrets; the outputs model."""
