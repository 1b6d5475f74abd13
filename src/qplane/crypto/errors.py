"""Errors raised by key management.

Both derive from `QplaneError`, so the API edge maps them like every other
typed error. Neither message ever carries key material, a plaintext, or a
tenant's wrapped key.
"""

from __future__ import annotations

from qplane.domain.errors import QplaneError


class KeyUnavailable(QplaneError):
    """A key needed for this operation is missing or cannot be used.

    Raised for a tenant without a key-encryption key, a key version that no
    longer exists (rotated out or crypto-shredded), or a root key that is
    missing or malformed. It is an availability failure (503), not tampering:
    tampering raises `IntegrityError`. It is never `NotFound`, so a missing
    key cannot be confused with a missing object by the API edge.
    """

    slug = "key-unavailable"
    title = "Key unavailable"
    status = 503


class InsecureKeyFile(KeyUnavailable):
    """A key file (or its path) is not private to the service user.

    qplane refuses to load a key that group or others could read or write,
    or that is not a regular file, rather than trusting a key that may
    already have leaked.
    """

    slug = "insecure-key-file"
    title = "Insecure key file"
