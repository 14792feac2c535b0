"""``python -m peft_rlvr_bench.cli``: the same as ``prb``."""

from peft_rlvr_bench.cli import main

main()
