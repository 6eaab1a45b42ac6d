"""The recovery method registry: one name per method, and the one place that runs a named method.

Each :class:`Method` holds its name (what ``genprior recover --method`` takes and what every results file records),
a one-line label, the solver it runs, the options it takes with their defaults, the measurements it accepts and
whether it needs a generator. The command line, the demo and every benchmark go through :func:`recover` /
:func:`run_method`; a benchmark row that runs a method with other options is named by :func:`row_name`
(``"csgm lam=0.1"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from genprior import distributed
from genprior.errors import InvalidValueError, unknown
from genprior.evaluate.metrics import summarize
from genprior.operators.base import Operator
from genprior.operators.deepinv import as_operator
from genprior.solvers import diffpir as diffpir_module
from genprior.solvers import dip, dps, one_bit
from genprior.solvers.hybrid import hybrid
from genprior.solvers.lasso import ALPHA_GRID, lasso, select_alpha
from genprior.solvers.latent import csgm, csgm_fast
from genprior.solvers.one_bit import biht, one_bit_csgm
from genprior.solvers.posterior import coverage

AUTO = "auto"  # an ``alpha`` that is chosen on held-out images (``tuning_images``) from ALPHA_GRID


@dataclass(frozen=True)
class Method:
    """A recovery method: ``solve(operator, y, *, generator, seed, progress, tuning_images, offset, **options)``
    (``offset``: the index of ``y``'s first image in a batch split over torchrun's ranks, for the methods that draw
    random starts or weights per image, so that a part draws the whole batch's; the others ignore it) returns
    ``(x, info)``: images ``(B, *operator.input_shape)`` and a dict of what was chosen on the way (may be empty);
    a method with a latent puts its winners' latents ``(B, k)`` in ``info["z"]`` (kept out of the settings); a
    posterior method puts its per-pixel std ``(B, C, H, W)`` in ``info["x_std"]`` and the per-pixel 90 % interval in
    ``info["x_low"]``, ``info["x_high"]`` (also kept out; :data:`KEPT`).

    ``options``: the option names this method takes -> their defaults. ``measurements``: the
    ``operator.measurement`` kinds it accepts (``"linear"``, ``"magnitude"``, ``"sign"``). ``model``: the default
    generator's zoo name, ``None`` for a method that needs none.
    """

    name: str
    label: str
    solve: Callable[..., tuple[torch.Tensor, dict]]
    options: Mapping[str, Any] = field(default_factory=dict)
    measurements: tuple[str, ...] = ("linear",)
    model: str | None = None
    prior: str = "generator"  # what its model is: "generator" (a latent, G(z)) or "diffusion" (a noise predictor)

    @property
    def needs_generator(self) -> bool:
        return self.model is not None

    def settings(self, **given) -> dict:
        """The method's options with ``given`` ones (``None``: the default) in place; an option it does not take is
        refused, naming the ones it does."""
        for key, value in given.items():
            if key not in self.options and value is not None:
                takes = ", ".join(self.options) or "no options"
                raise InvalidValueError(f"method {self.name} does not take {key} (it takes {takes})")
        return {key: default if given.get(key) is None else given[key] for key, default in self.options.items()}


def _csgm(operator, y, *, generator, seed, progress, tuning_images, **options):
    res = csgm(generator, operator, y, seed=seed, progress=progress, **options)
    return res.x, {"z": res.z}


def _csgm_fast(operator, y, *, generator, seed, progress, tuning_images, **options):
    res = csgm_fast(generator, operator, y, seed=seed, progress=progress, **options)
    return res.x, {"z": res.z}


def _hybrid(operator, y, *, generator, seed, progress, tuning_images, **options):
    res = hybrid(generator, operator, y, seed=seed, **options)
    return res.x, {"z": res.z}


def _dip(operator, y, *, generator, seed, progress, tuning_images, **options):
    return dip.deep_image_prior(operator, y, seed=seed, progress=progress, **options).x, {}


def _one_bit_csgm(operator, y, *, generator, seed, progress, tuning_images, **options):
    res = one_bit_csgm(generator, operator, y, seed=seed, progress=progress, **options)
    return res.x, {"z": res.z}


def _dps(operator, y, *, generator, seed, progress, tuning_images, offset, **options):
    return _posterior(dps.dps(generator, operator, y, seed=seed, offset=offset, progress=progress, **options))


def _diffpir(operator, y, *, generator, seed, progress, tuning_images, offset, **options):
    return _posterior(diffpir_module.diffpir(generator, operator, y, seed=seed, offset=offset, progress=progress,
                                             **options))


def _posterior(res):
    return res.x, res.info()


def _biht(operator, y, *, generator, seed, progress, tuning_images, offset, **options):
    return biht(operator, y, **options).float(), {}


def _adjoint(operator, y, *, generator, seed, progress, tuning_images, **options):
    return operator.linear_part.adjoint(y).float(), {}


def _lasso_in(basis: str):
    def solve(operator, y, *, generator, seed, progress, tuning_images, offset, alpha, box):
        info = {}
        if alpha == AUTO:
            if tuning_images is None:
                raise InvalidValueError("alpha auto is chosen on held-out images: pass tuning_images")
            t0 = time.perf_counter()
            alpha, _ = select_alpha(operator, tuning_images.to(y.device), basis=basis, alphas=ALPHA_GRID, seed=seed + 1,
                                    progress=progress, box=box)
            info = {"alpha": alpha, "alpha_tuning_seconds": time.perf_counter() - t0}
        return lasso(operator, y, basis=basis, alpha=alpha, box=box).x, info

    return solve


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` under its name (each name once)."""
    if method.name in METHODS:
        raise InvalidValueError(f"method {method.name} is registered already")
    METHODS[method.name] = method
    return method


CSGM_SCHEDULE = {"steps": 1000, "lr": 0.01}  # the CSGM paper's protocol
DIFFERENTIABLE = ("linear", "magnitude", "nonlinear")  # what a gradient through the operator can fit
register(Method("csgm", "CSGM: Adam on ||y - A G(z)||^2 + lam ||z||^2 from random starts (Bora et al. 2017)", _csgm,
                {"lam": 0.0, "restarts": 10, **CSGM_SCHEDULE}, measurements=DIFFERENTIABLE, model="mnist-vae"))
register(Method("csgm-fast", "CSGM by screened Adam and Levenberg-Marquardt (genprior's schedule)", _csgm_fast,
                {"lam": 0.0, "restarts": 40}, measurements=DIFFERENTIABLE, model="mnist-vae"))
register(Method("hybrid", "x = G(z) + v with a sparse v around a restart-averaged G(z) (Sparse-Gen, Dhar et al. 2018)",
                _hybrid, {"lam": 0.0}, measurements=("linear", "magnitude"), model="mnist-vae-ensemble"))
register(Method("dip", "Deep Image Prior: an untrained decoder per image, stopped early (Ulyanov et al. 2018)", _dip,
                {"steps": dip.STEPS, "lr": dip.LR}, measurements=DIFFERENTIABLE))
for _basis, _name in (("pixel", "pixels"), ("dct", "the DCT basis"), ("wavelet", "the Haar wavelet basis")):
    register(Method(f"lasso-{_basis}", f"Lasso in {_name}, its exact minimiser, inside the [0, 1] box unless box=False",
                    _lasso_in(_basis), {"alpha": 0.1, "box": True}))
register(Method("one-bit-csgm", "CSGM with a logistic loss on normalised sign margins (Liu et al. 2020)",
                _one_bit_csgm, {"restarts": one_bit.RESTARTS, "steps": one_bit.STEPS, "lr": one_bit.LR},
                measurements=("sign",), model="mnist-vae"))
register(Method("biht", "binary iterative hard thresholding (Jacques et al. 2013)", _biht,
                {"basis": "wavelet", "sparsity": 50}, measurements=("sign",)))
register(Method("dps", "DPS: diffusion posterior sampling, a gradient step on ||y - A(x0)|| per DDIM step (Chung et "
                "al. 2023); mean of K samples", _dps,
                {"samples": dps.SAMPLES, "steps": dps.STEPS, "eta": dps.ETA, "zeta": dps.ZETA, "interval_scale": 1.0},
                measurements=("linear", "magnitude", "sign"), model="mnist-ddpm", prior="diffusion"))
register(Method("diffpir", "DiffPIR: diffusion sampling with an exact data proximal step by SVD (Zhu et al. 2023); mean "
                "of K samples", _diffpir,
                {"samples": diffpir_module.SAMPLES, "steps": diffpir_module.STEPS, "eta": diffpir_module.ETA,
                 "lam": diffpir_module.LAM, "data_std": diffpir_module.DATA_STD, "interval_scale": 1.0},
                model="mnist-ddpm", prior="diffusion"))
register(Method("adjoint", "the linear estimate A^T y, no prior", _adjoint, {},
                measurements=("linear", "magnitude", "sign")))


def method(name: str) -> Method:
    """The registered method called ``name``."""
    if name not in METHODS:
        raise unknown("method", name, METHODS)
    return METHODS[name]


def schedule(name: str, *, steps: int | None = None, lr: float | None = None) -> dict:
    """``{"steps", "lr"}`` of a method that takes them (``None``: its default)."""
    return {k: v for k, v in method(name).settings(steps=steps, lr=lr).items() if k in ("steps", "lr")}


def row_name(name: str, *, model: str | None = None, **options) -> str:
    """The name a results table gives ``name`` run with ``options`` and the generator ``model`` (a zoo name;
    ``None``: the method's default): the method's name, then each option that differs from its default as
    ``key=value``, then ``model=NAME`` when the model differs from the method's default
    (``row_name("csgm", lam=0.1)`` -> ``"csgm lam=0.1"``, ``row_name("hybrid", model="mnist-vae")`` ->
    ``"hybrid model=mnist-vae"``). The method's name is always the first word."""
    chosen = method(name)
    defaults = chosen.settings()
    changed = {k: v for k, v in chosen.settings(**options).items() if v != defaults[k]}
    if model is not None and model != chosen.model:
        if not chosen.needs_generator:
            raise InvalidValueError(f"method {name} takes no model (it has no generator)")
        changed["model"] = model
    return " ".join([name, *(f"{k}={v}" for k, v in changed.items())])


@dataclass
class MethodResult:
    """A method's recoveries ``x`` ``(B, C, H, W)``, its metrics, the options it ran with (the chosen ones in place
    of ``auto``), its wall time inside the solver (tuning excluded) and, for a method with a latent, the winners'
    latents ``z`` ``(B, k)`` (``None`` for the others) and, for a posterior method, the per-pixel std ``x_std``
    ``(B, C, H, W)`` of its samples (``None`` for the others; its ``metrics`` then also hold ``coverage_90``: the
    fraction of pixels whose truth lies in the samples' per-pixel 90 % interval,
    :func:`genprior.solvers.posterior.interval_90`). ``metrics`` is empty when the truth was not given."""

    method: str
    x: torch.Tensor
    metrics: dict
    options: dict
    seconds: float
    z: torch.Tensor | None = None
    x_std: torch.Tensor | None = None  # a posterior method's per-pixel std (B, C, H, W)


def recover(name: str, operator: Operator, y: torch.Tensor, *, generator=None, seed: int = 0, progress: bool = False,
            tuning_images: torch.Tensor | None = None, **options) -> tuple[torch.Tensor, dict]:
    """Recover images ``(B, *operator.input_shape)`` from ``y`` ``(B, m)`` with the registered method ``name`` and
    ``options`` (those it does not take are refused; ``None`` or absent: its default). ``tuning_images``
    ``(N, C, H, W)``: held-out images for an option set to ``"auto"``. Returns ``(x, settings)``: the recoveries and
    every option as used. ``operator`` may be a deepinv physics (:func:`genprior.operators.deepinv.as_operator`;
    ``y`` then also as ``physics(x)`` gives it)."""
    x, settings, _ = _solve(name, operator, y, generator=generator, seed=seed, progress=progress,
                            tuning_images=tuning_images, **options)
    return x, settings


def _solve(name: str, operator: Operator, y: torch.Tensor, *, generator, seed: int, progress: bool,
           tuning_images: torch.Tensor | None, offset: int = 0,
           **options) -> tuple[torch.Tensor, dict, dict]:
    """:func:`recover`, also returning what the method keeps beside ``x`` (:data:`KEPT`: the latents ``(B, k)``
    of a method with a latent, a posterior method's per-pixel std and 90 % interval ``(B, C, H, W)``), those it
    gave; ``offset``: see :class:`Method`."""
    chosen = method(name)
    settings = chosen.settings(**options)
    operator = as_operator(operator, owner=f"method {name}")  # a deepinv physics becomes a genprior operator here
    kind = operator.measurement
    if kind not in chosen.measurements:
        raise InvalidValueError(f"method {name} takes {' or '.join(chosen.measurements)} measurements, "
                                f"{getattr(operator, 'name', type(operator).__name__)} gives {kind}")
    if chosen.needs_generator and generator is None:
        raise InvalidValueError(f"method {name} needs a generator (--model)")
    x, info = chosen.solve(operator, y, generator=generator, seed=seed, progress=progress, tuning_images=tuning_images,
                           offset=offset, **settings)
    kept = {key: info.pop(key) for key in KEPT if key in info}
    return x, {**settings, **info}, kept


KEPT = ("z", "x_std", "x_low", "x_high")  # per-image tensors a method returns in info, kept out of the settings


def run_method(name: str, images: torch.Tensor | None, operator: Operator, y: torch.Tensor, *, generator=None,
               seed: int = 0, progress: bool = False, tuning_images: torch.Tensor | None = None, shard: bool = False,
               **options) -> MethodResult:
    """:func:`recover`, then scored against the true ``images`` (``None``: the truth is unknown, and ``metrics`` is
    empty); times the solve (an ``auto`` option's tuning is reported in the settings, not in ``seconds``). With
    ``shard`` under torchrun the images are split over the ranks (:func:`_solve_in_parts`) and every rank gets
    the whole result.

    >>> from genprior.data import load_dataset
    >>> from genprior.evaluate.recovery import run_method
    >>> from genprior.operators import Gaussian
    >>> x = load_dataset("mnist-bundled").images[:4]
    >>> op = Gaussian(m=200, shape=(1, 28, 28), noise_std=0.1, seed=0)
    >>> result = run_method("lasso-dct", x, op, op.measure(x, seed=1), alpha=0.1)
    >>> result.method, result.x.shape, result.metrics["n_images"]
    ('lasso-dct', torch.Size([4, 1, 28, 28]), 4)
    >>> result.metrics["psnr"] > 10  # dB, averaged over the 4 images
    True
    """
    t0 = time.perf_counter()
    x_hat, settings, kept = (_solve_in_parts if shard else _solve)(name, operator, y, generator=generator, seed=seed,
                                                                progress=progress, tuning_images=tuning_images,
                                                                **options)
    if x_hat.is_cuda:  # a GPU's work is queued: the clock reads it once it is done
        torch.cuda.synchronize(x_hat.device)
    seconds = time.perf_counter() - t0 - settings.get("alpha_tuning_seconds", 0.0)
    metrics = {} if images is None else summarize(x_hat.cpu(), images.cpu())
    if images is not None and "x_low" in kept:
        metrics["coverage_90"] = float(coverage(images.cpu(), kept["x_low"].cpu(), kept["x_high"].cpu()).mean())
    return MethodResult(name, x_hat, metrics, settings, seconds, kept.get("z"), kept.get("x_std"))


def _solve_in_parts(name: str, operator: Operator, y: torch.Tensor, *, progress: bool,
                    **kwargs) -> tuple[torch.Tensor, dict, dict]:
    """:func:`_solve` split over torchrun's ranks (:mod:`genprior.distributed`; without a process group,
    :func:`_solve` itself): each rank recovers its contiguous block of ``y``'s images, drawing what the whole batch
    would draw for them (``offset``), and every rank returns the blocks gathered in order: one process's numbers up
    to round-off (other batch sizes in the matrix products). An error on any rank is raised on every rank."""
    if not distributed.active():
        return _solve(name, operator, y, progress=progress, **kwargs)
    world = distributed.world_size()
    if y.shape[0] < world:
        raise InvalidValueError(f"{y.shape[0]} image(s) cannot be shared by {world} processes: give at least {world} "
                                "or use fewer processes")
    part = distributed.shard(y.shape[0])
    x, settings, kept = distributed.run_together(lambda: _solve(
        name, operator, y[part], progress=progress and distributed.is_main(), offset=part.start, **kwargs))
    blocks = distributed.gather((x.cpu(), {key: t.cpu() for key, t in kept.items()}))
    x_all = torch.cat([b[0] for b in blocks]).to(x.device)
    kept_all = {key: torch.cat([b[1][key] for b in blocks]).to(t.device) for key, t in kept.items()}
    return x_all, settings, kept_all
