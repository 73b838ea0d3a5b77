"""webslm: compile small chat models into artifacts that WebLLM runs inside the browser."""

__version__ = "0.1.0"
