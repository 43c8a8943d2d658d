"""needle-grader: grade needle (CMU 10-714 homework 1) submissions offline, safely."""

__version__ = "0.1.0"
