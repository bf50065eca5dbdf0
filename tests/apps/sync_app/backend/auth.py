"""Auth for the sync test app: HS256 tokens signed with a shared secret."""

from __future__ import annotations

from mainspring.auth_providers import AuthConfig, SharedSecretProvider

# tests/js/sync/lib.mjs signs its tokens with the same secret and issuer.
SECRET = "sync-test-secret-0123456789-abcdefghij"
ISSUER = "https://sync.issuer.test"

auth = AuthConfig(SharedSecretProvider(SECRET, issuer=ISSUER))
