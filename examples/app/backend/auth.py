"""Auth for the example app: HS256 tokens signed with a shared secret.

This is a *development* setup: the secret is ``EXAMPLE_APP_AUTH_SECRET`` from the server's
environment, or else the constant below, which is public (it is in this file) and so must
never protect real data. A real app declares its identity provider instead, e.g.
``OIDCProvider("https://accounts.example.com", audience="my-app")``.

A token for user ``ada`` (what a sign-in service would issue)::

    jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "exp": ...}, SECRET, "HS256")
"""

from __future__ import annotations

import os

from mainspring.auth_providers import AuthConfig, SharedSecretProvider

DEV_SECRET = "example-app-DEV-ONLY-secret-do-not-deploy-0123456789"
SECRET = os.environ.get("EXAMPLE_APP_AUTH_SECRET") or DEV_SECRET
ISSUER = "https://example-app.dev"
AUDIENCE = "example-app"

auth = AuthConfig(SharedSecretProvider(SECRET, issuer=ISSUER, audience=AUDIENCE))
