import json
import re

import pytest
import torch
from conftest import DivergingAdam

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
    # the readable copy state.json without the state itself is refused, not restarted from scratch
    (tmp_path / "run" / "state.safetensors").rename(tmp_path / "kept.safetensors")
    with pytest.raises(CheckpointError, match="incomplete: state.json without state.safetensors"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)
    # the state without its copy resumes (the copy is never read; a kill between the two writes leaves this)
    (tmp_path / "kept.safetensors").rename(tmp_path / "run" / "state.safetensors")
    (tmp_path / "run" / "state.json").unlink()
    assert _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)["epoch"] == 2
    assert json.loads((tmp_path / "run" / "state.json").read_text())["epoch"] == 2


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


# --- a training state is one unit, checked whole before a run resumes (issue 32, item 3) ---

def _edit_state(folder, edit) -> None:
    """Rewrite ``folder/state.safetensors`` with its record and tensors changed in place by ``edit(record, tensors)``,
    as a damaged or hand-edited state would be."""
    from genprior.io import load_tensors_and_metadata, save_tensors
    from genprior.train.state import RECORD_KEY

    tensors, metadata = load_tensors_and_metadata(folder / "state.safetensors")
    record = json.loads(metadata[RECORD_KEY])
    edit(record, tensors)
    save_tensors(folder / "state.safetensors", tensors, metadata={RECORD_KEY: json.dumps(record)})


def _set(key, value):
    def edit(record, tensors):
        record[key] = value
    return edit


def _wrong_shape_best(record, tensors):
    for key in [k for k in tensors if k.startswith("extra.")]:
        tensors[key] = torch.zeros(3)


def _no_record(record, tensors):
    record.clear()


BAD_STATES = [
    (_set("epoch", "1"), r'its epoch must be an integer, got "1"'),
    (_set("epoch", None), "its epoch must be an integer, got null"),
    (_set("epoch", -5), "its epoch must be >= 0, got -5"),
    (_set("epoch", True), "its epoch must be an integer, got true"),
    (_set("epoch", 3), "its history has 2 entries for epoch 3"),
    (_set("history", None), "its history must be a list, got null"),
    (_set("history", [{"epoch": 1}, {"epoch": 2}]),
     "history entry 1 must be an object with epoch 1 and the numbers train_nelbo, test_nelbo, seconds"),
    (_set("best_epoch", 3), r"its best_epoch must be in 0\.\.2 \(its epoch\), got 3"),
    (_set("improved_epoch", -1), "its improved_epoch must be >= 0, got -1"),
    (_set("best_test_nelbo", "low"), 'its best_test_nelbo must be a number, got "low"'),
    (lambda record, tensors: record.pop("history"), "it has no 'history'"),
    (lambda record, tensors: record["architecture"].update(latent_dim=3), "written for a different architecture"),
    (lambda record, tensors: tensors.pop("rng.state"), "is incomplete or corrupt"),
    (lambda record, tensors: tensors.update({"optim.adam.0.exp_avg": torch.zeros(2)}),
     r"optim\.adam\.0\.exp_avg \(2,\) fits no parameter"),
    (_wrong_shape_best, r"its kept tensors \(extra\.\*\) do not fit this model"),
]


@pytest.mark.parametrize("edit,pattern", BAD_STATES)
def test_resume_checks_the_whole_state_before_any_work(tmp_path, capsys, edit, pattern):
    from genprior.cli import main

    # the API: a CheckpointError naming the problem
    _train_tiny_vae(tmp_path / "api", max_epochs=2)
    _edit_state(tmp_path / "api", edit)
    with pytest.raises(CheckpointError, match=pattern):
        _train_tiny_vae(tmp_path / "api", max_epochs=4, resume=True)
    # the command line: one line, exit 2, nothing written or removed (not even a killed write's leftovers)
    run = tmp_path / "cli"
    vae = ["train", "vae", "--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--out", str(run)]
    assert main([*vae, "--epochs", "2"]) == 0
    _edit_state(run, edit)
    (run / ".state.safetensors.abcd1234.tmp").write_bytes(b"partial")
    before = {f.name: f.read_bytes() for f in run.iterdir()}
    capsys.readouterr()
    assert main([*vae, "--epochs", "4", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genprior: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(pattern, err), err
    assert {f.name: f.read_bytes() for f in run.iterdir()} == before


def test_a_state_without_its_record_is_refused(tmp_path):
    _train_tiny_vae(tmp_path / "run")
    _edit_state(tmp_path / "run", _no_record)  # a record that is an empty object: it lacks everything
    with pytest.raises(CheckpointError, match="it was trained without seed"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)
    from genprior.io import load_tensors, save_tensors

    save_tensors(tmp_path / "run" / "state.safetensors", load_tensors(tmp_path / "run" / "state.safetensors"))
    with pytest.raises(CheckpointError, match="holds no training-state record .* written by an older genprior"):
        _train_tiny_vae(tmp_path / "run", max_epochs=2, resume=True)


def _stale_copy(folder, names):
    return {name: (folder / name).read_bytes() for name in names}


def test_a_kill_between_writes_leaves_files_that_resume_rewrites_from_the_state(tmp_path):
    """The files written after the state (its readable copy, model.*) may be one epoch behind it, or half a pair;
    resuming rewrites them from the state, and the run ends as an uninterrupted one."""
    torch.manual_seed(0)  # the same initial weights for both runs
    _train_tiny_vae(tmp_path / "straight", max_epochs=3)
    run = tmp_path / "run"
    torch.manual_seed(0)
    _train_tiny_vae(run, max_epochs=1)
    stale = _stale_copy(run, ("state.json", "model.json", "model.safetensors"))
    _train_tiny_vae(run, max_epochs=2, resume=True)
    for name, data in stale.items():  # as if killed after epoch 2's state write
        (run / name).write_bytes(data)
    (run / "model.json").unlink()  # ... or inside the write of the model pair
    (run / ".model.json.abcdefgh.tmp").write_text("{")
    (run / ".notes.txt.abcdefgh.tmp").write_text("not ours")
    torch.manual_seed(7)
    info = _train_tiny_vae(run, max_epochs=2, resume=True)  # no epoch left: only the rewrites
    assert info["epoch"] == 2
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    _, cfg = load_model(run / "model")
    assert cfg["epochs_trained"] == 2 and cfg["best_epoch"] == info["best_epoch"]
    assert not (run / ".model.json.abcdefgh.tmp").exists() and (run / ".notes.txt.abcdefgh.tmp").exists()
    _train_tiny_vae(run, max_epochs=3, resume=True)
    a, _ = load_model(tmp_path / "straight" / "model")
    b, _ = load_model(run / "model")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_model_of_another_architecture_beside_the_state_is_replaced_not_loaded(tmp_path):
    run = tmp_path / "run"
    _train_tiny_vae(run, max_epochs=2)
    save_model(run / "model", VAE(output_shape=(1, 4, 4), hidden=(8,), latent_dim=3))  # not this run's
    assert _train_tiny_vae(run, max_epochs=3, resume=True)["epoch"] == 3
    model, _ = load_model(run / "model")
    assert model.config() == VAE(output_shape=(1, 4, 4), hidden=(16,), latent_dim=2).config()


def test_a_gan_generator_left_behind_its_state_is_rewritten_on_resume(tmp_path):
    from genprior.models.mlp import MLPDiscriminator, MLPGenerator
    from genprior.train.gan import train_gan

    def nets():
        torch.manual_seed(0)
        return MLPGenerator(latent_dim=2, output_dim=2, hidden=(8,)), MLPDiscriminator(input_dim=2, hidden=(8,))

    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    kw = {"batch_size": 16, "progress": False, "seed": 3, "samples_every": 0}
    train_gan(*nets(), data, epochs=1, out_dir=tmp_path, **kw)
    stale = _stale_copy(tmp_path, ("generator.json", "generator.safetensors"))
    G, D = nets()
    train_gan(G, D, data, epochs=2, out_dir=tmp_path, resume=True, **kw)
    for name, data_ in stale.items():  # killed after the last state write: the run looks finished
        (tmp_path / name).write_bytes(data_)
    assert load_model(tmp_path / "generator")[1]["epochs"] == 1
    G2, D2 = nets()
    info = train_gan(G2, D2, data, epochs=2, out_dir=tmp_path, resume=True, **kw)
    assert info["epoch"] == 2
    H, cfg = load_model(tmp_path / "generator")
    assert cfg["epochs"] == 2 and cfg["resumed_with"] == [{"after_epoch": 1, "command": info["command"]}]
    assert all(torch.equal(p, q) for p, q in zip(H.state_dict().values(), G.state_dict().values()))


# --- a diverged run stops before saving; out_dir needs models with config() (issue 32 follow-ups) ---


def _tiny_run(family: str, out, **kw) -> dict:
    """One tiny run of ``family``'s trainer into ``out`` (fresh networks, fixed data and seed)."""
    from genprior.models.began import BEGANDiscriminator, BEGANGenerator
    from genprior.models.classifier import Classifier
    from genprior.models.mlp import MLPDiscriminator, MLPGenerator
    from genprior.train.began import train_began
    from genprior.train.classifier import train_classifier
    from genprior.train.gan import train_gan

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    common = {"out_dir": out, "progress": False, "seed": 3, **kw}
    if family == "vae":
        return _train_tiny_vae(out, **kw)
    if family == "gan":
        G, D = MLPGenerator(latent_dim=2, output_dim=2, hidden=(8,)), MLPDiscriminator(input_dim=2, hidden=(8,))
        return train_gan(G, D, torch.randn(64, 2, generator=g), batch_size=16, samples_every=1, **common)
    if family == "began":
        G = BEGANGenerator(latent_dim=4, output_shape=(1, 8, 8), channels=4)
        D = BEGANDiscriminator(input_shape=(1, 8, 8), hidden_dim=4, channels=4)
        return train_began(G, D, torch.rand(32, 1, 8, 8, generator=g), batch_size=16, samples_every=1, **common)
    images, labels = torch.rand(32, 1, 16, 16, generator=g), torch.arange(32) % 10
    model = Classifier(input_shape=(1, 16, 16), channels=(4, 4), hidden=8)
    return train_classifier(model, images, labels, images[:8], labels[:8], batch_size=16, **common)


PARTS = {"vae": "VAE", "gan": "generator and discriminator", "began": "generator and discriminator",
         "classifier": "classifier"}


@pytest.mark.parametrize("family", sorted(PARTS))
def test_a_run_whose_weights_turn_non_finite_stops_before_saving_them(tmp_path, monkeypatch, family):
    """Epoch 1 trains and saves; epoch 2 (resumed) makes every weight NaN: the trainer raises an InvalidValueError
    naming epoch 2, and the folder (state, model pair, sample pictures) is the one epoch 1 left, byte for byte."""
    from genprior.errors import InvalidValueError
    from genprior.train.state import TrainingDiverged

    epochs = "max_epochs" if family == "vae" else "epochs"
    out = tmp_path / "run"
    first = _tiny_run(family, out, **{epochs: 1})
    assert first["resumed_with"] == [] and first["command"].startswith("genprior")  # the one run record
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert "state.safetensors" in before and len(before) >= 4
    monkeypatch.setattr(torch.optim, "Adam", DivergingAdam)
    with pytest.raises(InvalidValueError, match=f"training diverged: the {PARTS[family]} weights are NaN or infinite "
                                                f"after epoch 2; nothing saved for it .*state of epoch 1 stays") as e:
        _tiny_run(family, out, **{epochs: 2}, resume=True)
    assert isinstance(e.value, TrainingDiverged) and e.value.epoch == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    monkeypatch.undo()  # the kept state resumes
    info = _tiny_run(family, out, **{epochs: 2}, resume=True)
    assert info["epoch"] == 2 and info["resumed_with"] == [{"after_epoch": 1, "command": info["command"]}]


def test_a_run_in_memory_stops_too_when_its_weights_turn_non_finite(monkeypatch):
    from genprior.train.state import TrainingDiverged

    monkeypatch.setattr(torch.optim, "Adam", DivergingAdam)
    with pytest.raises(TrainingDiverged, match=r"after epoch 1$"):
        _tiny_run("gan", None, epochs=1)


def test_training_into_a_folder_refuses_a_model_without_config_before_any_work(tmp_path):
    """A model without config() cannot be recorded in the state: train_classifier, adversarial_training and
    train_gan refuse it up front (in memory, without out_dir, it trains)."""
    from genprior.errors import InvalidValueError
    from genprior.robust.defenses import adversarial_training
    from genprior.train.classifier import train_classifier
    from genprior.train.gan import train_gan

    images, labels = torch.rand(32, 1, 16, 16), torch.arange(32) % 10

    def plain():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))

    out = tmp_path / "run"
    for train in (train_classifier, adversarial_training):
        with pytest.raises(InvalidValueError, match=r"train_classifier: saving to out_dir needs genprior models "
                                                    r"\(an nn.Module with config\(\).*the model Sequential has none"):
            train(plain(), images, labels, images, labels, out_dir=out, epochs=1, batch_size=16, progress=False)
        assert not out.exists()
    train_classifier(plain(), images, labels, images, labels, out_dir=None, epochs=1, batch_size=16, progress=False)

    class PlainGenerator(torch.nn.Linear):  # a generator (latent_dim) of no genprior family
        latent_dim = 2

    from genprior.models.mlp import MLPDiscriminator

    with pytest.raises(InvalidValueError, match="train_gan: saving to out_dir .* the generator PlainGenerator has none"):
        train_gan(PlainGenerator(2, 2), MLPDiscriminator(input_dim=2, hidden=(4,)), torch.randn(32, 2), epochs=1,
                  batch_size=16, out_dir=out, progress=False)
    assert not out.exists()


def test_a_state_from_before_a_setting_was_added_resumes_as_its_old_behaviour(tmp_path):
    """train_cyclegan gained cycle_noise after states were saved: a state without it resumes as cycle_noise = 0 (what
    it trained with) and is refused for another value."""
    from genprior.models.cyclegan import CycleGAN
    from genprior.train.cyclegan import train_cyclegan

    a, b = torch.rand(32, 1, 8, 8), torch.rand(32, 1, 8, 8)

    def run(epochs, noise, **kw):
        torch.manual_seed(0)
        model = CycleGAN(image_shape=(1, 8, 8), channels=2, res_blocks=0, d_channels=2)
        return train_cyclegan(model, a, b, epochs=epochs, batch_size=16, cycle_noise=noise, pool_size=4,
                              out_dir=tmp_path / "run", progress=False, **kw)

    run(1, 0.0)
    _edit_state(tmp_path / "run", lambda record, tensors: record.pop("cycle_noise"))
    with pytest.raises(CheckpointError, match="cycle_noise"):
        run(2, 0.3, resume=True)
    info = run(2, 0.0, resume=True)
    assert info["epoch"] == 2 and info["cycle_noise"] == 0.0
