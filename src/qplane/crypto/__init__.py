"""qplane.crypto: per-tenant keys and envelope encryption.

Public surface: `Envelope`, `ArtifactBinding`, `KeyProvider`, `LocalKeyring`,
`SecretBytes`, and the errors `KeyUnavailable` and `InsecureKeyFile`.
Raw AEAD lives in the private `_primitives` module; nothing outside this
package touches a raw key.
"""

from qplane.crypto.envelope import ArtifactBinding, Envelope
from qplane.crypto.errors import InsecureKeyFile, KeyUnavailable
from qplane.crypto.keyring import KeyProvider, LocalKeyring, load_or_create_root_key
from qplane.crypto.secret_bytes import SecretBytes

__all__ = [
    "ArtifactBinding",
    "Envelope",
    "InsecureKeyFile",
    "KeyProvider",
    "KeyUnavailable",
    "LocalKeyring",
    "SecretBytes",
    "load_or_create_root_key",
]
