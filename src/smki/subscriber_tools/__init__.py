"""Subscribers' own tools: their key pairs and their CSRs, made the way a Device or a Party makes them.

This is its own package because these keys are the subscriber's, not the CA's: a Device's or a Party's key
pair is generated here, signs its own CSR, and is written to the subscriber's file for the subscriber to
take away. The CA and the RA never see it (the RA receives only the CSR), so this code belongs neither in
``keys`` (which holds the CA keys and gives none out) nor in ``ra`` (which must never hold a subscriber's
private key). It serves ``smki csr ...``, people trying the RA, the benchmarks and the tests.

It is the only place outside ``smki.keys`` that handles private key bytes, and only the subscriber's own,
written to the subscriber's files. It imports ``model`` and ``profiles`` only; nothing in the CA or RA
request path imports it.

* :mod:`smki.subscriber_tools.key_pairs`: a new P-256 key pair, and writing it as PKCS#8 PEM (mode 0600).
* :mod:`smki.subscriber_tools.csr_builder`: Device, Organisation and IKI CSRs shaped like the real ones.
"""
