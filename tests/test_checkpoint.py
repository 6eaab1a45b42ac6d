import json

import pytest
import torch

from genprior.errors import CheckpointError, OutputError, UnknownNameError
from genprior.io import check_writable
from genprior.models import VAE, load_model, save_model
from genprior.train.state import load_training_state, save_training_state
from genprior.train.vae import train_vae


def test_model_round_trip_bit_for_bit(tmp_path):
    vae = VAE(hidden=(32,), latent_dim=4)
    save_model(tmp_path / "m", vae, note="x")
    back, cfg = load_model(tmp_path / "m.safetensors")
    assert cfg["note"] == "x" and cfg["architecture"] == vae.config()
    for (k, a), (_, b) in zip(vae.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_logistic_vae_gives_each_8_bit_image_a_probability_and_round_trips(tmp_path):
    torch.manual_seed(0)
    vae = VAE(output_shape=(1, 1, 1), hidden=(8,), latent_dim=2, likelihood="logistic")
    z = torch.randn(3, 2)
    levels = torch.arange(256.0).div(255).view(256, 1, 1)  # the 256 one-pixel images
    for log_scale in (-9.0, -3.0, 0.0, 4.0):  # from below the clamp to a flat logistic
        vae.decoder[-1].bias.data[1] = log_scale
        mass = torch.stack([vae.log_likelihood(z, x.expand(3, 1)) for x in levels]).exp().sum(0)
        assert torch.allclose(mass, torch.ones(3), atol=1e-5), (log_scale, mass)
    # off-level intensities are read as their 8-bit level
    assert torch.equal(vae.log_likelihood(z, torch.full((3, 1), 100.4 / 255)), vae.log_likelihood(z, levels[100].expand(3, 1)))
    save_model(tmp_path / "m", vae)
    back, cfg = load_model(tmp_path / "m.safetensors")
    assert cfg["architecture"]["likelihood"] == "logistic" and back.likelihood == "logistic"
    x = torch.rand(4, 1, 1, 1)
    assert torch.equal(back.negative_elbo(x, generator=torch.Generator().manual_seed(1)),
                       vae.negative_elbo(x, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(back(z), vae(z)) and back(z).shape == (3, 1, 1, 1)
    with pytest.raises(UnknownNameError, match="VAE likelihood"):
        VAE(likelihood="gaussian")


def test_corrupt_and_missing_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing")
    save_model(tmp_path / "m", VAE(hidden=(8,), latent_dim=2))
    (tmp_path / "m.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "m")
    save_model(tmp_path / "n", VAE(hidden=(8,), latent_dim=2))
    cfg = json.loads((tmp_path / "n.json").read_text())
    cfg["architecture"]["latent_dim"] = 3
    (tmp_path / "n.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(tmp_path / "n")
    (tmp_path / "n.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "n")


@pytest.mark.parametrize("config,pattern", [
    ("5", "must hold a JSON object, not int"),
    ('["architecture"]', "must hold a JSON object, not list"),
    ('{"architecture": "vae"}', "'architecture' must be a JSON object, not str"),
    ('{"architecture": {"family": ["vae"]}}', "unknown model family"),
    ('{"architecture": {"family": "vae", "latent_dim": "twenty"}}', "config for model family 'vae' has bad arguments"),
    ('{"architecture": {"family": "vae", "hidden": [8], "latent_dim": 1000000000000}}', "has bad arguments"),
])
def test_a_config_of_the_wrong_structure_is_a_checkpoint_error(tmp_path, config, pattern):
    save_model(tmp_path / "m", VAE(hidden=(8,), latent_dim=2))
    (tmp_path / "m.json").write_text(config)
    with pytest.raises(CheckpointError, match=pattern):
        load_model(tmp_path / "m")


def test_pickle_is_never_loaded(tmp_path):
    torch.save(VAE(hidden=(8,), latent_dim=2).state_dict(), tmp_path / "p.safetensors")
    save_model(tmp_path / "q", VAE(hidden=(8,), latent_dim=2))
    (tmp_path / "p.json").write_text((tmp_path / "q.json").read_text())
    with pytest.raises(CheckpointError, match="is corrupt or not a safetensors file"):
        load_model(tmp_path / "p")


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 1, 4, 4, generator=g), torch.rand(16, 1, 4, 4, generator=g)


def test_training_resume_matches_uninterrupted_run(tmp_path):
    train, test = _tiny_data()
    torch.manual_seed(0)
    straight = VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2)
    torch.manual_seed(0)
    resumed = VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2)
    opts = {"batch_size": 16, "patience": 100, "progress": False, "seed": 3}
    train_vae(straight, train, test, out_dir=tmp_path / "a", max_epochs=4, **opts)
    train_vae(resumed, train, test, out_dir=tmp_path / "b", max_epochs=2, **opts)
    torch.manual_seed(123)  # a resumed run must not depend on the global RNG
    resumed2 = VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2)
    info = train_vae(resumed2, train, test, out_dir=tmp_path / "b", max_epochs=4, resume=True, **opts)
    assert info["epoch"] == 4
    a, _ = load_model(tmp_path / "a" / "model")
    b, _ = load_model(tmp_path / "b" / "model")
    for (k, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), k


def test_training_state_rejects_other_architecture(tmp_path):
    m = VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2)
    opt = torch.optim.Adam(m.parameters())
    save_training_state(tmp_path / "s", model=m, optimizers={"adam": opt}, rng=torch.Generator(), info={"epoch": 1})
    other = VAE(output_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    with pytest.raises(CheckpointError, match="different architecture"):
        load_training_state(tmp_path / "s", model=other, optimizers={"adam": torch.optim.Adam(other.parameters())},
                            rng=torch.Generator())


def test_check_writable_creates_nothing_and_names_what_it_cannot_write(tmp_path):
    assert check_writable(tmp_path / "a" / "b", folder=True) == tmp_path / "a" / "b"
    assert check_writable(tmp_path / "c" / "r.json") == tmp_path / "c" / "r.json"
    assert list(tmp_path.iterdir()) == []  # folders are made by the writes, not by the check
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target, folder in ((blocker / "out", True), (blocker / "r.json", False)):
        with pytest.raises(OutputError, match=f"cannot write .*{target}: {blocker} is not a folder"):
            check_writable(target, folder=folder)
    with pytest.raises(OutputError, match="it is a file"):
        check_writable(blocker, folder=True)
    with pytest.raises(OutputError, match="it is a folder"):
        check_writable(tmp_path)
    assert blocker.read_text() == "x"


def _train_tiny_vae(out, **kwargs):
    train, test = _tiny_data()
    model = VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2)
    options = {"batch_size": 16, "patience": 100, "progress": False, "seed": 3, "max_epochs": 1, **kwargs}
    return train_vae(model, train, test, out_dir=out, **options)


def test_training_never_overwrites_a_state_it_was_not_asked_to_resume(tmp_path):
    _train_tiny_vae(tmp_path / "run")
    before = {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()}
    with pytest.raises(CheckpointError, match="already holds a training state .*resume it"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2)
    assert {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()} == before  # nothing touched
    # half a state is refused, not restarted from scratch over the other half
    (tmp_path / "run" / "state.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete: state.safetensors without state.json"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)


@pytest.mark.parametrize("change", [{"lr": 1e-2}, {"batch_size": 8}, {"seed": 4}, {"min_delta": 0.5}])
def test_training_resumes_only_under_the_settings_it_was_run_with(tmp_path, change):
    _train_tiny_vae(tmp_path / "run")
    key, value = next(iter(change.items()))
    with pytest.raises(CheckpointError, match=f"trained with {key} = .*this run asks for {value!r}"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True, **change)
    assert _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)["epoch"] == 2  # same settings: it goes on


def test_save_model_refuses_a_module_without_a_config_and_writes_nothing(tmp_path):
    from genprior.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="needs a genprior model .* got Linear"):
        save_model(tmp_path / "m", torch.nn.Linear(2, 2))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad,pattern", [(torch.rand(0, 1, 4, 4), "train_images is an empty batch"),
                                         (torch.full((8, 1, 4, 4), float("nan")), r"must lie in \[0, 1\] \(128 values"),
                                         (torch.rand(8, 1, 5, 5), r"must have shape \(B, 1, 4, 4\)"),
                                         (torch.ones(8, 1, 4, 4, dtype=torch.int64), "real floating point")])
def test_training_refuses_bad_images_before_any_work(tmp_path, bad, pattern):
    from genprior.errors import GenpriorError

    _, test = _tiny_data()
    with pytest.raises(GenpriorError, match=pattern):
        train_vae(VAE(output_shape=(1, 4, 4), hidden=(8,), latent_dim=2), bad, test, out_dir=tmp_path / "run",
                  progress=False)
    assert not (tmp_path / "run").exists()
