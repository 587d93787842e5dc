"""Train a tiny torch MLP, certify it with rp (CROWN, exact l2, randomized smoothing) and plot the
exact l2 radius of the base network against the smoothed classifier's certified radius at two sigmas.

    pip install './python[torch]' matplotlib      # from the repository root
    python python/examples/torch_mlp.py --out radii.png
"""
import argparse

import torch

import rp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=30, help="records to certify")
    p.add_argument("--n", type=int, default=10_000, help="smoothing samples per record")
    p.add_argument("--out", default="radii.png")
    a = p.parse_args()

    # two Gaussian blobs in 6-D, a 6-32-2 ReLU network
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, 6, generator=g) + 1.0, torch.randn(500, 6, generator=g) - 1.0])
    y = torch.cat([torch.zeros(500, dtype=torch.long), torch.ones(500, dtype=torch.long)])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    model = rp.from_torch(net, x[:1])
    X = x[:: len(x) // a.rows][: a.rows].double().numpy()
    crown = model.certify(X, method="crown", norm="l2")
    exact = model.certify(X, method="exact", norm="l2", time_limit=30)
    smooth = {s: model.certify(X, method="smooth", sigma=s, n=a.n, seed=1) for s in (0.25, 0.5)}
    print(f"{model}: {len(X)} records")
    print(" row  CROWN      exact (guarantee)   smoothed s=0.25  s=0.5")
    for i in range(len(X)):
        print(f"{i:4d}  {crown.radius[i]:.4f}  {exact.radius[i]:.4f} ({exact.guarantee[i]:7s})  "
              f"{smooth[0.25].radius[i]:.4f}  {smooth[0.5].radius[i]:.4f}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(exact.radius.max(), *(r.radius.max() for r in smooth.values())) * 1.05
    ax.plot([0, top], [0, top], ":", color="grey", label="equal")
    ax.scatter(exact.radius, crown.radius, marker="x", label="CROWN (sound)")
    for s, r in smooth.items():
        ax.scatter(exact.radius, r.radius, label=f"smoothed, sigma={s} (prob. 1-alpha)")
    ax.set_xlabel("exact l2 radius of the base network")
    ax.set_ylabel("certified l2 radius")
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
