"""Encoders, heads and the sharing-plan model."""
