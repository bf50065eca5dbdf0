"""Auth for the test app: a shared-secret (HS256) provider."""

from __future__ import annotations

from mainspring.auth_providers import AuthConfig, SharedSecretProvider

SECRET = "test-secret-0123456789abcdef-0123456789"
ISSUER = "https://dev.test"

auth = AuthConfig(SharedSecretProvider(SECRET, issuer=ISSUER, audience="app"))
