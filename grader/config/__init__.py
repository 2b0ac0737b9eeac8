"""Configuration: the rubric, the limits, and the choices a user can make, each declared
once (type, default, meaning) and validated. Nothing here starts a process."""
