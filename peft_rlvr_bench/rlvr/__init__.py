"""RLVR: recipes (GRPOConfig settings) and the TRL training loop glue."""
