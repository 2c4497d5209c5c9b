"""Providers shipped with flowplan, one package per real system; found through the flowplan.providers entry points."""
