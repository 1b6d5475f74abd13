"""qplane.identity: who is calling.

* `passwords` — argon2id hashing for local accounts.
* `signing` — the platform's Ed25519 signing keys and their JWKS.
* `tokens` — access-token issuing and `TokenVerifier`, the one place a
  bearer token is checked.
* `workload` — worker keys, client assertions and result signatures.

JOSE goes through joserfc only, pinned to EdDSA in `_jose`.
"""
