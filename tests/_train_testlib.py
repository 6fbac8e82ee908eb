"""Small models for the training tests.

TinyNet carries everything a checkpoint must (params, a buffer, its own Generator, a config):

affine - (minus a running mean, a buffer) - relu - dropout (the model's own Generator) - affine -
softmax. The running mean shifts the hidden layer in train and test mode alike, so a resume that
forgot to restore the buffer, or the Generator, would train differently.
"""

from __future__ import annotations

import numpy as np


class TinyNet:
    def __init__(self, input_dim=4, hidden_dim=6, num_classes=3, keep=0.8, dtype="float64", seed=0):
        self.rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        self.keep = keep
        self._config = dict(
            input_dim=input_dim,
            hidden_dim=hidden_dim,
            num_classes=num_classes,
            keep=keep,
            dtype=self.dtype.name,
            seed=seed,
        )
        r = self.rng
        self.params = {
            "W1": (0.5 * r.standard_normal((input_dim, hidden_dim))).astype(self.dtype),
            "b1": np.zeros(hidden_dim, self.dtype),
            "W2": (0.5 * r.standard_normal((hidden_dim, num_classes))).astype(self.dtype),
            "b2": np.zeros(num_classes, self.dtype),
        }
        self.running_mean = np.zeros(hidden_dim, self.dtype)
        self.frozen = set()
        self.reg = 0.0

    def get_config(self):
        return {"name": "TinyNet", **self._config}

    def buffers(self):
        return {"bn1.running_mean": self.running_mean.copy()}

    def load_buffers(self, buffers):
        self.running_mean = np.array(buffers["bn1.running_mean"], copy=True)

    def loss(self, X, y=None):
        p = self.params
        X = X.reshape(X.shape[0], -1).astype(self.dtype, copy=False)
        a = X @ p["W1"] + p["b1"] - self.running_mean
        h = np.maximum(a, 0)
        if y is None:
            return h @ p["W2"] + p["b2"]
        self.running_mean = (0.9 * self.running_mean + 0.1 * a.mean(axis=0)).astype(self.dtype)
        mask = (self.rng.random(h.shape) < self.keep) / self.keep
        hd = h * mask
        scores = hd @ p["W2"] + p["b2"]
        shifted = scores - scores.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = X.shape[0]
        loss = -logp[np.arange(n), y].mean()
        ds = np.exp(logp)
        ds[np.arange(n), y] -= 1
        ds /= n
        dhd = ds @ p["W2"].T
        da = dhd * mask * (a > 0)
        grads = {"W2": hd.T @ ds, "b2": ds.sum(axis=0), "W1": X.T @ da, "b1": da.sum(axis=0)}
        return loss, {k: g.astype(self.dtype, copy=False) for k, g in grads.items()}


def make_data(rng, n_train=40, n_val=20, input_dim=4, num_classes=3, dtype=np.float64):
    """A learnable toy problem: the class is the argmax of a fixed linear map."""
    proj = rng.standard_normal((input_dim, num_classes))
    X = rng.standard_normal((n_train + n_val, input_dim)).astype(dtype)
    y = np.argmax(X @ proj, axis=1).astype(np.int64)
    return {
        "X_train": X[:n_train],
        "y_train": y[:n_train],
        "X_val": X[n_train:],
        "y_val": y[n_train:],
    }


class Linear:
    """Softmax regression that records which training rows each step saw (column 0 = row id)."""

    def __init__(self, D=3, C=3, nan_at=None, inf_grad_at=None):
        self.params = {"W": np.zeros((D, C)), "b": np.zeros(C)}
        self.seen, self.calls = [], 0
        self.nan_at, self.inf_grad_at = nan_at, inf_grad_at

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        self.calls += 1
        self.seen.append(X[:, 0].astype(int))
        p = np.exp(scores - scores.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean()
        p[np.arange(len(y)), y] -= 1
        grads = {"W": X.T @ p / len(y), "b": p.mean(0)}
        if self.calls == self.nan_at:
            loss = np.nan
        if self.calls == self.inf_grad_at:
            grads["b"] = grads["b"] + np.inf
        return loss, grads


def linear_data(n_train=50, n_val=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, 3)) * 0.1
    X[:n_train, 0] = np.arange(n_train)
    y = rng.integers(0, 3, n_train + n_val)
    return {
        "X_train": X[:n_train],
        "y_train": y[:n_train],
        "X_val": X[n_train:],
        "y_val": y[n_train:],
    }
