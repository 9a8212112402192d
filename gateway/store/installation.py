"""One installation, one secret: a process with another secret than the store's refuses to start.

Client identities, dedup keys, reviewer sessions and stored key hashes are HMACs
under the installation's secret (``auth.secret_file``). A replica started on the
same database with another secret would compute other keys: a retried request
would make a second task instead of finding its open one. So the store records a
fingerprint of the secret when it is first used (an HMAC of a fixed label under
the secret: it tells secrets apart and reveals nothing of them), and every later
process compares its own before it serves.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.config.errors import ConfigError
from gateway.config.root import Config
from gateway.store.backends import store_for

# Changing the label would make every installation's fingerprint differ: never do.
_LABEL = b"hitl-gateway secret fingerprint v1"


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, _LABEL, hashlib.sha256).hexdigest()


async def check_secret(config: Config, secret: bytes) -> None:
    """Record the secret's fingerprint in a store that has none; refuse another one.

    Raises ``ConfigError`` naming ``auth.secret_file`` when the store was first
    used with a different secret; ``StoreUnavailable`` when it cannot be reached.
    """
    store = store_for(config.store)
    await store.open()
    try:
        recorded = await store.fingerprint(fingerprint(secret))
    finally:
        await store.close()
    if not hmac.compare_digest(recorded, fingerprint(secret)):
        path = config.secret_path.resolve()
        raise ConfigError(
            f"auth.secret_file: {path} is not the secret this store ({config.store.location}) "
            "was first used with: copy the first replica's secret file to this path "
            "(or point auth.secret_file at a copy of it) so every process has the same one"
        )
