"""The one settings root of the live bot: a TOML file, ``PEGBOT_`` variables and a secrets dir.

Sources, strongest first: values passed in code (the CLI), environment variables
(``PEGBOT_MODE=paper``, nested with ``__``: ``PEGBOT_RISK__BAND_BPS=80``,
``PEGBOT_VENUES__BINANCE__API_KEY=…``), files of a secrets directory named like the variables
(``pegbot_venues__binance__api_secret``), the TOML file, the defaults. Sources deep-merge, so one
variable changes one field of a table the file defines.

Rules that keep the desk's money safe:

* unknown keys are errors anywhere (``extra="forbid"``): a typo never leaves a default in force;
* every error names its field path (``risk.band_bps: Input should be greater than 0``);
* API keys are :class:`~pydantic.SecretStr` and come from the environment or the secrets dir,
  never from the TOML file (a key in the file is refused: files get committed and mailed);
* the mode is one of ``dry-run`` (the default: nothing is sent), ``paper``, ``testnet``,
  ``live``; ``live`` starts only with ``--i-understand-this-is-live`` or ``PEGBOT_LIVE_ACK=1``
  (see :func:`check_live_ack`), checked outside the model so that no file can acknowledge it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from pegbot.desk.config import DeskSettings
from pegbot.execution.risk import RiskParams
from pegbot.logging import event_log
from pegbot.peg.config import PegSettings
from pegbot.scorecard.config import ObligationSettings

__all__ = [
    "LIVE_ACK_ENV",
    "MODES",
    "ConfigError",
    "JournalSettings",
    "LoggingSettings",
    "LoopSettings",
    "MetricsSettings",
    "Mode",
    "PegSection",
    "RateSourceSettings",
    "Settings",
    "StrategySettings",
    "VenueSettings",
    "check_live_ack",
    "load_settings",
]

Mode = Literal["dry-run", "paper", "testnet", "live"]
#: Modes, safest first.
MODES: tuple[str, ...] = ("dry-run", "paper", "testnet", "live")
#: The variable that acknowledges live trading (the CLI flag is the other way).
LIVE_ACK_ENV = "PEGBOT_LIVE_ACK"
_SECRET_FIELDS = ("api_key", "api_secret")
log = event_log("pegbot.config")

# Variables with the prefix that are not fields of the model.
_NON_FIELDS = frozenset({LIVE_ACK_ENV, "PEGBOT_SECRETS_DIR", "PEGBOT_CONFIG"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message names every bad field by its path."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueSettings(_Model):
    """One venue the bot quotes on (its table name, ``[venues.binance]``, is its label).

    Attributes:
        exchange: ccxt exchange id (``binance``; any ccxt exchange with the calls pegbot needs).
        symbol: Unified symbol quoted.
        rest_url: REST base URL override (the simulator, a proxy); None: the exchange's own.
        ws_url: WebSocket base URL override.
        api_key: API key (environment or secrets dir only).
        api_secret: API secret (environment or secrets dir only).
        depth_limit: Levels of the REST snapshot that seeds the book.
        target_base: Base holding this venue contributes to the inventory target.
        paper_balances: Virtual balances of the paper and dry-run modes, by asset (``base``
            and ``quote`` stand for the symbol's assets); None: the venue's defaults.
        market_data: The market-data feed, ``binance_stream`` or ``ccxt``; None: the
            exchange's quirks decide (Binance: its own stream; others: ccxt.pro).
        order_entry: How orders go out: ``ws`` (the venue's WebSocket API) or ``rest``;
            None: the WebSocket API where the venue has one.
        quiet_probe_s: After this long without a depth message, the Binance stream feed asks
            REST whether the book changed (a quiet book is confirmed live, a silent stream is
            caught); it must stay below ``risk.book_stale_s`` (half of it or less leaves room
            for a failed probe). None: never probe (a quiet book then goes stale).
    """

    exchange: str = "binance"
    symbol: str = "KGST/USDT"
    rest_url: str | None = None
    ws_url: str | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    depth_limit: int = Field(default=1000, ge=5, le=5000)
    target_base: float = Field(default=0.0, ge=0)
    paper_balances: dict[str, Decimal] | None = None
    market_data: Literal["binance_stream", "ccxt"] | None = None
    quiet_probe_s: float | None = Field(default=5.0, gt=0)
    order_entry: Literal["ws", "rest"] | None = None

    @field_validator("symbol")
    @classmethod
    def _symbol_shape(cls, v: str) -> str:
        if v.count("/") != 1 or not all(v.split("/")):
            raise ValueError(f"symbol must look like BASE/QUOTE, got {v!r}")
        return v


class StrategySettings(_Model):
    """The strategy: a module of ``strategies/`` or a file path, and its parameters.

    Attributes:
        name: ``peg_ladder``, ``avellaneda``, ``fixed_spread`` or a ``.py`` path.
        params: Parameters, validated by the strategy's own ``Params`` when the bot starts.
    """

    name: str = "peg_ladder"
    params: dict[str, Any] = Field(default_factory=dict)


class RateSourceSettings(_Model):
    """One som rate source feeding the fair value.

    Attributes:
        name: Unique name (a metric label).
        kind: ``static`` (a constant), ``file`` (a number or an NBKR XML file; its
            modification time is the observation time), ``nbkr`` (the bank's daily.xml over
            HTTP), ``http_json`` (any JSON endpoint).
        pair: ``USD/KGS`` or ``USDT/USD``.
        rate: The constant of a ``static`` source.
        path: The file of a ``file`` source.
        url: The URL of an ``nbkr`` or ``http_json`` source.
        field: Dotted path of the rate in an ``http_json`` body.
        invert: Take ``1 / value``.
        interval_s: Seconds between polls.
        max_age_s: An observation older than this is stale (None: never, for constants);
            at least ``interval_s`` (a shorter one is refused: always stale between polls).
        timeout_s: HTTP timeout.
    """

    name: str
    kind: Literal["static", "file", "nbkr", "http_json"]
    pair: Literal["USD/KGS", "USDT/USD"] = "USD/KGS"
    rate: str | None = None
    path: Path | None = None
    url: str | None = None
    field: str | None = None
    invert: bool = False
    interval_s: float = Field(default=300.0, gt=0)
    max_age_s: float | None = Field(default=900.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)

    def model_post_init(self, __context: Any) -> None:
        """Check that the fields the kind needs are there."""
        need = {"static": "rate", "file": "path", "nbkr": None, "http_json": "url"}[self.kind]
        if need is not None and getattr(self, need) is None:
            raise ValueError(f"a {self.kind} source needs {need}")
        if self.kind == "http_json" and self.field is None:
            raise ValueError("an http_json source needs field")
        if self.max_age_s is not None and self.max_age_s < self.interval_s:
            # Polled less often than it may age: every observation goes stale before the
            # next poll, and the bot freezes for part of every interval.
            raise ValueError(
                f"source {self.name!r}: max_age_s ({self.max_age_s:g}) is shorter than "
                f"interval_s ({self.interval_s:g}): it would be stale before each next poll; "
                "raise max_age_s or lower interval_s"
            )


def _default_sources() -> tuple[RateSourceSettings, ...]:
    return (RateSourceSettings(name="nbkr", kind="nbkr", interval_s=600, max_age_s=None),)


class AutoExecuteSettings(_Model):
    """``[peg.auto_execute]``: send the exchange leg of a new signal by itself (default off).

    The order is a LIMIT IOC at the signal's limit price (the worst price the signal
    accepts), sized to the signal and cut to the caps; the mint/redeem leg stays the
    issuer's human process.

    Attributes:
        enabled: The explicit flag; nothing is ever sent while it is false.
        max_base_per_signal: Most base (KGST) one execution may trade.
        max_quote_per_day: Most quote notional (USDT, at the limit price) per UTC day.
        max_signals_per_day: Most executions started per UTC day.
    """

    enabled: bool = False
    max_base_per_signal: Decimal = Field(default=Decimal(10_000), gt=0)
    max_quote_per_day: Decimal = Field(default=Decimal(500), gt=0)
    max_signals_per_day: int = Field(default=3, ge=1)


class PegSection(PegSettings):
    """``[peg]``: the rate sources plus the peg's own ``costs``, ``signals`` and ``fair``."""

    sources: tuple[RateSourceSettings, ...] = Field(default_factory=_default_sources)
    signals_enabled: bool = True
    auto_execute: AutoExecuteSettings = Field(default_factory=AutoExecuteSettings)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: tuple[RateSourceSettings, ...]) -> tuple[RateSourceSettings, ...]:
        names = [s.name for s in v]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        if not any(s.pair == "USD/KGS" for s in v):
            raise ValueError("at least one USD/KGS source is needed")
        return v


class JournalSettings(_Model):
    """``[journal]``: the SQLite journal."""

    path: Path = Path("pegbot-journal.sqlite")


class MetricsSettings(_Model):
    """``[metrics]``: the Prometheus endpoint (loopback unless told otherwise)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class LoggingSettings(_Model):
    """``[logging]``: JSON lines on stderr, or text (``auto``: text on a terminal)."""

    format: Literal["auto", "json", "text"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class LoopSettings(_Model):
    """``[loop]``: the timing and tolerances of the decision loop.

    Attributes:
        interval_s: The loop re-decides at least this often without any book change.
        min_interval_s: ...and at most this often per venue, however busy the book.
        price_tolerance_ticks: A resting order this close to its wanted price is kept (0: on
            a market whose tick is ~9 bps every tick matters).
        size_tolerance: A resting order within this fraction of its wanted size is kept, so
            a fill that re-sizes the ladder does not replace every order (and lose its place).
        amend: Reduce a too-large order in place where the venue can (queue kept).
        replace: Move an order with one cancel-replace where the venue can (its level is
            never empty, its side never doubled), instead of a cancel and a place.
        wait_for_cancel: A level's new order waits for its old order's cancel.
        cap_side_exposure: A side never holds more than its ladder's lots, counting orders
            whose cancel is unconfirmed or failed (they can still fill); a requote then waits
            for the old order's cancel when the side is full. Off: a replacement may go out
            beside the order it replaces, up to twice the ladder while cancels fail.
        balance_refresh_s: Seconds between balance fetches (fills update inventory between).
        control_interval_s: How often the kill/resume sentinels are checked.
        control_dir: Directory of the kill, halt and resume sentinel files.
        shutdown_timeout_s: Time allowed to cancel everything on shutdown.
        rate_safety: Share of the venue's declared rate limits the bot allows itself.
    """

    interval_s: float = Field(default=1.0, gt=0)
    min_interval_s: float = Field(default=0.0, ge=0)
    price_tolerance_ticks: int = Field(default=0, ge=0)
    size_tolerance: float = Field(default=0.25, ge=0, lt=1)
    amend: bool = True
    replace: bool = True
    wait_for_cancel: bool = False
    cap_side_exposure: bool = True
    balance_refresh_s: float = Field(default=10.0, gt=0)
    control_interval_s: float = Field(default=0.25, gt=0)
    control_dir: Path = Path(".")
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    rate_safety: float = Field(default=0.8, gt=0, le=1)


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    # A key in a file is refused: files get committed, copied and mailed around.
    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        venues = data.get("venues")
        if isinstance(venues, Mapping):
            for name, table in venues.items():
                if isinstance(table, Mapping):
                    for key in _SECRET_FIELDS:
                        if key in table:
                            raise ConfigError(
                                f"venues.{name}.{key}: secrets are not read from the TOML file; "
                                f"set PEGBOT_VENUES__{str(name).upper()}__{key.upper()} or a "
                                f"file pegbot_venues__{name}__{key} in the secrets dir"
                            )
        desk = data.get("desk")
        issuer = desk.get("issuer") if isinstance(desk, Mapping) else None
        if isinstance(issuer, Mapping) and "token" in issuer:
            raise ConfigError(
                "desk.issuer.token: secrets are not read from the TOML file; set "
                "PEGBOT_DESK__ISSUER__TOKEN or a file pegbot_desk__issuer__token in the secrets dir"
            )
        return data


class _SecretsDirSource(PydanticBaseSettingsSource):
    """Files named like the variables, lower case (``pegbot_venues__binance__api_key``)."""

    def __init__(self, settings_cls: type[BaseSettings], secrets_dir: Path | None) -> None:
        super().__init__(settings_cls)
        self.secrets_dir = secrets_dir

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.secrets_dir is None:
            return out
        if not self.secrets_dir.is_dir():
            raise ConfigError(f"secrets dir {self.secrets_dir} is not a directory")
        for entry in sorted(self.secrets_dir.iterdir()):
            name = entry.name.lower()
            if not entry.is_file() or not name.startswith("pegbot_"):
                continue
            path = name.removeprefix("pegbot_").split("__")
            node = out
            for part in path[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ConfigError(f"secrets dir: {entry.name} clashes with another file")
                node = child
            if entry.stat().st_mode & 0o077:
                # Still read (refusing would stop a bot over a chmod), but say so loudly.
                log.warning(
                    "secret_file_permissions",
                    "secret file %s is readable by group or others (chmod 600 it)",
                    entry,
                    path=str(entry),
                )
            node[path[-1]] = entry.read_text().strip()
        return out


class _MappingEnvSource(EnvSettingsSource):
    """Environment variables from a given mapping (tests and callers pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = {k: v for k, v in environ.items() if k.upper() not in _NON_FIELDS}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings):
    """The bot's whole configuration (see the module docstring for sources and rules).

    Attributes:
        mode: ``dry-run``, ``paper``, ``testnet`` or ``live``.
        run_id: Client order ids carry it; None: a fresh random one per start.
        venues: The venues quoted, by label (``[venues.binance]``).
        strategy: The strategy and its parameters.
        risk: Risk limits and policy (one set, applied per venue on aggregated inventory).
        peg: Rate sources, fair-value limits, arbitrage costs and signal thresholds.
        journal: The SQLite journal.
        metrics: The Prometheus endpoint.
        logging: Log format and level.
        loop: Decision-loop timing, tolerances and the control directory.
        desk: The desk's loop: issuer, rebalancing, chain watcher.
        obligations: The market-making agreement the live scorecard checks
            (:class:`pegbot.scorecard.config.ObligationSettings`).
    """

    model_config = SettingsConfigDict(
        env_prefix="PEGBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    mode: Mode = "dry-run"
    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,8}$")
    venues: dict[str, VenueSettings] = Field(default_factory=lambda: {"binance": VenueSettings()})
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    risk: RiskParams = Field(default_factory=RiskParams)
    peg: PegSection = Field(default_factory=PegSection)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)
    obligations: ObligationSettings = Field(default_factory=ObligationSettings)

    @field_validator("venues")
    @classmethod
    def _venue_names(cls, v: dict[str, VenueSettings]) -> dict[str, VenueSettings]:
        if not v:
            raise ValueError("at least one venue is needed")
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(f"venue name {name!r} must be 1-16 of [a-z0-9_], a letter first")
        return v

    @model_validator(mode="after")
    def _probe_before_stale(self) -> Settings:
        # A probe slower than the staleness limit would confirm a quiet book too late: the
        # bot would freeze and pull its quotes on every quiet spell.
        stale = self.risk.book_stale_s
        for name, vs in self.venues.items():
            if vs.quiet_probe_s is not None and vs.quiet_probe_s >= stale:
                raise ValueError(
                    f"venues.{name}.quiet_probe_s ({vs.quiet_probe_s}) must be below "
                    f"risk.book_stale_s ({stale}), at most half of it is advised"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init (CLI) > environment > secrets dir > TOML > defaults."""
        toml_file = settings_cls.model_config.get("toml_file")
        secrets = settings_cls.model_config.get("secrets_dir")
        environ = getattr(settings_cls, "pegbot_environ", None)
        env_source = env_settings if environ is None else _MappingEnvSource(settings_cls, environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_source]
        sources.append(_SecretsDirSource(settings_cls, Path(secrets) if secrets else None))  # type: ignore[arg-type]
        if toml_file is not None:
            sources.append(_TomlWithoutSecrets(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as JSON-able data, secrets shown as ``**********``."""
        return self.model_dump(mode="json")


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"{path}: {err['msg']}")
    return "; ".join(lines)


def load_settings(
    path: str | Path | None = None,
    *,
    secrets_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from a TOML file, the environment, a secrets dir and overrides.

    Args:
        path: The TOML file (None: environment and defaults only).
        secrets_dir: Directory of secret files (``pegbot_venues__binance__api_key``); None:
            ``PEGBOT_SECRETS_DIR`` if set.
        environ: The environment to read (default :data:`os.environ`); tests pass their own.
        **overrides: Values that beat every source (the CLI's options).

    Returns:
        The validated settings.

    Raises:
        ConfigError: A missing or unreadable file, TOML syntax, a secret in the file, an
            unknown key or a bad value; the message names each field by its path.
    """
    env = dict(os.environ if environ is None else environ)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            with p.open("rb") as fh:
                tomllib.load(fh)  # syntax errors with a line number, before pydantic sees it
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: {exc}") from exc
    if secrets_dir is None and env.get("PEGBOT_SECRETS_DIR"):
        secrets_dir = env["PEGBOT_SECRETS_DIR"]
    # Scope the sources to this call (no class-level state shared between loads).
    cfg = SettingsConfigDict(
        toml_file=str(path) if path is not None else None,
        secrets_dir=str(secrets_dir) if secrets_dir is not None else None,
    )
    scoped = type(
        "Settings",
        (Settings,),
        {"model_config": {**Settings.model_config, **cfg}},
    )
    type.__setattr__(scoped, "pegbot_environ", env)
    try:
        settings = scoped(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from exc
    except SettingsError as exc:  # e.g. PEGBOT_VENUES='' (a table variable that is not JSON)
        raise ConfigError(str(exc)) from exc
    # Back to the plain class (model_dump would lose the secrets' values).
    return Settings.model_construct(**{k: getattr(settings, k) for k in Settings.model_fields})


def check_live_ack(
    settings: Settings, flag: bool = False, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse live mode without the explicit acknowledgement.

    Args:
        settings: The loaded settings.
        flag: ``--i-understand-this-is-live`` was given.
        environ: The environment (default :data:`os.environ`); ``PEGBOT_LIVE_ACK=1`` acknowledges.

    Raises:
        ConfigError: ``mode = "live"`` without either acknowledgement.
    """
    if settings.mode != "live":
        return
    env = os.environ if environ is None else environ
    if flag or env.get(LIVE_ACK_ENV, "") == "1":
        return
    raise ConfigError(
        f"mode: live trading with real money needs --i-understand-this-is-live or {LIVE_ACK_ENV}=1"
    )
