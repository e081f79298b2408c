"""Search: the Tune assembly, its callbacks, and the baselines it measures against."""
