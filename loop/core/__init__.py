"""The pure core of loop: numpy, scipy and scikit-learn only."""
