"""numnet: neural networks from scratch in NumPy, the CS231n way.

The course's module paths work as they are (``numnet.layers``, ``numnet.layer_utils``,
``numnet.fast_layers``, ``numnet.classifiers.fc_net``, ``numnet.solver``, ...). Importing the
package itself stays light: it imports nothing beyond this docstring's version.
"""

__version__ = "0.1.0"
