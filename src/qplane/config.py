"""One settings object for the control plane, read once from the environment.

Every variable is prefixed ``QPLANE_`` (``QPLANE_DATABASE_URL``,
``QPLANE_DATA_DIR`` …). No other module reads the environment: the settings
are built once by the composition root and passed in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Control-plane settings. Defaults give the embedded, single-machine platform."""

    model_config = SettingsConfigDict(env_prefix="QPLANE_", extra="ignore")

    data_dir: Path = Field(default=Path("qplane-data"))
    database_url: str | None = None
    root_key: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None

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

    sandbox_cpu_seconds: int = 120
    sandbox_memory_mb: int = 4096

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qplane.db').resolve()}"

    @property
    def issuer(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
