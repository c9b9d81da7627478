"""Faust app factory and stream agents: decode -> call a service -> emit."""
