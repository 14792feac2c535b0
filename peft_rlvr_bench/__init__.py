"""peft-rlvr-bench: which PEFT method to use for RL with verifiable rewards.

The public API for plugins: register a component with a decorator, implement its Protocol,
declare its parameters with a pydantic model. Importing this package imports no heavy library.
"""

from peft_rlvr_bench.adapters import Adapter, AdapterParams
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import (
    register_adapter,
    register_recipe,
    register_task,
    register_verifier,
)
from peft_rlvr_bench.rlvr.recipes import Recipe, RecipeParams
from peft_rlvr_bench.tasks import Item, Task
from peft_rlvr_bench.verifiers import Verifier

__all__ = [
    "Adapter",
    "AdapterParams",
    "Item",
    "Recipe",
    "RecipeParams",
    "Task",
    "UserError",
    "Verifier",
    "register_adapter",
    "register_recipe",
    "register_task",
    "register_verifier",
]
