"""The deepinv adapter (``genprior.operators.deepinv``): a deepinv physics works wherever the method registry takes
an operator, and a genprior operator works as a deepinv physics. The tests that need deepinv skip, with the reason,
where it does not import (it needs a torchvision built for the installed torch); the missing-extra message is
tested without it."""

import builtins
import re
import sys

import pytest
import torch

from genprior import zoo
from genprior.data import load_dataset
from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.evaluate.recovery import recover, run_method
from genprior.operators import (
    Gaussian,
    Inpaint,
    Magnitude,
    as_operator,
    from_deepinv,
    to_deepinv,
)
from genprior.operators.deepinv import import_deepinv, is_deepinv_physics


def _deepinv_or_reason():
    try:
        return import_deepinv(), None
    except GenpriorError as e:
        return None, str(e)


DEEPINV, REASON = _deepinv_or_reason()
needs_deepinv = pytest.mark.skipif(DEEPINV is None, reason=f"deepinv adapter not tested: {REASON}")
if DEEPINV is None:
    print(f"\ntests/test_deepinv.py: deepinv adapter tests skip: {REASON}", file=sys.stderr)


# --- without deepinv -------------------------------------------------------------------------------------------------
class Physics:
    """Stands for deepinv's Physics base class (recognised by module and name, without importing deepinv)."""


Physics.__module__ = "deepinv.physics.forward"


class FakeInpainting(Physics):
    pass


@pytest.fixture
def without_deepinv(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepinv", None)  # `import deepinv` raises ImportError


def test_a_missing_deepinv_is_one_line_saying_how_to_install_it(without_deepinv):
    message = re.escape('deepinv is not installed: pip install "genprior[deepinv]"')
    with pytest.raises(GenpriorError, match=message):
        from_deepinv(FakeInpainting(), input_shape=(1, 28, 28))
    with pytest.raises(GenpriorError, match=message):
        to_deepinv(Gaussian(m=10))
    # the method registry routes a deepinv physics through the adapter (and so to the same message)
    with pytest.raises(GenpriorError, match=message) as caught:
        recover("adjoint", FakeInpainting(), torch.zeros(1, 784))
    assert "\n" not in str(caught.value)


def test_a_deepinv_that_fails_to_import_is_one_line(monkeypatch):
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "deepinv":
            raise RuntimeError("operator torchvision::nms does not exist\nmore lines")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "deepinv", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(GenpriorError, match=r"fails to import \(RuntimeError: operator torchvision::nms does not "
                                            r"exist\); its torchvision must be built for the installed torch$"):
        import_deepinv()


def test_as_operator_passes_genprior_operators_and_refuses_others():
    op = Gaussian(m=10)
    assert as_operator(op) is op
    assert is_deepinv_physics(FakeInpainting()) and not is_deepinv_physics(op)
    with pytest.raises(InvalidValueError, match="method csgm needs a genprior Operator .* got Tensor"):
        as_operator(torch.zeros(10, 784), owner="method csgm")
    with pytest.raises(InvalidValueError, match="got Tensor"):
        recover("adjoint", torch.zeros(10, 784), torch.zeros(1, 10))


# --- with deepinv ----------------------------------------------------------------------------------------------------
def _cs_pair(m: int = 100):
    """A genprior Gaussian operator and a deepinv CompressedSensing physics holding the same matrix."""
    op = Gaussian(m=m, seed=3)
    physics = DEEPINV.physics.CompressedSensing(m=m, img_size=(1, 28, 28))
    with torch.no_grad():
        physics._A.copy_(op.A)
        physics._A_adjoint.copy_(op.A.T)
    return op, physics


def _inpaint_pair():
    op = Inpaint(keep=0.3, seed=4)
    physics = DEEPINV.physics.Inpainting(img_size=(1, 28, 28), mask=op.mask.view(1, 28, 28).float())
    return op, physics


@needs_deepinv
@pytest.mark.parametrize("pair", [_cs_pair, _inpaint_pair])
def test_a_deepinv_physics_is_a_genprior_linear_operator_with_its_adjoint(pair):
    op, physics = pair()
    wrapped = from_deepinv(physics)  # input_shape from the physics' img_size
    assert wrapped.linear and wrapped.measurement == "linear" and wrapped.input_shape == (1, 28, 28)
    assert wrapped.check_adjoint() < 1e-5
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(wrapped(x), physics.A(x).flatten(1))
    assert torch.allclose(wrapped.adjoint(wrapped(x)), physics.A_adjoint(physics.A(x)), atol=1e-6)
    # the same operator as genprior's: the same A^T A, whatever the layout of the measurements
    assert torch.allclose(wrapped.adjoint(wrapped(x)), op.adjoint(op(x)), atol=1e-5)
    assert torch.allclose(wrapped(x.double()).double(), wrapped(x).double(), atol=1e-6)  # float64 in, float64 out


@needs_deepinv
def test_a_genprior_operator_is_a_deepinv_linear_physics():
    op = Gaussian(m=50, shape=(1, 12, 12), seed=1)
    physics = to_deepinv(op)
    assert isinstance(physics, DEEPINV.physics.LinearPhysics)
    x, y = torch.rand(4, 1, 12, 12), torch.randn(4, 50)
    assert torch.allclose(physics.A(x), x.flatten(1) @ op.A.T, atol=1e-6)
    assert torch.allclose(physics.A_adjoint(y), (y @ op.A).view(4, 1, 12, 12), atol=1e-6)
    assert torch.allclose(physics(x), op(x))  # no noise model
    assert float(physics.adjointness_test(x)) < 1e-5
    assert from_deepinv(physics, input_shape=(1, 12, 12)).check_adjoint() < 1e-5
    assert to_deepinv(from_deepinv(physics, input_shape=(1, 12, 12))) is physics


@needs_deepinv
def test_a_nonlinear_physics_is_a_forward_only_operator_and_back():
    matrix = Gaussian(m=30, shape=(1, 12, 12), seed=2).A
    physics = DEEPINV.physics.Physics(A=lambda x, **kwargs: (x.flatten(1) @ matrix.T).abs())
    with pytest.raises(ShapeError, match=r"has no \(C, H, W\) img_size: pass input_shape=\(C, H, W\)"):
        from_deepinv(physics)
    wrapped = from_deepinv(physics, input_shape=(1, 12, 12))
    assert not wrapped.linear and wrapped.measurement == "nonlinear" and not hasattr(wrapped, "adjoint")
    x = torch.rand(2, 1, 12, 12)
    assert wrapped.output_size == 30 and torch.allclose(wrapped(x), Magnitude(m=30, shape=(1, 12, 12), seed=2)(x))
    back = to_deepinv(Magnitude(m=30, shape=(1, 12, 12), seed=2))
    assert not isinstance(back, DEEPINV.physics.LinearPhysics) and torch.allclose(back.A(x), wrapped(x))


@needs_deepinv
@pytest.mark.parametrize("pair", [_cs_pair, _inpaint_pair])
def test_the_method_registry_recovers_from_a_deepinv_physics_as_from_the_genprior_operator(pair):
    op, physics = pair()
    x = load_dataset("mnist-bundled", "test").images[:2].float()
    noise = torch.randn(2, op.output_size, generator=torch.Generator().manual_seed(5))
    y = op.forward(x) + 0.1 * noise / op.output_size ** 0.5  # sigma = 0.1 in total, as in the CSGM paper
    y_physics = op.adjoint(y) if type(physics).__name__ == "Inpainting" else y  # laid out as physics(x) gives it
    vae = zoo.load("mnist-vae").eval()
    ours = run_method("csgm-fast", x, op, y, generator=vae, seed=0)
    theirs = run_method("csgm-fast", x, physics, y_physics, generator=vae, seed=0)
    assert theirs.x.shape == x.shape and bool(torch.isfinite(theirs.x).all())
    err, err_physics = ours.metrics["mse_per_pixel"], theirs.metrics["mse_per_pixel"]
    assert err < 0.03 and abs(err_physics - err) <= 0.01 * err, (err, err_physics)  # 1e-6 apart here
