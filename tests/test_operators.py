import pytest
import torch

from genprior.errors import InvalidValueError, ShapeError
from genprior.operators import (
    Downsample,
    Gaussian,
    Identity,
    Inpaint,
    Magnitude,
    Sign,
    make_operator,
)

LINEAR = [
    ("gaussian", lambda: Gaussian(m=100, shape=(1, 28, 28), noise_std=0.1, seed=1)),
    ("gaussian-rgb", lambda: Gaussian(m=30, shape=(3, 8, 8), seed=2)),
    ("inpaint-keep", lambda: Inpaint(shape=(1, 28, 28), keep=0.3, seed=3)),
    ("inpaint-block", lambda: Inpaint(shape=(3, 16, 16), block=6)),
    ("superres-2", lambda: Downsample(factor=2, shape=(1, 28, 28))),
    ("superres-4", lambda: Downsample(factor=4, shape=(3, 16, 16))),
    ("denoise", lambda: Identity(shape=(1, 28, 28), noise_std=0.5)),
    ("compose", lambda: Gaussian(m=20, shape=(1, 14, 14), seed=4) @ Downsample(factor=2, shape=(1, 28, 28))),
    ("compose-identity", lambda: Downsample(factor=2, shape=(1, 28, 28)) @ Identity(shape=(1, 28, 28))),
    ("compose-inpaint", lambda: Inpaint(shape=(1, 14, 14), keep=0.5, seed=5) @ Downsample(factor=2, shape=(1, 28, 28))),
]


@pytest.mark.parametrize("name,make", LINEAR, ids=[n for n, _ in LINEAR])
def test_adjoint_identity(name, make):
    """<A x, y> = <x, A^T y> for random x, y, in float64."""
    op = make()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, *op.input_shape, generator=g, dtype=torch.float64)
    y = torch.randn(4, op.output_size, generator=g, dtype=torch.float64)
    lhs = (op.forward(x.float()).double() * y).sum()
    rhs = (x * op.adjoint(y.float()).double()).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-4), (lhs, rhs)


@pytest.mark.parametrize("name,make", LINEAR, ids=[n for n, _ in LINEAR])
def test_check_adjoint_and_norm_agree_with_the_dense_matrix(name, make):
    """``check_adjoint`` is at rounding level for every linear operator and of order 1 for a wrong adjoint;
    ``norm`` is the largest singular value of the dense matrix (LAPACK's SVD)."""
    op = make()
    assert op.check_adjoint() < 1e-5
    expected = float(torch.linalg.matrix_norm(op.matrix().double(), ord=2))
    assert op.norm() == pytest.approx(expected, rel=1e-4)
    assert op.linear_part is op and op.measurement == "linear"

    class Scaled(type(op)):  # an adjoint off by a factor 2: the check must see it
        def adjoint(self, y):
            return 2 * super().adjoint(y)

    wrong = make()
    wrong.__class__ = Scaled
    assert wrong.check_adjoint() > 0.1


def test_nonlinear_operators_name_their_measurements_and_linear_part():
    mag, sign = Magnitude(m=50, seed=1), Sign(m=50, seed=1)
    x = torch.rand(2, 1, 28, 28)
    assert (mag.measurement, sign.measurement) == ("magnitude", "sign")
    assert torch.allclose(mag.forward(x), mag.linear_part.forward(x).abs())
    assert torch.equal(sign.forward(x), torch.sign(sign.linear_part.forward(x)))
    assert sign.linear_part.measurement == "linear" and not sign.differentiable
    composed = Magnitude(m=40, shape=(1, 14, 14), seed=2) @ Downsample(factor=2, shape=(1, 28, 28))
    assert composed.measurement == "nonlinear"
    with pytest.raises(InvalidValueError, match="has no linear part"):
        _ = composed.linear_part


@pytest.mark.parametrize("name,make", LINEAR, ids=[n for n, _ in LINEAR])
def test_matrix_matches_forward(name, make):
    op = make()
    x = torch.rand(3, *op.input_shape)
    assert torch.allclose(op.forward(x), x.flatten(1) @ op.matrix().T, atol=1e-5)
    assert op.forward(x).shape == (3, op.output_size)


def test_gaussian_scaling_and_noise_convention():
    op = Gaussian(m=400, shape=(1, 28, 28), noise_std=0.1, seed=0)
    assert abs(op.A.var().item() - 1 / 400) < 1e-4  # A_ij ~ N(0, 1/m)
    x = torch.zeros(2000, 1, 28, 28)
    eta = op.measure(x, seed=1)
    assert abs(eta.pow(2).sum(1).mean().sqrt().item() - 0.1) < 2e-3  # sqrt(E||eta||^2) = sigma
    per_entry = Identity(shape=(1, 28, 28), noise_std=0.2, noise="entry").measure(torch.zeros(50, 1, 28, 28), seed=0)
    assert abs(per_entry.std().item() - 0.2) < 5e-3


def test_measure_is_seeded():
    op = Gaussian(m=10, noise_std=0.1, seed=0)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(op.measure(x, seed=5), op.measure(x, seed=5))
    assert not torch.equal(op.measure(x, seed=5), op.measure(x, seed=6))


def test_inpaint_counts_and_block():
    assert Inpaint(keep=0.25).output_size == 196
    op = Inpaint(block=10)
    assert op.output_size == 784 - 100
    img = op.as_image(op.forward(torch.ones(1, 1, 28, 28)))
    assert img[0, 0, 9:19, 9:19].sum() == 0 and img.sum() == 684


def test_superres_averages_blocks():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = Downsample(factor=2, shape=(1, 4, 4)).forward(x)
    assert torch.equal(y, torch.tensor([[2.5, 4.5, 10.5, 12.5]]))


def test_nonlinear_forward_only():
    x = torch.rand(2, 1, 28, 28)
    mag, sign = Magnitude(m=50, seed=1), Sign(m=50, seed=1)
    lin = Gaussian(m=50, seed=1).forward(x)
    assert torch.allclose(mag.forward(x), lin.abs()) and torch.equal(sign.forward(x), lin.sign())
    assert not mag.linear and not hasattr(mag, "adjoint")


@pytest.mark.parametrize("m", [0, -3, 785, 2.5])
def test_bad_m(m):
    with pytest.raises(InvalidValueError, match="number of measurements"):
        Gaussian(m=m)


def test_wrong_shapes_and_nan():
    op = Gaussian(m=10)
    with pytest.raises(ShapeError, match=r"expects images of shape \(B, 1, 28, 28\)"):
        op.measure(torch.rand(2, 784))
    with pytest.raises(ShapeError, match=r"expects measurements of shape \(B, 10\)"):
        op.check_measurements(torch.rand(2, 11))
    y = torch.rand(2, 10)
    y[1, 3] = float("nan")
    with pytest.raises(InvalidValueError, match="NaN"):
        op.check_measurements(y)
    with pytest.raises(ShapeError, match="cannot compose"):
        Gaussian(m=5, shape=(1, 8, 8)) @ Downsample(factor=2)
    with pytest.raises(InvalidValueError, match="factor"):
        Downsample(factor=3)
    with pytest.raises(InvalidValueError, match="task cs needs --m"):
        make_operator("cs")


ALL = [*LINEAR, ("magnitude", lambda: Magnitude(m=50, seed=1)), ("sign", lambda: Sign(m=50, seed=1)),
       ("compose-magnitude", lambda: Magnitude(m=40, shape=(1, 14, 14), seed=2) @ Downsample(factor=2, shape=(1, 28, 28)))]


@pytest.mark.parametrize("name,make", ALL, ids=[n for n, _ in ALL])
def test_every_operator_names_a_wrong_image_shape_and_refuses_nan_images(name, make):
    op = make()
    c, h, w = op.input_shape
    with pytest.raises(ShapeError, match=rf"{op.name} expects images of shape \(B, {c}, {h}, {w}\), got \(2, {c}, {h}, {w + 1}\)"):
        op(torch.rand(2, c, h, w + 1))
    x = torch.rand(2, c, h, w)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidValueError, match=r"images contain NaN or infinite values \(1 entries\)"):
        op.measure(x)


@pytest.mark.parametrize("name,make", ALL, ids=[n for n, _ in ALL])
def test_every_operator_refuses_empty_and_non_float_batches_and_measures_float64(name, make):
    op = make()
    c, h, w = op.input_shape
    with pytest.raises(ShapeError, match=rf"{op.name} got an empty batch of images"):
        op.measure(torch.rand(0, c, h, w))
    for dtype in (torch.int64, torch.bool, torch.complex64):
        with pytest.raises(InvalidValueError, match=rf"images of a real floating dtype, got {dtype}"):
            op(torch.ones(2, c, h, w, dtype=dtype))
    x = torch.rand(2, c, h, w, generator=torch.Generator().manual_seed(0))
    y64 = op(x.double())  # float64 images are measured in float64 (Gaussian casts its matrix)
    assert y64.dtype == torch.float64 and torch.allclose(y64.float(), op(x), atol=1e-5)


@pytest.mark.parametrize("name,make", LINEAR, ids=[n for n, _ in LINEAR])
def test_every_adjoint_checks_its_measurements(name, make):
    op = make()
    m = op.output_size
    with pytest.raises(ShapeError, match=rf"expects measurements of shape \(B, {m}\), got \(2, {m + 1}\)"):
        op.adjoint(torch.rand(2, m + 1))
    with pytest.raises(ShapeError, match=rf"got \({m},\)"):
        op.adjoint(torch.rand(m))  # one vector is not a batch
    with pytest.raises(ShapeError, match="empty batch of measurements"):
        op.adjoint(torch.rand(0, m))


@pytest.mark.parametrize("make", [lambda: Inpaint(shape=(8, 8), keep=0.5), lambda: Downsample(factor=2, shape=(8, 8)),
                                  lambda: Gaussian(m=5, shape=(1, -8, 8)), lambda: Identity(shape="abc"),
                                  lambda: Gaussian(m=5, shape=(1, 2.5, 8))])
def test_operators_name_a_bad_image_shape(make):
    with pytest.raises(ShapeError, match="image shape must be"):
        make()


def test_an_operator_composes_only_with_an_operator():
    with pytest.raises(InvalidValueError, match="composes only with another operator, got int"):
        Identity(shape=(1, 4, 4)) @ 3


def test_sizes_are_integers_and_fractions_numbers():
    import numpy as np

    from genprior.models import VAE

    for bad in (2.5, "x", True):
        with pytest.raises(InvalidValueError, match="latent_dim must be a positive integer"):
            VAE(latent_dim=bad)
    assert VAE(latent_dim=np.int64(3), hidden=(8,)).latent_dim == 3 and Gaussian(m=np.int64(5), shape=(1, 4, 4)).output_size == 5
    with pytest.raises(InvalidValueError, match="keep must be a fraction in \\(0, 1\\], got '0.5'"):
        Inpaint(keep="0.5")


def test_composition_measures_with_the_outer_operators_noise():
    outer = Gaussian(m=10, shape=(1, 4, 4), noise_std=0.3, seed=0)
    inner = Downsample(factor=2, shape=(1, 8, 8), noise_std=0.05)
    composed = outer @ inner
    assert composed.noise_std == 0.3 and composed.input_shape == (1, 8, 8) and composed.output_size == 10
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(composed.forward(x), outer.forward(inner.forward(x)))
    assert torch.allclose(composed.adjoint(torch.ones(2, 10)), inner.adjoint(outer.adjoint(torch.ones(2, 10)).flatten(1)))


def test_inpaint_keeps_the_same_pixels_in_every_channel():
    op = Inpaint(shape=(3, 6, 6), keep=0.5, seed=1)
    mask = op.mask.view(3, 6, 6)
    assert torch.equal(mask[0], mask[1]) and torch.equal(mask[0], mask[2]) and 0 < int(mask[0].sum()) < 36
