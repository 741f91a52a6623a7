"""Importers of landmark data into the SignStream dataset format (engine.dataset)."""
