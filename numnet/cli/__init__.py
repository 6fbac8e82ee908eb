"""The ``numnet`` command line (``numnet train|eval|plot|gradcheck|data``).

Entry point: :func:`numnet.cli.main.main`. Importing this package imports nothing heavy; each
subcommand imports NumPy, the models, tqdm and matplotlib only when it runs.
"""
