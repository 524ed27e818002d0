"""hetsim workload layer: real torch execution traced into torch-free Traces.

Importing this package does not import torch; the tracer and the model zoo import it on use."""
