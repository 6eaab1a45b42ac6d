"""Unsupervised pretraining (deck 001): the autoencoder trainer learns and resumes exactly, the encoder-initialised
classifier starts from the encoder, the linear probe leaves the trunk alone, and ``genprior train autoencoder``
writes a loadable model or refuses bad options in one line with nothing written."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import InvalidValueError, ShapeError
from genprior.models.autoencoder import (
    Autoencoder,
    EncoderClassifier,
    encoder_classifier,
)
from genprior.models.vae import VAE
from genprior.train.autoencoder import fit_labelled, linear_probe, train_autoencoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bundled():
    """The 500 bundled MNIST test images and labels."""
    data = load_dataset("mnist-bundled")
    return data.images, data.labels.long()


def _bce(ae: Autoencoder, x: torch.Tensor) -> float:
    """Mean reconstruction BCE (nats per image), written out here from the decoded images."""
    with torch.no_grad():
        recon = ae(ae.encode(x)).clamp(1e-6, 1 - 1e-6)
        return float(F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1).mean())


def test_autoencoder_training_lowers_the_held_out_reconstruction_loss(bundled, tmp_path):
    """4 epochs (80 steps) on 400 bundled digits cut the reconstruction BCE of 100 others from about 554 nats
    (untrained) to about 186, clearly under the 202 nats of the best model that ignores the image (each pixel's
    training mean): the codes carry what each digit looks like."""
    images, _ = bundled
    torch.manual_seed(0)
    ae = Autoencoder()
    before = _bce(ae, images[400:])
    info = train_autoencoder(ae, images[:400], images[400:], out_dir=tmp_path, epochs=4, batch_size=20, lr=2e-3,
                             progress=False)
    after = _bce(ae, images[400:])
    p = images[:400].mean(0).clamp(1e-4, 1 - 1e-4).expand(100, -1, -1, -1)
    mean_image = float(F.binary_cross_entropy(p, images[400:], reduction="none").flatten(1).sum(1).mean())
    assert before > 400 and after < before - 300 and after < mean_image - 8, (before, after, mean_image)
    assert info["epoch"] == 4 and abs(info["history"][-1]["test_loss"] - after) < 1.0


def test_autoencoder_resume_equals_the_uninterrupted_run(bundled, tmp_path):
    images = bundled[0][:200]

    def fresh():
        torch.manual_seed(3)
        return Autoencoder(hidden=(32,), latent_dim=4)

    whole = fresh()
    info = train_autoencoder(whole, images[:150], images[150:], out_dir=tmp_path / "a", epochs=3, batch_size=20,
                             seed=5, progress=False)
    split = fresh()
    train_autoencoder(split, images[:150], images[150:], out_dir=tmp_path / "b", epochs=1, batch_size=20, seed=5,
                      progress=False)
    resumed = fresh()  # a new process would rebuild the model from scratch
    again = train_autoencoder(resumed, images[:150], images[150:], out_dir=tmp_path / "b", epochs=3, batch_size=20,
                              seed=5, resume=True, progress=False)
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in info["history"]]
    assert again["resumed_with"][0]["after_epoch"] == 1
    with pytest.raises(Exception, match="already holds a training state"):
        train_autoencoder(fresh(), images[:150], images[150:], out_dir=tmp_path / "a", epochs=4, progress=False)


@pytest.mark.parametrize("source", ["autoencoder", "vae"])
def test_the_encoder_classifier_starts_from_the_encoders_weights(bundled, source):
    x = bundled[0][:8]
    torch.manual_seed(1)
    model = Autoencoder(hidden=(64, 32), latent_dim=5) if source == "autoencoder" else VAE(hidden=(64, 32),
                                                                                           latent_dim=5)
    hidden = encoder_classifier(model)
    code = encoder_classifier(model, code=True, num_classes=3)
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(hidden.encoder.state_dict()[key], value) and torch.equal(code.encoder.state_dict()[key], value)
    with torch.no_grad():
        assert torch.equal(hidden.features(x), model.encoder(x.flatten(1)))
        mean = model.encode(x) if source == "autoencoder" else model.encode(x)[0]
        assert torch.equal(code.features(x), mean) and code(x).shape == (8, 3)
    hidden.encoder[0].weight.data.zero_()  # a copy: the source keeps its weights
    assert model.encoder[0].weight.abs().sum() > 0


def test_fine_tuning_trains_every_weight_and_fits_the_labels(bundled):
    images, labels = bundled
    torch.manual_seed(0)
    model = encoder_classifier(Autoencoder())
    start = {k: v.clone() for k, v in model.state_dict().items()}
    info = fit_labelled(model, images[:100], labels[:100], steps=60, lr=1e-3, validation=(images[100:], labels[100:]),
                        check_at=(1, 60))
    assert all(not torch.equal(start[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        train_accuracy = (model(images[:100]).argmax(1) == labels[:100]).float().mean().item()
    # chance is 0.1; the held-out accuracy after 60 steps on 100 labels is measured near 0.7
    assert train_accuracy > 0.95 and info["validation"][-1]["accuracy"] > 0.4, (train_accuracy, info)
    assert info["validation"][-1]["accuracy"] > info["validation"][0]["accuracy"]


def test_the_linear_probe_freezes_the_trunk(bundled):
    from genprior import zoo

    images, labels = bundled
    torch.manual_seed(0)
    model = encoder_classifier(zoo.load("mnist-vae"), code=True)  # the zoo VAE's posterior-mean path, 20-d
    trunk = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    head = model.head.weight.clone()
    info = linear_probe(model, images[:200], labels[:200], steps=200, lr=1e-2, validation=(images[200:], labels[200:]),
                        check_at=(1, 200))
    for key, value in trunk.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert all(not p.requires_grad for p in model.trunk_parameters()) and not torch.equal(head, model.head.weight)
    # logistic regression on the pretrained codes of 200 digits: about 0.8 on 300 others (chance: 0.1)
    first, last = (c["accuracy"] for c in info["validation"])
    assert last > 0.6 and last > first + 0.2, info


def test_bad_inputs_of_the_new_functions_raise_one_line_errors(bundled, tmp_path):
    images, labels = bundled
    ae = Autoencoder(hidden=(8,), latent_dim=2)
    cases = [
        (ShapeError, lambda: train_autoencoder(ae, images[:, :, :8, :8], images, out_dir=tmp_path)),
        (InvalidValueError, lambda: train_autoencoder(ae, images, images, out_dir=tmp_path, epochs=0)),
        (InvalidValueError, lambda: train_autoencoder(ae, images, images, out_dir=tmp_path, lr=0.0)),
        (InvalidValueError, lambda: train_autoencoder(nn.Linear(2, 2), images, images, out_dir=tmp_path)),
        (ShapeError, lambda: fit_labelled(nn.Linear(784, 10), images.flatten(1), labels.float())),
        (InvalidValueError, lambda: fit_labelled(nn.Linear(784, 10), images.flatten(1), labels, lr=-1.0)),
        (InvalidValueError, lambda: fit_labelled(nn.Linear(784, 10), images.flatten(1), labels, check_at=(5,))),
        (InvalidValueError, lambda: encoder_classifier(nn.Linear(2, 2))),
        (InvalidValueError, lambda: linear_probe(nn.Linear(2, 2), images, labels)),
        (InvalidValueError, lambda: EncoderClassifier(code_dim=-1)),
        (InvalidValueError, lambda: Autoencoder(latent_dim=0)),
    ]
    for error, call in cases:
        with pytest.raises(error) as caught:
            call()
        assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_train_autoencoder_writes_a_loadable_model(tmp_path, capsys):
    from genprior.models import load_model

    out = tmp_path / "ae"
    code = main(["train", "autoencoder", "--dataset", "digits", "--epochs", "1", "--hidden", "16", "--latent-dim", "3",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    model, config = load_model(out / "model.safetensors")
    assert isinstance(model, Autoencoder) and model.latent_dim == 3 and model.output_shape == (1, 8, 8)
    assert config["command"].startswith("genprior") and config["epochs"] == 1
    assert 0 < config["test_loss"] < 64


@pytest.mark.parametrize("options, message", [
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--dataset", "mnist-bundled"], "no train split"),
    (["--lr", "0"], "argument --lr"),
    (["--hidden", "0"], "argument --hidden"),
    (["--batch-size", "-3"], "argument --batch-size"),
])
def test_cli_train_autoencoder_refuses_bad_options_with_nothing_written(tmp_path, capsys, options, message):
    argv = ["train", "autoencoder", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "ae"), *options]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("genprior: error:") and message in lines[0], err
    assert list(tmp_path.iterdir()) == []
