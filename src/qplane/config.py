"""One settings object for the control plane, read once from the environment.

Every variable is prefixed ``QPLANE_`` (``QPLANE_DATABASE_URL``,
``QPLANE_DATA_DIR`` …). No other module reads the environment: the settings
are built once by the composition root and passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Control-plane settings. Defaults give the embedded, single-machine platform."""

    model_config = SettingsConfigDict(env_prefix="QPLANE_", extra="ignore")

    data_dir: Path = Field(default=Path("qplane-data"))
    database_url: str | None = None
    root_key: SecretStr | None = None
    #: Key rings are per environment: a staging deployment sharing the key provider
    #: with production still seals under keys of its own.
    key_environment: str = "default"
    #: Where new key rings keep their KEKs: ``local`` (wrapped under the root key) or
    #: ``pkcs11`` (non-extractable keys in an HSM token). Existing rings keep their provider.
    key_provider: Literal["local", "pkcs11"] = "local"
    #: The platform HSM: its PKCS#11 module, the token's label, and the user PIN (given
    #: directly or as a file readable only by the service).
    pkcs11_module: Path | None = None
    pkcs11_token_label: str = "qplane"
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None
    #: PKCS#11 modules a tenant's customer-managed key may name (loading one runs its code
    #: in the server). Empty: customer-managed keys are off. For a trial with SoftHSM list
    #: only its module, e.g. '["/usr/lib/softhsm/libsofthsm2.so"]'.
    pkcs11_allowed_modules: list[Path] = Field(default_factory=list)
    #: Customer PINs, one file per tenant and name: ``<dir>/<tenant id>/<pin_file>``
    #: (default ``<data_dir>/keys/customer-pins``); rings name the file, never the PIN.
    pkcs11_customer_pin_dir: Path | None = None
    #: After a token rejects a PIN, wait this long before trying it again (tokens lock a
    #: PIN after a few wrong tries).
    pkcs11_login_retry_s: float = 30.0

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    #: Serve HTTPS with certificates from a local CA in ``<data_dir>/tls`` (`qplane up --tls`),
    #: and put the internal (worker) API on a listener of its own that requires a client
    #: certificate from that CA (mutual TLS). Off: plain HTTP, one listener.
    tls: bool = False
    #: With tls: the internal listener's port (0: any free port; embedded workers are told).
    internal_port: int = 0
    #: With tls: more names or addresses for the server certificate (besides localhost,
    #: 127.0.0.1, ::1, the host and the public URL's host), e.g. '["qplane.lan"]'.
    tls_server_names: list[str] = Field(default_factory=list)

    token_ttl_s: int = 600
    token_audience: str = "qplane-api"
    worker_token_ttl_s: int = 300

    #: OpenID Connect SSO. Issuers must be https unless this is set (tests on loopback only).
    insecure_oidc_http_issuers: bool = False
    oidc_login_ttl_s: int = 600
    oidc_jwks_min_refresh_s: float = 30.0
    oidc_metadata_ttl_s: float = 3600.0
    oidc_http_timeout_s: float = 5.0
    refresh_token_ttl_s: int = 12 * 3600
    #: How long a rotated signing key is published in JWKS before it signs anything.
    signing_key_publish_ahead_s: int = 900
    #: Legacy static API keys: off unless an operator turns them on.
    api_keys_enabled: bool = False
    api_key_max_ttl_days: int = 90
    #: Workload identity federation: let trust policies name http://127.0.0.1 issuers (tests only).
    insecure_federation_http_issuers: bool = False

    #: SAML SSO: how long an AuthnRequest may go unanswered; clock skew allowed on assertions.
    saml_request_ttl_s: int = 600
    saml_clock_skew_s: int = 60

    #: Privileged actions need an MFA at most this old (RFC 9470 max_age).
    step_up_max_age_s: int = 900
    #: Device authorization grant (RFC 8628) for `qplane login --device`.
    device_code_ttl_s: int = 600
    device_poll_interval_s: int = 5
    #: Brute-force limits on local logins, in a sliding window shared by every API server.
    #: Wrong passwords per account (counted by email, known or not) and per source address.
    login_failure_window_s: int = 900
    login_max_failures_per_account: int = 10
    login_max_failures_per_source: int = 50
    #: Wrong second-factor codes (TOTP or recovery) per account.
    mfa_failure_window_s: int = 900
    mfa_max_failures: int = 5

    max_payload_bytes: int = 256 * 1024
    default_max_running_jobs: int = 4
    lease_ttl_s: float = 30.0
    max_attempts: int = 3
    sweep_interval_s: float = 1.0
    retention_days: float = 30.0

    #: The audit logs' checkpoint origin (each log's is ``<origin>/audit/<log>``).
    audit_origin: str = "qplane.local"
    #: How often the sweeper signs a checkpoint of every log that grew.
    audit_checkpoint_interval_s: float = 60.0
    #: Add a composite ML-DSA-65 + Ed25519 signature to every checkpoint.
    audit_post_quantum: bool = True
    #: How long audit entries are kept: far longer than the artifacts they describe.
    audit_retention_days: float = 7 * 365.25
    #: The longest break-glass elevation an operator may ask for (the default is 1 h).
    break_glass_max_ttl_s: int = Field(default=4 * 3600, ge=60, le=24 * 3600)

    sandbox_cpu_seconds: int = 120
    sandbox_memory_mb: int = 4096

    #: Regional blob stores for payloads (circuits, results, logs): region → directory.
    #: Empty (the embedded default): every region of the device catalogue gets
    #: ``<data_dir>/blobs/<region>``. Set, only the listed regions can hold payloads,
    #: and a job routed to any other region is refused.
    blob_stores: dict[str, Path] = Field(default_factory=dict)
    #: A job's wall-clock limit unless it asks for less, and the most it may ask for.
    default_job_time_limit_s: int = Field(default=600, ge=1)
    max_job_time_limit_s: int = Field(default=3600, ge=1)
    #: Side-channel reduction: state-change times shown to tenants are rounded down to
    #: this many seconds, and each dispatch waits a random 0..jitter seconds first.
    tenant_time_granularity_s: float = Field(default=1.0, ge=0.0, le=3600.0)
    dispatch_jitter_s: float = Field(default=0.05, ge=0.0, le=60.0)
    #: Emulated QPUs are recalibrated every interval, in a window of this length.
    calibration_interval_s: float = Field(default=24 * 3600.0, gt=0)
    calibration_window_s: float = Field(default=600.0, ge=0)

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def blob_dir(self) -> Path:
        """Where the embedded default keeps each region's blob store."""
        return self.data_dir / "blobs"

    @property
    def tls_dir(self) -> Path:
        """The local CA and the certificates it issued (see `qplane.crypto.local_ca`)."""
        return self.data_dir / "tls"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qplane.db').resolve()}"

    @property
    def issuer(self) -> str:
        scheme = "https" if self.tls else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")
