import json
from pathlib import Path

import pytest
import torch
from conftest import DivergingAdam

from genprior.cli import main
from genprior.data import load_dataset


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, pattern):
    assert code == 2
    lines = [line for line in err.split("\r")[-1].strip().splitlines() if line]  # after any progress bar
    assert len(lines) == 1 and lines[0].startswith("genprior: error:") and pattern in lines[0], err


BAD = [
    (["recover", "--task", "cs", "--m", "0", "--method", "lasso-pixel", "--dataset", "mnist-bundled"],
     "argument --m: must be an integer >= 1 and <= 10000000, got '0'"),
    (["recover", "--task", "cs", "--m", "785", "--method", "lasso-pixel", "--dataset", "mnist-bundled"], "1..784"),
    (["recover", "--task", "cs", "--m", "10", "--method", "magic", "--dataset", "mnist-bundled"], "unknown method 'magic'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--model", "nope", "--dataset", "mnist-bundled"], "unknown model 'nope'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-pixel", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-pixel", "--dataset", "mnist-bundled", "--indices", "0:501"], "out of range"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--dataset", "mnist", "--data-dir", "/nonexistent"], "looked in: /nonexistent"),
    (["recover", "--task", "superres", "--factor", "3", "--method", "lasso-pixel", "--dataset", "mnist-bundled"], "factor"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--model", "mnist-vae-ensemble", "--dataset", "mnist-bundled"],
     "only --method hybrid uses ensembles"),
    (["recover", "--task", "superres", "--factor", "0", "--method", "lasso-pixel", "--dataset", "mnist-bundled"],
     "argument --factor: must be an integer >= 1 and <= 65536, got '0'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--lam", "inf", "--dataset", "mnist-bundled"],
     "argument --lam: must be a finite number >= 0 and <= 1e+06, got 'inf'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--alpha", "nan", "--dataset", "mnist-bundled"],
     "argument --alpha: must be a finite number >= 0 and <= 1e+06, got 'nan'"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--alpha", "0.1", "--dataset", "mnist-bundled"],
     "--alpha is an option of lasso-pixel, lasso-dct, lasso-wavelet; method csgm does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-dct", "--model", "mnist-vae", "--dataset", "mnist-bundled"],
     "--model is an option of csgm, csgm-fast, hybrid, one-bit-csgm, dps, diffpir; method lasso-dct does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-dct", "--restarts", "3", "--dataset", "mnist-bundled"],
     "--restarts is an option of csgm, csgm-fast, one-bit-csgm; method lasso-dct does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm-fast", "--steps", "5", "--dataset", "mnist-bundled"],
     "--steps is an option of csgm, dip, one-bit-csgm, dps, diffpir; method csgm-fast does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "dip", "--model", "mnist-vae", "--dataset", "mnist-bundled"],
     "--model is an option of csgm, csgm-fast, hybrid, one-bit-csgm, dps, diffpir; method dip does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "hybrid", "--restarts", "5", "--dataset", "mnist-bundled"],
     "--restarts is an option of csgm, csgm-fast, one-bit-csgm; method hybrid does not use it"),
    (["recover", "--task", "inpaint", "--m", "50", "--method", "lasso-pixel", "--dataset", "mnist-bundled"],
     "task inpaint does not use --m (it belongs to task cs)"),
    (["recover", "--task", "cs", "--m", "50", "--keep", "0.5", "--method", "lasso-pixel", "--dataset", "mnist-bundled"],
     "task cs does not use --keep (it belongs to task inpaint)"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-pixel", "--seed", "99999999999999999999"],
     "argument --seed: must be an integer in 0 .. 2^63 - 1"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--model", "", "--dataset", "mnist-bundled"],
     "the model name is empty"),
    (["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--alpha", "auto", "--dataset", "mnist-bundled"],
     "method csgm does not use it"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-dct", "--alpha", "auto", "--dataset", "mnist-bundled",
      "--indices", "0:500"], "0:500 leaves none of its 500"),
    (["walk", "--kind", "coordinate", "--span", "nan"], "argument --span: must be a finite number > 0"),
    (["walk", "--kind", "coordinate", "--span", "1e308"], "argument --span: must be a finite number > 0 and <= 1000"),
    (["walk", "--out", "walk.json"], "--out must name a .png file"),
    (["recover", "--task", "cs", "--m", "10", "--method", "lasso-dct", "--dataset", "mnist-bundled", "--out", ""],
     "the output path of --out is empty"),
    (["attack", "--dataset", "mnist-bundled", "--json", ""], "the output path of --json is empty"),
    (["attack", "--eps", "inf", "--dataset", "mnist-bundled"], "argument --eps: must be a finite number >= 0"),
    (["attack", "--pgd-steps", "0", "--dataset", "mnist-bundled"], "argument --pgd-steps: must be an integer >= 1"),
    (["attack", "--tau", "0.2", "--dataset", "mnist-bundled"], "--tau is an option of --defense projection, not of none"),
    (["attack", "--adaptive", "--attack", "pgd-l2", "--dataset", "mnist-bundled"], "--adaptive is the defense-aware attack"),
    (["attack", "--substitute-images", "5", "--dataset", "mnist-bundled"], "--substitute-images is an option of --attack"),
    (["attack", "--attack", "transfer", "--substitute-images=-1", "--dataset", "mnist-bundled"],
     "argument --substitute-images: must be an integer >= 1 and <= 10000000, got '-1'"),
    (["walk", "--frame-ms", "0"], "argument --frame-ms: must be an integer >= 10 and <= 655350, got '0'"),
    (["attack", "--pgd-steps", "5", "--dataset", "mnist-bundled"], "--pgd-steps is an option of --attack pgd and pgd-l2"),
    (["attack", "--adaptive", "--defense", "projection", "--pgd-steps", "5", "--dataset", "mnist-bundled"],
     "--pgd-steps is an option of --attack pgd and pgd-l2, and of --adaptive against --defense none"),
    (["explain", "--method", "saliency", "--stride", "3", "--dataset", "mnist-bundled"],
     "--stride is an option of --method occlusion"),
    (["explain", "--out", "maps.jpg", "--dataset", "mnist-bundled"], "--out must name a .png file, got 'maps.jpg'"),
    (["train", "classifier", "--adv-steps", "3", "--dataset", "mnist-bundled"],
     "--adv-steps is an option of adversarial training (--adv-eps)"),
    (["train", "gan", "--dataset", "ring", "--d-channels", "8"], "--d-channels is an option of image data sets, not of ring"),
    (["train", "gan", "--dataset", "mnist", "--g-hidden", "10"], "--g-hidden is an option of ring/grid, not of mnist"),
    (["attack", "--classifier", "mnist-vae", "--dataset", "mnist-bundled"], "mnist-vae is not a classifier"),
    (["explain", "--classifier", "mnist-dcgan", "--dataset", "mnist-bundled"], "mnist-dcgan is not a classifier"),
    (["attack", "--dataset", "digits", "--indices", "0:2"], "takes images of shape (1, 28, 28), got (1, 8, 8)"),
    (["explain", "--dataset", "digits", "--indices", "0:2"], "takes images of shape (1, 28, 28), got (1, 8, 8)"),
    (["demo", "--steps", "0"], "argument --steps: must be an integer >= 1"),
    (["train", "vae", "--dataset", "digits", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["train", "vae", "--dataset", "digits", "--latent-dim", "0"], "argument --latent-dim: must be an integer >= 1"),
    (["train", "vae", "--dataset", "digits", "--hidden", "500", "0"], "argument --hidden: must be an integer >= 1"),
    (["train", "vae", "--dataset", "digits", "--lr", "nan"], "argument --lr: must be a finite number > 0"),
    (["train", "vae", "--dataset", "mnist-bundled"], "mnist-bundled holds only the first 500 test images: it has no train"),
    (["train", "classifier", "--dataset", "digits", "--lr", "nan"], "argument --lr: must be a finite number > 0"),
    (["train", "classifier", "--dataset", "digits", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["train", "classifier", "--dataset", "digits", "--adv-eps", "-0.1"], "argument --adv-eps: must be a finite number > 0"),
    (["train", "gan", "--dataset", "ring", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["train", "gan", "--dataset", "ring", "--g-lr", "inf"], "argument --g-lr: must be a finite number > 0"),
    (["train", "began", "--dataset", "digits", "--lambda-k", "inf"], "argument --lambda-k: must be a finite number >= 0"),
    (["train", "classifier", "--dataset", "digits"], "at least 16x16 pixels, got 8x8"),
    (["train", "gan", "--dataset", "digits", "--latent-dim", "0"], "argument --latent-dim: must be an integer >= 1"),
    (["train", "gan", "--dataset", "ring", "--d-hidden", "0"], "argument --d-hidden: must be an integer >= 1"),
    (["train", "gan", "--dataset", "digits", "--samples-every=-1"], "argument --samples-every: must be an integer >= 0"),
]


@pytest.mark.parametrize("argv,pattern", BAD, ids=[b[1] for b in BAD])
def test_bad_input_one_line_exit_2(capsys, argv, pattern):
    _one_line_error(*run(capsys, *argv)[::2], pattern)


@pytest.mark.parametrize("argv,pattern", [(["recover", "--task", "deblur", "--method", "csgm"], "invalid choice: 'deblur'"),
                                          (["recover", "--task", "cs"], "required: --method"),
                                          (["recover", "--task", "cs", "--method", "lasso-dct", "--alpha", "fast"],
                                           "expected a number or auto, got 'fast'"),
                                          (["frobnicate"], "invalid choice: 'frobnicate'"),
                                          # a value that starts with '-' is read as an option: the message says how
                                          (["recover", "--task", "cs", "--method", "csgm", "--indices", "-1:3"],
                                           "write --indices=VALUE)"),
                                          (["recover", "--task", "cs", "--method", "csgm", "--indices=-1:3",
                                            "--dataset", "mnist-bundled"], "--indices -1:3 is out of range")])
def test_argparse_errors_are_one_line_exit_2(capsys, argv, pattern):
    _one_line_error(*run(capsys, *argv)[::2], pattern)


CS = ["recover", "--task", "cs", "--m", "10", "--dataset", "mnist-bundled"]
LR_RANGE = "must be a finite number > 0 and <= 10, got '1e308'"
# finite values that overflow float32 (or a GIF's 16-bit delay) where they are used: refused when parsed
OVERFLOWING = [
    (["train", "vae", "--dataset", "digits", "--lr", "1e308"], f"argument --lr: {LR_RANGE}"),
    (["train", "gan", "--dataset", "ring", "--lr", "1e308"], f"argument --lr: {LR_RANGE}"),
    (["train", "gan", "--dataset", "ring", "--g-lr", "1e308"], f"argument --g-lr: {LR_RANGE}"),
    (["train", "began", "--dataset", "digits", "--lr", "1e308"], f"argument --lr: {LR_RANGE}"),
    (["train", "classifier", "--dataset", "digits", "--lr", "1e308"], f"argument --lr: {LR_RANGE}"),
    ([*CS, "--method", "csgm", "--lr", "1e308"], f"argument --lr: {LR_RANGE}"),
    ([*CS, "--method", "csgm", "--lam", "1e308"], "argument --lam: must be a finite number >= 0 and <= 1e+06"),
    ([*CS, "--method", "lasso-dct", "--alpha", "1e308"], "argument --alpha: must be a finite number >= 0 and <= 1e+06"),
    ([*CS, "--method", "lasso-dct", "--noise-std", "1e300"],
     "argument --noise-std: must be a finite number >= 0 and <= 1000, got '1e300'"),
    (["walk", "--frame-ms", "1000000"], "argument --frame-ms: must be an integer >= 10 and <= 655350, got '1000000'"),
    # identical frames merge into one whose delay adds up: the whole walk must fit one delay
    (["walk", "--frame-ms", "60000"], "--frame-ms 60000 x 18 frames is more than a GIF frame can last (655350 ms)"),
    (["walk", "--kind", "coordinate", "--span", "1e39"], "argument --span: must be a finite number > 0 and <= 1000"),
    (["train", "classifier", "--dataset", "digits", "--distill-temperature", "1e-30"],
     "argument --distill-temperature: must be a finite number >= 0.01 and <= 1000"),
    (["train", "gan", "--dataset", "ring", "--epochs", str(2 ** 64)],
     f"argument --epochs: must be an integer >= 1 and <= 100000, got '{2 ** 64}'"),
    (["train", "vae", "--dataset", "digits", "--latent-dim", "1e3"], "argument --latent-dim: expected an integer, got '1e3'"),
    (["attack", "--dataset", "mnist-bundled", "--targeted", "10"], "argument --targeted: must be an integer >= 0 and <= 9"),
    (["train", "began", "--dataset", "digits", "--lambda-k", "1e308"], "argument --lambda-k: must be a finite number >= 0"),
]


@pytest.mark.parametrize("argv,pattern", OVERFLOWING, ids=[" ".join(a[:2] + a[-2:]) for a, _ in OVERFLOWING])
def test_values_beyond_what_their_use_represents_are_refused_before_any_work(capsys, tmp_path, monkeypatch, no_work,
                                                                              argv, pattern):
    monkeypatch.chdir(tmp_path)  # the commands' default outputs (runs/..., walk.png) would land here
    _one_line_error(*run(capsys, *argv)[::2], pattern)
    assert list(tmp_path.iterdir()) == []


# two outputs of one command that are one file (or a file where another output needs a folder)
SAME_PATH = [
    ([*CS, "--method", "lasso-dct", "--json", "same", "--out", "same"], "--json and --out both write"),
    ([*CS, "--method", "lasso-dct", "--json", "o/recovery.json", "--out", "o"],
     "--json and --out (recovery.json) both write"),
    ([*CS, "--method", "lasso-dct", "--json", "o", "--out", "o/deeper"], "--json and --out both write"),
    (["attack", "--dataset", "mnist-bundled", "--json", "g.png", "--grid", "./g.png"], "--json and --grid both write"),
    # a bare --grid name would hold PNG bytes under a name that says nothing (and here shadow --json's)
    (["attack", "--dataset", "mnist-bundled", "--json", "same", "--grid", "same"], "--grid must name a .png file"),
    (["evaluate", "--model", "mnist-vae", "--json", "r/samples.png", "--out", "r"], "--json and --out (samples.png)"),
    (["ood", "--model", "mnist-vae", "--json", "r/ood.md", "--out", "r"], "--json and --out (ood.md) both write"),
]


@pytest.mark.parametrize("argv,pattern", SAME_PATH, ids=[" ".join(a[-4:]) for a, _ in SAME_PATH])
def test_outputs_given_one_path_are_refused_before_any_work(capsys, tmp_path, monkeypatch, no_work, argv, pattern):
    monkeypatch.chdir(tmp_path)
    _one_line_error(*run(capsys, *argv)[::2], pattern)
    assert list(tmp_path.iterdir()) == []


def test_outputs_that_are_links_fifos_or_devices_are_refused(capsys, tmp_path, monkeypatch, no_work):
    """The atomic rename would replace a link (not write its target), and cannot write into a FIFO or device."""
    import os

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "target"
    target.write_text("keep me")
    for name in ("link.json", "link.png"):
        (tmp_path / name).symlink_to(target)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").symlink_to(target)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "recovery.png").symlink_to(target)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    cases = [([*CS, "--method", "lasso-dct", "--json", "link.json"], "cannot write the file link.json: it is a symbolic link"),
             ([*CS, "--method", "lasso-dct", "--out", "rep"], "rep/recovery.png: it is a symbolic link"),
             (["attack", "--dataset", "mnist-bundled", "--json", "fifo.json"], "fifo.json: it is a FIFO"),
             (["attack", "--dataset", "mnist-bundled", "--grid", "link.png"], "link.png: it is a symbolic link"),
             (["explain", "--dataset", "mnist-bundled", "--out", "link.png"], "link.png: it is a symbolic link"),
             (["walk", "--out", "link.png"], "link.png: it is a symbolic link"),
             (["train", "vae", "--dataset", "digits", "--out", "run"], "run/model.safetensors: it is a symbolic link")]
    if Path("/dev/null").is_char_device():
        cases.append((["ood", "--model", "mnist-vae", "--json", "/dev/null"], "/dev/null: it is a character device"))
    for argv, pattern in cases:
        _one_line_error(*run(capsys, *argv)[::2], pattern)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before and target.read_text() == "keep me"
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "fifo.json").is_fifo()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (no new entries, even for root)")
@pytest.mark.parametrize("path", ["/proc/nope/x.json", "/proc/x.json"])
def test_an_output_whose_folder_cannot_take_it_is_refused_before_any_work(capsys, no_work, path):
    code, _, err = run(capsys, *CS, "--method", "lasso-dct", "--json", path)
    _one_line_error(code, err, f"cannot write the file {path}: /proc takes no new")


@pytest.mark.parametrize("argv", [
    [*CS, "--method", "lasso-dct"], ["attack", "--dataset", "mnist-bundled"], ["explain", "--dataset", "mnist-bundled"],
    ["evaluate", "--model", "mnist-vae", "--dataset", "mnist-bundled"],
    ["invert", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--out", "inv"],
    ["ood", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--ood-dataset", "digits"],
    ["train", "gan", "--dataset", "ring"], ["train", "vae", "--dataset", "digits"],
], ids=lambda a: " ".join(a[:1] + a[a.index("--dataset"):a.index("--dataset") + 2]))
def test_data_dir_with_a_data_set_that_reads_no_folder_is_refused(capsys, tmp_path, monkeypatch, no_work, argv):
    monkeypatch.chdir(tmp_path)
    dataset = argv[argv.index("--dataset") + 1]
    _one_line_error(*run(capsys, *argv, "--data-dir", str(tmp_path))[::2], f"--data-dir is not read by --dataset {dataset}")
    assert list(tmp_path.iterdir()) == []


class _Exploding(torch.nn.Module):
    """A generator whose outputs are finite but whose gradient in z is NaN (0/0 in sqrt's backward): every Adam
    restart of CSGM ends with a NaN latent."""

    latent_dim, output_shape = 4, (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 784)

    def forward(self, z):
        return torch.sigmoid(self.lin(z) + 0 * (z - z).sqrt().sum(1, keepdim=True)).view(-1, 1, 28, 28)


def test_recover_whose_every_restart_diverged_exits_2_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("genprior.zoo.resolve", lambda name, **kwargs: (_Exploding(), {}))
    code, out, err = run(capsys, *CS, "--method", "csgm", "--steps", "3", "--restarts", "2", "--indices", "0:2",
                         "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "o"))
    _one_line_error(code, err, "csgm: every restart diverged (NaN or infinite loss) for 2 of 2 images")
    assert "lower --lr; no result written" in err and out == "" and list(tmp_path.iterdir()) == []


DIVERGING = {
    "vae": (["--dataset", "digits", "--hidden", "8", "--latent-dim", "2"], "the VAE weights are NaN or infinite after epoch 1"),
    "gan": (["--dataset", "ring", "--toy-samples", "64", "--g-hidden", "4", "--d-hidden", "4", "--quiet"],
            "the generator and discriminator weights are NaN or infinite after epoch 1"),
    "began": (["--dataset", "digits", "--limit", "64", "--channels", "4", "--hidden-dim", "4", "--latent-dim", "4",
               "--quiet"], "the generator and discriminator weights are NaN or infinite after epoch 1"),
    "classifier": (["--train-images", "64", "--channels", "4", "4", "--hidden", "8"],
                   "the classifier weights are NaN or infinite after epoch 1"),
}


@pytest.mark.parametrize("family", DIVERGING)
def test_training_that_diverged_exits_2_and_leaves_no_model(capsys, tmp_path, monkeypatch, request, family):
    options, pattern = DIVERGING[family]
    if family == "classifier":  # at least 16x16 images: MNIST
        options = ["--data-dir", str(request.getfixturevalue("data_dir")), *options]
    monkeypatch.setattr(torch.optim, "Adam", DivergingAdam)
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", family, *options, "--epochs", "1", "--out", str(out))
    _one_line_error(code, err, f"training diverged: {pattern}")
    assert "(try a lower --lr); no model written to" in err and "written to" not in stdout
    assert not list(out.glob("model.*")) and not list(out.glob("generator.*"))


def test_the_largest_seed_gives_valid_seeds_to_every_random_stream(capsys, tmp_path):
    """recover derives the operator's, the noise's and the restarts' seeds from --seed: at 2^63 - 1 they wrap."""
    code, _, err = run(capsys, *CS, "--method", "csgm", "--steps", "2", "--restarts", "2", "--indices", "0:1",
                       "--seed", str(2 ** 63 - 1), "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["seed"] == 2 ** 63 - 1


# each command's outputs, placed under a regular file (so that no folder can be made there, even for root)
UNWRITABLE = [
    ["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--dataset", "mnist-bundled", "--out", "{x}/out"],
    ["recover", "--task", "cs", "--m", "10", "--method", "csgm", "--dataset", "mnist-bundled", "--json", "{x}/r.json"],
    ["demo", "--out", "{x}/demo"],
    ["walk", "--out", "{x}/walk.png"],
    ["attack", "--dataset", "mnist-bundled", "--json", "{x}/a.json"],
    ["attack", "--dataset", "mnist-bundled", "--grid", "{x}/a.png"],
    ["explain", "--dataset", "mnist-bundled", "--out", "{x}/e.png"],
    ["train", "vae", "--dataset", "digits", "--out", "{x}/vae"],
    ["train", "gan", "--dataset", "ring", "--out", "{x}/gan"],
    ["train", "began", "--dataset", "digits", "--out", "{x}/began"],
    ["train", "classifier", "--dataset", "digits", "--out", "{x}/clf"],
]


@pytest.mark.parametrize("argv", UNWRITABLE, ids=[" ".join(a[:2]) + " " + a[-2] for a in UNWRITABLE])
def test_unwritable_output_is_one_line_exit_2_before_any_work(capsys, tmp_path, no_work, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    code, _, err = run(capsys, *[a.format(x=blocker) for a in argv])
    _one_line_error(code, err, "cannot write")
    assert str(blocker) in err and blocker.read_text() == "keep me"


def test_file_system_failure_mid_run_is_one_line_exit_2(capsys, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "/data/out/recovery.json")

    monkeypatch.setattr("genprior.evaluate.recovery.run_method", disk_full)
    code, _, err = run(capsys, "recover", "--task", "cs", "--m", "10", "--method", "lasso-pixel", "--dataset",
                       "mnist-bundled")
    _one_line_error(code, err, "/data/out/recovery.json: No space left on device")


def test_train_classifier_init_of_another_architecture(capsys, tmp_path, data_dir):
    code, _, err = run(capsys, "train", "classifier", "--data-dir", str(data_dir), "--hidden", "128", "--init",
                       "mnist-classifier", "--out", str(tmp_path / "c"))
    _one_line_error(code, err, "--init mnist-classifier has another architecture")
    code, _, err = run(capsys, "train", "classifier", "--data-dir", str(data_dir), "--init", "mnist-vae",
                       "--out", str(tmp_path / "c"))
    _one_line_error(code, err, "mnist-vae is not a classifier")
    assert not (tmp_path / "c").exists()


def test_corrupt_model_file(capsys, tmp_path):
    (tmp_path / "g.json").write_text('{"architecture": {"family": "vae", "latent_dim": 20}}')
    (tmp_path / "g.safetensors").write_bytes(b"garbage")
    code, _, err = run(capsys, "recover", "--task", "cs", "--m", "10", "--method", "csgm", "--model", str(tmp_path / "g.safetensors"),
                       "--dataset", "mnist-bundled")
    _one_line_error(code, err, "corrupt")


def test_recover_writes_json_and_grid_and_csgm_beats_lasso(capsys, tmp_path):
    """The bundled prior at m = 100 (fast solver, 6 images) beats the pixel Lasso by a wide margin."""
    common = ["recover", "--task", "cs", "--m", "100", "--dataset", "mnist-bundled", "--indices", "0:6"]
    code, _, _ = run(capsys, *common, "--method", "csgm-fast", "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "o"))
    assert code == 0
    res = json.loads((tmp_path / "r.json").read_text())
    for key in ("task", "method", "m", "n_images", "mse_per_pixel", "mse_se", "psnr", "seconds"):
        assert key in res
    assert res["m"] == 100 and res["n_images"] == 6
    assert (tmp_path / "o" / "recovery.png").stat().st_size > 1000
    code, _, _ = run(capsys, *common, "--method", "lasso-pixel", "--json", str(tmp_path / "l.json"))
    lasso = json.loads((tmp_path / "l.json").read_text())
    assert res["mse_per_pixel"] < 0.5 * lasso["mse_per_pixel"]


def test_recover_hybrid(capsys, tmp_path):
    code, _, _ = run(capsys, "recover", "--task", "inpaint", "--keep", "0.3", "--method", "hybrid", "--dataset", "mnist-bundled",
                     "--indices", "0:2", "--json", str(tmp_path / "h.json"))
    res = json.loads((tmp_path / "h.json").read_text())
    assert code == 0 and res["method"] == "hybrid"
    # against the measured picture (missing pixels at 0: 0.057 on these images) it gains more than 4x (0.004)
    assert res["mse_per_pixel"] < 0.25 * _measured_picture_error("inpaint", keep=0.3)


@pytest.mark.parametrize("task,extra", [("inpaint", ["--block", "10"]), ("superres", ["--factor", "2"]), ("denoise", [])])
def test_recover_other_tasks(capsys, tmp_path, task, extra):
    code, _, _ = run(capsys, "recover", "--task", task, *extra, "--method", "lasso-dct", "--dataset", "mnist-bundled",
                       "--indices", "0:3", "--json", str(tmp_path / "r.json"))
    res = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and res["task"] == task and res["n_images"] == 3
    # the recovery carries the digits: at most half the error of the blank image (alpha 0.1 is strong here, so it
    # does not beat the measured picture of super-resolution or denoising)
    blank = load_dataset("mnist-bundled").images[:3].pow(2).mean().item()
    assert res["mse_per_pixel"] < 0.5 * blank


def test_recover_alpha_auto_tunes_on_other_images_and_beats_the_default(capsys, tmp_path):
    from genprior.solvers import ALPHA_GRID

    results = {}
    for alpha in ("auto", None):
        extra = ["--alpha", alpha] if alpha else []
        code, _, _ = run(capsys, "recover", "--task", "superres", "--factor", "2", "--method", "lasso-pixel", *extra,
                         "--dataset", "mnist-bundled", "--indices", "0:3", "--json", str(tmp_path / "r.json"))
        assert code == 0
        results[alpha] = json.loads((tmp_path / "r.json").read_text())
    options = results["auto"]["options"]
    assert options["alpha"] in ALPHA_GRID and options["alpha_tuned_on"] == "test 3:53"
    # alpha 0.1 shrinks the blocks' averages far too much at this noise (0.033 on these images; tuned: 0.012)
    assert results["auto"]["mse_per_pixel"] < 0.5 * results[None]["mse_per_pixel"]


def test_alpha_tuning_images_lie_outside_the_evaluated_ones():
    from genprior.cli.recover import _tuning_slice

    assert _tuning_slice(slice(0, 10), 500) == slice(10, 60)
    assert _tuning_slice(slice(480, 500), 500) == slice(430, 480)
    assert _tuning_slice(slice(0, 490), 500) == slice(490, 500)


def _measured_picture_error(task: str, **options) -> float:
    """Error per pixel of the CLI's measured picture (``op.as_image(y)``) of bundled images 0..2 (seed 0)."""
    from genprior.operators import make_operator

    x = load_dataset("mnist-bundled").images[:3]
    op = make_operator(task, shape=(1, 28, 28), noise_std=0.1, seed=0, **options)
    return (op.as_image(op.measure(x, seed=1)).clamp(0, 1) - x).pow(2).mean().item()


def test_zoo_list(capsys):
    code, out, _ = run(capsys, "zoo", "list")
    assert code == 0 and "mnist-vae" in out
    assert "| mnist-vae-ensemble | ensemble | 20 |" in out
    assert "| mnist-vae-8bit | vae (logistic decoder) | 20 |" in out and "| mnist-vae | vae | 20 |" in out


def test_zoo_ensemble_loads_its_members():
    from genprior import zoo
    from genprior.errors import GeneratorError
    from genprior.models.ensemble import GeneratorEnsemble

    ens = zoo.load("mnist-vae-ensemble")
    assert isinstance(ens, GeneratorEnsemble) and len(ens.members) == 3 and ens.latent_dim == 20
    first = next(ens.members[0].parameters())
    assert torch.equal(first, next(zoo.load("mnist-vae").parameters()))
    assert not torch.equal(first, next(ens.members[1].parameters()))
    with pytest.raises(GeneratorError, match="no single forward"):
        ens(torch.zeros(1, 20))


def test_demo_small(capsys, tmp_path):
    code, _, _ = run(capsys, "demo", "--out", str(tmp_path), "--n-images", "3", "--steps", "30")
    assert code == 0
    rows = json.loads((tmp_path / "demo.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"csgm", "lasso-pixel", "lasso-dct", "lasso-wavelet"}
    assert (tmp_path / "cs-100.png").is_file() and (tmp_path / "demo.md").is_file()
    # one PNG per image and method (and the truth; inpainting also its measured picture), and the tensors
    assert len(list((tmp_path / "images" / "cs-100").glob("*.png"))) == 3 * 5
    assert len(list((tmp_path / "images" / "inpaint-157").glob("*.png"))) == 3 * 6
    from genprior.io import load_tensors

    saved = load_tensors(tmp_path / "images" / "cs-100.safetensors")
    assert saved["x_hat_csgm"].shape == (3, 1, 28, 28) and saved["y"].shape == (3, 100)
    assert torch.allclose(saved["x_hat_csgm"], saved["x_hat_csgm"].clamp(0, 1))


def test_recover_hybrid_defaults_to_the_vae_ensemble(capsys, tmp_path):
    code, _, _ = run(capsys, "recover", "--task", "cs", "--m", "50", "--method", "hybrid", "--dataset", "mnist-bundled",
                     "--indices", "0:2", "--json", str(tmp_path / "h.json"))
    res = json.loads((tmp_path / "h.json").read_text())
    assert code == 0 and res["model"] == "mnist-vae-ensemble" and res["mse_per_pixel"] < 0.03


def test_train_vae_with_the_logistic_decoder(tmp_path, capsys):
    from genprior.evaluate.ood import likelihood_score
    from genprior.models import load_model

    code, out, _ = run(capsys, "train", "vae", "--dataset", "digits", "--epochs", "1", "--hidden", "16", "--latent-dim",
                       "2", "--likelihood", "logistic", "--out", str(tmp_path / "v"))
    assert code == 0 and "test ELBO" in out
    vae, cfg = load_model(tmp_path / "v" / "model.safetensors")
    assert cfg["architecture"]["likelihood"] == "logistic" and vae.likelihood == "logistic"
    # bits of 8x8 8-bit images: positive (a probability, at most 1) and finite after one epoch
    bits = likelihood_score(vae, torch.rand(5, 1, 8, 8).mul(16).round().div(16), samples=10)
    assert bool(((bits > 0) & (bits < 64 * 8 * 4)).all()), bits


def test_training_commands_keep_other_runs_and_refuse_broken_files(tmp_path, capsys):
    vae = ["train", "vae", "--dataset", "digits", "--epochs", "1", "--hidden", "16", "--latent-dim", "2"]
    assert run(capsys, *vae, "--out", str(tmp_path / "v"))[0] == 0
    before = {f.name: f.read_bytes() for f in (tmp_path / "v").iterdir()}
    # another family's run into the same folder, without --resume: refused, the VAE run untouched
    code, _, err = run(capsys, "train", "gan", "--dataset", "ring", "--epochs", "1", "--toy-samples", "64", "--g-hidden", "4",
                       "--d-hidden", "4", "--quiet", "--out", str(tmp_path / "v"))
    _one_line_error(code, err, "already holds a training state (state.json): resume it (--resume)")
    assert {f.name: f.read_bytes() for f in (tmp_path / "v").iterdir()} == before
    (tmp_path / "v" / "state.safetensors").write_text("5")  # (state.json is a readable copy, never read back)
    code, _, err = run(capsys, *vae, "--epochs", "2", "--resume", "--out", str(tmp_path / "v"))
    _one_line_error(code, err, "state.safetensors is corrupt or not a safetensors file")
    # a file that is not a model pair, given as --model
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run(capsys, "recover", "--task", "cs", "--m", "10", "--method", "csgm", "--dataset", "mnist-bundled",
                       "--model", str(tmp_path / "notes.txt"))
    _one_line_error(code, err, "notes.txt is not a model")
