"""Agents, their skills and availability; the skill taxonomy they are described with."""
