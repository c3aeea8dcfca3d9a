"""The ``[desk]`` settings: the issuer adapter, rebalance bands, the chain watcher.

::

    [desk.issuer]
    adapter = "manual"                # or "http" (see pegbot.desk.issuer for the contract)
    url = "https://issuer.example/api"
    poll_s = 30

    [desk.rebalance]
    enabled = true
    kgst = { min = 50000, target = 100000, max = 150000 }
    usdt = { min = 500, target = 1000, max = 1500 }

    [desk.chain]
    enabled = true
    rpc_url = "http://127.0.0.1:8545"
    token = "0x94be0bba8e1e303fe998c9360b57b826f1a4f828"
    decimals = 18                     # KGST's are not published: required, no default
    wallets = { desk = "0x…" }
    exchange_deposit = "0x…"

Everything is off or manual by default. The issuer's bearer token comes from the
environment (``PEGBOT_DESK__ISSUER__TOKEN``) or the secrets dir, like every secret.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pegbot.desk.chain import ChainConfig
from pegbot.desk.rebalance import Band

__all__ = ["BandSettings", "ChainSettings", "DeskSettings", "IssuerSettings", "RebalanceSettings"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssuerSettings(_Model):
    """The issuer adapter (``manual`` or ``http``)."""

    adapter: Literal["manual", "http"] = "manual"
    url: str | None = None
    token: SecretStr | None = None
    poll_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _url_for_http(self) -> IssuerSettings:
        if self.adapter == "http" and not self.url:
            raise ValueError("the http issuer adapter needs url")
        return self


class BandSettings(_Model):
    """One asset's band: ``min <= target <= max``."""

    min: Decimal = Field(ge=0)
    target: Decimal = Field(ge=0)
    max: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> BandSettings:
        if not self.min <= self.target <= self.max:
            raise ValueError("a band needs min <= target <= max")
        return self

    def build(self) -> Band:
        """The core's band."""
        return Band(self.min, self.target, self.max)


class RebalanceSettings(_Model):
    """Bands on the desk's exchange balances of KGST and USDT."""

    enabled: bool = False
    kgst: BandSettings | None = None
    usdt: BandSettings | None = None
    step: Decimal = Field(default=Decimal(1), gt=0)
    expiry_s: float = Field(default=3_600.0, gt=0)

    @model_validator(mode="after")
    def _bands_when_on(self) -> RebalanceSettings:
        if self.enabled and (self.kgst is None or self.usdt is None):
            raise ValueError("rebalancing needs both bands, kgst and usdt")
        return self


class ChainSettings(_Model):
    """The chain watcher (JSON-RPC of BNB Smart Chain)."""

    enabled: bool = False
    rpc_url: str = "http://127.0.0.1:8545"
    token: str = "0x94be0bba8e1e303fe998c9360b57b826f1a4f828"
    decimals: int | None = Field(default=None, ge=0, le=36)
    wallets: dict[str, str] = Field(default_factory=dict)
    exchange_deposit: str | None = None
    redemption: str | None = None
    confirmations: int = Field(default=15, ge=0)
    max_blocks: int = Field(default=2_000, gt=0)
    poll_s: float = Field(default=5.0, gt=0)
    start_block: int | None = Field(default=None, ge=0)

    @field_validator("token", "exchange_deposit", "redemption")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not a 0x-prefixed 20-byte address")
        return v

    @field_validator("wallets")
    @classmethod
    def _wallets(cls, v: dict[str, str]) -> dict[str, str]:
        for name, address in v.items():
            if not _ADDRESS.match(address):
                raise ValueError(f"wallet {name}: {address!r} is not an address")
        return v

    @model_validator(mode="after")
    def _decimals_when_on(self) -> ChainSettings:
        if self.enabled and (self.decimals is None or not self.wallets):
            raise ValueError("the chain watcher needs decimals and at least one wallet")
        return self

    def build(self) -> ChainConfig:
        """The watcher's config."""
        if self.decimals is None:
            raise ValueError("desk.chain.decimals is not set")
        return ChainConfig(
            token=self.token,
            decimals=self.decimals,
            wallets=dict(self.wallets),
            exchange_deposit=self.exchange_deposit,
            redemption=self.redemption,
            confirmations=self.confirmations,
            max_blocks=self.max_blocks,
            start_block=self.start_block,
        )


class DeskSettings(_Model):
    """The ``[desk]`` table."""

    issuer: IssuerSettings = Field(default_factory=IssuerSettings)
    rebalance: RebalanceSettings = Field(default_factory=RebalanceSettings)
    chain: ChainSettings = Field(default_factory=ChainSettings)
