"""Deployment exports: a plan as the server commands and a README a user launches it with."""
