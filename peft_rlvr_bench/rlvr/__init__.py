"""RL training: the training path (``train.py``), the recipes and their loops, and what guards them."""
