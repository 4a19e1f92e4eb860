"""Where domain packages are connected against the arrow.

Imports run one way: face (api, web, cli, demo) → domains → kit and db. When a lower package must
make a higher one act — revoking a completion revokes the certificates resting on it — the lower
one announces (``completions.on_revoked``) and this module, above both, registers the listener.
``install()`` is called wherever the services are assembled: ``create_app``, the CLI and the demo.
It is idempotent.
"""

from __future__ import annotations

from creditbank.certificates import service as certificates
from creditbank.completions import service as completions


def install() -> None:
    completions.on_revoked(certificates.completion_revoked)
