"""Deep Image Prior on natural photographs (Ulyanov, Vedaldi & Lempitsky, CVPR 2018; lecture deck 002).

Images: the photographs scikit-image ships inside its package (``genprior.data.natural``: centre crop to a square,
then area resize to ``--size``; nothing downloads). Hyper-parameters are chosen on the held-out ``--held-out``
image (default ``coffee``) and reported on ``--images`` (default camera (grey), astronaut, chelsea (colour)).

Tasks: denoising with per-entry Gaussian noise of std 25/255 (the paper's sigma; genprior's ``noise="entry"``);
inpainting with 50 % random pixels kept, and with a text mask (``text_mask``); 4x super-resolution by block
averaging (our ``Downsample``; the paper uses a Lanczos kernel). Inpainting and super-resolution are noiseless.

Methods: DIP (``genprior.solvers.dip.deep_image_prior``: our decoder ``DecoderBatch`` without skip connections,
``--upsamplings`` 4, ``--channels`` 32, input noise of 32 channels, Adam at ``--lr`` 0.01, the paper's rate; the
number of steps -- the early stopping -- chosen per task on the held-out image's PSNR curve, up to
``--max-steps``); BM3D (the ``bm3d`` package), non-local means and TV (scikit-image; h and weight chosen on the
held-out image) for denoising; biharmonic inpainting (scikit-image) for inpainting; bicubic upsampling for
super-resolution; and the Lasso in the DCT basis (``lasso-dct`` through the method registry, alpha chosen on the
held-out image) on 32 x 32 tiles per channel (the registry's Lasso forms dense matrices: a whole 128 x 128 x 3
image, n = 49152, does not fit).

Writes ``--out``.{json,md,png}. CPU budget: one thread (``torch.set_num_threads(1)``), run under ``nice -n 10``.
"""

from __future__ import annotations

import time

import common
import numpy as np
import torch

from genprior.data.natural import check_size, load_natural, text_mask
from genprior.devices import pick_device
from genprior.evaluate.metrics import psnr, ssim
from genprior.evaluate.recovery import run_method
from genprior.models.dip import DecoderBatch
from genprior.operators import Downsample, Identity, Inpaint
from genprior.plotting import pyplot, save_figure
from genprior.solvers.dip import deep_image_prior
from genprior.solvers.lasso import ALPHA_GRID

SIGMA = 25 / 255
TASKS = ("denoise", "inpaint-50%", "inpaint-text", "sr-4x")
BASELINES = {"denoise": ("bm3d", "nlm", "tv", "lasso-dct"), "inpaint-50%": ("biharmonic", "lasso-dct"),
             "inpaint-text": ("biharmonic", "lasso-dct"), "sr-4x": ("bicubic", "lasso-dct")}
NLM_H = (0.6, 0.8, 1.0, 1.2)  # h as a multiple of sigma
TV_WEIGHT = (0.04, 0.06, 0.08, 0.11, 0.15)
LASSO_ALPHA = (*ALPHA_GRID, 0.3)  # the registry's grid and 0.3 above it (per-entry sigma 0.098 sits near its top)
LASSO_ALPHA_INPAINT = LASSO_ALPHA[3:]  # from 3e-3: the tiled inpainting solves are the slow part of the tuning
TILE = 32
# the DIP paper's Table 1 (denoising, sigma 25, their 9 colour images): PSNR dB
PAPER_DENOISE = {"dip": 30.43, "nlm": 30.26, "bm3d": 31.42}


def operator_for(task: str, shape: tuple[int, int, int], *, seed: int):
    """The measurement operator of ``task`` on images of ``shape``."""
    if task == "denoise":
        return Identity(shape=shape, noise_std=SIGMA, noise="entry")
    if task == "inpaint-50%":
        return Inpaint(shape=shape, keep=0.5, seed=seed)
    if task == "inpaint-text":
        return Inpaint(shape=shape, mask=text_mask(shape[1]))
    return Downsample(factor=4, shape=shape)


def _hwc(x: torch.Tensor) -> np.ndarray:
    a = x[0].permute(1, 2, 0).double().numpy()
    return a[..., 0] if a.shape[2] == 1 else a


def _chw(a: np.ndarray, c: int) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t.reshape(1, c, *t.shape[-2:]).clamp(0, 1)


def classic(method: str, task: str, op, y: torch.Tensor, *, param: float | None) -> torch.Tensor:
    """A scikit-image / bm3d baseline's recovery ``(1, C, H, W)`` from ``y``."""
    from skimage.restoration import (
        denoise_nl_means,
        denoise_tv_chambolle,
        inpaint_biharmonic,
    )
    from skimage.transform import resize

    c, h, w = op.input_shape
    axis = None if c == 1 else -1
    if method == "bm3d":
        import bm3d
        z = _hwc(op.as_image(y))
        return _chw(bm3d.bm3d(z, sigma_psd=SIGMA) if c == 1 else bm3d.bm3d_rgb(z, sigma_psd=SIGMA), c)
    if method == "nlm":
        return _chw(denoise_nl_means(_hwc(op.as_image(y)), h=param * SIGMA, sigma=SIGMA, patch_size=5,
                                     patch_distance=6, fast_mode=True, channel_axis=axis), c)
    if method == "tv":
        return _chw(denoise_tv_chambolle(_hwc(op.as_image(y)), weight=param, channel_axis=axis), c)
    if method == "biharmonic":
        missing = ~op.mask.view(c, h, w)[0].numpy()
        return _chw(inpaint_biharmonic(_hwc(op.as_image(y)), missing, channel_axis=axis), c)
    if method == "bicubic":
        small = _hwc(y.view(1, c, h // 4, w // 4))
        return _chw(resize(small, (h, w), order=3, mode="reflect", anti_aliasing=False), c)
    raise ValueError(method)


def _tiles(x: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(C * H/T * W/T, 1, T, T)``, channel-major, then tile rows, then tile columns."""
    c, h, w = x.shape[1:]
    return x.view(c, h // TILE, TILE, w // TILE, TILE).permute(0, 1, 3, 2, 4).reshape(-1, 1, TILE, TILE)


def _untile(t: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    return t.view(c, h // TILE, w // TILE, TILE, TILE).permute(0, 1, 3, 2, 4).reshape(1, c, h, w)


def lasso_tiled(task: str, op, y: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """``lasso-dct`` (the registry's) on every 32 x 32 tile of every channel: each tile's measurements are read from
    the measured image (the operators act tile by tile: pixels, and 4x4 blocks inside a 32 x 32 tile)."""
    c, h, w = op.input_shape
    seen = _tiles(op.as_image(y).float())  # noisy pixels / kept pixels and zeros / block means repeated
    shape = (1, TILE, TILE)
    if task.startswith("inpaint"):
        masks = _tiles(op.mask.view(1, c, h, w)[:, :1].float()).bool()  # (tiles per channel, 1, T, T)
        per = masks.shape[0]
        out = torch.empty_like(seen)
        for k in range(per):
            tile_op = Inpaint(shape=shape, mask=masks[k, 0])
            rows = torch.arange(k, seen.shape[0], per)
            out[rows] = run_method("lasso-dct", None, tile_op, tile_op.forward(seen[rows]), alpha=alpha).x.float()
        return _untile(out, c, h, w)
    tile_op = Identity(shape=shape) if task == "denoise" else Downsample(factor=4, shape=shape)
    x = run_method("lasso-dct", None, tile_op, tile_op.forward(seen), alpha=alpha).x.float()
    return _untile(x, c, h, w)


def dip_curve(op, y: torch.Tensor, truth: torch.Tensor, *, max_steps: int, every: int, lr: float, channels: int,
              upsamplings: int, seed: int) -> list[tuple[int, float]]:
    """PSNR of the DIP fit against the held-out truth after every ``every`` steps: the same decoder, inputs, Adam
    and loss as :func:`deep_image_prior` with this seed, so the fit after ``s`` steps here is its result at
    ``steps=s``. Used only to choose the step count (early stopping) on the held-out image."""
    net = DecoderBatch(1, output_shape=tuple(op.input_shape), channels=channels, input_channels=32,
                       upsamplings=upsamplings, seed=seed, first=0).to(y.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    curve, yf, truth = [], y.float(), truth.to(y.device)
    with torch.enable_grad():
        for t in range(1, max_steps + 1):
            loss = (op.forward(net()) - yf).pow(2).sum(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if t % every == 0:
                with torch.no_grad():
                    curve.append((t, float(psnr(net(), truth))))
    return curve


def score(x_hat: torch.Tensor, truth: torch.Tensor) -> dict:
    return {"psnr": float(psnr(x_hat, truth)), "ssim": float(ssim(x_hat, truth))}


def tune(args, truth: torch.Tensor) -> dict:
    """Every hyper-parameter, chosen on the held-out image ``truth`` by its PSNR."""
    chosen: dict = {"dip_curves": {}}
    shape = tuple(truth.shape[1:])
    for task in TASKS:
        op = operator_for(task, shape, seed=args.seed)
        y = op.measure(truth, seed=args.seed + 1)
        t0 = time.perf_counter()
        curve = dip_curve(op.to(args.device), y.to(args.device), truth, max_steps=args.max_steps, every=args.check_every, lr=args.lr,
                          channels=args.channels, upsamplings=args.upsamplings, seed=args.seed)
        op.to("cpu")
        best = max(curve, key=lambda p: p[1])
        chosen[f"dip_steps/{task}"] = best[0]
        chosen["dip_curves"][task] = curve
        print(f"tune {task}: dip best {best[1]:.2f} dB at {best[0]} steps ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        grid = LASSO_ALPHA_INPAINT if task.startswith("inpaint") else LASSO_ALPHA
        alphas = {} if args.no_lasso else {a: score(lasso_tiled(task, op, y, alpha=a), truth)["psnr"] for a in grid}
        chosen[f"lasso_alpha/{task}"] = max(alphas, key=alphas.get) if alphas else None
        if task == "denoise":
            nlm = {h: score(classic("nlm", task, op, y, param=h), truth)["psnr"] for h in NLM_H}
            tv = {wt: score(classic("tv", task, op, y, param=wt), truth)["psnr"] for wt in TV_WEIGHT}
            chosen["nlm_h_over_sigma"], chosen["tv_weight"] = max(nlm, key=nlm.get), max(tv, key=tv.get)
        print(f"tune {task}: {({k: v for k, v in chosen.items() if k != 'dip_curves'})}", flush=True)
    return chosen


def run(args) -> dict:
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    held = load_natural(args.held_out, size=args.size)
    chosen = tune(args, held)
    rows, pictures = [], []
    for name in args.images:
        truth = load_natural(name, size=args.size)
        shape = tuple(truth.shape[1:])
        for task in TASKS:
            op = operator_for(task, shape, seed=args.seed)
            y = op.measure(truth, seed=args.seed + 1)
            recs = {}
            t0 = time.perf_counter()
            steps = chosen[f"dip_steps/{task}"]
            recs["dip"] = deep_image_prior(op, y.to(args.device), steps=steps, lr=args.lr, channels=args.channels,
                                           upsamplings=args.upsamplings, seed=args.seed).x.float().cpu()
            seconds = {"dip": time.perf_counter() - t0}  # on a GPU: includes the final copy back
            op.to("cpu")
            for method in BASELINES[task]:
                if method == "lasso-dct" and args.no_lasso:
                    continue
                t0 = time.perf_counter()
                if method == "lasso-dct":
                    recs[method] = lasso_tiled(task, op, y, alpha=chosen[f"lasso_alpha/{task}"])
                else:
                    param = {"nlm": chosen.get("nlm_h_over_sigma"), "tv": chosen.get("tv_weight")}.get(method)
                    recs[method] = classic(method, task, op, y, param=param)
                seconds[method] = time.perf_counter() - t0
            measured = op.as_image(y).float().clamp(0, 1)
            rows.append({"image": name, "task": task, "method": "measured", **score(measured, truth), "seconds": 0.0})
            for method, x in recs.items():
                rows.append({"image": name, "task": task, "method": method, **score(x, truth),
                             "seconds": seconds[method], **({"steps": steps} if method == "dip" else {})})
                print(f"{name} {task} {method}: {rows[-1]['psnr']:.2f} dB {rows[-1]['seconds']:.1f} s", flush=True)
            pictures.append((f"{name}\n{task}", {"truth": truth, "measured": measured, **recs}))
    save_grid(f"{args.out}.png", pictures, rows)
    summary = summarize(rows)
    return {"settings": {"size": args.size, "images": args.images, "held_out": args.held_out, "sigma": SIGMA,
                         "noise": "entry", "lr": args.lr, "channels": args.channels,
                         "upsamplings": args.upsamplings, "input_channels": 32, "max_steps": args.max_steps,
                         "check_every": args.check_every, "seed": args.seed, "lasso_tile": TILE,
                         "threads": torch.get_num_threads(), "device": str(args.device), "lasso": not args.no_lasso},
            "chosen": chosen, "rows": rows, "summary": summary, "paper_denoise_psnr": PAPER_DENOISE,
            "total_seconds": time.perf_counter() - t_start}


def summarize(rows: list[dict]) -> dict:
    out: dict = {}
    for task in TASKS:
        methods = dict.fromkeys(r["method"] for r in rows if r["task"] == task)
        out[task] = {}
        for m in methods:
            rs = [r for r in rows if r["task"] == task and r["method"] == m]
            out[task][m] = {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "seconds")}
    return out


def save_grid(path: str, pictures: list, rows: list[dict]) -> None:
    plt = pyplot()
    cols = max(len(p[1]) for p in pictures)
    fig, axes = plt.subplots(len(pictures), cols, figsize=(cols * 1.45 + 0.8, len(pictures) * 1.55), squeeze=False)
    for r, (label, recs) in enumerate(pictures):
        name, task = label.split("\n")
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(recs):
                ax.axis("off")
                continue
            method, img = list(recs.items())[c]
            img = img[0].clamp(0, 1)
            ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            hit = [x for x in rows if x["image"] == name and x["task"] == task and x["method"] == method]
            ax.set_title(method + (f" {hit[0]['psnr']:.1f}" if hit else ""), fontsize=6, pad=2)
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=6)
    save_figure(fig, path)


def markdown(data: dict) -> str:
    s = data["settings"]
    ch = data["chosen"]
    lines = ["# Deep Image Prior on natural images", "",
             f"scikit-image's bundled photographs, centre-cropped and area-resized to {s['size']} px; "
             f"hyper-parameters chosen on `{s['held_out']}`, reported on {', '.join(s['images'])}. "
             f"Denoising: per-entry sigma = 25/255; inpainting and 4x super-resolution (block average) noiseless. "
             f"DIP: our decoder without skip connections ({s['upsamplings']} upsamplings, {s['channels']} channels, "
             f"32-channel input), Adam lr {s['lr']}, steps chosen on the held-out PSNR curve: "
             + ", ".join(f"{t} {ch[f'dip_steps/{t}']}" for t in TASKS)
             + f". NLM h = {ch.get('nlm_h_over_sigma')} sigma, TV weight {ch.get('tv_weight')}, Lasso-DCT on "
             f"{s['lasso_tile']} px tiles with alpha " + ", ".join(f"{t} {ch[f'lasso_alpha/{t}']}" for t in TASKS)
             + f". One CPU thread; whole run {data['total_seconds'] / 60:.1f} min.", ""]
    for task, methods in data["summary"].items():
        paper = task == "denoise"
        lines += [f"## {task} (mean over {len(s['images'])} images)", "",
                  "| method | PSNR dB | SSIM | seconds |" + (" paper PSNR dB |" if paper else ""),
                  "|---|---|---|---|" + ("---|" if paper else "")]
        for m, v in sorted(methods.items(), key=lambda kv: -kv[1]["psnr"]):
            ref = data["paper_denoise_psnr"].get(m)
            lines.append(f"| {m} | {v['psnr']:.2f} | {v['ssim']:.3f} | {v['seconds']:.1f} |"
                         + (f" {ref if ref is not None else ''} |" if paper else ""))
        lines.append("")
    lines += [("The paper's figures (Ulyanov et al. 2018, denoising sigma 25: DIP 30.43, NLM 30.26, CBM3D 31.42 dB) "
               "are on their 9 colour images at full size; ours are on other images at "
               f"{s['size']} px, so only the ordering is comparable."), "",
              "## Per image", "", "| image | task | method | PSNR dB | SSIM | seconds |", "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['image']} | {r['task']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = common.parser(__doc__, out=common.RESULTS / "dip_natural", seed=0, device="cpu", render_only=True)
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default %(default)s; 512 on a GPU)")
    p.add_argument("--images", nargs="+", default=["camera", "astronaut", "chelsea"])
    p.add_argument("--held-out", default="coffee", help="image the hyper-parameters are chosen on")
    p.add_argument("--max-steps", type=int, default=2000, help="longest DIP fit on the held-out image")
    p.add_argument("--check-every", type=int, default=100, help="held-out PSNR checked every this many steps")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--upsamplings", type=int, default=4)
    p.add_argument("--no-lasso", action="store_true", help="leave the tiled Lasso out (it is slow at 512 px)")
    args = p.parse_args()
    if args.render_only:
        common.rerender(args.out, markdown)
        return
    check_size(args.size, multiple=TILE)
    if args.held_out in args.images:
        p.error(f"the held-out image {args.held_out} is also a reported one")
    args.device = pick_device(args.device)
    data = run(args)
    common.write_results(args.out, data, markdown(data), device=args.device)


if __name__ == "__main__":
    main()
