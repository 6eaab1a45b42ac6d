"""Layer-wise inversion of a ReLU generator by linear programming (Lei, Jalal, Dhillon & Dimakis, "Inverting Deep
Generative Models, One Layer at a Time", NeurIPS 2019, arXiv:1906.07437).

One layer ``h = ReLU(W u + b)`` with ``h`` known is a linear programme in ``u``: the coordinates with ``h_i > 0``
give equalities ``W_i u + b_i = h_i``, those with ``h_i = 0`` inequalities ``W_i u + b_i <= 0``. For an expansive
layer (``n`` outputs well above ``k`` inputs, e.g. Gaussian ``W`` with ``n >= 2k`` or so) the solution is unique and
the LP finds it exactly. A deep net is inverted layer by layer, from the output down to ``z``; with random expansive
layers this recovers ``z`` exactly with high probability (the paper's theorem), although inverting two or more layers
jointly is NP-hard in general. With noise, or a target the net cannot produce, the feasibility LP has no solution, so
this module always solves the robust form (the paper's l_inf LP; ``norm="l1"`` gives its l_1 variant):

    minimise t   over u, t >= 0   subject to
        |W_i u + b_i - h_i| <= t    for i in P = {i : h_i > threshold}   (the "on" set)
         W_i u + b_i - h_i  <= t    for i not in P                       (the "off" set: W_i u + b_i <= t when h_i = 0)
        u >= 0                      when u is itself the output of a ReLU (every layer but the first)

whose optimum is ``t = 0`` at the exact pre-image in the realizable case. ``norm="l1"`` gives every row its own
slack ``s_i >= 0`` and minimises ``sum_i s_i`` (it tolerates a few large outliers). A layer without a ReLU (the last
``nn.Linear`` before a ``Sigmoid``/``Tanh``, or before nothing) puts every row in ``P``; an invertible elementwise
activation (``Sigmoid``, ``Tanh``, ``LeakyReLU`` with a positive slope) is undone first (``Sigmoid``/``Tanh`` targets
are clipped into the open interval, ``clip`` away from its ends).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genprior.errors import GeneratorError, InvalidValueError, ShapeError, check_number
from genprior.models.generator import frozen
from genprior.progress import progress_bar

NORMS = ("linf", "l1")
CERTIFY_TOL = 1e-4  # default relative tolerance of the certificate: max |G(z) - x| <= CERTIFY_TOL * max |x|
_SIMPLEX_ITERATIONS = 10  # per row + column of an LP: past that the simplex is taken to cycle (solves take < 1)


@dataclass
class LPInversion:
    """Result of :func:`invert_layerwise` for B images through a net of L linear layers.

    ``z``: ``(B, k)`` recovered latents; ``x``: the re-generated ``G(z)``, shaped like the target given;
    ``residuals``: ``(B, L)`` optimal LP objective of each layer (the largest violation ``t`` for ``norm="linf"``,
    the total ``sum_i s_i`` for ``"l1"``; 0 in the realizable case), column ``j`` for the net's ``j``-th
    ``nn.Linear`` (the last column is solved first); ``status``: ``(B, L)`` ``scipy.optimize.linprog`` status
    (0 = solved; otherwise that layer fell back to least squares); ``output_error``: ``(B,)`` ``max |G(z) - x|``.

    ``certified``: ``(B,)`` bool, the image's every LP solved **and** ``G(z)`` reproduces the target:
    ``output_error <= tol * max |x|`` (``tol``, the relative tolerance the inversion was run with).
    ``layer_unique``: ``(B, L)`` bool, True where the rows that layer's LP held as equalities (its active units, or
    every row of a layer without ReLU) have rank equal to the layer's input count, so that they alone pin its
    pre-image to one point; False where fewer independent active units than inputs do not: the pre-image may be a
    set, of which the LP returned one point (for an inner layer the constraint ``u >= 0`` can still single one out,
    so False means "not shown unique"). A certified image whose layers are all unique has only one latent that
    reproduces it within the tolerance: ``z``.
    """

    z: torch.Tensor
    x: torch.Tensor
    residuals: torch.Tensor
    status: torch.Tensor
    output_error: torch.Tensor
    certified: torch.Tensor
    layer_unique: torch.Tensor
    tol: float

    @property
    def lp_solved(self) -> torch.Tensor:
        """``(B,)`` bool: every LP of the image solved to optimality (the LPs' status alone, not a certificate)."""
        return (self.status == 0).all(1)

    @property
    def unique(self) -> torch.Tensor:
        """``(B,)`` bool: every layer's pre-image was pinned by its equality rows (see ``layer_unique``)."""
        return self.layer_unique.all(1)

    @property
    def success(self) -> bool:
        """Every image certified: all its LPs solved and ``G(z)`` within ``tol * max |x|`` of its target."""
        return bool(self.certified.all())


@dataclass
class _Layer:
    weight: np.ndarray  # (n, k) float64, batch norm folded in
    bias: np.ndarray  # (n,)
    activation: str  # "relu", "linear", "leaky", "sigmoid", "tanh"
    slope: float = 0.0  # LeakyReLU's negative slope


def _check_norm(norm) -> str:
    if norm not in NORMS:
        raise InvalidValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    return norm


def _check_nonneg(name: str, v, *, below_one: bool = False) -> float:
    if below_one and not (isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < 0.5):
        raise InvalidValueError(f"{name} must be in [0, 0.5), got {v!r}")
    return float(check_number(name, v, low=0))


def _as_rows(t, what: str, n: int | None) -> np.ndarray:
    """A real floating tensor ``(B, ...)`` with ``B >= 1``, finite, flattened to a float64 array ``(B, n)``."""
    if not torch.is_tensor(t):
        raise ShapeError(f"{what} must be a torch tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise InvalidValueError(f"{what} must be a floating point tensor, got {t.dtype}")
    if t.dim() < 2 or t.shape[0] == 0:
        raise ShapeError(f"{what} must have shape (B >= 1, n) or (B >= 1, C, H, W), got {tuple(t.shape)}")
    rows = t.detach().reshape(t.shape[0], -1)
    if n is not None and rows.shape[1] != n:
        raise ShapeError(f"{what} has {rows.shape[1]} values per sample ({tuple(t.shape[1:])}) but the layer has "
                         f"{n} outputs")
    if not bool(torch.isfinite(rows).all()):
        raise InvalidValueError(f"{what} contains NaN or infinite values")
    return rows.to("cpu", torch.float64).numpy()


def _lp(weight: np.ndarray, target: np.ndarray, on: np.ndarray, *, nonneg: bool, norm: str):
    """Solve the robust LP for ``a = weight @ u`` against ``target`` (bias already subtracted); ``on`` marks P.

    HiGHS chooses the method (a dual simplex); one that reaches ``_SIMPLEX_ITERATIONS`` iterations per row and
    column of the LP (the simplex cycles on some exact fits) is solved again by HiGHS's interior-point method.
    Returns ``(u, objective, status, misfit)``: on a failed solve ``u`` is the least-squares fit on every row;
    ``misfit`` is the largest violation of the constraints at ``u`` (= ``t`` for ``"linf"``)."""
    from scipy.optimize import linprog

    k = weight.shape[1]
    w_on, w_off = weight[on], weight[~on]
    p, q = w_on.shape[0], w_off.shape[0]
    if norm == "linf":  # variables [u (k), t]
        one_on, one_off = -np.ones((p, 1)), -np.ones((q, 1))
        a_ub = np.vstack([np.hstack([w_on, one_on]), np.hstack([-w_on, one_on]), np.hstack([w_off, one_off])])
        cost = np.zeros(k + 1)
        cost[k] = 1.0
        slack_bounds = [(0, None)]
    else:  # variables [u (k), s_on (p), s_off (q)]
        e_on, e_off = np.eye(p), np.eye(q)
        a_ub = np.vstack([np.hstack([w_on, -e_on, np.zeros((p, q))]),
                          np.hstack([-w_on, -e_on, np.zeros((p, q))]),
                          np.hstack([w_off, np.zeros((q, p)), -e_off])])
        cost = np.concatenate([np.zeros(k), np.ones(p + q)])
        slack_bounds = [(0, None)] * (p + q)
    b_ub = np.concatenate([target[on], -target[on], target[~on]])
    bounds = [(0, None) if nonneg else (None, None)] * k + slack_bounds
    cap = {"maxiter": _SIMPLEX_ITERATIONS * sum(a_ub.shape)}
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=cap)
    if res.status == 1:  # the simplex can cycle on these degenerate LPs (an exact fit); interior points do not
        res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ipm", options=cap)
    if res.status == 0 and res.x is not None:
        u, fun, code = res.x[:k], float(res.fun), 0
    else:
        u = np.linalg.lstsq(weight, target, rcond=None)[0]
        u, fun, code = (np.maximum(u, 0.0) if nonneg else u), math.nan, int(res.status)
    a = weight @ u
    misfit = max(float(np.abs(a[on] - target[on]).max(initial=0.0)), float((a[~on] - target[~on]).max(initial=0.0)))
    return u, fun, code, misfit


def _undo_elementwise(h: np.ndarray, layer: _Layer, clip: float) -> np.ndarray:
    """Pre-activations from outputs for the invertible activations (identity for relu/linear)."""
    if layer.activation == "sigmoid":
        h = np.clip(h, clip, 1.0 - clip) if clip > 0 else h
        with np.errstate(divide="ignore"):
            return np.log(h) - np.log1p(-h)
    if layer.activation == "tanh":
        h = np.clip(h, -1.0 + 2 * clip, 1.0 - 2 * clip) if clip > 0 else h
        return np.arctanh(h)
    if layer.activation == "leaky":
        return np.where(h >= 0, h, h / layer.slope)
    return h


def _invert(layer: _Layer, h: np.ndarray, *, threshold: float, nonneg: bool, norm: str, clip: float):
    """One image's layer: ``h`` ``(n,)`` -> ``(u, objective, status, misfit, on)``, ``on`` ``(n,)`` bool marking the
    rows held as equalities."""
    a = _undo_elementwise(h, layer, clip)
    if not np.isfinite(a).all():  # a Sigmoid/Tanh target on the boundary with clip=0
        raise InvalidValueError(f"{layer.activation} target has values at or beyond the ends of its range "
                                "(inverse is infinite); use clip > 0")
    on = a > threshold if layer.activation == "relu" else np.ones(a.shape[0], dtype=bool)
    return (*_lp(layer.weight, a - layer.bias, on, nonneg=nonneg, norm=norm), on)


def _pins(rows: np.ndarray, eps: float) -> bool:
    """The equality rows ``(p, k)`` of a layer have rank ``k`` (``p >= k`` singular values above ``p * eps`` times
    the largest, ``eps`` the precision of the net), so they determine the layer's input ``u`` ``(k,)`` alone."""
    p, k = rows.shape
    if p < k:
        return False
    s = np.linalg.svd(rows, compute_uv=False)
    return bool(s[-1] > s[0] * p * eps)


def invert_one_layer(weight: torch.Tensor, bias: torch.Tensor | None, h: torch.Tensor, *,
                     activation: str = "relu", nonneg: bool = False, threshold: float = 0.0,
                     norm: str = "linf", clip: float = 1e-6, negative_slope: float = 0.01):
    """Invert one layer ``h = act(W u + b)`` by the robust LP of the module docstring (one LP per row of ``h``).

    ``weight``: ``(n, k)`` (as ``nn.Linear.weight``); ``bias``: ``(n,)`` or None; ``h``: ``(B, n)`` targets (or
    ``(n,)``, treated as one row). ``activation``: ``"relu"`` (default), ``"linear"`` (no activation),
    ``"leaky_relu"`` (with ``negative_slope`` > 0), ``"sigmoid"`` or ``"tanh"``. ``nonneg``: constrain ``u >= 0``
    (``u`` is a ReLU output). ``threshold``: for ReLU, rows with ``h_i > threshold`` are in the two-sided set P
    (0 is the paper's split; a value near the noise level keeps noise-only rows one-sided). ``clip``: Sigmoid/Tanh
    targets are clipped that far inside the open interval before they are inverted.

    Returns ``(u, residual, status)``: ``u`` ``(B, k)`` float64, the LP optimum ``(B,)`` (0 in the realizable
    case; NaN where the LP failed) and the ``linprog`` status ``(B,)`` (0 = solved; a failed row falls back to
    least squares).
    """
    if not torch.is_tensor(weight) or weight.dim() != 2 or 0 in weight.shape:
        got = tuple(weight.shape) if torch.is_tensor(weight) else type(weight).__name__
        raise ShapeError(f"weight must be a tensor of shape (n, k) with n, k >= 1, got {got}")
    n, k = weight.shape
    w = _as_rows(weight, "weight", k)
    if bias is None:
        b = np.zeros(n)
    else:
        if not torch.is_tensor(bias) or tuple(bias.shape) != (n,):
            got = tuple(bias.shape) if torch.is_tensor(bias) else type(bias).__name__
            raise ShapeError(f"bias must be a tensor of shape ({n},) to match weight {tuple(weight.shape)}, got {got}")
        b = _as_rows(bias[None], "bias", n)[0]
    if torch.is_tensor(h) and h.dim() == 1:
        h = h[None]
    rows = _as_rows(h, "h", n)
    kinds = {"relu": "relu", "linear": "linear", "leaky_relu": "leaky", "sigmoid": "sigmoid", "tanh": "tanh"}
    if activation not in kinds:
        raise InvalidValueError(f"activation must be one of {', '.join(kinds)}, got {activation!r}")
    if activation == "leaky_relu" and not (isinstance(negative_slope, numbers.Real) and negative_slope > 0):
        raise InvalidValueError(f"negative_slope must be > 0 for an invertible LeakyReLU, got {negative_slope!r}")
    layer = _Layer(w, b, kinds[activation], float(negative_slope))
    threshold = _check_nonneg("threshold", threshold)
    clip = _check_nonneg("clip", clip, below_one=True)
    norm = _check_norm(norm)
    out = [_invert(layer, r, threshold=threshold, nonneg=bool(nonneg), norm=norm, clip=clip) for r in rows]
    return (torch.from_numpy(np.stack([o[0] for o in out])), torch.tensor([o[1] for o in out], dtype=torch.float64),
            torch.tensor([o[2] for o in out], dtype=torch.int64))


_ROUNDOFF = 1e-9  # inner layers' "on" cut is at least this fraction of the largest recovered activation ...
_ROUNDOFF_UNITS = 100  # ... and at least this many units of round-off of the net's (or the target's) dtype

_IGNORED = (nn.Identity, nn.Dropout, nn.Flatten, nn.Unflatten)


def _sequence_of(generator) -> list[nn.Module]:
    """The generator's layers in order: it is an ``nn.Sequential``, or has one as ``.net`` or ``.layers``."""
    if isinstance(generator, nn.Sequential):
        seq = generator
    else:
        seq = next((getattr(generator, a) for a in ("net", "layers")
                    if isinstance(getattr(generator, a, None), (nn.Sequential, nn.ModuleList))), None)
        if seq is None:
            raise GeneratorError(f"cannot find the layers of {type(generator).__name__}: LP inversion needs an "
                                 "nn.Sequential, or a module whose .net or .layers is one, of nn.Linear layers with "
                                 "ReLU/LeakyReLU between them and an optional final Sigmoid/Tanh")

    def flat(mods):
        for m in mods:
            if isinstance(m, (nn.Sequential, nn.ModuleList)):
                yield from flat(m)
            else:
                yield m
    return list(flat(seq))


def _fold_batch_norm(w: np.ndarray, b: np.ndarray, bn: nn.BatchNorm1d, where: str):
    if bn.running_mean is None or bn.running_var is None:
        raise GeneratorError(f"{where}: BatchNorm1d without running statistics (track_running_stats=False) is not "
                             "a fixed affine map and cannot be inverted")
    scale = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        scale, shift = scale * bn.weight.double(), shift * bn.weight.double() + bn.bias.double()
    scale, shift = scale.detach().cpu().numpy(), shift.detach().cpu().numpy()
    return w * scale[:, None], b * scale + shift


def _layers_of(generator) -> list[_Layer]:
    """Parse ``Linear [BatchNorm1d] [activation]`` blocks; anything else raises ``GeneratorError`` naming it."""
    name = type(generator).__name__
    layers: list[_Layer] = []
    mods = _sequence_of(generator)
    for i, m in enumerate(mods):
        where = f"{name} layer {i} ({type(m).__name__})"
        last = layers[-1] if layers else None
        if isinstance(m, nn.Linear):
            if last is not None and last.weight.shape[0] != m.in_features:
                raise GeneratorError(f"{where} takes {m.in_features} inputs but the layer before gives "
                                     f"{last.weight.shape[0]}")
            w = m.weight.detach().to("cpu", torch.float64).numpy()
            b = (m.bias.detach().to("cpu", torch.float64).numpy() if m.bias is not None
                 else np.zeros(m.out_features))
            layers.append(_Layer(w, b, "linear"))
            continue
        if isinstance(m, _IGNORED):
            if isinstance(m, (nn.Flatten, nn.Unflatten)) and any(isinstance(r, nn.Linear) for r in mods[i + 1:]):
                raise GeneratorError(f"{where}: a reshape is only supported after the last nn.Linear")
            continue
        if last is None:
            raise GeneratorError(f"{where}: LP inversion needs an nn.Linear as the first layer")
        if isinstance(m, nn.BatchNorm1d) and last.activation == "linear":
            if m.num_features != last.weight.shape[0]:
                raise GeneratorError(f"{where} has {m.num_features} features after a layer with "
                                     f"{last.weight.shape[0]} outputs")
            last.weight, last.bias = _fold_batch_norm(last.weight, last.bias, m, where)
            continue
        if last.activation != "linear":
            raise GeneratorError(f"{where}: only one activation may follow each nn.Linear")
        is_final = not any(isinstance(r, nn.Linear) for r in mods[i + 1:])
        if isinstance(m, nn.ReLU):
            last.activation = "relu"
        elif isinstance(m, nn.LeakyReLU):
            if m.negative_slope == 0:
                last.activation = "relu"
            elif m.negative_slope > 0:
                last.activation, last.slope = "leaky", float(m.negative_slope)
            else:
                raise GeneratorError(f"{where}: a negative slope {m.negative_slope} is not invertible")
        elif isinstance(m, (nn.Sigmoid, nn.Tanh)) and is_final:
            last.activation = "sigmoid" if isinstance(m, nn.Sigmoid) else "tanh"
        elif isinstance(m, (nn.Sigmoid, nn.Tanh)):
            raise GeneratorError(f"{where}: Sigmoid/Tanh is supported only as the final activation")
        else:
            raise GeneratorError(f"{where} is not supported by LP inversion: use nn.Linear layers with ReLU/LeakyReLU "
                                 "between them (BatchNorm1d in eval mode is folded in) and an optional final "
                                 "Sigmoid/Tanh; convolutions and smooth activations (Softplus, ELU, ...) are not "
                                 "piecewise linear and invertible")
    if not layers:
        raise GeneratorError(f"{name} has no nn.Linear layer to invert")
    if not all(np.isfinite(la.weight).all() and np.isfinite(la.bias).all() for la in layers):
        raise InvalidValueError(f"{name} has NaN or infinite weights")
    return layers


def invert_layerwise(generator, x: torch.Tensor, *, norm: str = "linf", threshold: float = 0.0,
                     margin: float = 10.0, clip: float = 1e-6, tol: float = CERTIFY_TOL,
                     progress: bool = False) -> LPInversion:
    """Recover ``z`` from ``x = G(z)`` (or a noisy ``x``) by one LP per layer per image (Lei et al., NeurIPS 2019).

    ``generator``: an ``nn.Sequential``, or a module whose ``.net`` / ``.layers`` is one, made of ``nn.Linear``
    layers, each optionally followed by ``BatchNorm1d`` (folded in with its running statistics, as in eval mode) and
    one activation: ``ReLU``, ``LeakyReLU`` (slope > 0), or for the last one ``Sigmoid``/``Tanh``; ``Identity``,
    ``Dropout`` and a trailing ``Flatten``/``Unflatten`` are ignored. Anything else raises ``GeneratorError`` naming
    the layer, and so does a ``forward`` that does not compute what the layers say (e.g. a sigmoid applied in
    ``forward``). ``x``: ``(B, C, H, W)`` or ``(B, n)`` targets, ``B >= 1``, ``n`` the last layer's outputs.

    The last layer is inverted first, then the one before it, down to ``z``; each step solves the robust LP of
    the module docstring with ``scipy.optimize.linprog(method="highs")`` (``norm``: ``"linf"``, the paper's l_inf
    LP, or ``"l1"``). ``threshold`` splits the output layer's ReLU rows into P (``x_i > threshold``) and the off
    set (0 is the paper's rule; with noise of size sigma a threshold of about sigma keeps rows that are noise alone
    one-sided). An inner layer's target is the activation recovered from the layer above, uncertain by about that
    layer's largest misfit; its unit counts as on (in P) when the recovered value exceeds ``margin`` times that
    misfit plus a round-off allowance of the largest recovered value (1e-9 of it, or 100 units of round-off of the
    coarser of the net's and ``x``'s dtypes if larger: 1.2e-5 for float32), so that units which are off but
    recovered as slightly positive stay one-sided. Realizable, expansive layers: ``z`` is exact (up
    to the LP tolerance); noisy ``x``: each layer's misfit is the smallest its norm allows given the layer above.

    Certificate: ``G(z)`` is run again and an image counts as ``certified`` when every LP solved and
    ``max_i |G(z)_i - x_i| <= tol * max_i |x_i|`` (``tol`` >= 0, relative to the image's largest magnitude;
    the default 1e-4 is well above a float32 net's round-off and well below the misfit of a wrong pre-image; a noisy
    target is reproduced only to within its noise, so certify it with ``tol`` about noise / max |x|, and float16
    nets round at about 1e-3). ``success`` is True when every image is certified. Each layer also reports whether
    its equality rows pinned its pre-image (``layer_unique``, by their numerical rank).

    Returns :class:`LPInversion` (``z`` ``(B, k)``, ``x`` = ``G(z)``, per-layer ``residuals``, ``status`` and
    ``layer_unique``, per-image ``output_error`` and ``certified``).
    """
    norm = _check_norm(norm)
    threshold = _check_nonneg("threshold", threshold)
    margin = _check_nonneg("margin", margin)
    clip = _check_nonneg("clip", clip, below_one=True)
    tol = _check_nonneg("tol", tol)
    layers = _layers_of(generator)
    k = layers[0].weight.shape[1]
    declared = getattr(generator, "latent_dim", None)
    if declared is not None and declared != k:
        raise GeneratorError(f"{type(generator).__name__}.latent_dim is {declared!r} but its first nn.Linear takes {k}")
    n = layers[-1].weight.shape[0]
    target = _as_rows(x, "x", n)
    if layers[-1].activation in ("sigmoid", "tanh"):  # clipped silently inside, but a far-out target is a mistake
        low = 0.0 if layers[-1].activation == "sigmoid" else -1.0
        if target.min() < low - 0.5 or target.max() > 1.5:
            raise InvalidValueError(f"x has values in [{target.min():.3g}, {target.max():.3g}], far outside the "
                                    f"range [{low:g}, 1] of the final {layers[-1].activation}")
    params = list(generator.parameters())
    dtype = params[0].dtype if params else torch.float32
    device = params[0].device if params else torch.device("cpu")
    _check_forward(generator, layers, k, dtype, device)
    eps = max(torch.finfo(dtype).eps, torch.finfo(x.dtype).eps)
    roundoff = max(_ROUNDOFF, _ROUNDOFF_UNITS * eps)

    b, depth = target.shape[0], len(layers)
    residuals = np.zeros((b, depth))
    status = np.zeros((b, depth), dtype=np.int64)
    unique = np.zeros((b, depth), dtype=bool)
    z = np.zeros((b, k))
    bar = progress_bar(total=b * depth, desc="lp inversion", enabled=progress)
    for i in range(b):
        h, cut = target[i], threshold
        for j in range(depth - 1, -1, -1):
            below_relu = j > 0 and layers[j - 1].activation == "relu"
            h, residuals[i, j], status[i, j], misfit, on = _invert(layers[j], h, threshold=cut, nonneg=below_relu,
                                                                   norm=norm, clip=clip)
            unique[i, j] = _pins(layers[j].weight[on], eps)
            cut = margin * misfit + roundoff * float(np.abs(h).max(initial=0.0))
            bar.update(1)
        z[i] = h
    bar.close()
    failed = (status != 0).any(1)
    if failed.any():
        warnings.warn(f"the LP failed for {int(failed.sum())} of {b} images (first: {np.flatnonzero(failed)[:5].tolist()}; "
                      f"linprog status {sorted(set(status[status != 0].tolist()))}); those layers fell back to least "
                      "squares", RuntimeWarning, stacklevel=2)
    z_t = torch.from_numpy(z).to(device, dtype)
    with torch.no_grad(), frozen(generator):
        out = generator(z_t)
    x_hat = out.reshape(x.shape) if out[0].numel() == n else out
    err = (x_hat.detach().reshape(b, -1).double().cpu() - torch.from_numpy(target)).abs().amax(1)
    scale = torch.from_numpy(np.abs(target).max(1))
    certified = torch.from_numpy((status == 0).all(1)) & (err <= tol * scale)
    return LPInversion(z=z_t, x=x_hat, residuals=torch.from_numpy(residuals), status=torch.from_numpy(status),
                       output_error=err, certified=certified, layer_unique=torch.from_numpy(unique), tol=tol)


def _forward_layers(layers: list[_Layer], z: np.ndarray) -> np.ndarray:
    h = z
    for layer in layers:
        a = h @ layer.weight.T + layer.bias
        if layer.activation == "relu":
            h = np.maximum(a, 0.0)
        elif layer.activation == "leaky":
            h = np.where(a >= 0, a, layer.slope * a)
        elif layer.activation == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-a))
        elif layer.activation == "tanh":
            h = np.tanh(a)
        else:
            h = a
    return h


def _check_forward(generator, layers: list[_Layer], k: int, dtype, device) -> None:
    """The module's own forward must compute what its layers say (a sigmoid in ``forward`` would be missed)."""
    probe = torch.randn(3, k, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad(), frozen(generator):
        try:
            out = generator(probe.to(device, dtype))
        except Exception as e:  # any failure of the user's forward is reported as a generator problem
            raise GeneratorError(f"{type(generator).__name__}(z) failed on z of shape (3, {k}): {e}") from e
    ours = _forward_layers(layers, probe.numpy())
    out = out.detach().reshape(3, -1).to("cpu", torch.float64).numpy()
    tol = 1e-3 if dtype in (torch.float16, torch.bfloat16) else 1e-4
    if out.shape != ours.shape or not np.allclose(out, ours, rtol=tol, atol=tol * (1 + np.abs(ours).max())):
        raise GeneratorError(f"{type(generator).__name__}.forward does not compute its layers in order (it may apply "
                             "an activation or reshape of its own): pass an nn.Sequential of the whole map instead")
