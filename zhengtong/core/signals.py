"""Signals core sends upward. core sits below audit, so its actions announce their changes and the audit app
records them (in the same transaction: a receiver that fails rolls the change back)."""

from django.dispatch import Signal

# Sent inside the action's transaction with: action (str), actor (a user, or None for the platform itself),
# object_type (str), object_id (str), detail (dict).
action_performed = Signal()
