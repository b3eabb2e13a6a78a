"""twin: a network digital twin for federated learning on 5G / vehicular networks."""
__version__ = "0.1.0"
