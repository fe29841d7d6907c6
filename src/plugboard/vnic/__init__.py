"""vNICs: the model, their <interface> XML, and the pure planner of changes."""

from plugboard.vnic.model import Source, Vnic
from plugboard.vnic.planner import Action, Plan, PlanError, plan

__all__ = ["Action", "Plan", "PlanError", "Source", "Vnic", "plan"]
