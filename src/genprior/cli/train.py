"""``genprior train vae | autoencoder | gan | classifier | began | causal | cyclegan``: every training command, and the helpers they share.

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
# train vae / infogan on procedural sprites: the options only it takes, and their defaults
SPRITES_OPTIONS = {"size": 32, "images": 50_000}
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


def load_sprites(args, model: str) -> tuple:
    """:func:`load_training_data` for procedural dSprites (:mod:`genprior.data.sprites`, drawn, no folder):
    ``--images`` training sprites of side ``--size`` and a tenth as many test sprites, each set from its own seed
    derived from ``--seed``. Returns ``(device, train, test)``."""
    import torch

    from genprior.data.sprites import sprites_dataset
    from genprior.devices import pick_device

    device = pick_device(args.device)
    check_training_output(args, model)
    torch.manual_seed(args.seed)
    train = sprites_dataset(args.images, size=args.size, seed=sub_seed(args.seed, 35))
    test = sprites_dataset(max(args.images // 10, 1), size=args.size, seed=sub_seed(args.seed, 36))
    return device, train, test


# ---------------------------------------------------------------------------------------------- the commands

def cmd_train_vae(args) -> int:
    from genprior.models.vae import VAE
    from genprior.train.vae import train_vae

    sprites = args.dataset == "sprites"
    mode_options(args, SPRITES_OPTIONS, used=sprites, owner="--dataset sprites")
    mode_options(args, {"channels": 32}, used=args.arch == "conv", owner="--arch conv")
    if args.hidden is None:
        args.hidden = [256] if args.arch == "conv" else [500, 500]
    device, train, test = load_sprites(args, "model") if sprites else load_training_data(args, "model")
    device = distributed.setup(device)  # under torchrun: join the process group (DDP), this rank's GPU
    model = VAE(output_shape=tuple(train.images.shape[1:]), hidden=tuple(args.hidden), latent_dim=args.latent_dim,
                likelihood=args.likelihood, **({"arch": "conv", "channels": args.channels} if args.arch == "conv"
                                               else {})).to(device)
    data_info = {"dataset": args.dataset, "train_images": len(train), "test_images": len(test),
                 **({"size": args.size} if sprites else {})}
    with check_trained(args, "model"):
        info = train_vae(model, train.images, test.images, out_dir=args.out, max_epochs=args.epochs,
                         patience=args.patience, min_delta=args.min_delta, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, resume=args.resume, beta=args.beta, data_info=data_info)
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
    device = distributed.setup(device)  # under torchrun: join the process group (DDP), this rank's GPU
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
    device = distributed.setup(device)  # under torchrun: join the process group (DDP), this rank's GPU
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
    if args.adv_eps is not None and distributed.launched():  # its random starts are drawn per batch, not per image
        raise InvalidValueError("adversarial training (--adv-eps) does not run under torchrun yet: run it as one "
                                "process")
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
    device = distributed.setup(device)  # under torchrun: join the process group (DDP), this rank's GPU
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
    device = distributed.setup(device)  # under torchrun: join the process group, this rank's GPU
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
    distributed.setup("cpu")  # under torchrun: join the process group (DDP); the label stage trains on the CPU
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


def cmd_train_diffusion(args) -> int:
    from genprior.models.diffusion import Diffusion
    from genprior.train.diffusion import train_diffusion

    if args.ema_decay >= 1:
        raise InvalidValueError(f"--ema-decay must be below 1 (1 would never move the saved weights), got {args.ema_decay}")
    device, train, test = load_training_data(args, "model")
    model = Diffusion(image_shape=tuple(train.images.shape[1:]), channels=tuple(args.channels),
                      num_steps=args.num_steps, schedule=args.schedule).to(device)
    with check_trained(args, "model"):
        info = train_diffusion(model, train.images, test.images, out_dir=args.out, steps=args.steps,
                               steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, lr=args.lr,
                               ema_decay=args.ema_decay, seed=args.seed, resume=args.resume, progress=not args.quiet,
                               samples_every=args.samples_every,
                               data_info={"dataset": args.dataset, "train_images": len(train),
                                          "test_images": len(test)})
    last = info["history"][-1] if info["history"] else {"test_loss": float("nan")}
    say(f"{info['steps_done']} steps: held-out loss {last['test_loss']:.4f}; EMA model written to "
        f"{Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_train_cyclegan(args) -> int:
    from genprior.data.styles import STYLES, unpaired_domains
    from genprior.models.cyclegan import CycleGAN
    from genprior.train.cyclegan import train_cyclegan

    if args.style not in STYLES:
        raise unknown("style", args.style, STYLES)
    device, ds, _ = load_training_data(args, "model")
    domains = unpaired_domains(ds.images, ds.labels, args.style, limit=args.limit)
    model = CycleGAN(image_shape=tuple(ds.images.shape[1:]), channels=args.channels, res_blocks=args.res_blocks,
                     d_channels=args.d_channels).to(device)
    with check_trained(args, "model"):
        info = train_cyclegan(model, domains.a, domains.b, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              betas=(args.beta1, 0.999), lambda_cyc=args.lambda_cyc, identity=args.identity,
                              cycle_noise=args.cycle_noise,
                              pool_size=args.pool_size, seed=args.seed, out_dir=args.out, resume=args.resume,
                              progress=not args.quiet, samples_every=args.samples_every,
                              data_info={"dataset": args.dataset, "split": "train", "style": args.style,
                                         "domain_a_images": len(domains.a), "domain_b_images": len(domains.b)})
    last = info["history"][-1] if info["history"] else {}
    say(f"trained {info['epoch']} epochs ({info['steps_done']} steps); cycle error {last.get('cycle', float('nan')):.4f} "
        f"per pixel (both directions); model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def _causal_truth(args):
    """The SCM of ``--graph`` (``default``: causal-faces) for the causal commands."""
    import json

    from genprior.data.causal_faces import CausalGraph, default_graph

    if args.graph == "default":
        return default_graph()
    try:
        spec = json.loads(Path(args.graph).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidValueError(f"--graph {args.graph}: cannot read it as JSON ({str(e).splitlines()[0]})") from None
    return CausalGraph.from_json(spec)


def cmd_train_causal_labeller(args) -> int:
    """``genprior train causal-labeller``: the attribute classifier that reads causal faces' labels from images."""
    import torch

    from genprior.devices import pick_device
    from genprior.models.causal_image import AttributeClassifier
    from genprior.train.causal_image import rendered_faces, train_labeller

    truth = _causal_truth(args)
    check_training_output(args, "model")
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    train_x, train_y = rendered_faces(truth, args.images, seed=sub_seed(args.seed, 2), uniform=True)
    test_x, test_y = rendered_faces(truth, args.test_images, seed=sub_seed(args.seed, 3), uniform=True)
    model = AttributeClassifier(nodes=truth.nodes, channels=tuple(args.channels), hidden=args.hidden).to(device)
    with check_trained(args, "model"):
        info = train_labeller(model, train_x.to(device), train_y.to(device), test_x.to(device), test_y.to(device),
                              epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                              out_dir=args.out, resume=args.resume, progress=not args.quiet,
                              data_info={"dataset": "causal-faces", "labels": "uniform (independent fair coins)",
                                         "graph": truth.to_json(), "train_images": args.images,
                                         "test_images": args.test_images})
    acc = info["history"][-1]["attribute_accuracy"]
    say(f"trained {info['epoch']} epochs; test accuracy per attribute: "
        + ", ".join(f"{n} {a:.4f}" for n, a in acc.items()) + f"; model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_train_causal_image(args) -> int:
    """``genprior train causal-image``: CausalGAN's image stage (Labeller / Anti-Labeller) on a trained controller."""
    import torch

    from genprior import zoo
    from genprior.devices import pick_device
    from genprior.models.causal_image import (
        AttributeClassifier,
        CausalGAN,
        CausalImageGenerator,
    )
    from genprior.models.checkpoint import load_model
    from genprior.models.dcgan import DCGANDiscriminator
    from genprior.train.causal_image import rendered_faces, train_causal_images

    truth = _causal_truth(args)
    check_training_output(args, "generator")
    stem = Path(args.controller)
    if (stem / "controller.json").is_file():  # a genprior train causal folder
        stem = stem / "controller"
    controller, _ = load_model(zoo.model_file(stem))
    if getattr(controller, "config", dict)().get("family") != "causal-controller":
        raise InvalidValueError(f"--controller {args.controller} is not a causal controller (train one with "
                                "genprior train causal)")
    if sorted(controller.nodes) != sorted(truth.nodes):
        raise InvalidValueError(f"--controller: its nodes {sorted(controller.nodes)} differ from the graph's "
                                f"{sorted(truth.nodes)}")
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    images, labels = rendered_faces(truth, args.images, seed=sub_seed(args.seed, 2))
    labels = labels[:, [truth.nodes.index(n) for n in controller.nodes]]  # into the controller's order
    shape = tuple(images.shape[1:])
    model = CausalGAN(controller, CausalImageGenerator(nodes=controller.nodes, latent_dim=args.latent_dim,
                                                       output_shape=shape, base_channels=args.g_channels)).to(device)
    discriminator = DCGANDiscriminator(input_shape=shape, base_channels=args.d_channels).to(device)
    labeller, anti = (AttributeClassifier(nodes=controller.nodes, input_shape=shape).to(device) for _ in range(2))
    with check_trained(args, "generator"):
        info = train_causal_images(model, discriminator, labeller, anti, images.to(device), labels.to(device),
                                   steps=args.steps, every=args.every, batch_size=args.batch_size, lr=args.lr,
                                   labeller_weight=args.labeller_weight, anti_labeller_weight=args.anti_labeller_weight,
                                   labeller_init=args.labeller_init, seed=args.seed, out_dir=args.out,
                                   resume=args.resume, progress=not args.quiet,
                                   data_info={"dataset": "causal-faces", "graph": truth.to_json(),
                                              "train_images": args.images, "controller": str(args.controller)})
    last = info["history"][-1]["fidelity"] if info["history"] else float("nan")
    say(f"trained {info['steps_done']} steps; label fidelity (the Labeller's agreement) {last:.4f}; CausalGAN "
        f"written to {Path(args.out) / 'generator.safetensors'} (sample it with genprior sample --model {args.out})")
    return 0


def cmd_train_infogan(args) -> int:
    """``genprior train infogan``: an InfoGAN, or with ``--cr-weight W > 0`` an InfoGAN-CR, on procedural sprites."""
    from genprior.models.infogan import CRHead, InfoGANDiscriminator, InfoGANGenerator
    from genprior.train.infogan import train_infogan

    if args.dataset != "sprites":
        raise unknown("dataset for train infogan", args.dataset, ("sprites",))
    mode_options(args, SPRITES_OPTIONS, used=True, owner="--dataset sprites")
    device, train, _ = load_sprites(args, "generator")
    shape = tuple(train.images.shape[1:])
    G = InfoGANGenerator(codes=args.codes, noise_dim=args.noise_dim, output_shape=shape, channels=args.channels)
    D = InfoGANDiscriminator(input_shape=shape, codes=args.codes, channels=args.channels, hidden=args.hidden)
    H = CRHead(input_shape=shape, codes=args.codes, channels=args.channels, hidden=args.hidden) \
        if args.cr_weight > 0 else None
    G, D, H = G.to(device), D.to(device), H.to(device) if H is not None else None
    with check_trained(args, "generator"):
        info = train_infogan(G, D, train.images, cr_head=H, steps=args.steps, every=args.every,
                             batch_size=args.batch_size, info_weight=args.info_weight, cr_weight=args.cr_weight,
                             cr_start=args.cr_start, gap_start=args.cr_gap, gap_decrease=args.cr_gap_decrease,
                             gap_every=args.cr_gap_every, lr=args.lr, d_lr=args.d_lr, cr_lr=args.cr_lr,
                             seed=args.seed, out_dir=args.out, resume=args.resume, progress=not args.quiet,
                             data_info={"dataset": "sprites", "size": args.size, "train_images": len(train)})
    last = info["history"][-1] if info["history"] else {}
    say(f"trained {info['steps_done']} iterations; D loss {last.get('d_loss', float('nan')):.3f}, info loss "
        f"{last.get('info_loss', float('nan')):.4f}; generator (G), discriminator (D and its Q head, the encoder) "
        f"and traversal.png (one row per code) written to {args.out}")
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
    _add_infogan(train_sub.add_parser(
        "infogan", help="an InfoGAN (codes + Q head) on procedural sprites; --cr-weight W > 0: InfoGAN-CR"))
    _add_causal_labeller(train_sub.add_parser(
        "causal-labeller", help="the attribute classifier reading causal faces' labels from images (one logit each)"))
    _add_causal_image(train_sub.add_parser(
        "causal-image", help="CausalGAN's image stage: G(z, labels) with Labeller / Anti-Labeller on a controller"))
    _add_cyclegan(train_sub.add_parser(
        "cyclegan", help="a CycleGAN: unpaired translation between a data set and a styled copy of it (LSGAN + cycle)"))
    _add_diffusion(train_sub.add_parser(
        "diffusion", help="a denoising diffusion model (DDPM with a small U-Net and EMA weights), the prior of dps and diffpir"))


def _add_sprites_args(p: argparse.ArgumentParser) -> None:
    """``--size`` and ``--images``: the procedural sprites a train command draws (``--dataset sprites``)."""
    p.add_argument("--size", type=integer_arg(32, 64), choices=(32, 64), default=None,
                   help=f"--dataset sprites: image side, 32 or 64 (default {SPRITES_OPTIONS['size']})")
    p.add_argument("--images", type=integer_arg(1, MAX_COUNT), default=None,
                   help=f"--dataset sprites: training sprites drawn (default {SPRITES_OPTIONS['images']}; a tenth as "
                        "many more for the test split)")


def _add_vae(p: argparse.ArgumentParser) -> None:
    from genprior.models.vae import ARCHS, LIKELIHOODS

    add_data_args(p, datasets=f"{TRAINING_DATASETS}, or sprites (procedural dSprites, drawn)")
    p.add_argument("--out", default="runs/vae", help="folder for state.* (resume) and model.* (best weights)")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=200, help="maximum epochs")
    p.add_argument("--patience", type=integer_arg(1, MAX_EPOCHS), default=5,
                   help="stop after this many epochs without a better test ELBO")
    p.add_argument("--min-delta", type=number_arg(low=0, high=MAX_WEIGHT), default=0.1,
                   help="an epoch counts as an improvement only if the test -ELBO falls by more than this (nats)")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=100, help="images per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3, help="Adam learning rate")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), nargs="+", default=None,
                   help="widths of the hidden layers of the encoder (the decoder mirrors them; default 500 500, "
                        "with --arch conv 256: the fully connected layers after the convolutions)")
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=20, help="size of the latent z")
    p.add_argument("--beta", type=number_arg(low=0, high=MAX_WEIGHT, strict=True), default=1.0,
                   help="weight of the KL term, > 0 (1: the ELBO; > 1: a beta-VAE, Higgins et al. 2017)")
    p.add_argument("--arch", choices=ARCHS, default="mlp",
                   help="mlp (CSGM's fully connected VAE) or conv (4x4 stride-2 convolutions, the beta-VAE papers')")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), default=None,
                   help="--arch conv: channels of every convolution (default 32)")
    _add_sprites_args(p)
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
    p.set_defaults(func=cmd_train_autoencoder, torchrun=True)


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
    p.set_defaults(func=cmd_train_gan, torchrun=True)


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
    p.set_defaults(func=cmd_train_classifier, torchrun=True)


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
    p.set_defaults(func=cmd_train_began, torchrun=True)


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
    p.set_defaults(func=cmd_train_causal, torchrun=True)


def _add_causal_graph(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graph", default="default",
                   help="the SCM the faces' labels come from: default (causal-faces) or GRAPH.json (format: "
                        "genprior.data.causal_faces)")


def _add_causal_labeller(p: argparse.ArgumentParser) -> None:
    _add_causal_graph(p)
    p.add_argument("--out", default="runs/causal-labeller", help="folder for state.* (resume) and model.*")
    p.add_argument("--images", type=integer_arg(1, MAX_COUNT), default=20_000,
                   help="training faces (labels: independent fair coins, so no attribute is read off another)")
    p.add_argument("--test-images", type=integer_arg(1, MAX_COUNT), default=5_000, help="test faces")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=5, help="passes over the training faces")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=128, help="faces per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3, help="Adam learning rate")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), nargs=2, default=[16, 32],
                   help="channels of the two 5x5 convolutions")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), default=64, help="hidden units of the linear layer")
    add_training_args(p)
    p.set_defaults(func=cmd_train_causal_labeller)


def _add_causal_image(p: argparse.ArgumentParser) -> None:
    _add_causal_graph(p)
    p.add_argument("--controller", required=True,
                   help="the trained causal controller: a genprior train causal folder or its controller.* pair")
    p.add_argument("--out", default="runs/causal-image",
                   help="folder for state.* (resume) and generator.* (the CausalGAN: controller + image generator)")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=3000, help="training steps (all players once)")
    p.add_argument("--every", type=integer_arg(1, MAX_STEPS), default=250,
                   help="measure the label fidelity and save the state every N steps")
    p.add_argument("--images", type=integer_arg(1, MAX_COUNT), default=20_000, help="real faces drawn from the SCM")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=64, help="real and generated faces per step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=2e-4,
                   help="Adam learning rate of every player (betas 0.5, 0.999)")
    p.add_argument("--labeller-weight", type=number_arg(low=0, high=MAX_WEIGHT), default=1.0,
                   help="weight of the Labeller term in G's loss (paper: 1)")
    p.add_argument("--anti-labeller-weight", type=number_arg(low=0, high=MAX_WEIGHT), default=1.0,
                   help="weight of the Anti-Labeller term G maximises (paper: 1)")
    p.add_argument("--labeller-init", metavar="MODEL",
                   help="start the Labeller from this trained attribute classifier (zoo name, e.g. "
                        "causal-faces-labeller, model pair or genprior train causal-labeller folder; its attributes "
                        "and architecture must match) instead of at random")
    p.add_argument("--latent-dim", type=integer_arg(1, MAX_WIDTH), default=32, help="image noise size of G(z, labels)")
    p.add_argument("--g-channels", type=integer_arg(1, MAX_WIDTH), default=32, help="G's base width (DCGAN)")
    p.add_argument("--d-channels", type=integer_arg(1, MAX_WIDTH), default=32, help="D's base width (DCGAN)")
    add_training_args(p)
    p.set_defaults(func=cmd_train_causal_image)


def _add_diffusion(p: argparse.ArgumentParser) -> None:
    from genprior.models.diffusion import SCHEDULES

    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/diffusion", help="folder for state.* (resume), model.* (EMA weights) and "
                                                          "sample grids")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=20_000, help="Adam steps in all")
    p.add_argument("--steps-per-epoch", type=integer_arg(1, MAX_STEPS), default=500,
                   help="steps between two checkpoints (and sample grids)")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=128, help="images per Adam step")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=5e-4,
                   help="Adam learning rate (warmed up over the first 500 steps)")
    p.add_argument("--ema-decay", type=number_arg(low=0, high=1), default=0.999,
                   help="decay of the exponential moving average of the weights (the saved model), in [0, 1)")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), nargs=3, default=[16, 32, 64],
                   help="U-Net widths at full, half and quarter resolution")
    p.add_argument("--num-steps", type=integer_arg(2, 100_000), default=1000, help="diffusion steps T")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine", help="noise schedule (cosine: Nichol & "
                                                                           "Dhariwal; linear: Ho et al.)")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_diffusion)


def _add_cyclegan(p: argparse.ArgumentParser) -> None:
    from genprior.data.styles import STYLES

    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--style", default="thick-inverted",
                   help="domain B's style: " + "; ".join(f"{k}: {v[1]}" for k, v in STYLES.items())
                        + " (domain A: one half of the training images, B: the other half, styled)")
    p.add_argument("--out", default="runs/cyclegan", help="folder for state.* (resume), model.* and sample grids")
    p.add_argument("--epochs", type=integer_arg(1, MAX_EPOCHS), default=5,
                   help="training epochs (passes over the smaller domain)")
    p.add_argument("--lambda-cyc", type=number_arg(low=0, high=MAX_WEIGHT), default=10.0,
                   help="cycle-consistency weight lambda (paper: 10; 0: a two-way GAN without cycle or identity loss)")
    p.add_argument("--identity", type=number_arg(low=0, high=MAX_WEIGHT), default=0.5,
                   help="identity-loss weight as a fraction of lambda (paper: 0.5)")
    p.add_argument("--cycle-noise", type=number_arg(low=0, high=MAX_WEIGHT), default=0.0,
                   help="std of Gaussian noise added to each translation before the cycle's way back, against hidden "
                        "information (Bashkirova et al. 2019; default 0: none)")
    p.add_argument("--pool-size", type=integer_arg(0, MAX_COUNT), default=50,
                   help="history of generated images the discriminators also see (paper: 50; 0: none)")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=2e-4,
                   help="Adam learning rate of all four networks")
    p.add_argument("--beta1", type=number_arg(low=0, high=1, strict_high=True), default=0.5,
                   help="Adam's first-moment decay")
    p.add_argument("--batch-size", type=integer_arg(1, MAX_BATCH), default=32, help="images of each domain per step")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), default=16,
                   help="translators' base channels n (c3s1-n, d2n, residual blocks at 2n, un, c3s1-C)")
    p.add_argument("--res-blocks", type=integer_arg(0, 64), default=2, help="residual blocks of each translator")
    p.add_argument("--d-channels", type=integer_arg(1, MAX_WIDTH), default=16,
                   help="PatchGAN discriminators' base channels")
    p.add_argument("--limit", type=integer_arg(1, MAX_COUNT), default=None,
                   help="use at most N training images per domain")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_cyclegan)


def _add_infogan(p: argparse.ArgumentParser) -> None:
    add_data_args(p, default_dataset="sprites", datasets="sprites (procedural dSprites, drawn)")
    p.add_argument("--out", default="runs/infogan",
                   help="folder for state.* (resume), generator.*, discriminator.* (with the Q head) and traversal.png")
    _add_sprites_args(p)
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=3000, help="iterations (one G step each)")
    p.add_argument("--every", type=integer_arg(1, MAX_STEPS), default=500,
                   help="save the state, the models and the traversal grid every N iterations")
    p.add_argument("--batch-size", type=integer_arg(2, MAX_BATCH), default=64, help="images per step")
    p.add_argument("--codes", type=integer_arg(1, MAX_WIDTH), default=5, help="continuous codes c ~ U[-1, 1]")
    p.add_argument("--noise-dim", type=integer_arg(0, MAX_WIDTH), default=5, help="noise coordinates z ~ U[-1, 1]")
    p.add_argument("--channels", type=integer_arg(1, MAX_WIDTH), default=16, help="convolution channels (base)")
    p.add_argument("--hidden", type=integer_arg(1, MAX_WIDTH), default=64,
                   help="fully connected width of D/Q and H after their convolutions")
    p.add_argument("--info-weight", type=number_arg(low=0, high=MAX_WEIGHT), default=0.05,
                   help="lambda: weight of the info loss 1/2 ||Q(G(c, z)) - c||^2 for G and for D/Q")
    p.add_argument("--cr-weight", type=number_arg(low=0, high=MAX_WEIGHT), default=0.0,
                   help="InfoGAN-CR's contrastive regularizer weight (0: plain InfoGAN; the paper's dSprites run: 2)")
    p.add_argument("--cr-start", type=number_arg(low=0, high=1), default=0.9,
                   help="fraction of the steps trained as InfoGAN before the CR weight switches on (paper: ~0.9)")
    p.add_argument("--cr-gap", type=number_arg(low=0, high=2), default=0.0,
                   help="initial gap: the pair's other codes differ by at least this, in [0, 2] (paper's dSprites: 0)")
    p.add_argument("--cr-gap-decrease", type=number_arg(low=0, high=2), default=0.0,
                   help="the gap falls by this every --cr-gap-every steps, down to 0")
    p.add_argument("--cr-gap-every", type=integer_arg(1, MAX_STEPS), default=1, help="steps between gap decreases")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=1e-3,
                   help="the generator's Adam learning rate (betas 0.5, 0.999)")
    p.add_argument("--d-lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=2e-3,
                   help="the discriminator's (and Q head's) Adam learning rate")
    p.add_argument("--cr-lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=2e-3,
                   help="the CR head H's Adam learning rate")
    add_training_args(p)
    p.set_defaults(func=cmd_train_infogan)
