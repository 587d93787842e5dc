"""The Python package against the CLI: same options, same messages, same numbers (bit for bit)."""
import threading

import numpy as np
import pytest

import rp
from conftest import DEMO, DEMO_INPUTS


@pytest.fixture(scope="module")
def model():
    return rp.Model.load(DEMO)


def cli_certify(rp_cli, tmp_path, *args):
    out = tmp_path / "out.json"
    doc = rp_cli("certify", "--model", DEMO, "--input", DEMO_INPUTS, *args, "--output", out, output=out)
    return doc["rows"]


def assert_same(res, rows):
    """Every column equal to the CLI's JSON (floats as doubles, exactly); times aside."""
    assert len(res) == len(rows)
    assert res.row.tolist() == [r["row"] for r in rows]
    assert [str(l) if l >= 0 else "abstain" for l in res.label.tolist()] == [r["label"] for r in rows]
    num = lambda v: float(v) if not isinstance(v, str) else float(v.replace("inf", "Infinity"))
    assert res.radius.tolist() == [num(r["radius"]) for r in rows]
    assert res.guarantee == [r["guarantee"] for r in rows]
    up = [np.nan if r["radius_upper"] is None else num(r["radius_upper"]) for r in rows]
    np.testing.assert_array_equal(res.radius_upper, np.array(up))
    al = [np.nan if r["alpha"] is None else r["alpha"] for r in rows]
    np.testing.assert_array_equal(res.alpha, np.array(al))


def test_load_from_path_and_bytes_agree(model):
    other = rp.Model.load(DEMO.read_bytes())
    x = np.random.default_rng(0).normal(size=(7, model.input_dim))
    assert model.input_dim == 11 and model.output_dim == 2
    np.testing.assert_array_equal(model.forward(x), other.forward(x))
    np.testing.assert_array_equal(rp.Model.load(model.to_onnx()).forward(x), model.forward(x))
    assert model.forward(x[0]).shape == (1, 2)


@pytest.mark.parametrize("args,kwargs", [
    (["--method", "crown"], dict(method="crown")),
    (["--method", "crown", "--norm", "l2", "--rel-tol", "1e-6"], dict(method="crown", norm="l2", rel_tol=1e-6)),
    (["--method", "ibp", "--norm", "l1"], dict(method="ibp", norm="l1")),
    (["--method", "alpha-crown", "--alpha-iters", "5"], dict(method="alpha-crown", alpha_iters=5)),
    (["--method", "smooth", "--sigma", "0.25", "--n", "2000", "--seed", "7"], dict(method="smooth", sigma=0.25, n=2000, seed=7)),
    (["--method", "smooth", "--sigma", "0.5", "--n", "500", "--mode", "predict"], dict(method="smooth", sigma=0.5, n=500, mode="predict")),
    (["--method", "pgd", "--norm", "l2"], dict(method="pgd", norm="l2")),
    (["--method", "exact", "--norm", "linf", "--time-limit", "20"], dict(method="exact", norm="linf", time_limit=20)),
    (["--method", "crown", "--domain-lo", "-3", "--domain-hi", "3"], dict(method="crown", domain_lo=-3, domain_hi=3)),
])
def test_certify_equals_the_cli_bit_for_bit(rp_cli, tmp_path, model, demo_inputs, args, kwargs):
    rows = cli_certify(rp_cli, tmp_path, *args)
    res = model.certify(demo_inputs, **kwargs)
    assert_same(res, rows)


def test_a_shard_with_its_row_ids_equals_that_part_of_the_whole(model, demo_inputs):
    whole = model.certify(demo_inputs, method="smooth", sigma=0.25, n=1000)
    part = model.certify(demo_inputs[5:12], method="smooth", sigma=0.25, n=1000, row_ids=range(5, 12))
    np.testing.assert_array_equal(part.radius, whole.radius[5:12])
    np.testing.assert_array_equal(part.row, np.arange(5, 12))


def test_bounds_equal_the_cli(rp_cli, tmp_path, model, demo_inputs):
    out = tmp_path / "b.json"
    doc = rp_cli("bounds", "--model", DEMO, "--input", DEMO_INPUTS, "--eps", "0.1", "--norm", "l2", "--output", out, output=out)
    lo, up = model.bounds(demo_inputs, 0.1, norm="l2")
    assert lo.tolist() == [r["lower"] for r in doc["rows"]]
    assert up.tolist() == [r["upper"] for r in doc["rows"]]
    # and they bound the network: the center's outputs lie inside
    y = model.forward(demo_inputs)
    assert (lo <= y).all() and (y <= up).all()


@pytest.mark.parametrize("kwargs,cli_args", [
    (dict(bogus=1), ["--bogus", "1"]),
    (dict(rel_tol=2.0), ["--rel-tol", "2.0"]),
    (dict(norm="l3"), ["--norm", "l3"]),
    (dict(sigma=0.25), ["--sigma", "0.25"]),  # does not apply to crown
    (dict(method="smooth"), ["--method", "smooth"]),  # needs --sigma
    (dict(method="smooth", sigma=0.25, norm="linf"), ["--method", "smooth", "--sigma", "0.25", "--norm", "linf"]),
    (dict(domain_lo=0.0), ["--domain-lo", "0.0"]),
])
def test_bad_options_raise_the_clis_message(rp_cli, tmp_path, model, demo_inputs, kwargs, cli_args):
    with pytest.raises(ValueError) as err:
        model.certify(demo_inputs[:3], **kwargs)
    with pytest.raises(RuntimeError) as cli:
        rp_cli("certify", "--model", DEMO, "--input", DEMO_INPUTS, *cli_args, "--output", tmp_path / "x.json")
    msg = str(err.value)
    assert msg and msg.splitlines()[0].split(": ", 1)[-1] in str(cli.value), (msg, str(cli.value))


def test_bad_inputs_are_value_errors(model):
    with pytest.raises(ValueError, match="11 inputs"):
        model.certify(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        model.certify(np.full((1, 11), np.nan))
    with pytest.raises(ValueError, match="path or the ONNX bytes"):
        rp.Model.load(3)
    with pytest.raises(ValueError):
        rp.Model.load(b"not an onnx file")
    with pytest.raises(ValueError, match="eps"):
        model.bounds(np.zeros((1, 11)), -1.0)
    with pytest.raises(ValueError, match="card"):
        model.inputs_from_records("x.csv")


def test_to_pandas():
    pd = pytest.importorskip("pandas")
    df = rp.Model.load(DEMO).certify(np.zeros((3, 11))).to_pandas()
    assert list(df.columns) == ["row", "label", "radius", "guarantee", "radius_upper", "alpha", "time"]
    assert len(df) == 3 and isinstance(df, pd.DataFrame)


def test_the_gil_is_released_while_rp_computes(model, demo_inputs):
    started, done = threading.Event(), threading.Event()

    def work():
        started.set()
        model.certify(np.repeat(demo_inputs, 3, axis=0), method="smooth", sigma=0.25, n=200_000)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    spins = 0
    while not done.is_set():
        spins += 1
    t.join()
    # with the GIL held for the whole call this loop could not run until it returned
    assert spins > 1000, spins


def vnnlib_box(x, eps, winner, loser):
    """The unsafe set of 'class `loser` scores at least class `winner`' over the eps-box around x."""
    lines = [f"(declare-const X_{i} Real)" for i in range(len(x))] + ["(declare-const Y_0 Real)", "(declare-const Y_1 Real)"]
    for i, v in enumerate(x):
        lines += [f"(assert (>= X_{i} {float(v - eps)!r}))", f"(assert (<= X_{i} {float(v + eps)!r}))"]
    lines.append(f"(assert (>= Y_{loser} Y_{winner}))")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("eps,verdict", [(0.01, "unsat"), (3.0, "sat")])
def test_verify_equals_the_cli(rp_cli, tmp_path, model, demo_inputs, eps, verdict):
    x = demo_inputs[0]
    c = int(model.forward(x).argmax())
    text = vnnlib_box(x, eps, c, 1 - c)
    prop = tmp_path / "p.vnnlib"
    prop.write_text(text)
    out = model.verify(prop, timeout=30)
    assert out["verdict"] == verdict
    assert model.verify(text, timeout=30)["result"] == out["result"]
    rp_cli("verify", "--model", DEMO, "--property", prop, "--timeout", "30", "--output", tmp_path / "r.txt")
    assert (tmp_path / "r.txt").read_text().strip() == out["result"].strip()
    if verdict == "sat":
        xin, y = out["counterexample"]
        assert np.all(np.abs(xin - x) <= eps) and y[1 - c] >= y[c]
        np.testing.assert_allclose(model.forward(xin)[0], y, rtol=1e-12)  # the verifier's own f64 pass


def test_verify_options_are_the_clis(model):
    with pytest.raises(ValueError, match="timeout"):
        model.verify(vnnlib_box(np.zeros(11), 0.1, 0, 1), timeout=0)
    with pytest.raises(ValueError, match="beta-iters"):
        model.verify(vnnlib_box(np.zeros(11), 0.1, 0, 1), split="input", beta_iters=3)
    with pytest.raises(ValueError):
        model.verify("(assert (<= X_0 1.0))")
