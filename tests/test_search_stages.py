"""Coarse to fine: stage lists, ranges narrowed around the best trials, border warnings."""

import numpy as np
import pytest

from numnet.search import Choice, FloatRange, IntRange, Stage, StageError, narrow, parse_stages
from numnet.search.stages import edge_warnings, stages_from_tables

SPACE = {
    "lr": FloatRange(1e-5, 1.0, log=True),
    "keep": FloatRange(0.3, 1.0),
    "batch_size": IntRange(16, 512, log=True),
    "optimizer": Choice(("adam", "sgd", "rmsprop")),
}


def _random_params(rng, n):
    return [
        {
            "lr": float(10 ** rng.uniform(-5, 0)),
            "keep": float(rng.uniform(0.3, 1.0)),
            "batch_size": int(rng.integers(16, 513)),
            "optimizer": str(rng.choice(["adam", "sgd", "rmsprop"])),
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_the_narrowed_space_contains_the_top_k(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 8))
    top = _random_params(rng, k)
    new = narrow(SPACE, top)
    for params in top:
        for name in ("lr", "keep", "batch_size"):
            assert new[name].low <= params[name] <= new[name].high, (name, params[name], new)
        assert params["optimizer"] in new["optimizer"].choices
    for name in ("lr", "keep", "batch_size"):  # inside the old range, kinds kept
        assert SPACE[name].low <= new[name].low < new[name].high <= SPACE[name].high
        assert type(new[name]) is type(SPACE[name]) and new[name].log == SPACE[name].log


def test_narrowing_shrinks_around_the_cluster_on_the_log_scale():
    top = [{"lr": 1e-3}, {"lr": 2e-3}, {"lr": 4e-3}]
    new = narrow({"lr": SPACE["lr"]}, top)["lr"]
    # spread log(4e-3 / 1e-3); a quarter of it on each side: [1e-3 / 4**0.25, 4e-3 * 4**0.25]
    assert new.low == pytest.approx(1e-3 / 4**0.25) and new.high == pytest.approx(4e-3 * 4**0.25)


def test_a_single_top_value_still_gets_a_range():
    new = narrow(SPACE, [{"lr": 1e-3, "keep": 1.0, "batch_size": 512, "optimizer": "sgd"}])
    assert new["lr"].low < 1e-3 < new["lr"].high
    assert new["keep"].high == 1.0 and new["keep"].low < 1.0  # clipped to the old range
    assert new["batch_size"].high == 512 and new["batch_size"].low < 512
    assert new["optimizer"].choices == ("sgd",)


def test_narrow_needs_trials():
    with pytest.raises(StageError, match="no finished trial"):
        narrow(SPACE, [])


def test_choices_of_lists_are_kept_by_value():
    space = {"hidden_dims": Choice(((64,), (32, 16), (8,)))}
    new = narrow(space, [{"hidden_dims": [32, 16]}, {"hidden_dims": [8]}])
    assert new["hidden_dims"].choices == ((32, 16), (8,))


@pytest.mark.parametrize(
    "best, flagged",
    [
        ({"lr": 1.5e-5, "keep": 0.65}, ["lr"]),  # log position 0.035: lowest 10%
        ({"lr": 0.5, "keep": 0.99}, ["lr", "keep"]),
        ({"lr": 3e-3, "keep": 0.65}, []),
        ({"lr": 3.2e-5, "keep": 0.65}, []),  # log position 0.10: just inside
    ],
)
def test_edge_warnings_use_the_sampling_scale(best, flagged):
    space = {"lr": SPACE["lr"], "keep": SPACE["keep"]}
    lines = edge_warnings(space, best)
    assert [line.split(" = ")[0] for line in lines] == flagged
    for line in lines:
        assert "\n" not in line and ("log scale" in line) == line.startswith("lr")


def test_edge_warning_says_whether_the_full_range_is_at_fault():
    full = {"lr": SPACE["lr"]}
    narrowed = {"lr": FloatRange(1e-3, 1.0, log=True)}
    (line,) = edge_warnings(narrowed, {"lr": 0.9}, full=full)
    assert "widen the search's range [1e-05, 1]" in line
    (line,) = edge_warnings({"lr": FloatRange(1e-3, 1e-1, log=True)}, {"lr": 0.09}, full=full)
    assert "an edge of the narrowed range" in line


@pytest.mark.parametrize(
    "text, expected",
    [("30x1,10x5", [(30, 1), (10, 5)]), ("20", [(20, None)]), (" 8X2 ", [(8, 2)])],
)
def test_parse_stages(text, expected):
    assert [(s.trials, s.epochs) for s in parse_stages(text)] == expected


@pytest.mark.parametrize("text", ["30x", "x5", "30x1,", "0x1", "3x0", "30x1x2", "a", "3.5x1"])
def test_bad_stage_lists_are_errors(text):
    with pytest.raises(StageError, match="--stages item"):
        parse_stages(text)


def test_stage_tables():
    stages = stages_from_tables([{"trials": 30, "epochs": 1}, {"trials": 10, "top_k": 3}])
    assert stages == [Stage(30, 1), Stage(10, None, 3)]
    with pytest.raises(StageError, match=r"\[\[stage\]\] 2: unknown key 'epoch'"):
        stages_from_tables([{"trials": 3}, {"trials": 2, "epoch": 1}])
