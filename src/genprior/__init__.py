"""genprior: deep generative models as working tools.

Subpackages follow one direction of dependency:
``data, models, operators`` <- ``solvers, train`` <- ``evaluate, robust`` <- ``reports, cli``.
"""

from genprior.errors import GenpriorError

__version__ = "0.1.0"
__all__ = ["GenpriorError", "__version__"]
