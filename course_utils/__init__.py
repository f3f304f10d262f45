"""course_utils: the companion package of the course on adversarial examples, robustness and GANs.

Import the module you need, e.g. ``from course_utils import attacks, data, plotting``.
Importing the package does nothing else: no seeds, no plotting settings, no TensorFlow start-up.
"""

__version__ = "0.1.0"
