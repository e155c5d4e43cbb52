"""Signals the registries app sends upward (the catalog keeps a resource for every registry).

It is sent inside the action's transaction, so a receiver that fails rolls the change back.
"""

from django.dispatch import Signal

# registry (Registry), actor (User or None), created (bool: True for a new registry, False for a schema change).
registry_defined = Signal()

