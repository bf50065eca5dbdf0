"""Deployment environment variables: set with ``mainspring env``, read with ``ctx.env``.

* :mod:`.variables` — the values each process holds (``ctx.env``), and the naming rules;
* :mod:`.system` — the ``_system/env:*`` functions behind the CLI;
* :mod:`.feature` — the table and functions this feature brings to a deployment.
"""

from __future__ import annotations

from .variables import ENV_TABLE, EnvironmentVariables, check_name, check_value

__all__ = ["ENV_TABLE", "EnvironmentVariables", "check_name", "check_value"]
