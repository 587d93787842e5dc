"""rp.from_torch: a torch nn.Sequential MLP exported in memory gives the same outputs and certificates."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
import rp  # noqa: E402


def test_from_torch_matches_torch_and_certifies():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = torch.randn(32, 4)
    model = rp.from_torch(net, x[:1])
    assert (model.input_dim, model.output_dim) == (4, 3)
    with torch.no_grad():
        y = net(x).double().numpy()
    out = model.forward(x.double().numpy())
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)  # torch evaluates in float32, rp in f64
    res = model.certify(x.double().numpy(), method="crown", norm="l2")
    assert (res.radius >= 0).all() and set(res.guarantee) == {"sound"}
    assert (res.label == out.argmax(1)).all()


def test_from_torch_refuses_other_layers():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())
    with pytest.raises(ValueError, match="Tanh"):
        rp.from_torch(net, torch.zeros(1, 4))
