"""Accounts of the simulated exchange: balances free and locked, in exact integers.

Every asset amount inside the simulator is an integer number of **amount units** of
``10**-AMOUNT_DECIMALS`` (1e-18). One scale for every asset keeps a quote amount that two
markets with different tick sizes share (USDT) exact: a value ``ticks × qty units`` of any
market in the configuration is a whole number of amount units (checked when the engine is
built), and so is a fee at a rate with up to a few decimals. Fees that would not be whole are
rounded up, in the exchange's favour, and collected in :attr:`Ledger.fees` so that assets are
conserved exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from pegbot.market import DecimalLike, to_decimal

from . import errors

AMOUNT_DECIMALS = 18
AMOUNT_SCALE = 10**AMOUNT_DECIMALS


def amount_from_decimal(value: DecimalLike) -> int:
    """Convert a decimal amount to amount units; more than 18 decimals is refused."""
    scaled = to_decimal(value).scaleb(AMOUNT_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {value} has more than {AMOUNT_DECIMALS} decimals")
    return int(scaled)


def amount_to_decimal(units: int) -> Decimal:
    """The exact decimal value of an amount."""
    return Decimal(units).scaleb(-AMOUNT_DECIMALS).normalize() if units else Decimal(0)


def format_amount(units: int, decimals: int = 8) -> str:
    """An amount as Binance prints balances: fixed ``decimals`` places, more if needed."""
    value = amount_to_decimal(units)
    text = f"{value:.{decimals}f}"
    if Decimal(text) != value:  # never hide a digit: exactness beats cosmetics
        text = format(value, "f")
    return text


def fee_of(amount: int, rate: Fraction) -> int:
    """The fee on ``amount`` at ``rate``, rounded up to a whole amount unit."""
    num = amount * rate.numerator
    return -((-num) // rate.denominator)


@dataclass(slots=True)
class Balance:
    """One asset of one account."""

    free: int = 0
    locked: int = 0


@dataclass
class Account:
    """A trading account, keyed by its API key.

    Attributes:
        api_key: The key that identifies the account in requests.
        secret: The HMAC secret of the key.
        balances: Asset code to balance, in amount units.
        can_trade: False makes order requests fail like a key without trading permission.
    """

    api_key: str
    secret: str
    balances: dict[str, Balance] = field(default_factory=dict)
    can_trade: bool = True
    update_ns: int = 0

    def balance(self, asset: str) -> Balance:
        """The balance of ``asset``, created empty on first use."""
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def lock(self, asset: str, amount: int) -> None:
        """Move ``amount`` from free to locked, or raise -2010 if free is short."""
        bal = self.balance(asset)
        if amount < 0 or bal.free < amount:
            raise errors.insufficient_balance()
        bal.free -= amount
        bal.locked += amount

    def unlock(self, asset: str, amount: int) -> None:
        """Move ``amount`` from locked back to free."""
        bal = self.balance(asset)
        if amount < 0 or bal.locked < amount:
            raise AssertionError(f"unlock {amount} of {asset} exceeds locked {bal.locked}")
        bal.locked -= amount
        bal.free += amount

    def spend_locked(self, asset: str, amount: int) -> None:
        """Pay ``amount`` out of locked funds (a fill)."""
        bal = self.balance(asset)
        if amount < 0 or bal.locked < amount:
            raise AssertionError(f"spend {amount} of {asset} exceeds locked {bal.locked}")
        bal.locked -= amount

    def credit(self, asset: str, amount: int) -> None:
        """Add ``amount`` (may be negative for a fee larger than the credit) to free funds."""
        bal = self.balance(asset)
        bal.free += amount
        if bal.free < 0:
            raise AssertionError(f"{asset} free balance went negative")


class Ledger:
    """All accounts plus the fees the exchange collected.

    Attributes:
        accounts: API key to account.
        fees: Asset to fees collected, in amount units.
    """

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.fees: dict[str, int] = {}

    def add(
        self, api_key: str, secret: str, balances: Mapping[str, DecimalLike] | None = None
    ) -> Account:
        """Open (or replace) an account funded with ``balances`` (asset → decimal amount)."""
        account = Account(api_key=api_key, secret=secret)
        for asset, amount in (balances or {}).items():
            account.balance(asset).free = amount_from_decimal(amount)
        self.accounts[api_key] = account
        return account

    def get(self, api_key: str) -> Account | None:
        """The account of ``api_key``, or None."""
        return self.accounts.get(api_key)

    def collect_fee(self, asset: str, amount: int) -> None:
        """Book a fee (negative for a rebate)."""
        self.fees[asset] = self.fees.get(asset, 0) + amount

    def totals(self, assets: Iterable[str] | None = None) -> dict[str, int]:
        """Sum of free + locked over all accounts plus collected fees, per asset."""
        out: dict[str, int] = dict(self.fees)
        for account in self.accounts.values():
            for asset, bal in account.balances.items():
                out[asset] = out.get(asset, 0) + bal.free + bal.locked
        if assets is not None:
            return {a: out.get(a, 0) for a in assets}
        return out
