from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.market import Market
from pegbot.peg.fair import FairConfig, FairEstimator, FairState, FairValue, SourceSpec
from pegbot.peg.sources import USD_KGS, USDT_USD, RateObservation, parse_nbkr_daily

DATA = Path(__file__).parents[2] / "data" / "peg"
NS = 1_000_000_000
MIN = 60 * NS
KGST = Market.kgst_usdt()


def obs(
    source: str, rate: str, at: int, effective: int | None = None, pair: str = USD_KGS
) -> RateObservation:
    return RateObservation(source, pair, Fraction(rate), at, at if effective is None else effective)


def test_fair_is_inverse_of_usd_kgs_times_usdt_usd_exact_and_in_ticks() -> None:
    est = FairEstimator(KGST, [SourceSpec("nbkr"), SourceSpec("usdt", USDT_USD)])
    est.observe(obs("nbkr", "87.45", 0))
    est.observe(obs("usdt", "0.999", 0, pair=USDT_USD))
    fv = est.evaluate(MIN)
    assert fv.state is FairState.OK and fv.tradable
    assert fv.price == 1 / (Fraction("87.45") * Fraction("0.999"))
    assert fv.ticks == 1145  # 0.011446... → nearest 1e-5 tick
    only_nbkr = FairEstimator(KGST, [SourceSpec("nbkr")])
    only_nbkr.observe(obs("nbkr", "87.45", 0))
    fv = only_nbkr.evaluate(0)
    assert fv.price == Fraction(100, 8745) and fv.ticks == 1144  # 1143.51 → 1144
    assert fv.price_decimal(8) == Decimal("0.01143511")


def test_median_of_three_and_disagreement_in_bps() -> None:
    specs = [SourceSpec("a"), SourceSpec("b"), SourceSpec("c")]
    est = FairEstimator(KGST, specs, FairConfig(max_disagreement_bps=Decimal(100)))
    for name, rate in (("a", "87.45"), ("b", "87.90"), ("c", "87.50")):
        est.observe(obs(name, rate, 0))
    fv = est.evaluate(0)
    assert fv.usd_kgs == Fraction("87.50")
    assert fv.disagreement_bps == pytest.approx(0.45 / 87.5 * 1e4)  # 51.4 bps
    assert fv.state is FairState.OK
    strict = FairEstimator(KGST, specs, FairConfig(max_disagreement_bps=Decimal(50)))
    for name, rate in (("a", "87.45"), ("b", "87.90"), ("c", "87.50")):
        strict.observe(obs(name, rate, 0))
    fv = strict.evaluate(0)
    assert fv.state is FairState.DISPUTED and not fv.tradable
    assert "disagree" in fv.reasons[0]


def test_last_good_rate_is_kept_with_its_age_and_turns_stale() -> None:
    est = FairEstimator(KGST, [SourceSpec("nbkr", max_age_ns=15 * MIN)])
    good = parse_nbkr_daily((DATA / "daily_2026-07-03.xml").read_bytes(), 0)
    now = good.effective_at_ns
    est.observe(RateObservation("nbkr", USD_KGS, good.rate, now, now))
    assert est.evaluate(now + 15 * MIN).state is FairState.OK  # exactly at the limit: still ok
    est.record_error("nbkr", now + 16 * MIN, "nbkr: not well-formed XML")
    fv = est.evaluate(now + 15 * MIN + 1)
    assert fv.state is FairState.STALE and not fv.tradable
    assert fv.price == Fraction(100, 8745)  # the last good price is kept...
    assert fv.age_ns == 15 * MIN + 1  # ...with its age
    assert est.errors("nbkr") == (1, "nbkr: not well-formed XML")


def test_effective_date_decides_which_rate_is_in_force() -> None:
    est = FairEstimator(
        KGST, [SourceSpec("nbkr", max_age_ns=None)], FairConfig(jump_bps=Decimal(100))
    )
    today = parse_nbkr_daily((DATA / "daily_2026-07-03.xml").read_bytes(), 0)
    # Fetched at 16:00 Bishkek on the 3rd: tomorrow's fixing, not in force yet.
    fetched = today.effective_at_ns + 16 * 60 * MIN
    tomorrow = parse_nbkr_daily((DATA / "daily_next_day_87_9.xml").read_bytes(), fetched)
    est.observe(today)
    est.observe(tomorrow)
    assert est.evaluate(fetched).usd_kgs == Fraction("87.45")
    assert est.evaluate(tomorrow.effective_at_ns - 1).usd_kgs == Fraction("87.45")
    fv = est.evaluate(tomorrow.effective_at_ns)
    assert fv.usd_kgs == Fraction("87.9")
    assert fv.effective_at_ns == tomorrow.effective_at_ns
    assert fv.state is FairState.OK  # 51 bps < 100 bps jump threshold


def test_an_old_effective_date_is_stale_even_if_fetched_just_now() -> None:
    day = 24 * 60 * MIN
    est = FairEstimator(KGST, [SourceSpec("nbkr", max_effective_age_ns=4 * day)])
    est.observe(obs("nbkr", "87.45", 10 * day, effective=5 * day))
    assert est.evaluate(10 * day).state is FairState.STALE


def _one_source(confirm_ns: int = 10 * MIN) -> FairEstimator:
    return FairEstimator(
        KGST,
        [SourceSpec("a", max_age_ns=None)],
        FairConfig(jump_bps=Decimal(200), jump_confirm_ns=confirm_ns),
    )


def test_a_jump_holds_until_the_sources_next_reading_confirms_it() -> None:
    est = _one_source()
    est.observe(obs("a", "73", 0))
    assert est.evaluate(0).state is FairState.OK
    est.observe(obs("a", "85", MIN))  # March 2020: 73 → 85 in an hour
    fv = est.evaluate(MIN)
    assert fv.state is FairState.JUMP and not fv.tradable and "stepped" in fv.reasons[0]
    assert fv.jump is not None and fv.jump.pending and fv.jump.to_price == Fraction(1, 85)
    assert est.evaluate(2 * MIN).state is FairState.JUMP  # time alone confirms nothing
    est.observe(obs("a", "85", 3 * MIN))  # the next fetch reads the same level
    fv = est.evaluate(3 * MIN)
    assert fv.state is FairState.OK and fv.price == Fraction(1, 85)
    assert fv.jump is not None and fv.jump.how == "next_reading"
    assert fv.jump.confirmed_at_ns == 3 * MIN and fv.jump.at_ns == MIN
    assert est.evaluate(4 * MIN).state is FairState.OK  # re-anchored: no new jump


def test_a_second_source_at_the_new_level_confirms_at_once() -> None:
    est = FairEstimator(
        KGST,
        [SourceSpec("a", max_age_ns=None), SourceSpec("b", max_age_ns=None)],
        FairConfig(jump_bps=Decimal(200), max_disagreement_bps=Decimal(50)),
    )
    est.observe(obs("a", "87.45", 0))
    est.observe(obs("b", "87.45", 0))
    assert est.evaluate(0).state is FairState.OK
    est.observe(obs("a", "100.6", MIN))
    assert est.evaluate(MIN).state is not FairState.OK  # one source moved: disputed or jump
    est.observe(obs("b", "100.6", MIN + NS))
    fv = est.evaluate(MIN + NS)
    assert fv.state is FairState.OK and fv.price == 1 / Fraction("100.6")
    assert fv.jump is not None and fv.jump.how == "second_source"


def test_an_unconfirmed_jump_waits_for_an_operator_who_can_acknowledge_it() -> None:
    est = _one_source(confirm_ns=2 * MIN)
    est.observe(obs("a", "87.45", 0))
    est.evaluate(0)
    est.observe(obs("a", "74.3", MIN))
    assert est.evaluate(MIN).state is FairState.JUMP
    est.observe(obs("a", "74.3", 5 * MIN))  # a reading too late to count
    fv = est.evaluate(5 * MIN)
    assert fv.state is FairState.JUMP and "operator" in fv.reasons[-1]
    assert est.acknowledge_jump(6 * MIN)
    fv = est.evaluate(6 * MIN)
    assert fv.state is FairState.OK and fv.price == 1 / Fraction("74.3")
    assert fv.jump is not None and fv.jump.how == "operator"
    assert not est.acknowledge_jump(7 * MIN)  # nothing pending any more


def test_a_rejected_jump_falls_back_to_the_previous_rate_until_the_source_moves_on() -> None:
    est = _one_source()
    est.observe(obs("a", "87.45", 0))
    est.evaluate(0)
    est.observe(obs("a", "8.745", MIN))  # a bad print (a decimal point lost)
    assert est.evaluate(MIN).state is FairState.JUMP
    assert est.reject_jump(MIN + 1)
    fv = est.evaluate(MIN + 2)
    assert fv.state is FairState.OK and fv.price == Fraction(100, 8745)
    assert fv.jump is not None and fv.jump.how == "rejected"
    est.observe(obs("a", "8.745", 2 * MIN))  # still printing the rejected rate: set aside
    assert est.evaluate(2 * MIN).price == Fraction(100, 8745)
    est.observe(obs("a", "87.50", 3 * MIN))  # fixed: small step, trusted again
    fv = est.evaluate(3 * MIN)
    assert fv.state is FairState.OK and fv.price == 1 / Fraction("87.50")


def test_a_step_back_before_confirmation_retracts_the_jump() -> None:
    est = _one_source()
    est.observe(obs("a", "87.45", 0))
    est.evaluate(0)
    est.observe(obs("a", "100", MIN))
    assert est.evaluate(MIN).state is FairState.JUMP
    est.observe(obs("a", "87.45", 2 * MIN))
    fv = est.evaluate(2 * MIN)
    assert fv.state is FairState.OK and fv.price == Fraction(100, 8745)
    assert fv.jump is not None and fv.jump.how == "retracted"


def test_a_small_step_is_not_a_jump() -> None:
    est = FairEstimator(KGST, [SourceSpec("a", max_age_ns=None)], FairConfig(jump_bps=Decimal(200)))
    est.observe(obs("a", "87.45", 0))
    est.evaluate(0)
    est.observe(obs("a", "88.00", 1))  # 62 bps
    assert est.evaluate(1).state is FairState.OK


def test_min_sources_and_no_data() -> None:
    est = FairEstimator(KGST, [SourceSpec("a"), SourceSpec("b")], FairConfig(min_sources=2))
    fv = est.evaluate(0)
    assert fv.state is FairState.STALE and fv.price is None and not fv.tradable
    est.observe(obs("a", "87.45", 0))
    fv = est.evaluate(0)
    assert fv.state is FairState.STALE and fv.price == Fraction(100, 8745)
    est.observe(obs("b", "87.45", 0))
    assert est.evaluate(0).state is FairState.OK


def test_stale_usdt_source_makes_the_fair_stale() -> None:
    est = FairEstimator(
        KGST, [SourceSpec("a", max_age_ns=None), SourceSpec("u", USDT_USD, max_age_ns=MIN)]
    )
    est.observe(obs("a", "87.45", 0))
    est.observe(obs("u", "1", 0, pair=USDT_USD))
    assert est.evaluate(MIN).state is FairState.OK
    assert est.evaluate(MIN + 1).state is FairState.STALE


def test_unknown_sources_and_pairs_are_refused() -> None:
    est = FairEstimator(KGST, [SourceSpec("a")])
    with pytest.raises(KeyError, match="unconfigured"):
        est.observe(obs("zzz", "87", 0))
    with pytest.raises(ValueError, match="pair"):
        est.observe(obs("a", "1", 0, pair=USDT_USD))
    with pytest.raises(ValueError, match="USD/KGS"):
        FairEstimator(KGST, [SourceSpec("u", USDT_USD)])
    with pytest.raises(ValueError, match="duplicate"):
        FairEstimator(KGST, [SourceSpec("a"), SourceSpec("a")])


def test_fixed_fair_value() -> None:
    fv = FairValue.fixed("0.0114", KGST, now_ns=5)
    assert fv.tradable and fv.ticks == 1140 and fv.price == Fraction(114, 10000)
    assert fv.to_dict()["price"] == "0.0114000000"
