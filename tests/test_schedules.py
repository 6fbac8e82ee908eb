"""Learning-rate schedules: values, composition, config round trips, bad configs."""

import itertools
import json
import math

import pytest

from numnet import schedules as S


@pytest.mark.parametrize(
    ("schedule", "points"),
    [
        (S.Constant(), [(0, 0, 1.0), (7, 300, 1.0)]),
        (S.ExponentialDecay(0.5), [(0, 0, 1.0), (0, 99, 1.0), (1, 100, 0.5), (3, 0, 0.125)]),
        (S.StepDecay(2, gamma=0.1), [(0, 0, 1.0), (1, 5, 1.0), (2, 0, 0.1), (5, 0, 0.01)]),
        (S.CosineDecay(10), [(0, 0, 1.0), (0, 5, 0.5), (0, 10, 0.0), (9, 50, 0.0)]),
        (
            S.CosineDecay(10, min_factor=0.2),
            [(0, 0, 1.0), (0, 5, 0.6), (0, 10, 0.2), (0, 11, 0.2)],
        ),
        (S.LinearWarmup(4), [(0, 0, 0.25), (0, 1, 0.5), (0, 3, 1.0), (3, 40, 1.0)]),
        (
            S.LinearWarmup(4, after=S.StepDecay(1, gamma=0.5)),
            [(0, 0, 0.25), (0, 3, 1.0), (1, 1, 0.25), (2, 10, 0.25)],
        ),
    ],
    ids=["constant", "exponential", "step", "cosine", "cosine-floor", "warmup", "warmup-step"],
)
def test_values(schedule, points):
    for epoch, it, want in points:
        assert schedule(epoch, it) == pytest.approx(want, abs=1e-12), (epoch, it)


def test_cosine_is_monotone_and_warmup_multiplies():
    cos = S.CosineDecay(20, min_factor=0.1)
    vals = [cos(0, i) for i in range(25)]
    assert all(a >= b for a, b in itertools.pairwise(vals))
    warm = S.LinearWarmup(5, after=cos)
    for i in range(25):
        assert warm(0, i) == pytest.approx(min(1.0, (i + 1) / 5) * cos(0, i), rel=1e-15)


def test_exponential_equals_course_lr_decay():
    lr, decay = 1e-3, 0.9
    for epoch in range(6):
        course = lr * decay**epoch
        assert lr * S.ExponentialDecay(decay)(epoch, 0) == pytest.approx(course, rel=1e-14)


@pytest.mark.parametrize(
    "schedule",
    [
        S.Constant(),
        S.ExponentialDecay(0.95),
        S.StepDecay(3, 0.5),
        S.CosineDecay(100, 0.05),
        S.LinearWarmup(10),
        S.LinearWarmup(10, after=S.CosineDecay(100)),
    ],
    ids=repr,
)
def test_config_round_trip_through_json(schedule):
    config = json.loads(json.dumps(schedule.get_config()))
    rebuilt = S.schedule_from_config(config)
    assert rebuilt == schedule and type(rebuilt) is type(schedule)
    for e, i in [(0, 0), (2, 17), (9, 120)]:
        assert rebuilt(e, i) == schedule(e, i)


def test_get_schedule_normalises():
    assert S.get_schedule(None) is None
    cos = S.CosineDecay(5)
    assert S.get_schedule(cos) is cos
    assert S.get_schedule("constant") == S.Constant()
    assert S.get_schedule({"name": "step", "step_size": 2}) == S.StepDecay(2, 0.1)
    assert S.get_schedule(
        {
            "name": "warmup",
            "warmup_iterations": 3,
            "after": {"name": "cosine", "total_iterations": 9},
        }
    ).after == S.CosineDecay(9)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "linear"}, "schedule name must be one of"),
        ({}, "schedule name must be one of"),
        ({"name": "step"}, "bad 'step' schedule config"),
        ({"name": "step", "step_size": 2, "gama": 0.1}, "bad 'step' schedule config"),
        ({"name": "step", "step_size": 0}, "step_size must be an integer >= 1, got 0"),
        ({"name": "step", "step_size": 1.5}, "step_size must be an integer >= 1"),
        ({"name": "step", "step_size": 2, "gamma": 0.0}, r"gamma must be in \(0.0, 1.0\]"),
        ({"name": "exponential", "gamma": -1}, "gamma must be in"),
        ({"name": "cosine", "total_iterations": 10, "min_factor": 1.5}, "min_factor must be in"),
        ({"name": "cosine", "total_iterations": 10, "min_factor": math.nan}, "min_factor"),
        ({"name": "cosine", "total_iterations": True}, "total_iterations must be an integer"),
        ({"name": "warmup", "warmup_iterations": 0}, "warmup_iterations must be an integer"),
        ({"name": "warmup", "warmup_iterations": 2, "after": {"name": "nope"}}, "schedule name"),
        (
            {
                "name": "warmup",
                "warmup_iterations": 2,
                "after": {"name": "warmup", "warmup_iterations": 2},
            },
            "cannot wrap another warmup",
        ),
    ],
)
def test_bad_configs_raise_value_error(config, match):
    with pytest.raises(ValueError, match=match):
        S.schedule_from_config(config)


@pytest.mark.parametrize("bad", [lambda e, i: 1.0, 3, ["cosine"]])
def test_get_schedule_rejects_other_types(bad):
    with pytest.raises(
        ValueError, match=r"lr_schedule must be None, a numnet\.schedules\.Schedule"
    ):
        S.get_schedule(bad)
