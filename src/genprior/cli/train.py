"""``genprior train vae | autoencoder | gan | classifier | began | causal``: every training command, and the helpers they share.

Each command checks its options and its ``--out`` folder before any work, builds its networks, and hands them to
its trainer in ``genprior.train`` (which writes ``OUT/state.*`` every epoch, for ``--resume``, and the model pair
``OUT/model.*`` or ``OUT/generator.*``). A run whose weights become NaN or infinite ends with exit code 2 and no
model (:func:`check_trained`).
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

from genprior import distributed
from genprior.cli import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_EPOCHS,
    MAX_LR,
    MAX_STEPS,
    MAX_WEIGHT,
    MAX_WIDTH,
    add_data_args,
    add_device_arg,
    integer_arg,
    mode_options,
    number_arg,
    seed_arg,
    sub_seed,
)
from genprior.errors import InvalidValueError, unknown
from genprior.progress import say

TRAINING_DATASETS = "mnist, fashion-mnist or digits (their train splits)"
# train gan: each family's architecture options and their defaults (DCGAN for images, MLPs for the 2-D ring/grid)
TOY_SETS = ("ring", "grid")
IMAGE_ARCH = {"g_channels": 64, "d_channels": 64}
TOY_ARCH = {"g_hidden": [400, 400, 400, 400], "d_hidden": [200, 200, 200], "toy_samples": 100_000}
MAX_PACKING = 64  # PacGAN packs m samples into one discriminator input (the paper: m <= 4)
MAX_TURN_STEPS = 1000  # discriminator or generator steps per turn
# train began: its two architectures and their size defaults
BEGAN_ARCHS = {"paper": "the paper's decoder as G, its encoder-decoder as D (3x3 conv pairs, ELU)",
               "bottleneck": "DCGAN generator as G, a light autoencoder with a batch-normalised bottleneck as D"}
BEGAN_DEFAULTS = {"paper": {"hidden_dim": 64, "channels": 32}, "bottleneck": {"hidden_dim": 32, "channels": 64}}
# train classifier
ADV_STEPS = 7  # PGD steps per batch in adversarial training
# distillation temperatures: logits / T stay finite in float32 (T >= 0.01), and T = 1000 is uniform to 1e-3 already
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 1000.0


# ---------------------------------------------------------------------------------------------- shared helpers

def add_training_args(p: argparse.ArgumentParser, *, samples: bool = False) -> None:
    """The options every ``train`` command takes (``--seed``, ``--resume``, ``--device``); with ``samples``, the GAN
    trainers' ``--samples-every`` too (``--quiet`` is every command's: :func:`genprior.cli.build_parser`)."""
    if samples:
        p.add_argument("--samples-every", type=integer_arg(0, MAX_EPOCHS), default=1,
                       help="save a sample grid every N epochs (0: never)")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of the initial weights, the batch order and every other random draw")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.* (another run's state is refused)")
    add_device_arg(p)


def check_training_output(args, model: str) -> None:
    """Before any work: check a train command's ``--out`` folder, which gets the model pair ``model.*``."""
    from genprior.io import check_outputs

    check_outputs({"--out": args.out}, contents={"--out": (f"{model}.safetensors", f"{model}.json")})


@contextmanager
def check_trained(args, model: str):
    """Around a train command's run: when its trainer stops because the weights became NaN or infinite
    (``TrainingDiverged``; the last good ``state.*`` stays), remove the model pair ``args.out/model.*`` and raise
    ``InvalidValueError``: the run diverged, and no model may claim otherwise (exit code 2)."""
    from genprior.models.checkpoint import model_paths
    from genprior.train.state import TrainingDiverged

    try:
        yield
    except TrainingDiverged as e:
        for path in model_paths(Path(args.out) / model):
            path.unlink(missing_ok=True)
        raise InvalidValueError(f"{e.what()} (try a lower --lr); no model written to {args.out}") from None


def load_training_data(args, model: str) -> tuple:
    """A train command's start: its device, a check that ``args.out`` can take the model pair ``model.*``, the
    global seed, and the data set's ``(train, test)`` splits. Returns ``(device, train, test)``."""
    import torch

    from genprior.data import DATASETS, TRAINING_SETS, load_dataset
    from genprior.devices import pick_device

    if args.dataset not in DATASETS:  # the bundled set is refused by load_dataset: it has no train split
        raise unknown("dataset", args.dataset, TRAINING_SETS)
    device = pick_device(args.device)
    check_training_output(args, model)
    torch.manual_seed(args.seed)
    train = load_dataset(args.dataset, "train", data_dir=args.data_dir)
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    return device, train, test


# ---------------------------------------------------------------------------------------------- the commands

def cmd_train_vae(args) -> int:
    from genprior.models.vae import VAE
    from genprior.train.vae import train_vae

    device, train, test = load_training_data(args, "model")
    device = distributed.setup(device)  # under torchrun: join the process group (DDP), this rank's GPU
    model = VAE(output_shape=tuple(train.images.shape[1:]), hidden=tuple(args.hidden), latent_dim=args.latent_dim,
                likelihood=args.likelihood).to(device)
    with check_trained(args, "model"):
        info = train_vae(model, train.images, test.images, out_dir=args.out, max_epochs=args.epochs,
                         patience=args.patience, min_delta=args.min_delta, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, resume=args.resume,
                         data_info={"dataset": args.dataset, "train_images": len(train), "test_images": len(test)})
    if not info["best_epoch"]:  # no epoch had a finite test ELBO: nothing was kept
        raise InvalidValueError(f"training diverged: the test ELBO was NaN or infinite in all {info['epoch']} epochs "
                                f"(try a lower --lr); no model written to {args.out}")
    best = info["history"][info["best_epoch"] - 1]
    say(f"best epoch {info['best_epoch']} of {info['epoch']}: train ELBO {-best['train_nelbo']:.2f}, "
        f"test ELBO {-best['test_nelbo']:.2f}; model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_train_autoencoder(args) -> int:
    from genprior.models.autoencoder import Autoencoder
    from genprior.train.autoencoder import train_autoencoder

    device, train, test = load_training_data(args, "model")
    model = Autoencoder(output_shape=tuple(train.images.shape[1:]), hidden=tuple(args.hidden),
                        latent_dim=args.latent_dim).to(device)
    with check_trained(args, "model"):
        info = train_autoencoder(model, train.images, test.images, out_dir=args.out, epochs=args.epochs,
                                 batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume,
                                 progress=not args.quiet,
                                 data_info={"dataset": args.dataset, "train_images": len(train),
                                            "test_images": len(test)})
    last = info["history"][-1]
    say(f"{info['epoch']} epochs: train BCE {last['train_loss']:.2f}, test BCE {last['test_loss']:.2f} nats per "
        f"image; model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_train_gan(args) -> int:
    import torch

    from genprior.data import DATASETS, TRAINING_SETS, load_dataset
    from genprior.devices import pick_device
    from genprior.train.gan import GENERATOR_LOSSES, train_gan

    if args.loss not in GENERATOR_LOSSES:
        raise unknown("generator loss", args.loss, GENERATOR_LOSSES)
    # the other family's options are refused rather than ignored; unset, they take their family's defaults
    toy = args.dataset in TOY_SETS
    mode_options(args, TOY_ARCH, used=toy, owner=f"ring/grid, not of {args.dataset}")
    mode_options(args, IMAGE_ARCH, used=not toy, owner=f"image data sets, not of {args.dataset}")
    device = pick_device(args.device)
    check_training_output(args, "generator")
    torch.manual_seed(args.seed)
    m = args.packing
    labels = None
    if args.conditional and (args.dataset in TOY_SETS or m != 1):
        raise InvalidValueError("--conditional needs an image data set and --packing 1")
    if args.dataset in TOY_SETS:
        from genprior.data.toy2d import toy2d
        from genprior.models.mlp import MLPDiscriminator, MLPGenerator

        mix = toy2d(args.dataset)
        n = args.limit or args.toy_samples
        data = mix.sample(n, generator=torch.Generator().manual_seed(sub_seed(args.seed, 12345)))
        G = MLPGenerator(latent_dim=2 if args.latent_dim is None else args.latent_dim, output_dim=2,
                         hidden=tuple(args.g_hidden))
        D = MLPDiscriminator(input_dim=2 * m, hidden=tuple(args.d_hidden))
        data_info = {"dataset": args.dataset, "train_samples": n, "std": mix.std}
    elif args.dataset in DATASETS:
        from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator

        ds = load_dataset(args.dataset, "train", data_dir=args.data_dir)
        data = ds.images[: args.limit] if args.limit else ds.images
        c, h, w = data.shape[1:]
        latent_dim = 100 if args.latent_dim is None else args.latent_dim
        data_info = {"dataset": args.dataset, "split": "train", "train_images": len(data)}
        if args.conditional:
            from genprior.models.conditional import (
                ConditionalDiscriminator,
                ConditionalGenerator,
            )

            labels = ds.labels[: len(data)].long()
            k = int(labels.max()) + 1
            G = ConditionalGenerator(latent_dim=latent_dim, num_classes=k, output_shape=(c, h, w),
                                     base_channels=args.g_channels)
            D = ConditionalDiscriminator(input_shape=(c, h, w), num_classes=k, base_channels=args.d_channels)
            data_info["conditional"] = True
        else:
            G = DCGANGenerator(latent_dim=latent_dim, output_shape=(c, h, w), base_channels=args.g_channels)
            D = DCGANDiscriminator(input_shape=(c * m, h, w), base_channels=args.d_channels)
    else:
        raise unknown("dataset", args.dataset, (*TRAINING_SETS, *TOY_SETS))
    G, D = G.to(device), D.to(device)
    with check_trained(args, "generator"):
        info = train_gan(G, D, data, labels=labels, packing=m, epochs=args.epochs, batch_size=args.batch_size,
                         d_steps=args.d_steps, g_steps=args.g_steps, loss=args.loss, lr=args.lr, g_lr=args.g_lr,
                         betas=(args.beta1, args.beta2), seed=args.seed, out_dir=args.out, resume=args.resume,
                         progress=not args.quiet, samples_every=args.samples_every, data_info=data_info)
    last = info["history"][-1] if info["history"] else {}
    say(f"trained {info['epoch']} epochs ({info['g_steps_done']} generator steps); "
        f"D(x) {last.get('d_real', float('nan')):.2f}, D(G(z)) {last.get('d_fake', float('nan')):.2f}; "
        f"generator written to {Path(args.out) / 'generator.safetensors'}")
    return 0


def cmd_train_classifier(args) -> int:
    from genprior.models.classifier import Classifier
    from genprior.robust import defenses
    from genprior.train.classifier import train_classifier

    mode_options(args, {"adv_steps": ADV_STEPS}, used=args.adv_eps is not None,
                 owner="adversarial training (--adv-eps)")
    device, train, test = load_training_data(args, "model")
    if args.train_images is not None:
        if not 0 < args.train_images <= len(train):
            raise InvalidValueError(f"--train-images must be in 1..{len(train)}")
        train = type(train)(train.name, train.split, train.images[:args.train_images], train.labels[:args.train_images])
    model = Classifier(input_shape=tuple(train.images.shape[1:]), channels=tuple(args.channels), hidden=args.hidden)
    data_info = {"dataset": args.dataset, "train_images": len(train), "test_images": len(test)}
    common = {"out_dir": args.out, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed, "resume": args.resume, "data_info": data_info}
    if args.adv_eps is not None and args.distill_temperature is not None:
        raise InvalidValueError("choose one of --adv-eps (adversarial training) and --distill-temperature")
    if args.init is not None:
        from genprior import zoo

        init, _ = zoo.resolve(args.init, family="classifier")
        theirs = {k: tuple(v.shape) for k, v in init.state_dict().items()}
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if theirs != ours:
            raise InvalidValueError(f"--init {args.init} has another architecture than the classifier asked for "
                                    f"(its input {tuple(init.input_shape)}, channels {init.channels}, hidden "
                                    f"{init.hidden}; here {tuple(model.input_shape)}, {model.channels}, {model.hidden})")
        model.load_state_dict(init.state_dict())
    model.to(device)
    with check_trained(args, "model"):
        if args.adv_eps is not None:
            info = defenses.adversarial_training(model, train.images, train.labels, test.images, test.labels,
                                                 eps=args.adv_eps, steps=args.adv_steps, **common)
        elif args.distill_temperature is not None:
            info = defenses.defensive_distillation(model, train.images, train.labels, test.images, test.labels,
                                                   temperature=args.distill_temperature, **common)
        else:
            info = train_classifier(model, train.images, train.labels, test.images, test.labels, **common)
    say(f"{info['epoch']} epochs: test accuracy {info['history'][-1]['test_accuracy']:.4f}; "
        f"model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_train_began(args) -> int:
    from genprior.models.began import (
        BEGANBottleneckDiscriminator,
        BEGANDiscriminator,
        BEGANGenerator,
    )
    from genprior.models.dcgan import DCGANGenerator
    from genprior.train.began import train_began

    if args.arch not in BEGAN_ARCHS:
        raise unknown("BEGAN architecture", args.arch, BEGAN_ARCHS)
    for name, v in BEGAN_DEFAULTS[args.arch].items():
        if getattr(args, name) is None:
            setattr(args, name, v)
    device, ds, _ = load_training_data(args, "generator")
    data = ds.images[: args.limit] if args.limit else ds.images
    shape = tuple(data.shape[1:])
    if args.arch == "paper":
        G = BEGANGenerator(latent_dim=args.latent_dim, output_shape=shape, channels=args.channels)
        D = BEGANDiscriminator(input_shape=shape, hidden_dim=args.hidden_dim, channels=args.channels)
    else:
        G = DCGANGenerator(latent_dim=args.latent_dim, output_shape=shape, base_channels=args.channels)
        D = BEGANBottleneckDiscriminator(input_shape=shape, hidden_dim=args.hidden_dim, channels=args.channels)
    G, D = G.to(device), D.to(device)
    with check_trained(args, "generator"):
        info = train_began(G, D, data, epochs=args.epochs, batch_size=args.batch_size, gamma=args.gamma,
                           lambda_k=args.lambda_k, lr=args.lr, betas=(args.beta1, 0.999), seed=args.seed,
                           out_dir=args.out, resume=args.resume, progress=not args.quiet,
                           samples_every=args.samples_every,
                           data_info={"dataset": args.dataset, "split": "train", "train_images": len(data),
                                      "arch": args.arch})
    last = info["history"][-1] if info["history"] else {}
    say(f"trained {info['epoch']} epochs ({info['steps_done']} steps); k_t {info['k']:.4f}, "
        f"M_global {last.get('m_global', float('nan')):.4f}; "
        f"generator written to {Path(args.out) / 'generator.safetensors'}")
    return 0


def cmd_train_causal(args) -> int:
    """``genprior train causal``: CausalGAN's causal controller (WGAN-GP on labels) on a graph's SCM."""
    import json

    import torch

    from genprior.data.causal_faces import (
        GRAPHS,
        CausalGraph,
        default_graph,
        fit_graph,
        sample_labels,
    )
    from genprior.models.causal import CausalController, LabelCritic
    from genprior.train.causal import train_causal

    def read(spec: str, what: str) -> dict:
        try:
            return json.loads(Path(spec).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidValueError(f"{what} {spec}: cannot read it as JSON ({str(e).splitlines()[0]})") from None

    truth = default_graph() if args.graph == "default" else CausalGraph.from_json(read(args.graph, "--graph"))
    if args.fit_graph in GRAPHS:
        structure = fit_graph(args.fit_graph, truth)
    else:
        structure = CausalGraph.from_json(read(args.fit_graph, "--fit-graph"), structure_only=True)
        if sorted(structure.nodes) != sorted(truth.nodes):
            raise InvalidValueError(f"--fit-graph: its nodes {sorted(structure.nodes)} differ from the data's "
                                    f"{sorted(truth.nodes)}")
    check_training_output(args, "controller")
    torch.manual_seed(args.seed)
    labels = sample_labels(truth, args.labels, seed=sub_seed(args.seed, 2))
    controller = CausalController.from_graph(structure, hidden=tuple(args.hidden), noise_dim=args.noise_dim)
    critic = LabelCritic(input_dim=len(truth.nodes), hidden=tuple(args.critic_hidden))
    with check_trained(args, "controller"):
        info = train_causal(controller, critic, labels, truth, steps=args.steps, every=args.every,
                            batch_size=args.batch_size, n_critic=args.n_critic, gp_weight=args.gp_weight, lr=args.lr,
                            seed=args.seed, out_dir=args.out, resume=args.resume, progress=not args.quiet,
                            data_info={"graph": truth.to_json(), "fit_graph": structure.to_json(),
                                       "labels": args.labels})
    last = info["history"][-1]["tvd"] if info["history"] else float("nan")
    say(f"trained {info['steps_done']} iterations; TVD to the SCM's joint {last:.4f}; controller written to "
        f"{Path(args.out) / 'controller.safetensors'}")
    return 0


# ---------------------------------------------------------------------------------------------- the parsers

def add_parsers(sub) -> None:
    """Add ``train`` and its subcommands (vae, autoencoder, gan, classifier, began) to ``sub``."""
    p_train = sub.add_parser("train", help="train a generative model")
    train_sub = p_train.add_subparsers(dest="family", required=True)
    _add_vae(train_sub.add_parser("vae", help="the CSGM VAE (784-500-500-20, softplus, sigmoid output)"))
    _add_autoencoder(train_sub.add_parser(
        "autoencoder", help="a deterministic autoencoder with the VAE's shape, for unsupervised pretraining"))
    _add_gan(train_sub.add_parser(
        "gan", help="a GAN (DCGAN for images, MLP for 2-D ring/grid), optionally packed (PacGAN)"))
    _add_classifier(train_sub.add_parser(
        "classifier", help="a small CNN classifier (optionally adversarially trained or distilled)"))
    _add_began(train_sub.add_parser("began", help="a BEGAN (boundary equilibrium GAN: autoencoder discriminator)"))
    _add_causal(train_sub.add_parser(
        "causal", help="CausalGAN's causal controller (WGAN-GP on labels) on a known SCM (causal-faces)"))


def _add_vae(p: argparse.ArgumentParser) -> None:
    from genprior.models.vae import LIKELIHOODS

    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/vae", help="folder for state.* (resume) and model.* (best weights)")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=200, help="maximum epochs")
    p.add_argument("--patience", type=integer_arg(1, MAX_EPOCHS), default=5,
                   help="stop after this many epochs without a better test ELBO")
    p.add_argument("--min-delta", type=number_arg(low=0, high=MAX_WEIGHT), default=0.1,
                   help="an epoch counts as an improvement only if the test -ELBO falls by more than this (nats)")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=100, help="images per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3, help="Adam learning rate")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=[500, 500],
                   help="widths of the hidden layers of the encoder (the decoder mirrors them)")
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=20, help="size of the latent z")
    p.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli",
                   help="decoder: bernoulli (CSGM's) or logistic (discretized over 8-bit levels: log p(x) in bits of "
                        "the 8-bit image, for genprior ood's complexity-corrected score)")
    add_training_args(p)
    p.set_defaults(func=cmd_train_vae, torchrun=True)


def _add_autoencoder(p: argparse.ArgumentParser) -> None:
    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/autoencoder", help="folder for state.* (resume) and model.* (final weights)")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=20, help="training epochs")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=100, help="images per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3, help="Adam learning rate")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=[500, 500],
                   help="widths of the hidden layers of the encoder (the decoder mirrors them)")
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=20, help="size of the code")
    add_training_args(p)
    p.set_defaults(func=cmd_train_autoencoder)


def _add_gan(p: argparse.ArgumentParser) -> None:
    from genprior.train.gan import GENERATOR_LOSSES

    add_data_args(p, datasets="mnist, fashion-mnist, digits (images, DCGAN) or ring, grid (2-D points, MLP)")
    p.add_argument("--out", default="runs/gan", help="folder for state.* (resume), generator.* and sample grids")
    p.add_argument("--loss", default="nonsaturating", help=f"generator loss: {', '.join(GENERATOR_LOSSES)}")
    p.add_argument("--packing", type=integer_arg(1, MAX_PACKING), default=1,
                   help=f"PacGAN packing degree m, 1..{MAX_PACKING} (1 = plain GAN)")
    p.add_argument("--conditional", action="store_true",
                   help="conditional GAN (Mirza & Osindero 2014): G and D get the class label; image data sets only")
    p.add_argument("--d-steps", type=integer_arg(1, MAX_TURN_STEPS), default=1,
                   help="discriminator steps per generator turn (k)")
    p.add_argument("--g-steps", type=integer_arg(1, MAX_TURN_STEPS), default=1,
                   help="generator steps per generator turn (PacGAN's code: 2)")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=10, help="training epochs")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=64, help="packs per discriminator step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=2e-4,
                   help="Adam learning rate (of both players unless --g-lr)")
    p.add_argument("--g-lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=None,
                   help="the generator's own Adam learning rate")
    p.add_argument("--beta1", type=number_arg(low=0, high=1, strict_high=True), default=0.5,
                   help="Adam's first-moment decay")
    p.add_argument("--beta2", type=number_arg(low=0, high=1, strict_high=True), default=0.999,
                   help="Adam's second-moment decay")
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=None,
                   help="default: 100 for images, 2 for 2-D data")
    p.add_argument("--g-channels", type=integer_arg(1, MAX_WIDTH), default=None,
                   help=f"image data: DCGAN generator base channels (default {IMAGE_ARCH['g_channels']})")
    p.add_argument("--d-channels", type=integer_arg(1, MAX_WIDTH), default=None,
                   help=f"image data: DCGAN discriminator base channels (default {IMAGE_ARCH['d_channels']})")
    p.add_argument("--g-hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=None,
                   help=f"ring/grid: MLP generator widths (default {' '.join(map(str, TOY_ARCH['g_hidden']))})")
    p.add_argument("--d-hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=None,
                   help=f"ring/grid: MLP discriminator widths (default {' '.join(map(str, TOY_ARCH['d_hidden']))})")
    p.add_argument("--limit", type=integer_arg(1, MAX_COUNT), default=None,
                   help="use only the first N training images / 2-D samples")
    p.add_argument("--toy-samples", type=integer_arg(1, MAX_COUNT), default=None,
                   help=f"ring/grid: training points drawn (default {TOY_ARCH['toy_samples']})")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_gan)


def _add_classifier(p: argparse.ArgumentParser) -> None:
    add_data_args(p, datasets="mnist or fashion-mnist (images of at least 16x16 pixels; their train splits)")
    p.add_argument("--out", default="runs/classifier", help="folder for state.* (resume) and model.* (final weights)")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=6, help="training epochs")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=128, help="images per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3, help="Adam learning rate")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), nargs=2, default=[32, 64],
                   help="channels of the two convolution layers")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), default=256,
                   help="width of the fully connected hidden layer")
    p.add_argument("--train-images", type=integer_arg(1, MAX_COUNT), default=None,
                   help="use only the first N training images")
    p.add_argument("--init", default=None, help="start from these weights (zoo name or path), e.g. to fine-tune")
    p.add_argument("--adv-eps", type=number_arg(low=0, high=1, strict=True), default=None,
                   help="PGD adversarial training (Madry et al. 2018) at this l_inf eps, in (0, 1]")
    p.add_argument("--adv-steps", type=integer_arg(1, MAX_STEPS), default=None,
                   help=f"PGD steps per batch in adversarial training (default {ADV_STEPS})")
    p.add_argument("--distill-temperature", type=number_arg(low=MIN_TEMPERATURE, high=MAX_TEMPERATURE), default=None,
                   help="defensive distillation (Papernot et al. 2016) at this temperature, in "
                        f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]")
    add_training_args(p)
    p.set_defaults(func=cmd_train_classifier)


def _add_began(p: argparse.ArgumentParser) -> None:
    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/began", help="folder for state.* (resume), generator.* and sample grids")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=10, help="training epochs")
    p.add_argument("--gamma", type=number_arg(low=0, high=1, strict=True), default=0.5,
                   help="diversity ratio E L(G(z)) / E L(x), in (0, 1]")
    p.add_argument("--lambda-k", type=number_arg(low=0, high=1), default=0.001,
                   help="learning rate of the k_t controller, in [0, 1] (k_t itself lives in [0, 1])")
    p.add_argument("--arch", default="paper", help="networks: " + "; ".join(f"{k}: {v}" for k, v in BEGAN_ARCHS.items()))
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=64, help="generator input size (z)")
    p.add_argument("--hidden-dim", type=integer_arg(1, MAX_WIDTH), default=None,
                   help="size of the discriminator's autoencoder code (h); default 64 (paper), 32 (bottleneck)")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), default=None,
                   help="convolution channels n; default 32 (paper: encoder grows n, 2n, 3n, ...), "
                        "64 (bottleneck: D's width and the DCGAN generator's base width)")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-4,
                   help="Adam learning rate of both players")
    p.add_argument("--beta1", type=number_arg(low=0, high=1, strict_high=True), default=0.5,
                   help="Adam's first-moment decay")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=64, help="images per Adam step")
    p.add_argument("--limit", type=integer_arg(1, MAX_COUNT), default=None, help="use only the first N training images")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_began)


def _add_causal(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graph", default="default",
                   help="the SCM the labels come from: default (causal-faces: Male, Young, Bald, Mustache, Makeup, "
                        "Eyeglasses, Smiling) or GRAPH.json (format: genprior.data.causal_faces)")
    p.add_argument("--fit-graph", default="true",
                   help="the controller's DAG: true (the SCM's), wrong (Male -> Bald reversed), complete (every "
                        "earlier node a parent) or GRAPH.json (its p tables may be left out)")
    p.add_argument("--out", default="runs/causal", help="folder for state.* (resume) and controller.*")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=3000, help="controller (generator) iterations")
    p.add_argument("--every", type=integer_arg(1, MAX_STEPS), default=100,
                   help="measure the TVD and save the state every N iterations")
    p.add_argument("--labels", type=integer_arg(1, MAX_COUNT), default=100_000,
                   help="training label vectors drawn from the SCM")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=256, help="label vectors per step")
    p.add_argument("--n-critic", type=integer_arg(1, MAX_TURN_STEPS), default=5,
                   help="critic steps per controller step (WGAN-GP: 5)")
    p.add_argument("--gp-weight", type=number_arg(low=0, high=MAX_WEIGHT), default=10.0,
                   help="gradient penalty weight lambda (WGAN-GP: 10)")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-4,
                   help="Adam learning rate of both players (betas 0.5, 0.9)")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=[32, 32],
                   help="widths of each node's MLP")
    p.add_argument("--noise-dim", type=integer_arg(1, MAX_WIDTH), default=4, help="each node's own noise size")
    p.add_argument("--critic-hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=[64, 64],
                   help="widths of the critic's MLP")
    add_training_args(p)
    p.set_defaults(func=cmd_train_causal)
