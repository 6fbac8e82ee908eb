"""User errors: one line ``numnet: error: ...`` on stderr, the right exit code, nothing touched."""

import shutil

import pytest
from _cli_testlib import SMALL, run_cli, train_argv


def assert_one_line_error(err, code, expected_code, *fragments):
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("numnet: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_dir(tiny_data, tmp_path, capsys):
    """A finished one-epoch run to try to damage."""
    out = tmp_path / "existing"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "1"))
    assert code == 0, err
    return out


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--model", "resnet"], ["argument --model: invalid choice: 'resnet'"]),
        (["train", "--optimizer", "adamm"], ["argument --optimizer: invalid choice: 'adamm'"]),
        (["train", "--lr", "abc"], ["argument --lr: expected a number, got 'abc'"]),
        (["train", "--lr", "-1"], ["argument --lr: must be > 0"]),
        (["train", "--epochs", "1.5"], ["argument --epochs: expected an integer, got '1.5'"]),
        (["train", "--dropout", "0"], ["argument --dropout: must be a keep probability"]),
        (["train", "--hidden-dims", "64,x"], ["argument --hidden-dims: expected an integer"]),
        (["train", "--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        (["data"], ["numnet data needs an action"]),
        (["train", "--resume", "x", "--config", "y.toml"], ["drop --config/--out"]),
    ],
)
def test_usage_errors_exit_2(argv, fragments, capsys):
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(err, code, 2, *fragments)


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2 and "usage: numnet" in err and out == ""


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("lr = \n", ["is not valid TOML"]),
        ("learning_rate = 0.1\n", ["unknown key 'learning_rate'", "known keys:"]),
        ('lr = "abc"\n', ["lr: expected a number, got 'abc'"]),
        ('model = "resnet"\n', ["model: invalid choice 'resnet'"]),
        ("[optim]\nmomentum = true\n", ["optim.momentum: expected a number"]),
    ],
)
def test_bad_config_files_exit_2(text, fragments, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "run")
    assert_one_line_error(err, code, 2, str(cfg), *fragments)
    assert not (tmp_path / "run").exists()


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "nope.toml")
    assert_one_line_error(err, code, 2, "nope.toml not found")


def test_missing_data_set_without_download(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", "mnist", "--data-dir", empty, "--out", out)
    assert_one_line_error(err, code, 1, "mnist not found", "--download")
    assert not out.exists()


def test_unwritable_out(tiny_data, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(capsys, *train_argv(tiny_data, blocker / "run"))
    assert_one_line_error(err, code, 1, "cannot create --out", "is not a directory")
    assert blocker.read_text() == "not a directory"


def test_existing_run_directory_is_never_overwritten(run_dir, tiny_data, capsys):
    before = snapshot(run_dir)
    code, _, err = run_cli(capsys, *train_argv(tiny_data, run_dir))
    assert_one_line_error(err, code, 1, "already exists and is not empty", "--resume")
    assert snapshot(run_dir) == before


def test_locked_option_on_resume(run_dir, tiny_data, capsys):
    before = snapshot(run_dir)
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--lr", "0.1")
    assert_one_line_error(err, code, 2, "--lr cannot change when resuming")
    assert snapshot(run_dir) == before


def test_checkpoint_from_another_architecture(run_dir, tiny_data, tmp_path, capsys):
    other = tmp_path / "fc-run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, other, "--epochs", "1", "--model", "fc"))
    assert code == 0, err
    shutil.copy(other / "last.npz", run_dir / "last.npz")
    before = snapshot(run_dir)
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--data-dir", tiny_data)
    assert_one_line_error(err, code, 1, f"cannot resume {run_dir}", "last.npz")
    assert snapshot(run_dir) == before


def test_resume_errors(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "nope")
    assert_one_line_error(err, code, 1, "no such run directory")
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path)
    assert_one_line_error(err, code, 1, "config.json not found")


def test_incompatible_model_option(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--model", "fc", "--norm",
                                               "groupnorm"))  # fmt: skip
    assert_one_line_error(err, code, 2, "--norm groupnorm needs conv layers")
    code, _, err = run_cli(capsys, "train", *SMALL, "--filters", "4,8,8,8", "--out", out)
    assert_one_line_error(err, code, 2, "cannot build the ConvNet model", "cannot be pooled")
    assert not out.exists()


@pytest.mark.filterwarnings("error")  # no overflow warnings before the error line either
def test_diverging_run_stops_with_one_line(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--optimizer", "sgd", "--lr", "1e6", "--norm", "none")
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(err, code, 1, "training stopped: non-finite loss", f"run so far in {out}")


def test_too_many_validation_images(tiny_data, tmp_path, capsys):
    argv = train_argv(tiny_data, tmp_path / "run", "--num-val", "400")
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(err, code, 2, "--num-val 400 leave no room", "360 training images")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [(None, ["not found"]), (b"garbage", ["cannot be read"]), (b"", ["cannot be read"])],
)
def test_eval_bad_checkpoint(content, fragments, tmp_path, capsys):
    ckpt = tmp_path / "model.npz"
    if content is not None:
        ckpt.write_bytes(content)
    code, _, err = run_cli(capsys, "eval", ckpt, "--data", "fashion-mnist")
    assert_one_line_error(err, code, 1, *fragments)


def test_eval_lone_checkpoint_needs_data(run_dir, tmp_path, capsys):
    lone = tmp_path / "lone.npz"
    shutil.copy(run_dir / "best.npz", lone)
    code, _, err = run_cli(capsys, "eval", lone)
    assert_one_line_error(err, code, 2, "pass --data")


def test_plot_on_a_directory_without_metrics(tmp_path, capsys):
    code, _, err = run_cli(capsys, "plot", tmp_path)
    assert_one_line_error(err, code, 1, "is it a numnet run directory?")
    code, _, err = run_cli(capsys, "plot", tmp_path / "nope")
    assert_one_line_error(err, code, 1, "not found")


def test_bad_schedule_leaves_no_run_directory(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--lr-schedule", "step", "--lr-decay", "2")
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(err, code, 2, "--lr-decay must be <= 1 for the step schedule")
    assert not out.exists()
