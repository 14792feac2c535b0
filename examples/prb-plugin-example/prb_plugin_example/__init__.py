"""An example third-party adapter package for peft-rlvr-bench."""
