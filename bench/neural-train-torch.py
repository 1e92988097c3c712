# PyTorch peer for bench/neural-train.js: the same autoencoder (features -> 64 -> 32 -> 64 -> features,
# ReLU, dropout 0.2, linear output), Adam 1e-3, MSE, standardized inputs, same split and epochs.
# Run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1. Prints one JSON line.
import json, sys, time
import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)
cfg = json.load(open(sys.argv[1]))
data = np.loadtxt(cfg['csv'], delimiter=',', skiprows=1, dtype=np.float32)
X, y = data[:, :-1], data[:, -1]
tr, te = np.array(cfg['train']), np.array(cfg['test'])
mean = X[tr].mean(0)
std = X[tr].std(0)
std[std <= 1e-6 * np.maximum(1, np.abs(mean))] = 1
Z = torch.from_numpy((X - mean) / std)
d = X.shape[1]

def model():
    h = cfg['hidden']
    sizes = [d] + h + h[:-1][::-1]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(cfg['dropout'])]
    layers.append(nn.Linear(sizes[-1], d))
    return nn.Sequential(*layers)

def auc(s, lab):
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s)); ranks[order] = np.arange(1, len(s) + 1)
    pos = lab > 0
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())

out = {}
Ztr = Z[tr]
n = Ztr.shape[0]
for bs in cfg['batches']:
    runs = []
    for seed in cfg['seeds']:
        torch.manual_seed(seed)
        m = model()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        loss_fn = nn.MSELoss()
        m.train()
        t0 = time.perf_counter()
        for ep in range(cfg['epochs']):
            perm = torch.randperm(n)
            for i in range(0, n, bs):
                xb = Ztr[perm[i:i + bs]]
                opt.zero_grad()
                loss = loss_fn(m(xb), xb)
                loss.backward()
                opt.step()
        secs = time.perf_counter() - t0
        m.eval()
        with torch.no_grad():
            s = ((m(Z[te]) - Z[te]) ** 2).sum(1).numpy()
            row = Z[te[:1]]
            for _ in range(200):
                m(row)
            ts = []
            for _ in range(2000):
                a = time.perf_counter()
                m(row)
                ts.append(time.perf_counter() - a)
        runs.append({'samplesPerSec': n * cfg['epochs'] / secs, 'seconds': secs, 'auc': float(auc(s, y[te])), 'p50us': float(np.median(ts) * 1e6)})
    out[str(bs)] = runs
print(json.dumps({'torch': torch.__version__, 'results': out}))
