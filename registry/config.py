"""Where Ledgermark keeps its state and which chain and IPFS node it talks to.

Three settings, each from a CLI option, else an environment variable, else a default:

| setting  | option       | environment           | default                      |
|----------|--------------|-----------------------|------------------------------|
| data dir | --data-dir   | LEDGERMARK_HOME       | ~/.ledgermark                |
| chain    | --chain      | LEDGERMARK_CHAIN      | ``local``                    |
| IPFS     | --ipfs       | LEDGERMARK_IPFS       | ``embedded``                 |

Chain values: ``local`` (a managed Ganache whose database lives in the data dir, so records survive between
commands), ``embedded`` (an in-process EVM: fast, but gone when the process exits) or an ``http(s)://`` JSON-RPC
URL. IPFS values: ``embedded`` (the project's block store in the data dir) or a Kubo RPC multiaddr such as
``/ip4/127.0.0.1/tcp/5001/http``. The signing key for a URL chain comes from LEDGERMARK_PRIVATE_KEY.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from registry.errors import ConfigError

CHAIN_LOCAL = "local"
CHAIN_EMBEDDED = "embedded"
IPFS_EMBEDDED = "embedded"


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    chain: str = CHAIN_LOCAL
    ipfs: str = IPFS_EMBEDDED
    private_key: str | None = dataclasses.field(default=None, repr=False)
    registry_address: str | None = None
    disputes_address: str | None = None
    cid_version: int = 0

    def __post_init__(self) -> None:
        if self.chain not in (CHAIN_LOCAL, CHAIN_EMBEDDED) and not self.chain.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"--chain {self.chain!r} is not understood: use 'local', 'embedded' or an http(s):// JSON-RPC URL"
            )
        if self.ipfs != IPFS_EMBEDDED and not self.ipfs.startswith("/"):
            raise ConfigError(
                f"--ipfs {self.ipfs!r} is not understood: use 'embedded' or a multiaddr such as "
                "/ip4/127.0.0.1/tcp/5001/http"
            )
        if self.cid_version not in (0, 1):
            raise ConfigError(f"CID version must be 0 or 1, not {self.cid_version}")

    @classmethod
    def load(
        cls,
        *,
        data_dir: Path | None = None,
        chain: str | None = None,
        ipfs: str | None = None,
        cid_version: int | None = None,
    ) -> Settings:
        """Explicit values win over the environment, which wins over the defaults."""
        env = os.environ
        return cls(
            data_dir=(
                data_dir or Path(env.get("LEDGERMARK_HOME") or Path.home() / ".ledgermark")
            ).expanduser(),
            chain=chain or env.get("LEDGERMARK_CHAIN") or CHAIN_LOCAL,
            ipfs=ipfs or env.get("LEDGERMARK_IPFS") or IPFS_EMBEDDED,
            private_key=env.get("LEDGERMARK_PRIVATE_KEY") or None,
            registry_address=env.get("LEDGERMARK_REGISTRY_ADDRESS") or None,
            disputes_address=env.get("LEDGERMARK_DISPUTES_ADDRESS") or None,
            cid_version=cid_version
            if cid_version is not None
            else int(env.get("LEDGERMARK_CID_VERSION", "0")),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings never mutate)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "ipfs"

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"
