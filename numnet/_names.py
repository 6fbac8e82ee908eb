"""The names the library's choices go by, in a module that imports nothing.

The ``numnet`` command offers these as the choices of its options while it parses the command
line, which happens before NumPy loads: NumPy's BLAS reads its thread count once, when it loads,
so ``--threads`` must be applied first (``numnet.cli.threads``). Every other module that needs
these names imports NumPy, so they live here and those modules take them from here.

``numnet.optim.UPDATE_RULES`` maps the update-rule names to the functions; the schedules' names
need no copy here, ``numnet.schedules`` imports no NumPy.
"""

#: The update rules of ``numnet.optim`` (the Solver's ``update_rule``).
UPDATE_RULES = ("sgd", "sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam", "adamw")

#: The weight initialisation schemes of ``numnet.initializers`` (``"he"`` is ``"kaiming"``).
INIT_SCHEMES = ("gaussian", "xavier", "kaiming", "he")

#: ``FullyConnectedNet``'s ``normalization`` values.
FC_NORMALIZATIONS = (None, "batchnorm", "layernorm")

#: ``ConvNet``'s ``normalization`` values.
CONV_NORMALIZATIONS = (None, "batchnorm", "groupnorm", "layernorm")

#: The suggestion rules of ``numnet.babysit.lr_find`` (its ``RULES``), its default first.
LR_FIND_RULES = ("numnet", "steep", "valley", "minimum/10")

#: The devices of ``numnet.backend.device_module`` (``"cpu"``: NumPy, ``"cuda"``: CuPy).
DEVICES = ("cpu", "cuda")
