"""Reporters: each reads a finished GradeResult and renders it; none changes it."""
