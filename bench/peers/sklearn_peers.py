"""Python peers for nadir's benchmark, timed on the same data in the same run.

Usage: python3 sklearn_peers.py SPEC.json   (written by bench/suites/sklearn.js)
SPEC: {"quick": bool, "datasets": [{"name", "x", "labels", "rows", "cols"}]} where x is a raw
little-endian float32 row-major file and labels a raw uint8 file. Prints one JSON object.
Run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 (the caller sets them).
"""
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def median(v):
    return float(np.median(np.asarray(v, dtype=np.float64)))


def timed(fn, reps, budget_s):
    """(durations, last result) of fn(): at least one run, more while under budget and reps."""
    out = []
    start = time.perf_counter()
    result = None
    while len(out) < reps:
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return out, result


def chunks(n, size=10000):
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def auc(scores, labels):
    from sklearn.metrics import roc_auc_score
    try:
        return float(roc_auc_score(labels, scores))
    except ValueError:
        return None


def latency_us(fn, rows, calls, warmup):
    for i in range(warmup):
        fn(rows[i % len(rows)])
    t = np.empty(calls)
    for i in range(calls):
        r = rows[i % len(rows)]
        t0 = time.perf_counter()
        fn(r)
        t[i] = time.perf_counter() - t0
    t.sort()
    return {"p50Us": float(np.percentile(t, 50) * 1e6), "p99Us": float(np.percentile(t, 99) * 1e6), "calls": calls}


def bench_dataset(d, quick):
    X32 = np.fromfile(d["x"], dtype="<f4").reshape(d["rows"], d["cols"])
    y = np.fromfile(d["labels"], dtype=np.uint8)
    n = X32.shape[0]
    reps = 2 if quick else 5
    budget = 4.0 if quick else 12.0
    out = {"rows": n, "cols": X32.shape[1]}
    stride = max(1, n // 1024)
    single_rows = [X32[i:i + 1] for i in range(0, n, stride)][:1024]

    # ---- sklearn IsolationForest
    from sklearn.ensemble import IsolationForest
    make = lambda: IsolationForest(n_estimators=100, max_samples=256, n_jobs=1, random_state=0)
    fits, model = timed(lambda: make().fit(X32), 2 if quick else 7, budget)

    def score_all(m=model):
        s = np.empty(n)
        for a, b in chunks(n):
            s[a:b] = m.score_samples(X32[a:b])
        return s

    batch, scores = timed(score_all, reps, budget)
    lat = latency_us(model.score_samples, single_rows, 30 if quick else 150, 5)
    out["sklearnIsolationForest"] = {
        "fitS": median(fits), "batchRowsPerS": n / median(batch), "singleP50Us": lat["p50Us"],
        "singleP99Us": lat["p99Us"], "singleCalls": lat["calls"], "auc": auc(-scores, y),
    }

    # ---- numpy Mahalanobis (precomputed inverse covariance), float64 and float32
    maha = {}
    for dtype in ("float64", "float32"):
        X = X32.astype(dtype)
        t0 = time.perf_counter()
        mu = X.mean(axis=0)
        P = np.linalg.pinv(np.cov(X, rowvar=False)).astype(dtype)
        fit_s = time.perf_counter() - t0

        def md(X=X, mu=mu, P=P):
            s = np.empty(n, dtype=dtype)
            for a, b in chunks(n):
                D = X[a:b] - mu
                s[a:b] = np.einsum("ij,ij->i", D @ P, D)
            return s

        t, s = timed(md, reps, budget)
        maha[dtype] = {"fitS": fit_s, "batchRowsPerS": n / median(t), "auc": auc(s, y)}
    best = max(maha, key=lambda k: maha[k]["batchRowsPerS"])
    out["numpyMahalanobis"] = {**maha[best], "dtype": best, "byDtype": maha}

    # ---- sklearn EmpiricalCovariance.mahalanobis
    from sklearn.covariance import EmpiricalCovariance
    t0 = time.perf_counter()
    ec = EmpiricalCovariance().fit(X32)
    ec_fit = time.perf_counter() - t0

    def ec_score():
        s = np.empty(n)
        for a, b in chunks(n):
            s[a:b] = ec.mahalanobis(X32[a:b])
        return s

    t, s = timed(ec_score, reps, budget)
    out["sklearnEmpiricalCovariance"] = {"fitS": ec_fit, "batchRowsPerS": n / median(t), "auc": auc(s, y)}

    # ---- sklearn PCA reconstruction error (half the components)
    from sklearn.decomposition import PCA
    k = max(1, X32.shape[1] // 2)
    t0 = time.perf_counter()
    pca = PCA(n_components=k, random_state=0).fit(X32)
    pca_fit = time.perf_counter() - t0

    def pca_score():
        s = np.empty(n)
        for a, b in chunks(n):
            Z = X32[a:b]
            R = pca.inverse_transform(pca.transform(Z))
            s[a:b] = ((Z - R) ** 2).sum(axis=1)
        return s

    t, s = timed(pca_score, reps, budget)
    out["sklearnPCAReconstruction"] = {"fitS": pca_fit, "batchRowsPerS": n / median(t), "components": k, "auc": auc(s, y)}

    # ---- numpy ECOD against fitted ECDFs (searchsorted on sorted training columns), the same
    # definition nadir's ECOD uses by default: sum_j max(-log left tail, -log right tail).
    t0 = time.perf_counter()
    S = np.sort(X32, axis=0)
    ecod_fit = time.perf_counter() - t0
    log_n1 = np.log(n + 1.0)

    def ecod_score():
        s = np.empty(n)
        for a, b in chunks(n):
            Z = X32[a:b]
            acc = np.zeros(b - a)
            for j in range(Z.shape[1]):
                le = np.searchsorted(S[:, j], Z[:, j], side="right")
                ge = n - np.searchsorted(S[:, j], Z[:, j], side="left")
                ul = log_n1 - np.log(le + 1.0)
                ur = log_n1 - np.log(ge + 1.0)
                acc += np.maximum(ul, ur)
            s[a:b] = acc
        return s

    t, s = timed(ecod_score, reps, budget)
    out["numpyECOD"] = {"fitS": ecod_fit, "batchRowsPerS": n / median(t), "auc": auc(s, y)}
    return out


def main():
    spec = json.load(open(sys.argv[1]))
    import sklearn
    result = {"python": sys.version.split()[0], "numpy": np.__version__, "sklearn": sklearn.__version__, "datasets": {}}
    for d in spec["datasets"]:
        result["datasets"][d["name"]] = bench_dataset(d, spec.get("quick", False))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
