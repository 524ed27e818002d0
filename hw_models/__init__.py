"""hetsim hardware layer: memory technologies, compute units, platforms. No torch, no workloads, no simulator."""
