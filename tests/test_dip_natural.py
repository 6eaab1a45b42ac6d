"""The natural-image loader and text mask (genprior.data.natural) and the Deep Image Prior at photograph sizes."""

from __future__ import annotations

import socket

import pytest
import torch

pytest.importorskip("skimage")

from genprior.data.natural import NATURAL_IMAGES, load_natural, text_mask
from genprior.errors import GenpriorError
from genprior.evaluate.metrics import psnr
from genprior.models.dip import DecoderBatch
from genprior.operators import Identity
from genprior.solvers.dip import deep_image_prior


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the natural images must not touch the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", sorted(NATURAL_IMAGES))
def test_loader_shapes_range_determinism(name, no_network):
    x = load_natural(name, size=64)
    channels = NATURAL_IMAGES[name][1]
    assert x.shape == (1, channels, 64, 64) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) < float(x.max()) <= 1.0
    assert torch.equal(x, load_natural(name, size=64))


def test_loader_is_an_area_resize_of_the_centre_crop():
    big = load_natural("camera", size=128)  # camera is 512 x 512: 128 px is an exact 4x box average
    small = load_natural("camera", size=32)
    assert torch.allclose(torch.nn.functional.avg_pool2d(big, 4), small, atol=2 / 255)


def test_text_mask_fraction_and_determinism():
    m = text_mask(128)
    assert m.dtype == torch.bool and m.shape == (128, 128)
    assert 0.65 < float(m.float().mean()) < 0.9  # about a quarter of the pixels are text (missing)
    assert torch.equal(m, text_mask(128))
    assert text_mask(256).shape == (256, 256)


def test_dip_network_at_128_colour():
    net = DecoderBatch(1, output_shape=(3, 128, 128), channels=8, upsamplings=4, seed=0)
    with torch.no_grad():
        out = net()
    assert out.shape == (1, 3, 128, 128)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_tiny_dip_denoising_improves_psnr():
    x = load_natural("camera", size=32)
    op = Identity(shape=(1, 32, 32), noise_std=25 / 255, noise="entry")  # the paper's sigma, per pixel
    y = op.measure(x, seed=1)
    rec = deep_image_prior(op, y, steps=200, lr=0.01, channels=16, upsamplings=3, seed=0)
    noisy = float(psnr(op.as_image(y).clamp(0, 1), x))  # about 20.3 dB; the fit about 24 dB
    assert float(psnr(rec.x, x)) > noisy + 2.0


@pytest.mark.parametrize("call", [lambda: load_natural("lena"), lambda: load_natural("camera", size=8),
                                  lambda: load_natural("camera", size=30), lambda: text_mask(30),
                                  lambda: load_natural("camera", size=True)])
def test_bad_input_one_line_error(call):
    with pytest.raises(GenpriorError) as e:
        call()
    assert "\n" not in str(e.value)
