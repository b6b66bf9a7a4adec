"""What runs the stages: the stage cache, worker threads and the CPU-load check.

The only place that touches threads and the cache folder; stages take a thread count.
"""
