"""The single place the hetsim version is written."""
__version__ = "0.1.0"
