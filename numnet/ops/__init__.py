"""numnet's functional core: one file per kind of layer.

Every layer is a pair ``<op>_forward(x, ..., <op>_param) -> (out, cache)`` and
``<op>_backward(dout, cache) -> (dx, d<param>...)`` (gradients in the forward's input order);
losses are ``<name>_loss(x, y) -> (loss, dx)``. ``numnet.layers`` re-exports all of them under the
course's names.
"""
