# PyTorch peer for bench/neural.js: the same autoencoder as nadir's default (features -> 64 -> 32 ->
# 64 -> features, ReLU, dropout 0.2 after every hidden layer, linear output), Adam 1e-3, MSE,
# inputs standardized with the training statistics, the same split and epochs; one thread.
# Run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1. Reads a JSON config, prints one JSON line; with
# cfg['serve'] it then answers 'batch <seconds>' lines on stdin with one rows/s measurement each, so
# the caller can take turns with its own engines ('quit' or end of input stops it).
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

def percentiles(ts):
    ts = np.sort(np.array(ts)) * 1e6
    return float(ts[len(ts) // 2]), float(ts[int(len(ts) * 0.99)])

out = {}
Ztr = Z[tr]
n = Ztr.shape[0]
keep = None
for bs in cfg['batches']:
    runs = []
    for seed in cfg['seeds']:
        torch.manual_seed(seed)
        m = model()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        loss_fn = nn.MSELoss()
        m.train()
        losses, at = [], []
        t0 = time.perf_counter()
        for ep in range(cfg['epochs']):
            perm = torch.randperm(n)
            total = 0.0
            for i in range(0, n, bs):
                xb = Ztr[perm[i:i + bs]]
                opt.zero_grad()
                loss = loss_fn(m(xb), xb)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
            # Mean squared error per value over the epoch, as nadir's onEpoch reports it.
            losses.append(total / n)
            at.append(time.perf_counter() - t0)
        secs = time.perf_counter() - t0
        m.eval()
        with torch.no_grad():
            s = ((m(Z[te]) - Z[te]) ** 2).sum(1).numpy()
        runs.append({'samplesPerSec': n * cfg['epochs'] / secs, 'seconds': secs, 'auc': float(auc(s, y[te])), 'loss': losses, 'at': at})
        if keep is None:
            keep = m
    out[str(bs)] = runs

# Inference with the first trained model: batch rows/s (standardize, forward, score, in chunks like
# ONNX Runtime's) and one-row forward latency.
m = keep
m.eval()
N = cfg['inferRows']
raw = torch.from_numpy(np.resize(X[te], (N, d)).astype(np.float32))
mu, sd = torch.from_numpy(mean), torch.from_numpy(std)
chunk = cfg['chunk']
infer = {}
with torch.no_grad():
    def batch():
        scores = torch.empty(N)
        for i in range(0, N, chunk):
            z = (raw[i:i + chunk] - mu) / sd
            scores[i:i + chunk] = ((m(z) - z) ** 2).sum(1)
        return scores
    batch()
    reps = []
    for _ in range(cfg['inferReps']):
        a = time.perf_counter()
        batch()
        reps.append(time.perf_counter() - a)
    infer['batchRowsPerSec'] = N / float(np.median(reps))
    row = Z[te[:1]]
    for _ in range(500):
        m(row)
    ts = []
    for _ in range(cfg['latencyCalls']):
        a = time.perf_counter()
        m(row)
        ts.append(time.perf_counter() - a)
    infer['rowP50us'], infer['rowP99us'] = percentiles(ts)
    print(json.dumps({'torch': torch.__version__, 'results': out, 'inference': infer}), flush=True)
    if cfg.get('serve'):
        while True:
            cmd = sys.stdin.readline().split()
            if not cmd or cmd[0] != 'batch':
                break
            min_s, calls = float(cmd[1]), 0
            a = time.perf_counter()
            while True:
                batch()
                calls += 1
                if time.perf_counter() - a >= min_s:
                    break
            print(N * calls / (time.perf_counter() - a), flush=True)
