"""The selector grammar: layers, base/head, ranges, names and patterns; lr multiplier specs."""

import pytest

from numnet.param_groups import (
    layer_of,
    parse_multipliers,
    parse_selectors,
    resolve_multipliers,
    select,
    select_all,
)

# A ConvNet's names: two conv layers with batch norm, a hidden affine with batch norm, the head.
NAMES = [
    "W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
    "W3", "b3", "gamma3", "beta3", "W4", "b4",
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "layer"),
    [("W1", 1), ("gamma12", 12), ("bn3.running_mean", 3), ("W", None), ("beta", None)],
)
def test_layer_of(name, layer):
    assert layer_of(name) == layer


@pytest.mark.parametrize(
    ("selector", "picked"),
    [
        ("all", NAMES),
        ("head", ["W4", "b4"]),
        ("base", NAMES[:-2]),
        ("2", ["W2", "b2", "gamma2", "beta2"]),
        ("1-2", NAMES[:8]),
        ("3-3", ["W3", "b3", "gamma3", "beta3"]),
        ("W3", ["W3"]),
        ("gamma*", ["gamma1", "gamma2", "gamma3"]),
        ("W[12]", ["W1", "W2"]),
        (" head ", ["W4", "b4"]),
    ],
)
def test_select(selector, picked):
    assert select(NAMES, selector) == picked


@pytest.mark.parametrize(
    ("selector", "match"),
    [
        ("7", "matches nothing; the model has layers \\[1, 2, 3, 4\\]"),
        ("W9", "matches nothing"),
        ("Gamma*", "matches nothing"),
        ("3-2", "must be N or N-M with 1 <= N <= M"),
        ("0-2", "must be N or N-M"),
        ("", "non-empty string"),
    ],
)
def test_select_errors_name_the_selector_and_the_model(selector, match):
    with pytest.raises(ValueError, match=match):
        select(NAMES, selector)


def test_base_and_head_need_layer_numbers():
    with pytest.raises(ValueError, match="needs layer numbers"):
        select(["W", "b"], "head")
    assert select(["W", "b"], "W") == ["W"]


def test_select_all_is_the_union_in_model_order():
    assert select_all(NAMES, "W4,1") == ["W1", "b1", "gamma1", "beta1", "W4"]
    # "b*" would pick beta1.. too; "b?" picks the biases.
    assert select_all(NAMES, ["head", "b?"]) == ["b1", "b2", "b3", "W4", "b4"]
    with pytest.raises(ValueError, match="non-empty and comma separated"):
        parse_selectors("1,,2")


def test_multipliers_later_entries_win():
    m = resolve_multipliers(NAMES, "all=0.1,head=1")
    assert m == {**dict.fromkeys(NAMES, 0.1), "W4": 1.0, "b4": 1.0}
    m = resolve_multipliers(NAMES, {"base": 0.25, "1": 0.5})
    assert m["W1"] == 0.5 and m["W2"] == 0.25 and m["W4"] == 1.0
    assert resolve_multipliers(NAMES, None) == dict.fromkeys(NAMES, 1.0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("base", "must be SELECTOR=FACTOR"),
        ("base=0", "must be a finite number > 0, got '0'"),
        ("base=-1", "> 0"),
        ("base=nan", "finite"),
        ("base=x", "finite number"),
        ("=2", "selector must be non-empty"),
        ({"base": True}, "finite number > 0, got True"),
        (3, "must be a 'SELECTOR=FACTOR,...' string or a dict"),
    ],
)
def test_multiplier_syntax_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_multipliers(spec)


def test_multiplier_selector_errors_come_from_the_model():
    with pytest.raises(ValueError, match="'9' matches nothing"):
        resolve_multipliers(NAMES, "9=0.5")
