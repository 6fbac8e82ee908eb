"""A linear classifier, ``affine - softmax`` or ``affine - multiclass SVM``: for extracted features.

The course's assignment-1 classifiers as a numnet model, built on the same layers and losses
(``affine_forward``, ``softmax_loss``, ``svm_loss``), so the Solver, checkpoints and ``predict``
serve it like any other. Its use in numnet is the "feature extraction" form of transfer learning:
train it on the features ``numnet.transfer.feature_data`` extracts from a pretrained net.
"""

from __future__ import annotations

import numpy as np

from numnet._checks import check_choice, check_positive_int
from numnet.classifiers.base import Model, dtype_name, rng_arg
from numnet.classifiers.fc_net import check_X
from numnet.initializers import check_scheme, init_weight
from numnet.layers import affine_backward, affine_forward, softmax_loss, svm_loss

#: ``loss`` name -> the loss function of ``numnet.layers``.
LOSSES = {"softmax": softmax_loss, "svm": svm_loss}


class LinearClassifier(Model):
    """``scores = X W1 + b1`` with a softmax or multiclass SVM loss and L2 on ``W1``.

    Params: ``W1 (D, C)``, ``b1 (C,)`` (one layer, which is also the head).

    Args:
        input_dim: D. num_classes: C.
        loss: ``"softmax"`` (cross-entropy) or ``"svm"`` (the course's hinge loss, margin 1).
        reg: L2 strength (``0.5 * reg * sum(W1**2)``).
        init: a scheme of ``numnet.initializers`` (default ``"gaussian"``).
        weight_scale: std of the ``"gaussian"`` init.
        dtype: params and computation dtype.
        rng: None (NumPy's global state, as the course), an int seed or a Generator.
    """

    def __init__(
        self,
        input_dim,
        num_classes,
        loss="softmax",
        reg=0.0,
        init="gaussian",
        weight_scale=1e-3,
        dtype=np.float32,
        rng=None,
    ):
        check_positive_int("input_dim", input_dim)
        check_positive_int("num_classes", num_classes)
        check_choice("loss", loss, tuple(LOSSES))
        check_scheme(init)
        gen, rng_config = rng_arg(rng, None, "LinearClassifier")
        super().__init__(reg, dtype, gen)
        self._config = dict(
            input_dim=int(input_dim),
            num_classes=int(num_classes),
            loss=loss,
            reg=self.reg,
            init=init,
            weight_scale=None if weight_scale is None else float(weight_scale),
            dtype=dtype_name(dtype),
            rng=rng_config,
        )
        self.input_dim, self.num_classes, self.loss_name = int(input_dim), int(num_classes), loss
        w = init_weight((self.input_dim, self.num_classes), init, weight_scale, gen)
        self.params["W1"] = w.astype(self.dtype)
        self.params["b1"] = np.zeros(self.num_classes, dtype=self.dtype)

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``; cast to ``dtype``.
            y: ``(N,)`` integer labels in ``[0, C)``, or None.

        Returns:
            ``y is None``: scores ``(N, C)``. Else ``(loss, grads)``: scalar loss (data loss plus
            ``0.5*reg*sum(W1**2)``) and gradients of ``W1`` and ``b1``.
        """
        X = check_X(X, self.dtype, self.input_dim, self.xp)
        scores, cache = affine_forward(X, self.params["W1"], self.params["b1"])
        if y is None:
            return scores
        y = self._labels(y, X.shape[0])
        loss, dscores = LOSSES[self.loss_name](scores, y, labels_checked=True)
        _, dw, db = affine_backward(dscores, cache)
        grads = {"W1": dw, "b1": db}
        loss = self._with_l2(loss, grads, ("W1",))
        return loss, grads
