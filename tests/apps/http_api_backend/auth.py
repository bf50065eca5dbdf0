"""Auth for the HTTP API test app: HS256 tokens signed with a shared secret."""

from __future__ import annotations

from mainspring.auth_providers import AuthConfig, SharedSecretProvider

# The node test signs its tokens with the same secret (tests/node/client.mjs).
SECRET = "http-api-test-secret-0123456789-abcdef"
ISSUER = "https://issuer.test"

auth = AuthConfig(SharedSecretProvider(SECRET, issuer=ISSUER))
